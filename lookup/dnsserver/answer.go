package dnsserver

import (
	"context"
	"errors"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// Source tells the server which producers a topic has.
type Source interface {
	// Producers returns the producers of topic, or an error wrapping
	// ErrTopicNotFound if the topic does not exist. Any other error makes
	// the server answer SERVFAIL. It is called concurrently from several
	// goroutines, must return promptly and should honour ctx. The server
	// only reads the returned slice.
	Producers(ctx context.Context, topic string) (Answer, error)
}

// ErrTopicNotFound is what a Source returns for a topic that does not
// exist; the server answers NXDOMAIN.
var ErrTopicNotFound = errors.New("topic not found")

// Answer is a Source's answer for one topic.
type Answer struct {
	// Producers of the topic, in the order the records are to be given.
	Producers []Producer
	// ValidUntil is the first instant at which the same state may give a
	// different answer by itself (a producer going inactive, a tombstone
	// expiring). TTLs never reach past it. The zero time means no such
	// instant.
	ValidUntil time.Time
}

// Producer is where a topic's producer accepts connections.
type Producer struct {
	// BroadcastAddress is an IP address or a host name.
	BroadcastAddress string
	// TCPPort is the producer's tcp_port.
	TCPPort int
}

// maxTCPMessage is the largest DNS message TCP can carry.
const maxTCPMessage = dns.MaxMsgSize

// reply builds the answer to a well-formed request. It never returns nil.
func (s *Server) reply(ctx context.Context, req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	opt := req.IsEdns0()
	if opt != nil {
		resp.SetEdns0(uint16(s.opts.MaxUDPSize), false)
	}
	switch {
	case req.Opcode != dns.OpcodeQuery:
		resp.Rcode = dns.RcodeNotImplemented
		return resp
	case len(req.Question) != 1:
		resp.Rcode = dns.RcodeFormatError
		return resp
	case opt != nil && opt.Version() != 0:
		resp.Rcode = dns.RcodeBadVers
		return resp
	}
	q := req.Question[0]
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	rel, ok := inZone(q.Name, s.zone)
	if !ok {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	resp.Authoritative = true
	now := s.opts.Now()
	ttl := s.ttl(time.Time{}, now)
	n := parseName(rel)
	switch n.kind {
	case nameNone:
		s.negative(resp, dns.RcodeNameError, ttl)
	case nameApex:
		if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
			resp.Answer = append(resp.Answer, s.soa(ttl))
		} else {
			s.negative(resp, dns.RcodeSuccess, ttl)
		}
	case nameAddr:
		if rr := addrRR(q.Name, n.addr, q.Qtype, ttl); rr != nil {
			resp.Answer = append(resp.Answer, rr)
		} else {
			s.negative(resp, dns.RcodeSuccess, ttl)
		}
	case nameSRV, nameHost:
		ans, err := s.lookup(ctx, n.topic)
		switch {
		case errors.Is(err, ErrTopicNotFound):
			s.negative(resp, dns.RcodeNameError, ttl)
			return resp
		case err != nil:
			s.stats.sourceErrors.Add(1)
			s.log.Warn("dns source failed", "topic", n.topic, "err", err)
			resp.Authoritative = false
			resp.Rcode = dns.RcodeServerFailure
			return resp
		}
		ttl = s.ttl(ans.ValidUntil, now)
		if n.kind == nameSRV {
			s.srvRecords(resp, q, ans.Producers, ttl)
		} else {
			hostRecords(resp, q, ans.Producers, ttl)
		}
		if len(resp.Answer) == 0 {
			s.negative(resp, dns.RcodeSuccess, ttl)
		}
	}
	return resp
}

// lookup asks the source for topic as written, then in lower case.
func (s *Server) lookup(ctx context.Context, topic string) (Answer, error) {
	ans, err := s.src.Producers(ctx, topic)
	if lower := strings.ToLower(topic); errors.Is(err, ErrTopicNotFound) && lower != topic {
		return s.src.Producers(ctx, lower)
	}
	return ans, err
}

// ttl is the configured TTL cut to the time left until validUntil, in
// whole seconds rounded down.
func (s *Server) ttl(validUntil, now time.Time) uint32 {
	d := s.opts.TTL
	if !validUntil.IsZero() {
		d = min(d, validUntil.Sub(now))
	}
	if d <= 0 {
		return 0
	}
	return uint32(d / time.Second)
}

// negative makes resp an NXDOMAIN (rcode NameError) or NODATA (Success)
// answer with the zone's SOA for negative caching.
func (s *Server) negative(resp *dns.Msg, rcode int, ttl uint32) {
	resp.Rcode = rcode
	resp.Answer = nil
	resp.Ns = append(resp.Ns, s.soa(ttl))
}

func (s *Server) soa(ttl uint32) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: s.zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:      s.zone,
		Mbox:    joinZone("hostmaster.", s.zone),
		Serial:  1,
		Refresh: 3600,
		Retry:   600,
		Expire:  86400,
		Minttl:  ttl,
	}
}

func header(owner string, t uint16, ttl uint32) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
}

