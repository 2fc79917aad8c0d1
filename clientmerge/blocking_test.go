package clientmerge

import (
	"context"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// watchLookup runs Watch(LookupQuery(topic)) until the test ends and
// returns the producer sets it delivers.
func watchLookup(t *testing.T, cl *Client, topic string, interval time.Duration) <-chan []string {
	t.Helper()
	got := make(chan []string, 64)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		Watch(ctx, cl, LookupQuery(topic), interval, func(r *LookupResult) {
			addrs := []string{}
			for _, p := range r.Producers {
				addrs = append(addrs, p.TCPAddr())
			}
			got <- addrs
		})
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return got
}

// expect waits for a callback with exactly want.
func expect(t *testing.T, got <-chan []string, within time.Duration, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	select {
	case addrs := <-got:
		if !reflect.DeepEqual(addrs, want) {
			t.Fatalf("callback with %v, want %v", addrs, want)
		}
	case <-time.After(within):
		t.Fatalf("no callback for %v within %s", want, within)
	}
}

// A Watch with an interval of an hour still sees a producer that
// registers with one lookupd of three at once: it waits on blocking
// queries, not polls.
func TestWatch_BlockingSeesChangesWithoutPolling(t *testing.T) {
	ls := cmtest.StartN(t, cmtest.Impls()[1], 3)
	fs := cmtest.Fronts(t, ls)
	cl := newClient(t, cmtest.FrontAddrs(fs), WithTimeout(2*time.Second))
	got := watchLookup(t, cl, "orders", time.Hour)
	expect(t, got, 5*time.Second)

	p := cmtest.Announce(t, ls[2].TCPAddr, "127.0.0.1", 4701, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4701")
	cmtest.Announce(t, ls[0].TCPAddr, "127.0.0.1", 4702, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4701", "127.0.0.1:4702")
	p.Unregister("orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4702")
	// Each lookupd was asked once plainly, then once per change it saw,
	// plus the blocking query now waiting: no polls.
	for i, want := range []int64{3, 2, 4} {
		lookuptest.WaitFor(t, 5*time.Second, "the next blocking query", func() bool { return fs[i].Count.Load() >= want })
		if n := fs[i].Count.Load(); n != want {
			t.Errorf("lookupd %d asked %d times, want %d", i, n, want)
		}
	}
}

// Three of our lookupds and a real nsqlookupd v1.3.0 in one Watch: ours
// are asked with blocking queries, nsqlookupd is polled, and a producer
// on any one of them reaches the callback. That the producer on ours came
// through a blocking query, not a later request, is checked at the
// lookupd: it counts the queries a change woke.
func TestWatch_OursAndNSQLookupd(t *testing.T) {
	var ours []*lookuptest.Daemon
	var addrs []string
	for range 3 {
		d := lookuptest.StartDaemon(t, nil)
		ours = append(ours, d)
		addrs = append(addrs, d.HTTPAddr().String())
	}
	theirs := cmtest.StartNSQLookupd(t)
	cl := newClient(t, append(addrs, theirs.HTTPAddr), WithTimeout(2*time.Second))
	got := watchLookup(t, cl, "orders", 3*time.Second)
	expect(t, got, 5*time.Second)
	held := func() {
		t.Helper()
		for _, d := range ours {
			lookuptest.WaitFor(t, 5*time.Second, "blocking queries held", func() bool { return d.BlockingStats().Waiting == 1 })
		}
	}

	held()
	cmtest.Announce(t, ours[1].TCPAddr().String(), "127.0.0.1", 4801, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4801")
	if w := ours[1].BlockingStats().Woken; w != 1 {
		t.Fatalf("the lookupd the producer registered with woke %d blocking queries, want 1", w)
	}
	p := cmtest.Announce(t, theirs.TCPAddr, "127.0.0.1", 4802, "orders")
	expect(t, got, 10*time.Second, "127.0.0.1:4801", "127.0.0.1:4802")
	p.Unregister("orders")
	expect(t, got, 10*time.Second, "127.0.0.1:4801")
	held()
	cmtest.Announce(t, ours[2].TCPAddr().String(), "127.0.0.1", 4803, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4801", "127.0.0.1:4803")
	if w := ours[2].BlockingStats().Woken; w != 1 {
		t.Fatalf("the lookupd the producer registered with woke %d blocking queries, want 1", w)
	}
}

// A lookupd killed and restarted on the same addresses during a Watch:
// what only it listed leaves the merged answer while it is down and comes
// back when it does (its counter started over, so the Watch starts again
// at index 0); what the others list stays throughout.
func TestWatch_LookupdRestart(t *testing.T) {
	start := func(tcp, http string) *lookuptest.Daemon {
		o := lookuptest.Options(t)
		if tcp != "" {
			o.TCPAddress, o.HTTPAddress = tcp, http
		}
		return lookuptest.StartDaemon(t, o)
	}
	a, b := start("", ""), start("", "")
	tcpB, httpB := b.TCPAddr().String(), b.HTTPAddr().String()
	cl := newClient(t, []string{a.HTTPAddr().String(), httpB}, WithTimeout(time.Second))
	got := watchLookup(t, cl, "orders", 200*time.Millisecond)
	expect(t, got, 5*time.Second)

	cmtest.Announce(t, a.TCPAddr().String(), "127.0.0.1", 4901, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4901")
	// Raise B's indexes above what a new B will start with.
	pb := cmtest.Announce(t, tcpB, "127.0.0.1", 4902, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4901", "127.0.0.1:4902")
	for _, ch := range []string{"orders/c1", "orders/c2", "orders/c3"} {
		pb.Register(ch)
	}

	b.Stop()
	expect(t, got, 5*time.Second, "127.0.0.1:4901")
	b = start(tcpB, httpB)
	cmtest.Announce(t, tcpB, "127.0.0.1", 4903, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4901", "127.0.0.1:4903")
	// And B's blocking queries work again after the restart.
	lookuptest.WaitFor(t, 5*time.Second, "a blocking query at the new B", func() bool {
		return b.BlockingStats().Waiting == 1
	})
	cmtest.Announce(t, tcpB, "127.0.0.1", 4904, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4901", "127.0.0.1:4903", "127.0.0.1:4904")
}

// A lookupd stopped gracefully answers its blocking queries at once with
// the index unchanged; restarted on the same addresses, it is followed
// again within the failure backoff, not after the Watch's interval (an
// hour here), although its counter started over and its first answer
// with a producer may carry the index its last empty answer had.
func TestWatch_GracefulRestartWithLongInterval(t *testing.T) {
	a := lookuptest.StartDaemon(t, nil)
	b := lookuptest.StartDaemon(t, nil)
	tcpB, httpB := b.TCPAddr().String(), b.HTTPAddr().String()
	cl := newClient(t, []string{a.HTTPAddr().String(), httpB}, WithTimeout(time.Second))
	got := watchLookup(t, cl, "orders", time.Hour)
	expect(t, got, 5*time.Second)
	lookuptest.WaitFor(t, 5*time.Second, "a blocking query at B", func() bool { return b.BlockingStats().Waiting == 1 })

	b.Stop() // graceful: the waiter is answered at once
	o := lookuptest.Options(t)
	o.TCPAddress, o.HTTPAddress = tcpB, httpB
	b = lookuptest.StartDaemon(t, o)
	cmtest.Announce(t, tcpB, "127.0.0.1", 4911, "orders")
	expect(t, got, 5*time.Second, "127.0.0.1:4911")
}

// A lookupd that answers blocking queries at once (it holds as many as it
// may) is asked again after a backoff up to the interval rather than in a
// tight loop.
func TestWatch_CappedLookupdIsPolled(t *testing.T) {
	o := lookuptest.Options(t)
	o.MaxBlockingQueries = 0
	d := lookuptest.StartDaemon(t, o)
	cl := newClient(t, []string{d.HTTPAddr().String()})
	begin := time.Now()
	got := watchLookup(t, cl, "orders", 50*time.Millisecond)
	expect(t, got, 5*time.Second)
	lookuptest.WaitFor(t, 10*time.Second, "five refused blocking queries", func() bool { return d.BlockingStats().Capped >= 5 })
	// Each round after the first waits at least half the minimum backoff.
	if el := time.Since(begin); el < 4*45*time.Millisecond {
		t.Fatalf("five refused blocking queries within %s: asked in a loop, not polled", el)
	}
}

func TestWithBlockingWait(t *testing.T) {
	if _, err := New([]string{"127.0.0.1:1"}, WithBlockingWait(-time.Second)); err == nil {
		t.Error("negative blocking wait accepted")
	}
	// A caller's HTTP client with a timeout shortens the wait to fit.
	hc := &http.Client{Timeout: 18 * time.Second}
	c, err := New([]string{"127.0.0.1:1"}, WithHTTPClient(hc), WithTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if want := (hc.Timeout - time.Second) * 16 / 17; c.blockingWait != want {
		t.Errorf("blocking wait %s with a client timeout of %s, want %s", c.blockingWait, hc.Timeout, want)
	}
}
