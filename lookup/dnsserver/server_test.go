package dnsserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/goleak"

	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a running Server over a map of topics.
type env struct {
	srv  *dnsserver.Server
	addr string
	clk  *fakeclock.Clock

	mu     sync.Mutex
	topics map[string]dnsserver.Answer
	err    error
}

// start runs a Server on 127.0.0.1:0 until the test ends. Zero options
// take the package defaults, except TTL, which is 5 s unless set.
func start(t *testing.T, opts dnsserver.Options) *env {
	t.Helper()
	e := &env{clk: fakeclock.New(), topics: map[string]dnsserver.Answer{}}
	opts.Address = "127.0.0.1:0"
	if opts.TTL == 0 {
		opts.TTL = 5 * time.Second
	}
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Now = e.clk.Now
	src := dnsserver.SourceFunc(func(_ context.Context, topic string) (dnsserver.Answer, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.err != nil {
			return dnsserver.Answer{}, e.err
		}
		a, ok := e.topics[topic]
		if !ok {
			return dnsserver.Answer{}, fmt.Errorf("lookup %s: %w", topic, dnsserver.ErrTopicNotFound)
		}
		return a, nil
	})
	e.srv = lookuptest.StartDNS(t, src, opts)
	e.addr = e.srv.Addr().String()
	return e
}

func (e *env) set(topic string, ps ...dnsserver.Producer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.topics[topic] = dnsserver.Answer{Producers: ps}
}

func (e *env) setAnswer(topic string, a dnsserver.Answer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.topics[topic] = a
}

// query builds a query; udpSize > 0 adds EDNS0 with that size.
func query(name string, qtype uint16, udpSize int) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if udpSize > 0 {
		m.SetEdns0(uint16(udpSize), false)
	}
	return m
}

// exchange sends m over network ("udp" or "tcp") and returns the answer
// and its size on the wire.
func (e *env) exchange(t *testing.T, network string, m *dns.Msg) (*dns.Msg, int) {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: dns.MaxMsgSize}
	conn, err := c.Dial(e.addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, e.addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := conn.WriteMsg(m); err != nil {
		t.Fatalf("write: %v", err)
	}
	raw, err := conn.ReadMsgHeader(nil)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(raw); err != nil {
		t.Fatalf("unpack answer: %v", err)
	}
	if r.Id != m.Id {
		t.Fatalf("answer id %d, want %d", r.Id, m.Id)
	}
	return r, len(raw)
}

func srvs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if s, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
	}
	slices.Sort(out)
	return out
}