// addrRR returns the A or AAAA record of a at owner if qtype asks for it.
func addrRR(owner string, a netip.Addr, qtype uint16, ttl uint32) dns.RR {
	switch {
	case a.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
		return &dns.A{Hdr: header(owner, dns.TypeA, ttl), A: a.AsSlice()}
	case a.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
		return &dns.AAAA{Hdr: header(owner, dns.TypeAAAA, ttl), AAAA: a.AsSlice()}
	}
	return nil
}

// producerAddr parses a broadcast address that is an IP, with or without
// brackets.
func producerAddr(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// hostTarget returns the fully qualified form of a broadcast address that
// is a host name, and false if it is not a valid one.
func hostTarget(host string) (string, bool) {
	for _, c := range []byte(host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	if !validLabels(strings.TrimSuffix(host, ".")) {
		return "", false
	}
	fq := dns.Fqdn(host)
	if !isDomainName(fq) {
		return "", false
	}
	return fq, true
}

// srvRecords adds one SRV record per distinct producer target and port,
// and for targets that stand for IP addresses their A/AAAA record in the
// additional section.
func (s *Server) srvRecords(resp *dns.Msg, q dns.Question, producers []Producer, ttl uint32) {
	if q.Qtype != dns.TypeSRV && q.Qtype != dns.TypeANY {
		return
	}
	type key struct {
		target string
		port   int
	}
	seen := make(map[key]struct{}, len(producers))
	glued := make(map[string]struct{})
	for _, p := range producers {
		if p.TCPPort < 1 || p.TCPPort > 65535 {
			continue
		}
		var target string
		a, isIP := producerAddr(p.BroadcastAddress)
		if isIP {
			var ok bool
			if target, ok = AddrName(a, s.zone); !ok {
				continue
			}
		} else {
			var ok bool
			if target, ok = hostTarget(p.BroadcastAddress); !ok {
				continue
			}
		}
		k := key{target: target, port: p.TCPPort}
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		resp.Answer = append(resp.Answer, &dns.SRV{
			Hdr:      header(q.Name, dns.TypeSRV, ttl),
			Priority: 0,
			Weight:   1,
			Port:     uint16(p.TCPPort),
			Target:   target,
		})
		if _, done := glued[target]; isIP && !done {
			glued[target] = struct{}{}
			resp.Extra = append(resp.Extra, addrRR(target, a, dns.TypeANY, ttl))
		}
	}
}

// hostRecords adds the A or AAAA record of every distinct producer address
// that is an IP.
func hostRecords(resp *dns.Msg, q dns.Question, producers []Producer, ttl uint32) {
	seen := make(map[netip.Addr]struct{}, len(producers))
	for _, p := range producers {
		a, ok := producerAddr(p.BroadcastAddress)
		if !ok {
			continue
		}
		if _, dup := seen[a]; dup {
			continue
		}
		seen[a] = struct{}{}
		if rr := addrRR(q.Name, a, q.Qtype, ttl); rr != nil {
			resp.Answer = append(resp.Answer, rr)
		}
	}
}

// sizeLimit is the largest answer allowed for req: the TCP maximum, the
// EDNS0 size it advertises (512 at least, MaxUDPSize at most) or, for a
// UDP query without EDNS0, the query's own size.
func (s *Server) sizeLimit(req *dns.Msg, querySize int, tcp bool) int {
	if tcp {
		return maxTCPMessage
	}
	if opt := req.IsEdns0(); opt != nil {
		return min(max(int(opt.UDPSize()), dns.MinMsgSize), s.opts.MaxUDPSize)
	}
	return querySize
}

// fit packs resp into at most limit bytes, compressing names only when
// that is needed to fit. What does not fit even so goes in this order: the additional section (except OPT), the authority section, then
// answer records, setting TC; over UDP (partial) all answer records go, so
// the client retries over TCP for the whole answer. It returns nil if
// even the bare reply does not fit, and whether it set TC.
func fit(resp *dns.Msg, limit int, tcp bool) ([]byte, bool) {
	// Most answers fit without name compression, which is the costly part
	// of packing; measuring without it is cheap.
	resp.Compress = false
	if resp.Len() <= limit {
		if b, err := resp.Pack(); err == nil && len(b) <= limit {
			return b, resp.Truncated
		}
	}
	resp.Compress = true
	if resp.Len() > limit {
		var opt []dns.RR
		for _, rr := range resp.Extra {
			if rr.Header().Rrtype == dns.TypeOPT {
				opt = append(opt, rr)
			}
		}
		resp.Extra = opt
	}
	if resp.Len() > limit {
		resp.Ns = nil
	}
	if resp.Len() > limit {
		resp.Truncated = true
		all := resp.Answer
		n := 0
		if tcp {
			// The largest prefix that fits.
			n = sort.Search(len(all)+1, func(i int) bool {
				resp.Answer = all[:i]
				return resp.Len() > limit
			}) - 1
		}
		resp.Answer = all[:max(n, 0)]
	}
	b, err := resp.Pack()
	if err != nil || len(b) > limit {
		return nil, resp.Truncated
	}
	return b, resp.Truncated
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, topic string) (Answer, error)

// Producers calls f.
func (f SourceFunc) Producers(ctx context.Context, topic string) (Answer, error) {
	return f(ctx, topic)
}
