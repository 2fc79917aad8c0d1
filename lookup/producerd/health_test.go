package producerd_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producer/producertest"
	"github.com/lookupd/lookupd/lookup/producerd"
	"github.com/lookupd/lookupd/lookup/wire"
)

// healthServer is an httptest server on 127.0.0.1 whose answer can be
// flipped.
type healthServer struct {
	*httptest.Server
	status atomic.Int32
	hits   atomic.Int32
}

func startHealthServer(t *testing.T, status int) *healthServer {
	t.Helper()
	h := &healthServer{}
	h.status.Store(int32(status))
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h.hits.Add(1)
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(h.Close)
	return h
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runHealth starts h.Run in an owned goroutine, stopped and waited for at
// cleanup.
func runHealth(t *testing.T, h *producerd.Health) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

func startClient(t *testing.T, addrs []string, port int, suspended bool) *producer.Client {
	t.Helper()
	return producertest.StartClient(t, producer.Config{
		LookupdTCPAddresses: addrs,
		Identity:            wire.ProducerInfo{BroadcastAddress: "127.0.0.1", Hostname: "producerd-test", TCPPort: port, HTTPPort: port + 1},
		HeartbeatInterval:   200 * time.Millisecond,
		BackoffMin:          10 * time.Millisecond,
		StartSuspended:      suspended,
		Logger:              testLogger(t),
	})
}

// The producer is announced only while the health URL answers 2xx: it
// disappears from all three lookupds within fall intervals of the service
// failing, and returns within rise intervals of it recovering.
func TestHealth_GatesRegistration(t *testing.T) {
	for _, k := range producertest.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			const (
				interval = 50 * time.Millisecond
				rise     = 2
				fall     = 3
				slack    = 400 * time.Millisecond
			)
			ds := producertest.StartN(t, k.Start, 3)
			hs := startHealthServer(t, http.StatusOK)
			c := startClient(t, producertest.TCPAddrs(ds), 24150, true)
			if err := c.Register("t", "ch"); err != nil {
				t.Fatal(err)
			}
			h, err := producerd.NewHealth(producerd.HealthConfig{
				URL: hs.URL + "/health", Interval: interval, Rise: rise, Fall: fall, Logger: testLogger(t),
			}, c)
			if err != nil {
				t.Fatal(err)
			}
			runHealth(t, h)

			registered := producertest.Registered(ds, "127.0.0.1", 24150, "t", "ch")
			unregistered := producertest.Unregistered(ds, "127.0.0.1", 24150, "t")
			took := producertest.Eventually(t, 5*time.Second, registered)
			t.Logf("registered after %s (rise %d × %s)", took, rise, interval)
			if hits := hs.hits.Load(); hits < rise {
				t.Fatalf("registered after %d checks, want at least rise=%d", hits, rise)
			}

			hs.status.Store(http.StatusServiceUnavailable)
			took = producertest.Eventually(t, 5*time.Second, unregistered)
			t.Logf("withdrawn after %s (fall %d × %s)", took, fall, interval)
			if took > fall*interval+slack {
				t.Errorf("withdrawn after %s, want within %s", took, fall*interval+slack)
			}
			if !c.Suspended() || len(c.State()) != 1 {
				t.Fatalf("suspended=%v state=%v while unhealthy", c.Suspended(), c.State())
			}
			if st := h.Status(); st.Healthy || st.ConsecutiveFail < fall || st.LastError == "" {
				t.Fatalf("health status while failing: %+v", st)
			}

			hs.status.Store(http.StatusNoContent)
			took = producertest.Eventually(t, 5*time.Second, registered)
			t.Logf("back after %s (rise %d × %s)", took, rise, interval)
			if took > rise*interval+slack {
				t.Errorf("back after %s, want within %s", took, rise*interval+slack)
			}
			if st := h.Status(); !st.Healthy {
				t.Fatalf("health status after recovery: %+v", st)
			}
		})
	}
}

// recordingGate counts transitions.
type recordingGate struct {
	mu    sync.Mutex
	calls []string
}

func (g *recordingGate) Suspend() { g.add("suspend") }
func (g *recordingGate) Resume()  { g.add("resume") }
func (g *recordingGate) add(s string) {
	g.mu.Lock()
	g.calls = append(g.calls, s)
	g.mu.Unlock()
}

func (g *recordingGate) snapshot() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.calls...)
}

var _ producerd.Gate = (*recordingGate)(nil)

// A single failure amid successes does not withdraw (hysteresis), and a
// refused connection counts as a failure.
func TestHealth_Hysteresis(t *testing.T) {
	var seq atomic.Int32
	// ok ok FAIL ok ok FAIL FAIL FAIL ok...
	pattern := []int{200, 200, 500, 200, 200, 500, 500, 500}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		i := int(seq.Add(1)) - 1
		if i < len(pattern) {
			w.WriteHeader(pattern[i])
			return
		}
		w.WriteHeader(200)
	}))
	defer hs.Close()
	g := &recordingGate{}
	h, err := producerd.NewHealth(producerd.HealthConfig{URL: hs.URL, Interval: 10 * time.Millisecond, Rise: 2, Fall: 3, Logger: testLogger(t)}, g)
	if err != nil {
		t.Fatal(err)
	}
	runHealth(t, h)
	producertest.Eventually(t, 5*time.Second, func() error {
		if st := h.Status(); st.Checks < len(pattern)+2 || !st.Healthy {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	want := []string{"suspend", "resume", "suspend", "resume"}
	if got := g.snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("gate calls = %v, want %v", got, want)
	}

	// A URL nobody listens on never becomes healthy.
	hs.Close()
	g2 := &recordingGate{}
	h2, err := producerd.NewHealth(producerd.HealthConfig{URL: hs.URL, Interval: 10 * time.Millisecond, Rise: 1, Logger: testLogger(t)}, g2)
	if err != nil {
		t.Fatal(err)
	}
	runHealth(t, h2)
	producertest.Eventually(t, 5*time.Second, func() error {
		if st := h2.Status(); st.Checks < 3 || st.Healthy || st.LastError == "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if got := g2.snapshot(); fmt.Sprint(got) != "[suspend]" {
		t.Fatalf("gate calls = %v, want only the initial suspend", got)
	}
}

func TestNewHealth_Invalid(t *testing.T) {
	for _, u := range []string{"", "localhost:80", "ftp://x/", "http://"} {
		if _, err := producerd.NewHealth(producerd.HealthConfig{URL: u}, &recordingGate{}); err == nil {
			t.Errorf("NewHealth(%q) accepted", u)
		}
	}
	if _, err := producerd.NewHealth(producerd.HealthConfig{URL: "http://127.0.0.1/", Rise: -1}, &recordingGate{}); err == nil {
		t.Error("negative rise accepted")
	}
}
