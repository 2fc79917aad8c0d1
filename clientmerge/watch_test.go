package clientmerge

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestClient_Watch: the first result is delivered, a poll with no change
// delivers nothing, and each change delivers exactly one callback. Polls
// are counted at the lookupds' fronts, not guessed from sleeping.
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
				done <- cl.Watch(ctx, "orders", 20*time.Millisecond, func(r *LookupResult) { got <- r })
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
	if err := cl.Watch(t.Context(), "", time.Second, fn); err == nil {
		t.Error("empty topic accepted")
	}
	if err := cl.Watch(t.Context(), "t", 0, fn); err == nil {
		t.Error("zero interval accepted")
	}
	if err := cl.Watch(t.Context(), "t", time.Second, nil); err == nil {
		t.Error("nil callback accepted")
	}
}