func addrs(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch a := rr.(type) {
		case *dns.A:
			out = append(out, a.Hdr.Name+" "+a.A.String())
		case *dns.AAAA:
			out = append(out, a.Hdr.Name+" "+a.AAAA.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestServer_SRV(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("orders",
		dnsserver.Producer{BroadcastAddress: "127.0.0.2", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4250},
		dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150}, // the same twice
		dnsserver.Producer{BroadcastAddress: "::1", TCPPort: 4350},
		dnsserver.Producer{BroadcastAddress: "nsqd-1.example.com", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "bad host", TCPPort: 4150}, // not a host name
		dnsserver.Producer{BroadcastAddress: "127.0.0.3", TCPPort: 0},   // no port
	)
	r, _ := e.exchange(t, "udp", query("_orders._tcp.lookupd.", dns.TypeSRV, 1232))
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Truncated {
		t.Fatalf("rcode %s aa %v tc %v", dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated)
	}
	want := []string{
		"0000-0000-0000-0000-0000-0000-0000-0001.ip.lookupd.:4350",
		"127-0-0-1.ip.lookupd.:4150",
		"127-0-0-1.ip.lookupd.:4250",
		"127-0-0-2.ip.lookupd.:4150",
		"nsqd-1.example.com.:4150",
	}
	if got := srvs(r.Answer); !slices.Equal(got, want) {
		t.Errorf("SRV records %q, want %q", got, want)
	}
	wantExtra := []string{
		"0000-0000-0000-0000-0000-0000-0000-0001.ip.lookupd. ::1",
		"127-0-0-1.ip.lookupd. 127.0.0.1",
		"127-0-0-2.ip.lookupd. 127.0.0.2",
	}
	if got := addrs(r.Extra); !slices.Equal(got, wantExtra) {
		t.Errorf("additional records %q, want %q", got, wantExtra)
	}
	for _, rr := range append(r.Answer, r.Extra...) {
		if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl != 5 {
			t.Errorf("TTL of %s is %d, want 5", rr, rr.Header().Ttl)
		}
	}

	// The same through Go's resolver, which then finds each target's
	// address on the same server.
	res := lookuptest.NewResolver(e.addr)
	_, recs, err := res.LookupSRV(t.Context(), "", "", "_orders._tcp.lookupd.")
	if err != nil {
		t.Fatalf("LookupSRV: %v", err)
	}
	if len(recs) != len(want) {
		t.Fatalf("LookupSRV returned %d records, want %d", len(recs), len(want))
	}
	for _, rec := range recs {
		if rec.Target == "nsqd-1.example.com." {
			continue
		}
		ips, err := res.LookupNetIP(t.Context(), "ip", rec.Target)
		if err != nil || len(ips) != 1 {
			t.Fatalf("resolve target %s: %v %v", rec.Target, ips, err)
		}
		if name, _ := dnsserver.AddrName(ips[0], "lookupd."); name != rec.Target {
			t.Errorf("target %s resolved to %s", rec.Target, ips[0])
		}
	}
}

func TestServer_Host(t *testing.T) {
	e := start(t, dnsserver.Options{Zone: "svc.example"})
	e.set("orders",
		dnsserver.Producer{BroadcastAddress: "10.0.0.2", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "10.0.0.1", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "10.0.0.1", TCPPort: 4250}, // same host
		dnsserver.Producer{BroadcastAddress: "[2001:db8::1]", TCPPort: 4150},
		dnsserver.Producer{BroadcastAddress: "nsqd-1.example.com", TCPPort: 4150},
	)
	r, _ := e.exchange(t, "udp", query("Orders.SVC.example.", dns.TypeA, 1232))
	if got, want := addrs(r.Answer), []string{"Orders.SVC.example. 10.0.0.1", "Orders.SVC.example. 10.0.0.2"}; !slices.Equal(got, want) {
		t.Errorf("A records %q, want %q (owner as asked)", got, want)
	}
	r, _ = e.exchange(t, "udp", query("orders.svc.example.", dns.TypeAAAA, 1232))
	if got, want := addrs(r.Answer), []string{"orders.svc.example. 2001:db8::1"}; !slices.Equal(got, want) {
		t.Errorf("AAAA records %q, want %q", got, want)
	}
	ips, err := lookuptest.NewResolver(e.addr).LookupHost(t.Context(), "orders.svc.example.")
	slices.Sort(ips)
	if err != nil || !slices.Equal(ips, []string{"10.0.0.1", "10.0.0.2", "2001:db8::1"}) {
		t.Errorf("LookupHost = %q, %v", ips, err)
	}
}

func TestServer_Ephemeral(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("events#ephemeral", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150})
	e.set("events.ephemeral", dnsserver.Producer{BroadcastAddress: "127.0.0.2", TCPPort: 4151})
	res := lookuptest.NewResolver(e.addr)
	tests := []struct {
		name string
		want string
	}{
		{"_events._tcp.ephemeral.lookupd.", "127-0-0-1.ip.lookupd.:4150"},
		{"_events.ephemeral._tcp.lookupd.", "127-0-0-2.ip.lookupd.:4151"},
	}
	for _, tt := range tests {
		_, recs, err := res.LookupSRV(t.Context(), "", "", tt.name)
		if err != nil || len(recs) != 1 || fmt.Sprintf("%s:%d", recs[0].Target, recs[0].Port) != tt.want {
			t.Errorf("LookupSRV(%s) = %v, %v; want %s", tt.name, recs, err, tt.want)
		}
	}
	ips, err := res.LookupHost(t.Context(), "events.ephemeral.lookupd.")
	if err != nil || !slices.Equal(ips, []string{"127.0.0.1"}) {
		t.Errorf("LookupHost(events.ephemeral.lookupd.) = %q, %v; want the ephemeral topic's 127.0.0.1", ips, err)
	}
	name, ok := dnsserver.SRVName("events#ephemeral", "lookupd.")
	if !ok || name != "_events._tcp.ephemeral.lookupd." {
		t.Errorf("SRVName = %q, %v", name, ok)
	}
}

func TestServer_Negative(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("orders", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150})
	e.set("empty")
	status := query("_orders._tcp.lookupd.", dns.TypeSRV, 1232)
	status.Opcode = dns.OpcodeStatus
	chaos := query("version.bind.", dns.TypeTXT, 1232)
	chaos.Question[0].Qclass = dns.ClassCHAOS
	badVers := query("_orders._tcp.lookupd.", dns.TypeSRV, 1232)
	badVers.IsEdns0().SetVersion(1)
	two := query("_orders._tcp.lookupd.", dns.TypeSRV, 1232)
	two.Question = append(two.Question, two.Question[0])
	tests := []struct {
		name    string
		q       *dns.Msg
		rcode   int
		answers int
		soa     bool
	}{
		{"unknown topic", query("_nope._tcp.lookupd.", dns.TypeSRV, 1232), dns.RcodeNameError, 0, true},
		{"unknown topic, A", query("nope.lookupd.", dns.TypeA, 1232), dns.RcodeNameError, 0, true},
		{"not a topic name", query("a*b.lookupd.", dns.TypeA, 1232), dns.RcodeNameError, 0, true},
		{"not an address", query("1-2-3.ip.lookupd.", dns.TypeA, 1232), dns.RcodeNameError, 0, true},
		{"other zone", query("_orders._tcp.example.com.", dns.TypeSRV, 1232), dns.RcodeRefused, 0, false},
		{"root", query(".", dns.TypeNS, 1232), dns.RcodeRefused, 0, false},
		{"other class", chaos, dns.RcodeRefused, 0, false},
		{"other type at a topic", query("_orders._tcp.lookupd.", dns.TypeTXT, 1232), dns.RcodeSuccess, 0, true},
		{"A at an SRV name", query("_orders._tcp.lookupd.", dns.TypeA, 1232), dns.RcodeSuccess, 0, true},
		{"topic without producers", query("_empty._tcp.lookupd.", dns.TypeSRV, 1232), dns.RcodeSuccess, 0, true},
		{"AAAA of an IPv4 producer", query("orders.lookupd.", dns.TypeAAAA, 1232), dns.RcodeSuccess, 0, true},
		{"SOA", query("lookupd.", dns.TypeSOA, 1232), dns.RcodeSuccess, 1, false},
		{"NS at the apex", query("lookupd.", dns.TypeNS, 1232), dns.RcodeSuccess, 0, true},
		{"address name", query("127-0-0-9.ip.lookupd.", dns.TypeA, 1232), dns.RcodeSuccess, 1, false},
		{"other opcode", status, dns.RcodeNotImplemented, 0, false},
		{"EDNS version 1", badVers, dns.RcodeBadVers, 0, false},
		{"two questions", two, dns.RcodeFormatError, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := e.exchange(t, "udp", tt.q)
			if r.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if len(r.Answer) != tt.answers {
				t.Errorf("%d answers, want %d: %v", len(r.Answer), tt.answers, r.Answer)
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if hasSOA != tt.soa {
				t.Errorf("authority %v, want SOA: %v", r.Ns, tt.soa)
			}
		})
	}

	_, _, err := lookuptest.NewResolver(e.addr).LookupSRV(t.Context(), "", "", "_nope._tcp.lookupd.")
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Errorf("LookupSRV of an unknown topic: %v, want a not-found DNSError", err)
	}

	e.mu.Lock()
	e.err = errors.New("lookupds unreachable")
	e.mu.Unlock()
	r, _ := e.exchange(t, "udp", query("_orders._tcp.lookupd.", dns.TypeSRV, 1232))
	if r.Rcode != dns.RcodeServerFailure {
		t.Errorf("source failure: rcode %s, want SERVFAIL", dns.RcodeToString[r.Rcode])
	}
	if st := e.srv.Stats(); st.SourceErrors != 1 || st.NXDomain < 4 || st.Refused < 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestServer_TTL(t *testing.T) {
	e := start(t, dnsserver.Options{TTL: 30 * time.Second})
	p := dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150}
	now := e.clk.Now()
	tests := []struct {
		name       string
		validUntil time.Time
		want       uint32
	}{
		{"no limit", time.Time{}, 30},
		{"far", now.Add(time.Hour), 30},
		{"cut and rounded down", now.Add(12*time.Second + 900*time.Millisecond), 12},
		{"under a second", now.Add(999 * time.Millisecond), 0},
		{"past", now.Add(-time.Second), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.setAnswer("orders", dnsserver.Answer{Producers: []dnsserver.Producer{p}, ValidUntil: tt.validUntil})
			for _, q := range []*dns.Msg{query("_orders._tcp.lookupd.", dns.TypeSRV, 1232), query("orders.lookupd.", dns.TypeA, 1232)} {
				r, _ := e.exchange(t, "udp", q)
				if len(r.Answer) != 1 {
					t.Fatalf("answers %v", r.Answer)
				}
				for _, rr := range append(r.Answer, r.Extra...) {
					if rr.Header().Rrtype != dns.TypeOPT && rr.Header().Ttl != tt.want {
						t.Errorf("TTL of %s is %d, want %d", rr, rr.Header().Ttl, tt.want)
					}
				}
			}
		})
	}
	r, _ := e.exchange(t, "udp", query("_nope._tcp.lookupd.", dns.TypeSRV, 1232))
	if soa := r.Ns[0].(*dns.SOA); soa.Hdr.Ttl != 30 || soa.Minttl != 30 {
		t.Errorf("negative TTL %d/%d, want 30", soa.Hdr.Ttl, soa.Minttl)
	}
}

