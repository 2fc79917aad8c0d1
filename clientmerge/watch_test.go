package clientmerge

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestClient_Watch: the first result is delivered, a poll with no change
// delivers nothing, and each change delivers exactly one callback. Polls
// are counted at the lookupds' fronts, not guessed from sleeping (our
// lookupds' blocking queries wait at most the interval, so they are asked
// as often as nsqlookupd is polled).
func TestClient_Watch(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			ls := cmtest.StartN(t, im, 3)
			fs := cmtest.Fronts(t, ls)
			p1 := cmtest.Announce(t, ls[0].TCPAddr, "127.0.0.1", 4401, "orders")
			cl := newClient(t, cmtest.FrontAddrs(fs), WithTimeout(2*time.Second))

			got := make(chan *LookupResult, 16)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() {
				done <- Watch(ctx, cl, LookupQuery("orders"), 20*time.Millisecond, func(r *LookupResult) { got <- r })
			})
			t.Cleanup(func() { cancel(); wg.Wait() })

			next := func(want ...string) {
				t.Helper()
				select {
				case r := <-got:
					var addrs []string
					for _, p := range r.Producers {
						addrs = append(addrs, p.TCPAddr())
					}
					if !reflect.DeepEqual(addrs, want) {
						t.Fatalf("callback with %v, want %v", addrs, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("no callback for %v", want)
				}
			}
			// quiet waits for n more completed polls (a poll asks every
			// lookupd; the one after n requests at the last front has
			// started, so n-1 have completed) and checks nothing was
			// delivered.
			quiet := func(n int64) {
				t.Helper()
				last := fs[2]
				from := last.Count.Load()
				lookuptest.WaitFor(t, 5*time.Second, "polls", func() bool { return last.Count.Load() >= from+n+1 })
				select {
				case r := <-got:
					t.Fatalf("callback without a change: %+v", r.Producers)
				default:
				}
			}

			next("127.0.0.1:4401")
			quiet(4)

			p2 := cmtest.Announce(t, ls[2].TCPAddr, "127.0.0.1", 4402, "orders")
			next("127.0.0.1:4401", "127.0.0.1:4402")
			quiet(3)

			// The same producer appearing on another lookupd is no change.
			cmtest.Announce(t, ls[1].TCPAddr, "127.0.0.1", 4402, "orders")
			quiet(3)

			p1.Unregister("orders")
			next("127.0.0.1:4402")
			p2.Unregister("orders")
			quiet(3) // still listed by ls[1]

			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Watch returned %v, want context.Canceled", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Watch did not return after cancel")
			}
		})
	}
}

func TestClient_WatchArgs(t *testing.T) {
	cl := newClient(t, []string{"127.0.0.1:1"})
	fn := func(*LookupResult) {}
	if err := Watch(t.Context(), cl, LookupQuery(""), time.Second, fn); !errors.Is(err, ErrEmptyTopic) {
		t.Errorf("empty topic: %v, want ErrEmptyTopic", err)
	}
	if err := Watch(t.Context(), cl, ChannelsQuery(""), time.Second, func(*ChannelsResult) {}); !errors.Is(err, ErrEmptyTopic) {
		t.Errorf("empty topic: %v, want ErrEmptyTopic", err)
	}
	if err := Watch(t.Context(), cl, Query[LookupResult]{}, time.Second, fn); err == nil {
		t.Error("zero query accepted")
	}
	if err := Watch(t.Context(), nil, LookupQuery("t"), time.Second, fn); err == nil {
		t.Error("nil client accepted")
	}
	if err := Watch(t.Context(), cl, LookupQuery("t"), 0, fn); err == nil {
		t.Error("zero interval accepted")
	}
	if err := Watch(t.Context(), cl, LookupQuery("t"), time.Second, nil); err == nil {
		t.Error("nil callback accepted")
	}
}

// TestWatch_TopicsAndNodes: the same loop watches the other queries; a
// topic created on one lookupd is one change of Topics, a producer
// registering it is one change of Nodes, and so is its tombstone.
func TestWatch_TopicsAndNodes(t *testing.T) {
	ls := cmtest.StartN(t, cmtest.Impls()[1], 2)
	cl := newClient(t, cmtest.HTTPAddrs(ls), WithTimeout(2*time.Second))
	ctx, cancel := context.WithCancel(t.Context())
	topics := make(chan []string, 16)
	nodes := make(chan []string, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		Watch(ctx, cl, TopicsQuery(), 10*time.Millisecond, func(r *TopicsResult) { topics <- r.Topics })
	})
	wg.Go(func() {
		Watch(ctx, cl, NodesQuery(), 10*time.Millisecond, func(r *NodesResult) { nodes <- NodesQuery().state(r) })
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	next := func(ch chan []string, want ...string) {
		t.Helper()
		select {
		case got := <-ch:
			if !slices.Equal(got, want) {
				t.Fatalf("callback with %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no callback for %q", want)
		}
	}
	next(topics)
	next(nodes)
	cmtest.HTTPPost(t, "http://"+ls[1].HTTPAddr+"/topic/create?topic=orders", "")
	next(topics, "orders")
	cmtest.Announce(t, ls[0].TCPAddr, "127.0.0.1", 4601, "orders")
	// Blocking queries may show the IDENTIFY before the REGISTER.
	select {
	case got := <-nodes:
		if slices.Equal(got, []string{"127.0.0.1:4601"}) {
			next(nodes, "127.0.0.1:4601\x00orders=false")
		} else if !slices.Equal(got, []string{"127.0.0.1:4601\x00orders=false"}) {
			t.Fatalf("callback with %q, want the producer with topic orders", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no nodes callback for the new producer")
	}
	// Tombstoned on the only lookupd that lists it: tombstoned when merged.
	cmtest.HTTPPost(t, "http://"+ls[0].HTTPAddr+"/topic/tombstone?topic=orders&node=127.0.0.1:5601", "")
	next(nodes, "127.0.0.1:4601\x00orders=true")
	select {
	case got := <-topics:
		t.Errorf("topics callback without a change: %q", got)
	default:
	}
}
