package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// countingResolver is a real resolver (pointed at an in-process DNS
// server) that counts SRV lookups, so a test can wait for resolutions.
type countingResolver struct {
	dnsaddr.Resolver
	srv atomic.Int64
}

func (r *countingResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.srv.Add(1)
	return r.Resolver.LookupSRV(ctx, service, proto, name)
}

// dnsCluster is three lookupds and a name server whose name
// srv+_lookupds._tcp.test. the test points at some of them. Producer
// 127.0.0.1:4150 is on all three, 127.0.0.1:4350 only on the third.
type dnsCluster struct {
	*testCluster
	ns *lookuptest.NameServer
	r  *countingResolver
}

const lookupdsName = "srv+_lookupds._tcp.test."

func startDNSCluster(t *testing.T) *dnsCluster {
	t.Helper()
	c := &dnsCluster{testCluster: startCluster(t, 3), ns: lookuptest.StartNameServer(t)}
	c.r = &countingResolver{Resolver: c.ns.Resolver}
	c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders")
	c.announce(2, 4350, "p3", "clicks")
	c.point(0, 1)
	return c
}

// point makes the name stand for the lookupds which.
func (c *dnsCluster) point(which ...int) {
	c.t.Helper()
	var addrs []string
	for _, i := range which {
		addrs = append(addrs, c.addrs[i])
	}
	c.ns.Set(c.t, "lookupds", addrs...)
}