func TestServer_Case(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("orders", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 1})
	e.set("Mixed", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 2})
	e.set("mixed", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 3})
	tests := []struct {
		name string
		port uint16 // 0: NXDOMAIN
	}{
		{"_oRdErS._TCP.LookupD.", 1}, // randomised case finds the lower-case topic
		{"_Mixed._tcp.lookupd.", 2},
		{"_mixed._tcp.lookupd.", 3},
		{"_MIXED._tcp.lookupd.", 3},
	}
	for _, tt := range tests {
		r, _ := e.exchange(t, "udp", query(tt.name, dns.TypeSRV, 1232))
		if len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != tt.port || r.Answer[0].Header().Name != tt.name {
			t.Errorf("%s: %v, want port %d under the name as asked", tt.name, r.Answer, tt.port)
		}
	}
}

// manyProducers returns n producers on distinct loopback addresses.
func manyProducers(n int) []dnsserver.Producer {
	ps := make([]dnsserver.Producer, n)
	for i := range ps {
		ps[i] = dnsserver.Producer{BroadcastAddress: fmt.Sprintf("127.0.%d.%d", i/250, i%250+1), TCPPort: 4150}
	}
	return ps
}

func TestServer_Truncation(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("big", manyProducers(500)...)
	e.set("small", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150})

	t.Run("udp without EDNS0 is no larger than the query", func(t *testing.T) {
		for _, name := range []string{"_big._tcp.lookupd.", "_small._tcp.lookupd.", "_nope._tcp.lookupd."} {
			q := query(name, dns.TypeSRV, 0)
			packed, _ := q.Pack()
			r, size := e.exchange(t, "udp", q)
			if size > len(packed) {
				t.Errorf("%s: %d-byte answer to a %d-byte query", name, size, len(packed))
			}
			if name != "_nope._tcp.lookupd." && (!r.Truncated || len(r.Answer) != 0) {
				t.Errorf("%s: tc %v with %d answers, want TC and none", name, r.Truncated, len(r.Answer))
			}
			if name == "_nope._tcp.lookupd." && (r.Rcode != dns.RcodeNameError || r.Truncated) {
				t.Errorf("NXDOMAIN without its SOA should still fit: rcode %d tc %v", r.Rcode, r.Truncated)
			}
		}
	})
	t.Run("udp with EDNS0 uses the advertised size up to the cap", func(t *testing.T) {
		for _, size := range []int{100, 512, 1232, 4096} {
			r, got := e.exchange(t, "udp", query("_big._tcp.lookupd.", dns.TypeSRV, size))
			limit := min(max(size, 512), 1232)
			if got > limit || !r.Truncated {
				t.Errorf("EDNS0 %d: %d bytes, tc %v; want TC within %d", size, got, r.Truncated, limit)
			}
			if opt := r.IsEdns0(); opt == nil || opt.UDPSize() != 1232 {
				t.Errorf("EDNS0 %d: answer OPT %v, want our size 1232", size, opt)
			}
		}
		r, got := e.exchange(t, "udp", query("_small._tcp.lookupd.", dns.TypeSRV, 1232))
		if r.Truncated || len(r.Answer) != 1 || len(r.Extra) != 2 {
			t.Errorf("small answer: tc %v, %d answers, %d extra (%d bytes)", r.Truncated, len(r.Answer), len(r.Extra), got)
		}
	})
	t.Run("tcp carries the whole answer", func(t *testing.T) {
		r, _ := e.exchange(t, "tcp", query("_big._tcp.lookupd.", dns.TypeSRV, 0))
		if r.Truncated || len(r.Answer) != 500 || len(r.Extra) != 500 {
			t.Errorf("tc %v, %d answers, %d extra; want 500 of each", r.Truncated, len(r.Answer), len(r.Extra))
		}
	})
	t.Run("go resolver falls back to tcp", func(t *testing.T) {
		res := lookuptest.NewResolver(e.addr)
		_, recs, err := res.LookupSRV(t.Context(), "", "", "_big._tcp.lookupd.")
		if err != nil || len(recs) != 500 {
			t.Fatalf("LookupSRV: %d records, %v", len(recs), err)
		}
		if dialed := res.Dialed(); !slices.Equal(dialed, []string{"udp", "tcp"}) {
			t.Errorf("dialled %q, want udp then tcp", dialed)
		}
	})
	if st := e.srv.Stats(); st.Truncated < 6 {
		t.Errorf("stats count %d truncated answers", st.Truncated)
	}
}

