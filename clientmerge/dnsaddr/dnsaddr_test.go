package dnsaddr_test

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

func TestNew_Forms(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
		name bool
	}{
		{"127.0.0.1:4160", true, false},
		{"[::1]:4160", true, false},
		{"lookupd.example:4160", true, true},
		{"srv+_lookupd._tcp.example.", true, true},
		{"lookupd.example", false, false},
		{"lookupd.example:0", false, false},
		{"lookupd.example:http", false, false},
		{":4160", false, false},
		{"srv+", false, false},
		{"srv+host:4160", false, false},
	}
	for _, tt := range tests {
		err := dnsaddr.Check(tt.addr)
		if (err == nil) != tt.ok {
			t.Errorf("Check(%q) = %v, want ok %v", tt.addr, err, tt.ok)
		}
		if got := dnsaddr.IsName(tt.addr); got != tt.name {
			t.Errorf("IsName(%q) = %v, want %v", tt.addr, got, tt.name)
		}
	}
	if _, err := dnsaddr.New([]string{"127.0.0.1:1", "127.0.0.1:1"}, nil); err == nil {
		t.Error("an address listed twice was accepted")
	}
}

// countingResolver counts lookups.
type countingResolver struct {
	dnsaddr.Resolver
	n int
}

func (c *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	c.n++
	return c.Resolver.LookupNetIP(ctx, network, host)
}

func TestSet_Static(t *testing.T) {
	r := &countingResolver{Resolver: net.DefaultResolver}
	s, err := dnsaddr.New([]string{"127.0.0.1:4160", "[::1]:4160"}, r)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Static() {
		t.Fatal("literal addresses are not static")
	}
	exps := s.Resolve(t.Context())
	if got := dnsaddr.Addrs(exps); !slices.Equal(got, []string{"127.0.0.1:4160", "[::1]:4160"}) {
		t.Errorf("addresses %q", got)
	}
	if r.n != 0 {
		t.Errorf("%d lookups for literal addresses", r.n)
	}
}

func TestSet_Resolve(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ns.Set(t, "lookupds", "127.0.0.3:1", "127.0.0.1:1", "127.0.0.2:1")
	ns.Set(t, "srv", "127.0.0.1:4160", "127.0.0.1:4260", "127.0.0.9:4360")
	ns.Set(t, "dual", "127.0.0.5:1", "[::1]:1")
	ns.Set(t, "v6", "[::1]:1")
	ns.Set(t, "empty")
	s, err := dnsaddr.New([]string{
		"lookupds.test.:4160",
		"srv+_srv._tcp.test.",
		"127.0.0.1:4160", // also in the name's expansion: listed once
		"dual.test.:4160",
		"v6.test.:4160",
		"empty.test.:4160",
		"missing.test.:4160",
	}, ns.Resolver)
	if err != nil {
		t.Fatal(err)
	}
	if s.Static() {
		t.Fatal("names are static")
	}
	exps := s.Resolve(t.Context())
	want := []struct {
		addrs []string
		err   bool
	}{
		{addrs: []string{"127.0.0.1:4160", "127.0.0.2:4160", "127.0.0.3:4160"}},
		{addrs: []string{"127.0.0.1:4160", "127.0.0.1:4260", "127.0.0.9:4360"}},
		{addrs: []string{"127.0.0.1:4160"}},
		{addrs: []string{"127.0.0.5:4160"}}, // IPv4 only when there is any
		{addrs: []string{"[::1]:4160"}},
		{err: true}, // a name without addresses is a failure
		{err: true},
	}
	for i, w := range want {
		e := exps[i]
		if !slices.Equal(e.Addrs, w.addrs) || (e.Err != nil) != w.err {
			t.Errorf("%s: %q, %v; want %q, error %v", e.Given, e.Addrs, e.Err, w.addrs, w.err)
		}
	}
	if got := dnsaddr.Addrs(exps); len(got) != 7 {
		t.Errorf("union %q, want 7 distinct addresses", got)
	}

	// A record added and one removed show at the next resolution.
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.4:1")
	if got := s.Resolve(t.Context())[0].Addrs; !slices.Equal(got, []string{"127.0.0.1:4160", "127.0.0.4:4160"}) {
		t.Errorf("after a change: %q", got)
	}
	// A failure keeps the last good set and says so.
	ns.Fail("lookupds")
	ns.Delete("srv")
	exps = s.Resolve(t.Context())
	for i, w := range [][]string{{"127.0.0.1:4160", "127.0.0.4:4160"}, {"127.0.0.1:4160", "127.0.0.1:4260", "127.0.0.9:4360"}} {
		if !slices.Equal(exps[i].Addrs, w) || exps[i].Err == nil {
			t.Errorf("%s while failing: %q, %v; want the last good %q and the error", exps[i].Given, exps[i].Addrs, exps[i].Err, w)
		}
	}
	// And recovers.
	ns.Set(t, "lookupds", "127.0.0.2:1")
	if e := s.Resolve(t.Context())[0]; !slices.Equal(e.Addrs, []string{"127.0.0.2:4160"}) || e.Err != nil {
		t.Errorf("after recovery: %q, %v", e.Addrs, e.Err)
	}
}
