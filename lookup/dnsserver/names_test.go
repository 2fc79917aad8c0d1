package dnsserver

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	addr := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	tests := []struct {
		name string
		rel  string
		want name
	}{
		{"apex", "", name{kind: nameApex}},
		{"srv", "_orders._tcp", name{kind: nameSRV, topic: "orders"}},
		{"srv is case-insensitive in its labels", "_Orders._TCP", name{kind: nameSRV, topic: "Orders"}},
		{"srv of a dotted topic", "_a.b._tcp", name{kind: nameSRV, topic: "a.b"}},
		{"srv of a topic starting with an underscore", "__x._tcp", name{kind: nameSRV, topic: "_x"}},
		{"srv without the leading underscore", "orders._tcp", name{}},
		{"ephemeral srv", "_events._tcp.ephemeral", name{kind: nameSRV, topic: "events#ephemeral"}},
		{"srv of a topic ending in .ephemeral", "_x.ephemeral._tcp", name{kind: nameSRV, topic: "x.ephemeral"}},
		{"host", "orders", name{kind: nameHost, topic: "orders"}},
		{"dotted host", "a.b", name{kind: nameHost, topic: "a.b"}},
		{"ephemeral host", "events.ephemeral", name{kind: nameHost, topic: "events#ephemeral"}},
		{"ephemeral host with a dotted base", "a.b.ephemeral", name{kind: nameHost, topic: "a.b#ephemeral"}},
		{"host named like a reserved label", "ephemeral", name{kind: nameHost, topic: "ephemeral"}},
		{"host named ip", "ip", name{kind: nameHost, topic: "ip"}},
		{"ipv4 address", "127-0-0-1.ip", name{kind: nameAddr, addr: addr("127.0.0.1")}},
		{"ipv6 address", "0000-0000-0000-0000-0000-0000-0000-0001.ip", name{kind: nameAddr, addr: addr("::1")}},
		{"ipv6 address in upper case", "FE80-0000-0000-0000-0000-0000-0000-00AB.ip", name{kind: nameAddr, addr: addr("fe80::ab")}},
		{"ipv6 address not in full", "0--1.ip", name{}},
		{"ipv4 address with a leading zero", "127-0-0-01.ip", name{}},
		{"ipv4-mapped ipv6 address", "0000-0000-0000-0000-0000-ffff-7f00-0001.ip", name{}},
		{"not an address", "orders.ip", name{}},
		{"escaped byte", `or\#ders`, name{}},
		{"literal hash", "orders#ephemeral", name{}},
		{"hash before the ephemeral label", "x#ephemeral.ephemeral", name{}},
		{"too long", strings.Repeat("a", 65), name{}},
		{"64 characters", strings.Repeat("a", 64), name{kind: nameHost, topic: strings.Repeat("a", 64)}},
		{"bad character", "a*b", name{}},
		{"srv with an empty topic", "_._tcp", name{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseName(tt.rel); got != tt.want {
				t.Errorf("parseName(%q) = %+v, want %+v", tt.rel, got, tt.want)
			}
		})
	}
}

func TestInZone(t *testing.T) {
	tests := []struct {
		qname, zone string
		rel         string
		ok          bool
	}{
		{"lookupd.", "lookupd.", "", true},
		{"LOOKUPD.", "lookupd.", "", true},
		{"_orders._tcp.lookupd.", "lookupd.", "_orders._tcp", true},
		{"orders.Lookupd.", "lookupd.", "orders", true},
		{"xlookupd.", "lookupd.", "", false},
		{`a\.lookupd.`, "lookupd.", "", false},
		{"example.com.", "lookupd.", "", false},
		{"orders.svc.example.", "svc.example.", "orders", true},
		{"orders.", ".", "orders", true},
		{".", ".", "", true},
	}
	for _, tt := range tests {
		rel, ok := inZone(tt.qname, tt.zone)
		if rel != tt.rel || ok != tt.ok {
			t.Errorf("inZone(%q, %q) = %q, %v; want %q, %v", tt.qname, tt.zone, rel, ok, tt.rel, tt.ok)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		topic     string
		srv, host string // "" when the topic has none
		zone      string
	}{
		{topic: "orders", srv: "_orders._tcp.lookupd.", host: "orders.lookupd."},
		{topic: "orders", zone: "Svc.Example", srv: "_orders._tcp.svc.example.", host: "orders.svc.example."},
		{topic: "events#ephemeral", srv: "_events._tcp.ephemeral.lookupd.", host: "events.ephemeral.lookupd."},
		{topic: "a.b", srv: "_a.b._tcp.lookupd.", host: "a.b.lookupd."},
		{topic: "x.ephemeral", srv: "_x.ephemeral._tcp.lookupd."},
		{topic: "x._tcp", srv: "_x._tcp._tcp.lookupd."},
		{topic: "x.ip", srv: "_x.ip._tcp.lookupd."},
		{topic: "a..b"},
		{topic: ".a"},
		{topic: "a."},
		{topic: strings.Repeat("a", 63), host: strings.Repeat("a", 63) + ".lookupd."},
		{topic: strings.Repeat("a", 62), srv: "_" + strings.Repeat("a", 62) + "._tcp.lookupd.", host: strings.Repeat("a", 62) + ".lookupd."},
		{topic: strings.Repeat("a", 64)},
		{topic: "bad topic"},
	}
	for _, tt := range tests {
		zone := tt.zone
		if zone == "" {
			zone = "lookupd."
		}
		srv, ok := SRVName(tt.topic, zone)
		if srv != tt.srv || ok != (tt.srv != "") {
			t.Errorf("SRVName(%q, %q) = %q, %v; want %q", tt.topic, zone, srv, ok, tt.srv)
		}
		host, ok := HostName(tt.topic, zone)
		if host != tt.host || ok != (tt.host != "") {
			t.Errorf("HostName(%q, %q) = %q, %v; want %q", tt.topic, zone, host, ok, tt.host)
		}
	}
}

func TestAddrName(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1", "127-0-0-1.ip.lookupd."},
		{"::ffff:10.1.2.3", "10-1-2-3.ip.lookupd."},
		{"::1", "0000-0000-0000-0000-0000-0000-0000-0001.ip.lookupd."},
		{"2001:db8::a:b", "2001-0db8-0000-0000-0000-0000-000a-000b.ip.lookupd."},
		{"fe80::1%eth0", ""},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		got, ok := AddrName(a, "lookupd.")
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("AddrName(%s) = %q, %v; want %q", tt.addr, got, ok, tt.want)
			continue
		}
		if !ok {
			continue
		}
		rel, _ := inZone(got, "lookupd.")
		if n := parseName(rel); n.kind != nameAddr || n.addr != a.Unmap() {
			t.Errorf("%s does not parse back to %s: %+v", got, tt.addr, n)
		}
	}
}

func TestHostTarget(t *testing.T) {
	tests := []struct {
		host, want string
	}{
		{"nsqd-1.example.com", "nsqd-1.example.com."},
		{"nsqd-1.example.com.", "nsqd-1.example.com."},
		{"localhost", "localhost."},
		{"my_host", "my_host."},
		{"bad host", ""},
		{"a..b", ""},
		{"", ""},
		{strings.Repeat("a", 64) + ".example", ""},
	}
	for _, tt := range tests {
		got, ok := hostTarget(tt.host)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("hostTarget(%q) = %q, %v; want %q", tt.host, got, ok, tt.want)
		}
	}
}
