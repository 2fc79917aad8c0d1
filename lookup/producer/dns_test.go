package producer_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
)

// countingResolver counts the lookups of a resolver.
type countingResolver struct {
	dnsaddr.Resolver
	n atomic.Int64
}

func (r *countingResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.n.Add(1)
	return r.Resolver.LookupNetIP(ctx, network, host)
}

func (r *countingResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.n.Add(1)
	return r.Resolver.LookupSRV(ctx, service, proto, name)
}

// listedOn reports which of ds list the producer at 127.0.0.1:port for
// topic, as "true"/"false" per lookupd.
func listedOn(t *testing.T, ds []*lookuptest.Daemon, port int, topic string) []bool {
	t.Helper()
	out := make([]bool, len(ds))
	for i, d := range ds {
		out[i] = slices.Contains(lookuptest.LookupProducers(t, d.HTTPAddr().String(), topic), fmt.Sprintf("127.0.0.1:%d", port))
	}
	return out
}

// waitListed waits until exactly the lookupds marked in want list the
// producer.
func waitListed(t *testing.T, ds []*lookuptest.Daemon, port int, topic string, want ...bool) {
	t.Helper()
	var got []bool
	lookuptest.WaitFor(t, 10*time.Second, fmt.Sprintf("the producer listed on %v", want), func() bool {
		got = listedOn(t, ds, port, topic)
		return slices.Equal(got, want)
	})
}

// TestClient_HostName: one name with three addresses is three lookupds on
// the given port; records added and removed are followed at the next
// refresh; a failed resolution keeps the lookupds.
func TestClient_HostName(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ds := lookuptest.StartSamePorts(t, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil)
	name := fmt.Sprintf("lookupds.test.:%d", ds[0].TCPAddr().Port)
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1")
	res := &countingResolver{Resolver: ns.Resolver}
	const refresh = 100 * time.Millisecond
	c := newClient(t, []string{name}, func(cfg *producer.Config) {
		cfg.Resolver = res
		cfg.LookupdDNSRefresh = refresh
	})
	port := c.Identity().TCPPort
	if err := c.Register("orders", "billing"); err != nil {
		t.Fatal(err)
	}
	waitListed(t, ds, port, "orders", true, true, false)

	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1")
	start := time.Now()
	waitListed(t, ds, port, "orders", true, true, true)
	t.Logf("a lookupd added to the name had the full state %s later (refresh %s)", time.Since(start).Round(time.Millisecond), refresh)

	ns.Set(t, "lookupds", "127.0.0.2:1", "127.0.0.3:1")
	waitListed(t, ds, port, "orders", false, true, true)
	st := c.Status()
	if len(st) != 2 || st[0].Name != name || st[1].Name != name {
		t.Errorf("status %+v, want the two lookupds of %s", st, name)
	}

	ns.Fail("lookupds")
	n := res.n.Load()
	lookuptest.WaitFor(t, 10*time.Second, "two more resolutions", func() bool { return res.n.Load() >= n+2 })
	if got := listedOn(t, ds, port, "orders"); !slices.Equal(got, []bool{false, true, true}) {
		t.Errorf("after failed resolutions listed on %v, want the last good lookupds kept", got)
	}
	if st := c.Status(); len(st) != 2 || !st[0].Connected || !st[1].Connected {
		t.Errorf("status %+v", st)
	}
	closeClient(t, c, 5*time.Second)
	assertNoProducerGoroutines(t)
}

// TestClient_SRV: srv+ gives lookupds with their own ports, next to a
// literal address.
func TestClient_SRV(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ds := []*lookuptest.Daemon{lookuptest.StartDaemon(t, nil), lookuptest.StartDaemon(t, nil), lookuptest.StartDaemon(t, nil)}
	ns.Set(t, "lookupd", ds[1].TCPAddr().String(), ds[2].TCPAddr().String())
	c := newClient(t, []string{ds[0].TCPAddr().String(), "srv+_lookupd._tcp.test."}, func(cfg *producer.Config) {
		cfg.Resolver = ns.Resolver
		cfg.LookupdDNSRefresh = 100 * time.Millisecond
	})
	if err := c.Register("orders", ""); err != nil {
		t.Fatal(err)
	}
	waitListed(t, ds, c.Identity().TCPPort, "orders", true, true, true)
	st := c.Status()
	if len(st) != 3 || st[0].Name != "" || st[1].Name != "srv+_lookupd._tcp.test." {
		t.Errorf("status %+v", st)
	}
	ns.Delete("lookupd") // NXDOMAIN: a failure, so nothing is dropped
	ns.Set(t, "lookupd", ds[2].TCPAddr().String())
	waitListed(t, ds, c.Identity().TCPPort, "orders", true, false, true)
}
