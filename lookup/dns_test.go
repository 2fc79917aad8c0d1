package lookup_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/wire"
)

// startDNS runs a lookupd with its DNS server on 127.0.0.1:0 and returns
// it with a resolver pointed at that server.
func startDNS(t *testing.T, opts *lookup.Options) (*lookup.Server, *lookuptest.Resolver) {
	t.Helper()
	if opts == nil {
		opts = lookuptest.Options(t)
	}
	opts.DNSAddress = "127.0.0.1:0"
	srv := lookuptest.Start(t, opts)
	addr, ok := srv.DNSAddr()
	if !ok {
		t.Fatal("DNS server is off")
	}
	return srv, lookuptest.NewResolver(addr.String())
}

func producerAt(host string, port int) wire.ProducerInfo {
	pi := lookuptest.ProducerInfo(port)
	pi.BroadcastAddress = host
	return pi
}

func TestDNS_FollowsRegistrations(t *testing.T) {
	srv, res := startDNS(t, nil)
	tcp := srv.TCPAddr().String()

	a := lookuptest.Dial(t, tcp)
	a.Identify(producerAt("127.0.0.1", 4150))
	a.Register("orders", "billing")
	if got, want := res.SRV(t, "_orders._tcp.lookupd."), []string{"127-0-0-1.ip.lookupd.:4150"}; !slices.Equal(got, want) {
		t.Fatalf("SRV %q, want %q", got, want)
	}

	b := lookuptest.Dial(t, tcp)
	b.Identify(producerAt("127.0.0.2", 4152))
	b.Register("orders", "")
	c := lookuptest.Dial(t, tcp)
	c.Identify(producerAt("nsqd-3.example.com", 4154))
	c.Register("orders", "")
	want := []string{"127-0-0-1.ip.lookupd.:4150", "127-0-0-2.ip.lookupd.:4152", "nsqd-3.example.com.:4154"}
	if got := res.SRV(t, "_orders._tcp.lookupd."); !slices.Equal(got, want) {
		t.Fatalf("SRV %q, want %q", got, want)
	}
	ips, err := res.LookupHost(t.Context(), "orders.lookupd.")
	slices.Sort(ips)
	if err != nil || !slices.Equal(ips, []string{"127.0.0.1", "127.0.0.2"}) {
		t.Fatalf("LookupHost = %q, %v; want the two IP producers", ips, err)
	}
	// The target of an IP producer resolves on the same server.
	if ips, err := res.LookupHost(t.Context(), "127-0-0-2.ip.lookupd."); err != nil || !slices.Equal(ips, []string{"127.0.0.2"}) {
		t.Fatalf("target lookup = %q, %v", ips, err)
	}

	a.Unregister("orders", "")
	c.Close()
	want = []string{"127-0-0-2.ip.lookupd.:4152"}
	lookuptest.WaitFor(t, 5*time.Second, "SRV records to follow unregister and disconnect", func() bool {
		return slices.Equal(res.SRV(t, "_orders._tcp.lookupd."), want)
	})
	b.Close()
	lookuptest.WaitFor(t, 5*time.Second, "the last producer to go", func() bool {
		return res.SRV(t, "_orders._tcp.lookupd.") == nil
	})
	// The topic stays registered without producers: NODATA, not NXDOMAIN.
	m := new(dns.Msg)
	m.SetQuestion("_orders._tcp.lookupd.", dns.TypeSRV)
	addr, _ := srv.DNSAddr()
	r, err := dns.Exchange(m, addr.String())
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("empty topic: %v %v", r, err)
	}
	m.SetQuestion("_never._tcp.lookupd.", dns.TypeSRV)
	if r, err := dns.Exchange(m, addr.String()); err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("unknown topic: %v %v", r, err)
	}
	m.SetQuestion("_orders._tcp.example.com.", dns.TypeSRV)
	if r, err := dns.Exchange(m, addr.String()); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("other zone: %v %v", r, err)
	}
}

func TestDNS_Ephemeral(t *testing.T) {
	srv, res := startDNS(t, nil)
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(producerAt("127.0.0.1", 4150))
	p.Register("events#ephemeral", "tail#ephemeral")
	if got := res.SRV(t, "_events._tcp.ephemeral.lookupd."); !slices.Equal(got, []string{"127-0-0-1.ip.lookupd.:4150"}) {
		t.Fatalf("ephemeral SRV %q", got)
	}
	if ips, err := res.LookupHost(t.Context(), "events.ephemeral.lookupd."); err != nil || !slices.Equal(ips, []string{"127.0.0.1"}) {
		t.Fatalf("ephemeral A %q, %v", ips, err)
	}
	if got := res.SRV(t, "_events._tcp.lookupd."); got != nil {
		t.Fatalf("the non-ephemeral name answers %q", got)
	}
	p.Close()
	// The topic goes with its last producer, and so does its name.
	m := new(dns.Msg)
	m.SetQuestion("_events._tcp.ephemeral.lookupd.", dns.TypeSRV)
	addr, _ := srv.DNSAddr()
	lookuptest.WaitFor(t, 5*time.Second, "NXDOMAIN for the ephemeral topic", func() bool {
		r, err := dns.Exchange(m, addr.String())
		return err == nil && r.Rcode == dns.RcodeNameError
	})
}

