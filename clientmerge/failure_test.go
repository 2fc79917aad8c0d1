package clientmerge

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestClient_PartialFailure mixes one working lookupd with one whose port
// is closed, one that accepts and never answers, one answering garbage and
// one answering 500. The call must return within about one timeout with
// the working one's answer and a *PartialError naming the other four.
func TestClient_PartialFailure(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			good := im.Start(t)
			cmtest.Announce(t, good.TCPAddr, "127.0.0.1", 4101, "orders/a")
			cmtest.Announce(t, good.TCPAddr, "127.0.0.1", 4102, "orders")
			closed := cmtest.ClosedAddr(t)
			hanging := lookuptest.SilentListener(t)
			garbage, _ := cmtest.FakeLookupd(t, func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusOK, `{"producers": [{"broadcast_address": "x", tcp_port`)
			})
			broken, _ := cmtest.FakeLookupd(t, func(w http.ResponseWriter, r *http.Request) {
				cmtest.RespondV1(w, http.StatusInternalServerError, `{"message":"INTERNAL_ERROR"}`)
			})
			addrs := []string{closed, good.HTTPAddr, hanging, garbage, broken}
			const timeout = 500 * time.Millisecond
			cl := newClient(t, addrs, WithTimeout(timeout))

			start := time.Now()
			res, err := cl.Lookup(t.Context(), "orders")
			elapsed := time.Since(start)
			if limit := 2*timeout + 250*time.Millisecond; elapsed > limit {
				t.Errorf("call took %s, want under %s (the timeouts must overlap, not add up)", elapsed, limit)
			}
			if elapsed < timeout {
				t.Errorf("call took %s, less than the timeout: the hanging lookupd was not waited for", elapsed)
			}
			t.Logf("five lookupds, one hanging: call took %s with timeout %s", elapsed, timeout)

			var pe *PartialError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *PartialError", err, err)
			}
			if res == nil {
				t.Fatal("nil result with a partial error")
			}
			if got := summarize(res.Producers); !reflect.DeepEqual(got, []summary{
				{Addr: "127.0.0.1:4101", HTTPPort: 5101, SeenBy: 1, Lookupds: []string{good.HTTPAddr}},
				{Addr: "127.0.0.1:4102", HTTPPort: 5102, SeenBy: 1, Lookupds: []string{good.HTTPAddr}},
			}) {
				t.Errorf("producers = %+v", got)
			}
			if len(pe.Failed) != 4 || pe.Total != 5 || res.Answered != 1 {
				t.Errorf("failed %d/%d, result answered %d", len(pe.Failed), pe.Total, res.Answered)
			}
			var failedAddrs []string
			for _, f := range pe.Failed {
				failedAddrs = append(failedAddrs, f.Addr)
				if !strings.Contains(err.Error(), f.Addr) {
					t.Errorf("error text %q does not name %s", err, f.Addr)
				}
			}
			if want := []string{closed, hanging, garbage, broken}; !reflect.DeepEqual(failedAddrs, want) {
				t.Fatalf("failed = %v, want %v", failedAddrs, want)
			}
			if len(pe.Unwrap()) != 4 {
				t.Errorf("Unwrap() has %d errors", len(pe.Unwrap()))
			}
			// Each cause is reachable through the PartialError and in the
			// matching Response.
			if !errors.Is(pe.Failed[0], syscall.ECONNREFUSED) {
				t.Errorf("closed port: %v", pe.Failed[0])
			}
			if !errors.Is(pe.Failed[1], context.DeadlineExceeded) {
				t.Errorf("hanging: %v", pe.Failed[1])
			}
			var se *json.SyntaxError
			if !errors.As(pe.Failed[2], &se) {
				t.Errorf("garbage: %v", pe.Failed[2])
			}
			var st *StatusError
			if !errors.As(pe.Failed[3], &st) || st.StatusCode != 500 || st.Message != "INTERNAL_ERROR" {
				t.Errorf("500: %v", pe.Failed[3])
			}
			if !errors.As(err, &st) || st.StatusCode != 500 {
				t.Errorf("errors.As through the PartialError: %v", st)
			}
			for i, r := range res.Responses {
				if r.Addr != addrs[i] || (r.Err == nil) != (i == 1) {
					t.Errorf("response %d = %+v", i, r)
				}
			}
			if hang := res.Responses[2].Latency; hang < timeout/2 || hang > elapsed {
				t.Errorf("hanging lookupd latency %s, want about %s", hang, timeout)
			}
		})
	}
}

