package dnsaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SRVPrefix marks an address that names SRV records.
const SRVPrefix = "srv+"

// DefaultRefresh is how often names are resolved again by default.
const DefaultRefresh = 30 * time.Second

// Resolver is the part of *net.Resolver that expansion uses; tests point
// one at an in-process DNS server.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

var _ Resolver = (*net.Resolver)(nil)

// kind is the form of one configured address.
type kind int

const (
	kindLiteral kind = iota // ip:port
	kindHost                // name:port
	kindSRV                 // srv+name
)

// entry is one configured address.
type entry struct {
	given string
	kind  kind
	host  string // kindHost: the name; kindSRV: the SRV name
	port  string // kindHost
}

// parse checks one address form.
func parse(addr string) (entry, error) {
	bad := fmt.Errorf("want ip:port, host:port or %sNAME, got %q", SRVPrefix, addr)
	if name, ok := strings.CutPrefix(addr, SRVPrefix); ok {
		if name == "" || strings.ContainsAny(name, ":/ ") {
			return entry{}, bad
		}
		return entry{given: addr, kind: kindSRV, host: name}, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return entry{}, bad
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return entry{}, fmt.Errorf("port of %q must be a number in 1..65535", addr)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return entry{given: addr, kind: kindLiteral}, nil
	}
	return entry{given: addr, kind: kindHost, host: host, port: port}, nil
}

// Check reports whether addr is one of the address forms, without any
// DNS.
func Check(addr string) error {
	_, err := parse(addr)
	return err
}

// IsName reports whether addr (a valid form) needs DNS.
func IsName(addr string) bool {
	e, err := parse(addr)
	return err == nil && e.kind != kindLiteral
}

// Expansion is what one configured address stands for.
type Expansion struct {
	// Given is the address as configured.
	Given string
	// Addrs are the lookupds it stands for, as "ip:port" (a literal
	// address stays as given), sorted. After a failed resolution they are
	// the last good ones, which may be none.
	Addrs []string
	// Err is the failure of the last resolution, nil if it succeeded.
	Err error
}

// Set is a list of configured lookupd addresses and what they expanded to
// last. It is safe for concurrent use; resolutions are serialised.
type Set struct {
	r       Resolver
	entries []entry

	mu   sync.Mutex // serialises Resolve
	last [][]string // per entry: the last good expansion
}

// New checks every address and returns a Set that resolves names with r
// (net.DefaultResolver if nil). It does no I/O. Addresses given twice are
// an error.
func New(addrs []string, r Resolver) (*Set, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	s := &Set{r: r, last: make([][]string, len(addrs))}
	seen := make(map[string]bool, len(addrs))
	for i, a := range addrs {
		e, err := parse(a)
		if err != nil {
			return nil, err
		}
		if seen[a] {
			return nil, fmt.Errorf("%q listed twice", a)
		}
		seen[a] = true
		if e.kind == kindLiteral {
			s.last[i] = []string{a}
		}
		s.entries = append(s.entries, e)
	}
	return s, nil
}

// Static reports whether no address is a name: then Resolve does no I/O
// and always gives the addresses as configured.
func (s *Set) Static() bool {
	for _, e := range s.entries {
		if e.kind != kindLiteral {
			return false
		}
	}
	return true
}

// Resolve resolves every name (concurrently, under ctx) and returns one
// Expansion per configured address, in the configured order. It blocks
// until every lookup has returned. The caller owns the result.
func (s *Set) Resolve(ctx context.Context) []Expansion {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Expansion, len(s.entries))
	var wg sync.WaitGroup
	for i, e := range s.entries {
		out[i].Given = e.given
		if e.kind == kindLiteral {
			continue
		}
		wg.Go(func() {
			addrs, err := s.resolve(ctx, e)
			if err == nil && len(addrs) == 0 {
				err = errors.New("no addresses")
			}
			if err != nil {
				out[i].Err = fmt.Errorf("resolve %s: %w", e.given, err)
				return
			}
			s.last[i] = addrs
		})
	}
	wg.Wait()
	for i := range out {
		out[i].Addrs = slices.Clone(s.last[i])
	}
	return out
}

func (s *Set) resolve(ctx context.Context, e entry) ([]string, error) {
	switch e.kind {
	case kindHost:
		ips, err := s.lookupIP(ctx, e.host)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(ips))
		for i, ip := range ips {
			out[i] = net.JoinHostPort(ip.String(), e.port)
		}
		return out, nil
	case kindSRV:
		_, recs, err := s.r.LookupSRV(ctx, "", "", e.host)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, rec := range recs {
			if rec.Target == "." || rec.Target == "" {
				continue
			}
			ips, err := s.lookupIP(ctx, rec.Target)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", rec.Target, err)
			}
			for _, ip := range ips {
				out = append(out, net.JoinHostPort(ip.String(), strconv.Itoa(int(rec.Port))))
			}
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	}
	return nil, fmt.Errorf("address %q needs no resolution", e.given)
}

// lookupIP returns the addresses of host, IPv4 only when it has any,
// sorted and without duplicates.
func (s *Set) lookupIP(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil // an SRV target may be a literal
	}
	ips, err := s.r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var v4, v6 []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is4() {
			v4 = append(v4, ip)
		} else {
			v6 = append(v6, ip)
		}
	}
	if len(v4) == 0 {
		v4 = v6
	}
	slices.SortFunc(v4, netip.Addr.Compare)
	return slices.Compact(v4), nil
}

// Addrs returns the union of the expansions' addresses in order, without
// duplicates. The caller owns the result.
func Addrs(exps []Expansion) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range exps {
		for _, a := range e.Addrs {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}