// ttls returns the TTLs of the answer records of a query.
func ttls(t *testing.T, addr, name string, qtype uint16) []uint32 {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, rr := range r.Answer {
		out = append(out, rr.Header().Ttl)
	}
	return out
}

func TestDNS_TTL(t *testing.T) {
	clk := fakeclock.New()
	opts := lookuptest.Options(t)
	opts.Now = clk.Now
	opts.DNSTTL = 60 * time.Second
	opts.InactiveProducerTimeout = 300 * time.Second
	opts.TombstoneLifetime = 45 * time.Second
	srv, _ := startDNS(t, opts)
	addr, _ := srv.DNSAddr()
	a := lookuptest.Dial(t, srv.TCPAddr().String())
	a.Identify(producerAt("127.0.0.1", 4150))
	a.Register("orders", "")
	b := lookuptest.Dial(t, srv.TCPAddr().String())
	b.Identify(producerAt("127.0.0.2", 4152))
	b.Register("orders", "")

	check := func(step string, want uint32) {
		t.Helper()
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"_orders._tcp.lookupd.", dns.TypeSRV}, {"orders.lookupd.", dns.TypeA}} {
			got := ttls(t, addr.String(), q.name, q.qtype)
			if len(got) == 0 {
				t.Fatalf("%s: no %s records", step, dns.TypeToString[q.qtype])
			}
			for _, ttl := range got {
				if ttl != want {
					t.Errorf("%s: %s TTLs %v, want %d", step, dns.TypeToString[q.qtype], got, want)
					break
				}
			}
		}
	}
	check("fresh", 60)

	// A tombstone hides b for 45 s; a's answer may change when it ends.
	code, body := lookuptest.Post(t, fmt.Sprintf("http://%s/topic/tombstone?topic=orders&node=127.0.0.2:4153", srv.HTTPAddr()))
	if code != 200 {
		t.Fatalf("tombstone: %d %s", code, body)
	}
	check("tombstoned", 45)
	clk.Advance(40 * time.Second)
	check("tombstone ending", 5)

	// After the tombstone, the inactive timeout bounds the TTL: both
	// producers were last heard from at the start.
	clk.Advance(10 * time.Second)
	if got := ttls(t, addr.String(), "_orders._tcp.lookupd.", dns.TypeSRV); len(got) != 2 {
		t.Fatalf("after the tombstone: %d records, want 2", len(got))
	}
	clk.Advance(300*time.Second - 50*time.Second - 2500*time.Millisecond)
	check("about to go inactive", 2)
	a.Ping() // a heartbeat moves a's deadline, not b's
	check("one heartbeat", 2)
	b.Ping()
	check("both heartbeats", 60)
}

func TestDNS_500Producers(t *testing.T) {
	// 500 producers from one address: past the per-address default.
	o := lookuptest.Options(t)
	o.MaxTCPClientsPerIP = 0
	srv, res := startDNS(t, o)
	const n = 500
	for i := range n {
		p := lookuptest.Dial(t, srv.TCPAddr().String())
		p.Identify(producerAt("127.0.0.1", 10000+i))
		if got := string(p.Register("big", "")); got != "OK" {
			t.Fatalf("register %d: %q", i, got)
		}
	}
	res.Dialed()
	got := res.SRV(t, "_big._tcp.lookupd.")
	if len(got) != n {
		t.Fatalf("%d SRV records, want %d", len(got), n)
	}
	if dialed := res.Dialed(); !slices.Equal(dialed, []string{"udp", "tcp"}) {
		t.Errorf("dialled %q, want udp (truncated) then tcp", dialed)
	}
	for i, rec := range got {
		if want := fmt.Sprintf("127-0-0-1.ip.lookupd.:%d", 10000+i); rec != want {
			t.Fatalf("record %d: %s, want %s", i, rec, want)
		}
	}
}

func TestDNS_OffByDefault(t *testing.T) {
	srv := lookuptest.Start(t, nil)
	if _, ok := srv.DNSAddr(); ok {
		t.Fatal("DNS server on without --dns-address")
	}
	code, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/stats")
	if code != 200 || strings.Contains(string(body), `"dns"`) {
		t.Fatalf("/stats: %d %s", code, body)
	}
}

func TestDNS_Metrics(t *testing.T) {
	srv, res := startDNS(t, nil)
	res.SRV(t, "_nope._tcp.lookupd.")
	_, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/metrics")
	if !strings.Contains(string(body), "lookupd_dns_nxdomain_total 1") {
		t.Errorf("metrics lack the NXDOMAIN count:\n%s", body)
	}
	_, body = lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/stats")
	if !strings.Contains(string(body), `"nxdomain":1`) {
		t.Errorf("/stats lacks the NXDOMAIN count: %s", body)
	}
}