// TestClient_Snapshot: once every lookupd is down, the last answer is served
// stale; without snapshots, or before any success, there is no data.
func TestClient_Snapshot(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			ls := cmtest.StartN(t, im, 3)
			cmtest.Announce(t, ls[0].TCPAddr, "127.0.0.1", 4201, "orders/a")
			cmtest.Announce(t, ls[2].TCPAddr, "127.0.0.1", 4202, "orders/b")
			fs := cmtest.Fronts(t, ls)
			withSnap := newClient(t, cmtest.FrontAddrs(fs), WithTimeout(time.Second))
			noSnap := newClient(t, cmtest.FrontAddrs(fs), WithTimeout(time.Second), WithSnapshots(false))

			fresh, err := withSnap.Lookup(t.Context(), "orders")
			if err != nil {
				t.Fatal(err)
			}
			freshTopics, err := withSnap.Topics(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := noSnap.Lookup(t.Context(), "orders"); err != nil {
				t.Fatal(err)
			}
			// The caller owns its result: scribbling on it must not reach
			// the snapshot.
			want := summarize(cloneLookup(fresh).Producers)
			fresh.Producers[0].BroadcastAddress = "scribbled"
			fresh.Producers[0].Lookupds[0] = "scribbled"

			for _, f := range fs {
				f.Srv.Close()
			}

			res, err := withSnap.Lookup(t.Context(), "orders")
			var stale *StaleError
			var ue *UnavailableError
			if !errors.As(err, &stale) || !errors.As(err, &ue) {
				t.Fatalf("err = %v, want *StaleError wrapping *UnavailableError", err)
			}
			if res == nil || !res.Stale || res.Age <= 0 {
				t.Fatalf("stale result = %+v", res)
			}
			if got := summarize(res.Producers); !reflect.DeepEqual(got, want) {
				t.Errorf("stale producers = %+v, want %+v", got, want)
			}
			if !reflect.DeepEqual(res.Channels, []string{"a", "b"}) {
				t.Errorf("stale channels = %q", res.Channels)
			}
			if res.Answered != 0 || len(res.Responses) != 3 || ue.Total != 3 || ue.Required != 1 || len(ue.Failed) != 3 {
				t.Errorf("stale meta = %+v, unavailable = %+v", res.Meta, ue)
			}
			for _, r := range res.Responses {
				if !errors.Is(r.Err, syscall.ECONNREFUSED) {
					t.Errorf("response %+v: want connection refused", r)
				}
			}
			var pe *PartialError
			if errors.As(err, &pe) {
				t.Errorf("stale error is also a PartialError: %v", err)
			}

			topics, err := withSnap.Topics(t.Context())
			if !errors.As(err, &stale) || !topics.Stale || !reflect.DeepEqual(topics.Topics, freshTopics.Topics) {
				t.Errorf("stale topics = %+v, %v", topics, err)
			}
			// Snapshots are per query: Channels was never asked.
			if ch, err := withSnap.Channels(t.Context(), "orders"); ch != nil || !errors.As(err, &ue) || errors.As(err, &stale) {
				t.Errorf("channels without snapshot = %+v, %v", ch, err)
			}
			if res, err := withSnap.Lookup(t.Context(), "other"); res != nil || !errors.As(err, &ue) {
				t.Errorf("lookup of another topic = %+v, %v", res, err)
			}
			if res, err := noSnap.Lookup(t.Context(), "orders"); res != nil || !errors.As(err, &ue) || errors.As(err, &stale) {
				t.Errorf("snapshots off: %+v, %v", res, err)
			}
		})
	}
}

