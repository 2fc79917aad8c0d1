package mergeddns_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/mergeddns"
)

// announce makes a producer on 127.0.0.1:port register topics on d.
func announce(t *testing.T, d *lookuptest.Daemon, port int, topics ...string) {
	t.Helper()
	p := lookuptest.Dial(t, d.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(port))
	for _, topic := range topics {
		if got := string(p.Register(topic, "")); got != "OK" {
			t.Fatalf("register %s: %q", topic, got)
		}
	}
}

// rcodeOf asks addr for name's SRV records and returns the answer's rcode
// and record count.
func rcodeOf(t *testing.T, addr, name string) (string, int) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	m.SetEdns0(1232, false)
	r, err := dns.Exchange(m, addr)
	if err != nil {
		t.Fatalf("exchange %s: %v", name, err)
	}
	return dns.RcodeToString[r.Rcode], len(r.Answer)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestSource: the merged DNS server answers the union of every lookupd's
// producers, NXDOMAIN only when no lookupd knows the topic, the others'
// union when one is down, the snapshot when all are down, and SERVFAIL
// when there is nothing to serve.
func TestSource(t *testing.T) {
	ds := []*lookuptest.Daemon{lookuptest.StartDaemon(t, nil), lookuptest.StartDaemon(t, nil), lookuptest.StartDaemon(t, nil)}
	announce(t, ds[0], 4150, "orders")
	announce(t, ds[1], 4250, "orders", "payments")
	lookuptest.Post(t, "http://"+ds[2].HTTPAddr().String()+"/topic/create?topic=empty")
	var addrs []string
	for _, d := range ds {
		addrs = append(addrs, d.HTTPAddr().String())
	}
	mc, err := clientmerge.New(addrs, clientmerge.WithTimeout(2*time.Second), clientmerge.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	srv := lookuptest.StartDNS(t, mergeddns.Source(mc), dnsserver.Options{Address: "127.0.0.1:0", TTL: 5 * time.Second, Logger: quiet()})
	addr := srv.Addr().String()
	res := lookuptest.NewResolver(addr)

	if got, want := res.SRV(t, "_orders._tcp.lookupd."), []string{"127-0-0-1.ip.lookupd.:4150", "127-0-0-1.ip.lookupd.:4250"}; !slices.Equal(got, want) {
		t.Errorf("orders: %q, want the union %q", got, want)
	}
	if got, want := res.SRV(t, "_payments._tcp.lookupd."), []string{"127-0-0-1.ip.lookupd.:4250"}; !slices.Equal(got, want) {
		t.Errorf("payments: %q, want %q", got, want)
	}
	if rc, n := rcodeOf(t, addr, "_nope._tcp.lookupd."); rc != "NXDOMAIN" || n != 0 {
		t.Errorf("unknown topic: %s with %d records, want NXDOMAIN", rc, n)
	}
	if rc, n := rcodeOf(t, addr, "_empty._tcp.lookupd."); rc != "NOERROR" || n != 0 {
		t.Errorf("a topic one lookupd knows without producers: %s with %d records, want NODATA", rc, n)
	}

	ds[0].Stop()
	if got, want := res.SRV(t, "_orders._tcp.lookupd."), []string{"127-0-0-1.ip.lookupd.:4250"}; !slices.Equal(got, want) {
		t.Errorf("orders with one lookupd down: %q, want %q", got, want)
	}
	ds[1].Stop()
	ds[2].Stop()
	if got, want := res.SRV(t, "_orders._tcp.lookupd."), []string{"127-0-0-1.ip.lookupd.:4250"}; !slices.Equal(got, want) {
		t.Errorf("orders with every lookupd down: %q, want the last answer %q", got, want)
	}
	if rc, _ := rcodeOf(t, addr, "_never._tcp.lookupd."); rc != "SERVFAIL" {
		t.Errorf("a topic never asked, every lookupd down: %s, want SERVFAIL", rc)
	}
}

// TestSource_Coalesces: queries for one topic that arrive while it is
// being asked share that one fan-out.
func TestSource_Coalesces(t *testing.T) {
	release := make(chan struct{})
	var requests atomic.Int64
	lookupd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"channels":[],"producers":[{"remote_address":"127.0.0.1:1","hostname":"h","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}]}`)
	}))
	t.Cleanup(lookupd.Close)
	mc, err := clientmerge.New([]string{strings.TrimPrefix(lookupd.URL, "http://")}, clientmerge.WithTimeout(10*time.Second), clientmerge.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	var entered atomic.Int64
	merged := mergeddns.Source(mc)
	src := dnsserver.SourceFunc(func(ctx context.Context, topic string) (dnsserver.Answer, error) {
		entered.Add(1)
		return merged.Producers(ctx, topic)
	})
	const n = 8
	srv := lookuptest.StartDNS(t, src, dnsserver.Options{Address: "127.0.0.1:0", UDPWorkers: n})
	var wg sync.WaitGroup
	answers := make(chan int, n)
	for range n {
		wg.Go(func() {
			m := new(dns.Msg)
			m.SetQuestion("_orders._tcp.lookupd.", dns.TypeSRV)
			m.SetEdns0(1232, false)
			c := &dns.Client{Timeout: 20 * time.Second}
			r, _, err := c.Exchange(m, srv.Addr().String())
			if err != nil {
				answers <- -1
				return
			}
			answers <- len(r.Answer)
		})
	}
	lookuptest.WaitFor(t, 10*time.Second, "every query to reach the source", func() bool { return entered.Load() == n })
	close(release)
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != 1 {
			t.Errorf("a query got %d records, want 1", a)
		}
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("%d requests to the lookupd for %d concurrent queries, want 1", got, n)
	}
}

func TestNewServer_NilClient(t *testing.T) {
	if _, err := mergeddns.NewServer(nil, dnsserver.Options{Address: "127.0.0.1:0"}); err == nil {
		t.Error("nil client accepted")
	}
}