// TestWatch_FollowsDNS: lookupctl watch over one SRV name follows its
// records every --lookupd-dns-refresh: a lookupd added behind the name is
// watched (an "added" line, and what only it lists comes in silently),
// one removed is dropped (a "removed" line), and a failing name keeps
// the lookupds and is logged once however often it fails.
func TestWatch_FollowsDNS(t *testing.T) {
	c := startDNSCluster(t)
	out, errw := &lookuptest.SyncBuffer{}, &lookuptest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	args := []string{"watch", "-o", "json", "--lookupd-http-address=" + lookupdsName, "--lookupd-dns-refresh=200ms", "--interval=50ms"}
	go func() { done <- MainWithHooks(ctx, args, nil, out, errw, Hooks{Resolver: c.r}) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != ExitOK {
			t.Errorf("watch exited %d; stderr:\n%s", code, errw.String())
		}
	})
	events := func() []watchEvent {
		var evs []watchEvent
		for line := range strings.Lines(out.String()) {
			var ev watchEvent
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	waitEvent := func(what string, ok func(watchEvent) bool) time.Duration {
		t.Helper()
		took, err := lookuptest.Poll(10*time.Second, func() error {
			if slices.ContainsFunc(events(), ok) {
				return nil
			}
			return fmt.Errorf("not yet")
		})
		if err != nil {
			t.Fatalf("no %s; stdout:\n%s\nstderr:\n%s", what, c.name(out.String()), errw.String())
		}
		return took
	}
	waitEvent("watching line for 2 lookupds", func(ev watchEvent) bool {
		return ev.Event == "watching" && ev.Of == 2 && ev.Up == 2 && ev.Producers == 1
	})

	c.point(0, 1, 2)
	took := waitEvent("added line for C", func(ev watchEvent) bool {
		return ev.Event == EventAdded && ev.Lookupd == c.addrs[2] && ev.Of == 3
	})
	t.Logf("lookupd C added %s after its SRV record (refresh 200ms)", took.Round(time.Millisecond))
	// C is watched: a producer joining only there is a line.
	c.announce(2, 4450, "p4", "orders")
	waitEvent("join on C", func(ev watchEvent) bool {
		return ev.Event == EventJoined && ev.Producer == "127.0.0.1:4450" && ev.SeenBy == 1 && ev.Of == 3
	})

	c.point(1, 2)
	took = waitEvent("removed line for A", func(ev watchEvent) bool {
		return ev.Event == EventRemoved && ev.Lookupd == c.addrs[0] && ev.Of == 2
	})
	t.Logf("lookupd A removed %s after its SRV record", took.Round(time.Millisecond))
	// What only C listed (clicks, p3) came in silently, and nothing left.
	for _, ev := range events() {
		if ev.Producer == "127.0.0.1:4350" || ev.Event == EventLeft || ev.Event == EventDown {
			t.Errorf("unexpected event %+v", ev)
		}
	}

	// A failing name keeps B and C, and is logged once.
	c.ns.Fail("lookupds")
	lookuptest.WaitFor(t, 10*time.Second, "the failed resolution in the log", func() bool {
		return strings.Contains(errw.String(), "resolution failed")
	})
	from := c.r.srv.Load()
	lookuptest.WaitFor(t, 10*time.Second, "three more resolutions", func() bool { return c.r.srv.Load() >= from+3 })
	if n := strings.Count(errw.String(), "resolution failed"); n != 1 {
		t.Errorf("the failure was logged %d times, want once:\n%s", n, errw.String())
	}
	for _, ev := range events() {
		if ev.Event == EventRemoved && ev.Lookupd != c.addrs[0] {
			t.Errorf("a failed resolution removed a lookupd: %+v", ev)
		}
	}
}

// TestUI_FollowsDNS: the web view over one SRV name shows a card (and a
// column) for a lookupd added behind the name and drops one removed.
func TestUI_FollowsDNS(t *testing.T) {
	c := startDNSCluster(t)
	opts := NewOptions()
	opts.LookupdHTTPAddresses = []string{lookupdsName}
	opts.HTTPAddress = "127.0.0.1:0"
	opts.Interval = 50 * time.Millisecond
	opts.LookupdDNSRefresh = 200 * time.Millisecond
	cl, err := newCluster(opts.LookupdHTTPAddresses, opts.Timeout, nil, nil, append([]clientmerge.Option(nil), opts.dnsOptions(c.r)...))
	if err != nil {
		t.Fatal(err)
	}
	s := serveUI(t, cl, opts)
	ev := openEvents(t, s)
	lookupds := func(want ...int) {
		t.Helper()
		var addrs []string
		for _, i := range want {
			addrs = append(addrs, c.addrs[i])
		}
		slices.Sort(addrs) // the SRV expansion is sorted
		ev.until(t, "lookupds", 10*time.Second, func(d string) bool {
			var l struct{ Lookupds []lookupdUI }
			json.Unmarshal([]byte(d), &l)
			var got []string
			for _, x := range l.Lookupds {
				if !x.Up {
					return false
				}
				got = append(got, x.Address)
			}
			return slices.Equal(got, addrs)
		})
	}
	// cluster waits for the cluster event that lists the producers with
	// the sets of want (producer, set, producer, set…).
	cluster := func(want ...string) {
		t.Helper()
		ev.until(t, "cluster", 10*time.Second, func(d string) bool {
			var cu clusterUI
			json.Unmarshal([]byte(d), &cu)
			for i := 0; i < len(want); i += 2 {
				if !slices.ContainsFunc(cu.Producers, func(p producerUI) bool { return p.Address == want[i] && p.By == want[i+1] }) {
					return false
				}
			}
			return true
		})
	}
	lookupds(0, 1)
	cluster("127.0.0.1:4150", "11")

	c.point(0, 1, 2)
	lookupds(0, 1, 2)
	cluster("127.0.0.1:4150", "111", "127.0.0.1:4350", setOf(c.addrs, 2))

	c.point(1, 2)
	lookupds(1, 2)
	cluster("127.0.0.1:4150", "11")
	// The feed is sent whole: the addition and the removal.
	ev.until(t, "feed", 10*time.Second, func(d string) bool {
		return strings.Contains(d, `"kind":"added","lookupd":"`+c.addrs[2]+`"`) &&
			strings.Contains(d, `"kind":"removed","lookupd":"`+c.addrs[0]+`"`)
	})
	if got := cl.Addrs(); len(got) != 2 || slices.Contains(got, c.addrs[0]) {
		t.Errorf("Addrs after the removal: %q", got)
	}
}

// setOf is the Set string marking only lookupd i of addrs, in the sorted
// order of an SRV expansion.
func setOf(addrs []string, i int) string {
	sorted := slices.Sorted(slices.Values(addrs))
	b := []byte(strings.Repeat("0", len(addrs)))
	b[slices.Index(sorted, addrs[i])] = '1'
	return string(b)
}