func TestServer_LargeUDP(t *testing.T) {
	e := start(t, dnsserver.Options{MaxUDPSize: 65535})
	e.set("big", manyProducers(500)...)
	r, size := e.exchange(t, "udp", query("_big._tcp.lookupd.", dns.TypeSRV, 65535))
	if r.Truncated || len(r.Answer) != 500 || size <= 4096 {
		t.Errorf("EDNS0 65535: tc %v, %d answers in %d bytes; want all over UDP", r.Truncated, len(r.Answer), size)
	}
}

func TestServer_TCPOverflow(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("huge", manyProducers(2000)...) // about 80 KB of records
	r, size := e.exchange(t, "tcp", query("_huge._tcp.lookupd.", dns.TypeSRV, 0))
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) == 2000 || size > dns.MaxMsgSize {
		t.Errorf("tc %v with %d answers in %d bytes; want as many as fit, with TC", r.Truncated, len(r.Answer), size)
	}
}

func TestServer_Malformed(t *testing.T) {
	e := start(t, dnsserver.Options{})
	e.set("orders", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150})
	conn, err := net.Dial("udp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp := query("_orders._tcp.lookupd.", dns.TypeSRV, 0)
	resp.Response = true
	respRaw, _ := resp.Pack()
	good := query("_orders._tcp.lookupd.", dns.TypeSRV, 1232)
	goodRaw, _ := good.Pack()
	for _, b := range [][]byte{
		{1, 2, 3},                        // shorter than a header
		append(goodRaw[:20:20], 0xff),    // cut inside the question
		respRaw,                          // a response, not a query
		append(goodRaw[:12:12], 0, 0xc0), // a pointer past the end
	} {
		if _, err := conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Write(goodRaw); err != nil {
		t.Fatal(err)
	}
	// The first packet back must answer the good query: nothing was sent
	// for the others.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	r := new(dns.Msg)
	if err := r.Unpack(buf[:n]); err != nil || r.Id != good.Id || len(r.Answer) != 1 {
		t.Fatalf("first packet back: %v %v", r, err)
	}
	if st := e.srv.Stats(); st.Dropped != 4 {
		t.Errorf("dropped %d, want 4", st.Dropped)
	}

	// Over TCP, garbage ends the connection.
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0, 3, 1, 2, 3})
	expectClosed(t, c)
}

