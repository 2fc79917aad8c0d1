package limit_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/internal/limit"
)

func TestSource(t *testing.T) {
	tests := []struct {
		name string
		addr net.Addr
		want string
	}{
		{name: "ipv4", addr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 5}, want: "127.0.0.2/32"},
		{name: "ipv4-mapped", addr: &net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 5}, want: "10.1.2.3/32"},
		{name: "ipv6 groups by /64", addr: &net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:aaaa::1"), Port: 5}, want: "2001:db8:1:2::/64"},
		{name: "ipv6 zone dropped", addr: &net.TCPAddr{IP: net.ParseIP("fe80::1"), Zone: "eth0", Port: 5}, want: "fe80::/64"},
		{name: "loopback v6", addr: &net.TCPAddr{IP: net.IPv6loopback, Port: 5}, want: "::/64"},
		{name: "udp addr by string", addr: &net.UDPAddr{IP: net.ParseIP("10.0.0.1"), Port: 9}, want: "10.0.0.1/32"},
		{name: "pipe", addr: pipeAddr{}, want: "invalid Prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := limit.Source(tc.addr).String(); got != tc.want {
				t.Errorf("Source(%v) = %s, want %s", tc.addr, got, tc.want)
			}
		})
	}
	if got := limit.SourceString("[2001:db8::7]:80"); got != netip.MustParsePrefix("2001:db8::/64") {
		t.Errorf("SourceString = %s", got)
	}
	if got := limit.SourceString("not an address"); got.IsValid() {
		t.Errorf("SourceString of garbage = %s", got)
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func TestPerSource(t *testing.T) {
	a, b := netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("10.0.0.2/32")
	p := limit.PerSource{Max: 2}
	for i := range 2 {
		if !p.Acquire(a) {
			t.Fatalf("holder %d refused", i)
		}
	}
	if p.Acquire(a) {
		t.Fatal("third from the same source admitted")
	}
	if !p.Acquire(b) {
		t.Fatal("another source refused")
	}
	p.Release(a)
	if p.Count(a) != 1 || !p.Acquire(a) {
		t.Fatal("slot not freed by Release")
	}
	p.Release(a)
	p.Release(a)
	if p.Count(a) != 0 {
		t.Fatalf("count %d after releasing all", p.Count(a))
	}
	var unlimited limit.PerSource
	for range 1000 {
		if !unlimited.Acquire(a) {
			t.Fatal("zero PerSource refused")
		}
	}
}

func TestEvery(t *testing.T) {
	e := limit.Every{Interval: time.Second}
	t0 := time.Unix(1000, 0)
	if ok, n := e.Allow(t0); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := range 5 {
		if ok, _ := e.Allow(t0.Add(time.Duration(i) * 100 * time.Millisecond)); ok {
			t.Fatalf("event %d within the interval let through", i)
		}
	}
	if ok, n := e.Allow(t0.Add(time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: %v, suppressed %d, want true 5", ok, n)
	}
}
