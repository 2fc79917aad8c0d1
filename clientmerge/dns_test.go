package clientmerge

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
)

// register makes a producer on 127.0.0.9:tcpPort register topic on the
// lookupd at tcpAddr, for as long as the test runs.
func register(t *testing.T, tcpAddr string, tcpPort int, topic string) {
	t.Helper()
	p := lookuptest.Dial(t, tcpAddr)
	info := lookuptest.ProducerInfo(tcpPort)
	info.BroadcastAddress = "127.0.0.9"
	p.Identify(info)
	if got := string(p.Register(topic, "")); got != "OK" {
		t.Fatalf("register: %q", got)
	}
}

func respAddrs(rs []Response) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Addr)
	}
	return out
}

// TestClient_HostName: one name with several addresses is one lookupd
// per address, with the given port; records added and removed are
// followed at the first call after one refresh interval; a failed
// resolution keeps the last good lookupds and is logged.
func TestClient_HostName(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ds := lookuptest.StartSamePorts(t, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil)
	register(t, ds[0].TCPAddr().String(), 4150, "orders")
	register(t, ds[1].TCPAddr().String(), 4150, "orders")
	port := ds[0].HTTPAddr().Port
	at := func(hosts ...string) []string {
		var out []string
		for _, h := range hosts {
			out = append(out, fmt.Sprintf("%s:%d", h, port))
		}
		return out
	}
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1") // the A records' ports do not matter

	var logs lookuptest.SyncBuffer
	c, err := New([]string{fmt.Sprintf("lookupds.test.:%d", port)},
		WithResolver(ns.Resolver), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New()
	c.lookupds.now = clk.Now

	lookup := func(step string, want []string, seenBy int) {
		t.Helper()
		res, err := c.Lookup(t.Context(), "orders")
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if got := respAddrs(res.Responses); !slices.Equal(got, want) {
			t.Fatalf("%s: asked %q, want %q", step, got, want)
		}
		if len(res.Producers) != 1 || res.Producers[0].SeenBy != seenBy {
			t.Fatalf("%s: producers %+v, want one seen by %d", step, res.Producers, seenBy)
		}
	}
	lookup("first call", at("127.0.0.1", "127.0.0.2"), 2)

	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1")
	lookup("before the refresh", at("127.0.0.1", "127.0.0.2"), 2)
	clk.Advance(dnsaddr.DefaultRefresh)
	lookup("a record added", at("127.0.0.1", "127.0.0.2", "127.0.0.3"), 2)

	ns.Set(t, "lookupds", "127.0.0.2:1", "127.0.0.3:1")
	clk.Advance(dnsaddr.DefaultRefresh)
	lookup("a record removed", at("127.0.0.2", "127.0.0.3"), 1)
	if got := c.Lookupds(t.Context()); !slices.Equal(got, at("127.0.0.2", "127.0.0.3")) {
		t.Errorf("Lookupds = %q", got)
	}
	if !bytes.Contains([]byte(logs.String()), []byte("lookupds changed")) {
		t.Errorf("no log of the change:\n%s", logs.String())
	}

	ns.Fail("lookupds")
	clk.Advance(dnsaddr.DefaultRefresh)
	lookup("resolution failing", at("127.0.0.2", "127.0.0.3"), 1)
	if !bytes.Contains([]byte(logs.String()), []byte("resolution failed")) {
		t.Errorf("the failed resolution was not logged:\n%s", logs.String())
	}
	// Failing again is not logged again; resolving again is.
	clk.Advance(dnsaddr.DefaultRefresh)
	lookup("still failing", at("127.0.0.2", "127.0.0.3"), 1)
	if n := strings.Count(logs.String(), "resolution failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, logs.String())
	}
	ns.Set(t, "lookupds", "127.0.0.2:1")
	clk.Advance(dnsaddr.DefaultRefresh)
	lookup("resolving again", at("127.0.0.2"), 1)
	if !strings.Contains(logs.String(), "resolves again") {
		t.Errorf("the recovery was not logged:\n%s", logs.String())
	}
}

// TestClient_SRV: srv+ names lookupds with their ports, and each lookupd
// gets its own Response; a name that never resolves is a failed lookupd
// under its given address.
func TestClient_SRV(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	var addrs []string
	for i := range 3 {
		srv := lookuptest.Start(t, nil)
		if i < 2 {
			register(t, srv.TCPAddr().String(), 4150, "orders")
		}
		addrs = append(addrs, srv.HTTPAddr().String())
	}
	ns.Set(t, "lookupd-http", addrs...)
	c, err := New([]string{"srv+_lookupd-http._tcp.test.", "missing.test.:4161"}, WithResolver(ns.Resolver))
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Lookup(t.Context(), "orders")
	var partial *PartialError
	if !errors.As(err, &partial) || len(partial.Failed) != 1 || partial.Failed[0].Addr != "missing.test.:4161" {
		t.Fatalf("err = %v, want the unresolvable name as the one failed lookupd", err)
	}
	want := append(slices.Sorted(slices.Values(addrs)), "missing.test.:4161")
	if got := respAddrs(res.Responses); !slices.Equal(got, want) {
		t.Fatalf("asked %q, want %q", got, want)
	}
	for i, r := range res.Responses[:3] {
		if r.Err != nil || r.TopicNotFound != (r.Addr == addrs[2]) {
			t.Errorf("response %d: %+v", i, r)
		}
	}
	if len(res.Producers) != 1 || res.Producers[0].SeenBy != 2 || res.Answered != 3 {
		t.Errorf("producers %+v, answered %d", res.Producers, res.Answered)
	}
	nodes, err := c.Nodes(t.Context())
	if !errors.As(err, &partial) || len(nodes.Nodes) != 1 || nodes.Nodes[0].SeenBy != 2 {
		t.Errorf("nodes %+v, %v", nodes, err)
	}
}

// TestClient_DNSRefreshConcurrent: calls racing a refresh never wait for
// it once a list exists, and all see a consistent list.
func TestClient_DNSRefreshConcurrent(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	srv := lookuptest.Start(t, nil)
	ns.Set(t, "lookupd-http", srv.HTTPAddr().String())
	c, err := New([]string{"srv+_lookupd-http._tcp.test."}, WithResolver(ns.Resolver), WithDNSRefresh(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				res, err := c.Topics(t.Context())
				if err != nil || len(res.Responses) != 1 {
					errs <- fmt.Errorf("topics: %v, %v", res, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWatch_FollowsHostName: a Watch on a name follows the lookupds it
// resolves to: one that joins is asked (with blocking queries) and
// merged, one that leaves is dropped from the merge at once.
func TestWatch_FollowsHostName(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ds := lookuptest.StartSamePorts(t, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil)
	register(t, ds[0].TCPAddr().String(), 4150, "orders")
	register(t, ds[2].TCPAddr().String(), 4151, "orders")
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1")
	c := newClient(t, []string{fmt.Sprintf("lookupds.test.:%d", ds[0].HTTPAddr().Port)},
		WithResolver(ns.Resolver), WithDNSRefresh(50*time.Millisecond))
	got := watchLookup(t, c, "orders", time.Hour)
	expect(t, got, 5*time.Second, "127.0.0.9:4150")

	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1")
	expect(t, got, 5*time.Second, "127.0.0.9:4150", "127.0.0.9:4151")
	lookuptest.WaitFor(t, 5*time.Second, "a blocking query at the new lookupd", func() bool {
		return ds[2].BlockingStats().Waiting == 1
	})
	register(t, ds[2].TCPAddr().String(), 4152, "orders")
	expect(t, got, 5*time.Second, "127.0.0.9:4150", "127.0.0.9:4151", "127.0.0.9:4152")

	ns.Set(t, "lookupds", "127.0.0.2:1", "127.0.0.3:1")
	expect(t, got, 5*time.Second, "127.0.0.9:4151", "127.0.0.9:4152")
	lookuptest.WaitFor(t, 5*time.Second, "the loop of the lookupd that left to end", func() bool {
		return ds[0].BlockingStats().Waiting == 0
	})
}