// expectClosed waits until the server closes c.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open: %v", err)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Logf("closed with %v", err)
	}
}

func TestServer_TCPLimit(t *testing.T) {
	e := start(t, dnsserver.Options{MaxTCPConnections: 2})
	e.set("orders", dnsserver.Producer{BroadcastAddress: "127.0.0.1", TCPPort: 4150})
	var conns []*dns.Conn
	for range 2 {
		c, err := dns.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := c.WriteMsg(query("_orders._tcp.lookupd.", dns.TypeSRV, 0)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadMsg(); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	third, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	expectClosed(t, third)
	// The server counts the refusal after closing the connection.
	lookuptest.WaitFor(t, 5*time.Second, "the refusal counted", func() bool { return e.srv.Stats().TCPRejected >= 1 })
	if st := e.srv.Stats(); st.TCPRejected != 1 || st.TCPOpen != 2 || st.TCPAccepted != 2 {
		t.Errorf("stats %+v, want 1 rejected, 2 open, 2 accepted", st)
	}
	conns[0].Close()
	lookuptest.WaitFor(t, 5*time.Second, "a slot to free up", func() bool { return e.srv.Stats().TCPOpen == 1 })
	if r, _ := e.exchange(t, "tcp", query("_orders._tcp.lookupd.", dns.TypeSRV, 0)); len(r.Answer) != 1 {
		t.Errorf("after a slot freed up: %v", r)
	}
}

func TestServer_TCPIdle(t *testing.T) {
	e := start(t, dnsserver.Options{TCPIdleTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0, 40}) // a length, then nothing
	expectClosed(t, c)
	lookuptest.WaitFor(t, 5*time.Second, "the idle counter", func() bool { return e.srv.Stats().TCPIdleTimeout == 1 })
}

func TestServer_Shutdown(t *testing.T) {
	src := dnsserver.SourceFunc(func(context.Context, string) (dnsserver.Answer, error) { return dnsserver.Answer{}, nil })
	srv, err := dnsserver.New(src, dnsserver.Options{Address: "127.0.0.1:0", TTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	lookuptest.WaitFor(t, 5*time.Second, "the connection to be tracked", func() bool { return srv.Stats().TCPOpen == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	expectClosed(t, c)
	if err := srv.Run(context.Background()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestNew_Invalid(t *testing.T) {
	src := dnsserver.SourceFunc(func(context.Context, string) (dnsserver.Answer, error) { return dnsserver.Answer{}, nil })
	tests := []struct {
		name string
		opts dnsserver.Options
	}{
		{"no port", dnsserver.Options{Address: "127.0.0.1"}},
		{"bad zone", dnsserver.Options{Address: "127.0.0.1:0", Zone: "a..b"}},
		{"long zone label", dnsserver.Options{Address: "127.0.0.1:0", Zone: fmt.Sprintf("%064d.example", 0)}},
		{"negative ttl", dnsserver.Options{Address: "127.0.0.1:0", TTL: -time.Second}},
		{"small udp size", dnsserver.Options{Address: "127.0.0.1:0", MaxUDPSize: 100}},
		{"negative tcp cap", dnsserver.Options{Address: "127.0.0.1:0", MaxTCPConnections: -1}},
		{"negative idle timeout", dnsserver.Options{Address: "127.0.0.1:0", TCPIdleTimeout: -1}},
		{"too many workers", dnsserver.Options{Address: "127.0.0.1:0", UDPWorkers: 5000}},
	}
	for _, tt := range tests {
		if srv, err := dnsserver.New(src, tt.opts); err == nil {
			srv.Close()
			t.Errorf("%s: accepted", tt.name)
		}
	}
	// A port taken on UDP is an error, not a silent TCP-only server.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if srv, err := dnsserver.New(src, dnsserver.Options{Address: pc.LocalAddr().String()}); err == nil {
		srv.Close()
		t.Error("bound a UDP port that is taken")
	}
}