// TestClient_MinResponses: fewer answers than WithMinResponses is an error
// without fresh data, even though one lookupd answered.
func TestClient_MinResponses(t *testing.T) {
	ls := cmtest.StartN(t, cmtest.Impls()[len(cmtest.Impls())-1], 3)
	cmtest.Announce(t, ls[0].TCPAddr, "127.0.0.1", 4301, "orders")
	cmtest.Announce(t, ls[1].TCPAddr, "127.0.0.1", 4302, "orders")
	fs := cmtest.Fronts(t, ls)
	addrs := cmtest.FrontAddrs(fs)

	if _, err := New(addrs, WithMinResponses(4)); err == nil {
		t.Error("WithMinResponses above the lookupd count accepted")
	}
	if _, err := New(addrs, WithMinResponses(0)); err == nil {
		t.Error("WithMinResponses(0) accepted")
	}

	quorum := newClient(t, addrs, WithMinResponses(2))
	fresh, err := quorum.Lookup(t.Context(), "orders")
	if err != nil || len(fresh.Producers) != 2 {
		t.Fatalf("all up: %+v, %v", fresh, err)
	}
	fs[1].Srv.Close()
	res, err := quorum.Lookup(t.Context(), "orders")
	var pe *PartialError
	if !errors.As(err, &pe) || len(pe.Failed) != 1 || len(res.Producers) != 1 {
		t.Fatalf("two of three: %+v, %v", res, err)
	}
	fs[2].Srv.Close()

	noSnap := newClient(t, addrs, WithMinResponses(2), WithSnapshots(false))
	res, err = noSnap.Lookup(t.Context(), "orders")
	var ue *UnavailableError
	if res != nil || !errors.As(err, &ue) || len(ue.Failed) != 2 || ue.Required != 2 || ue.Total != 3 {
		t.Errorf("one of three, need two, no snapshot: %+v, %v", res, err)
	}

	res, err = quorum.Lookup(t.Context(), "orders")
	var stale *StaleError
	if !errors.As(err, &stale) || res == nil || !res.Stale || res.Answered != 1 || len(res.Producers) != 1 {
		t.Errorf("one of three, need two, with snapshot: %+v, %v", res, err)
	}

	lenient := newClient(t, addrs)
	res, err = lenient.Lookup(t.Context(), "orders")
	if !errors.As(err, &pe) || res == nil || res.Stale || len(res.Producers) != 1 {
		t.Errorf("one of three, need one: %+v, %v", res, err)
	}
}

// TestClient_CallerContextEnds: the caller's context ends before the
// client's timeout while one lookupd hangs. The live lookupd's answer is
// returned with a *PartialError naming the hung one, not thrown away; with
// no answer at all, the error is an *UnavailableError. Either way
// errors.Is finds the caller's context.DeadlineExceeded.
func TestClient_CallerContextEnds(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			live := im.Start(t)
			cmtest.Announce(t, live.TCPAddr, "127.0.0.1", 4501, "orders")
			hung := lookuptest.SilentListener(t)
			cl := newClient(t, []string{live.HTTPAddr, hung}) // DefaultTimeout: 5 s

			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			start := time.Now()
			res, err := cl.Lookup(ctx, "orders")
			if elapsed := time.Since(start); elapsed >= DefaultTimeout {
				t.Errorf("call took %s: the caller's deadline was not honoured", elapsed)
			}
			var pe *PartialError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v (%T), want *PartialError", err, err)
			}
			if len(pe.Failed) != 1 || pe.Failed[0].Addr != hung || pe.Total != 2 {
				t.Errorf("failed = %v of %d, want only %s", pe.Failed, pe.Total, hung)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("errors.Is(%v, DeadlineExceeded) = false", err)
			}
			if res == nil || len(res.Producers) != 1 || res.Producers[0].TCPAddr() != "127.0.0.1:4501" || res.Stale {
				t.Fatalf("result = %+v, want the live lookupd's producer", res)
			}
			if !res.Responses[0].OK() || res.Responses[1].OK() {
				t.Errorf("responses = %+v", res.Responses)
			}

			// Nothing arrived: no data, an *UnavailableError.
			only := newClient(t, []string{hung}, WithSnapshots(false))
			ctx, cancel = context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			res, err = only.Lookup(ctx, "orders")
			var ue *UnavailableError
			if res != nil || !errors.As(err, &ue) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("hung only: %+v, %v", res, err)
			}

			// A context that has already ended sends nothing.
			ctx, cancel = context.WithCancel(t.Context())
			cancel()
			if res, err := cl.Lookup(ctx, "orders"); res != nil || !errors.Is(err, context.Canceled) || errors.As(err, &ue) {
				t.Errorf("ended context: %+v, %v", res, err)
			}
		})
	}
}
