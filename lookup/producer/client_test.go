package producer_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producer/producertest"
	"github.com/lookupd/lookupd/lookup/wire"
)

var nextPort atomic.Int32

func init() { nextPort.Store(20000) }

// newClient returns a started Client for addrs with short test intervals;
// mod may adjust the Config. It is closed at cleanup.
func newClient(t *testing.T, addrs []string, mod func(*producer.Config)) *producer.Client {
	t.Helper()
	port := int(nextPort.Add(2))
	cfg := producer.Config{
		LookupdTCPAddresses: addrs,
		Identity: wire.ProducerInfo{
			BroadcastAddress: "127.0.0.1",
			Hostname:         "producer-test",
			TCPPort:          port,
			HTTPPort:         port + 1,
			Version:          "1.3.0",
		},
		HeartbeatInterval: 100 * time.Millisecond,
		ResyncInterval:    time.Hour,
		ReadTimeout:       2 * time.Second,
		BackoffMin:        10 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	return producertest.StartClient(t, cfg)
}

func closeClient(t *testing.T, c *producer.Client, timeout time.Duration) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	return time.Since(start)
}

// assertNoProducerGoroutines fails if any goroutine runs code of package producer.
// Close guarantees this on return, so there is no polling.
func assertNoProducerGoroutines(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "lookup/producer.(*") {
			t.Fatalf("goroutine of package producer still running after Close:\n%s", g)
		}
	}
}

// assertGoroutinesBack polls until the goroutine count is at most baseline.
func assertGoroutinesBack(t *testing.T, baseline int) {
	t.Helper()
	producertest.Eventually(t, 3*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > baseline {
			buf := make([]byte, 1<<20)
			return fmt.Errorf("%d goroutines, baseline %d:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		return nil
	})
}

func forEachKind(t *testing.T, f func(t *testing.T, start producertest.Starter)) {
	for _, k := range producertest.Kinds() {
		t.Run(k.Name, func(t *testing.T) { f(t, k.Start) })
	}
}

func TestNew_Invalid(t *testing.T) {
	good := wire.ProducerInfo{BroadcastAddress: "127.0.0.1", TCPPort: 4150, HTTPPort: 4151}
	tests := []struct {
		name string
		cfg  producer.Config
		want string
	}{
		{name: "address without port", cfg: producer.Config{LookupdTCPAddresses: []string{"127.0.0.1"}, Identity: good}, want: "want ip:port, host:port or srv+NAME"},
		{name: "address without host", cfg: producer.Config{LookupdTCPAddresses: []string{":4160"}, Identity: good}, want: "want ip:port, host:port or srv+NAME"},
		{name: "duplicate address", cfg: producer.Config{LookupdTCPAddresses: []string{"127.0.0.1:1", "127.0.0.1:1"}, Identity: good}, want: "listed twice"},
		{name: "no tcp port", cfg: producer.Config{Identity: wire.ProducerInfo{BroadcastAddress: "h", HTTPPort: 1}}, want: "tcp port"},
		{name: "http port too big", cfg: producer.Config{Identity: wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 1, HTTPPort: 70000}}, want: "http port"},
		{name: "negative heartbeat", cfg: producer.Config{Identity: good, HeartbeatInterval: -1}, want: "heartbeat interval"},
		{name: "backoff max below min", cfg: producer.Config{Identity: good, BackoffMin: time.Second, BackoffMax: time.Millisecond}, want: "backoff max"},
		{name: "negative response size", cfg: producer.Config{Identity: good, MaxResponseSize: -1}, want: "max response size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := producer.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestClient_Lifecycle(t *testing.T) {
	c, err := producer.New(producer.Config{Identity: wire.ProducerInfo{TCPPort: 1, HTTPPort: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if id := c.Identity(); id.BroadcastAddress == "" || id.Hostname == "" || id.Version != config.Version {
		t.Fatalf("defaults not applied to identity: %+v", id)
	}
	for _, bad := range []struct{ topic, channel string }{
		{"", ""}, {"a b", ""}, {strings.Repeat("x", 65), ""}, {"t", "c/d"}, {"#ephemeral", ""},
	} {
		err := c.Register(bad.topic, bad.channel)
		if !errors.Is(err, producer.ErrBadTopic) && !errors.Is(err, producer.ErrBadChannel) {
			t.Errorf("Register(%q, %q) = %v, want a name error", bad.topic, bad.channel, err)
		}
		if err := c.Unregister(bad.topic, bad.channel); err == nil {
			t.Errorf("Unregister(%q, %q) accepted", bad.topic, bad.channel)
		}
	}
	if err := c.Register("t", "c"); err != nil {
		t.Fatal(err)
	}
	if err := c.Register("t#ephemeral", ""); err != nil {
		t.Fatal(err)
	}
	want := []producer.Registration{{Topic: "t", Channel: "c"}, {Topic: "t#ephemeral"}}
	if got := c.State(); !slices.Equal(got, want) {
		t.Fatalf("State = %v, want %v", got, want)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); !errors.Is(err, producer.ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
	closeClient(t, c, time.Second)
	closeClient(t, c, time.Second) // idempotent
	if err := c.Register("u", ""); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Register after Close = %v", err)
	}
	if err := c.Start(); !errors.Is(err, producer.ErrClosed) {
		t.Fatalf("Start after Close = %v", err)
	}
	if got := c.State(); !slices.Equal(got, want) {
		t.Fatalf("State after Close = %v, want %v", got, want)
	}
	assertNoProducerGoroutines(t)
}

// Registrations reach all three lookupds, changes follow, and Close
// withdraws everything (the ephemeral topic vanishing proves UNREGISTER was
// sent, since nsqlookupd keeps it on a mere disconnect).
func TestClient_ThreeLookupds(t *testing.T) {
	forEachKind(t, func(t *testing.T, start producertest.Starter) {
		ds := producertest.StartN(t, start, 3)
		producertest.WaitReady(t, ds)
		baseline := runtime.NumGoroutine()
		c := newClient(t, producertest.TCPAddrs(ds), nil)
		id := c.Identity()
		addr, port := id.BroadcastAddress, id.TCPPort
		for _, r := range []producer.Registration{{Topic: "t1"}, {Topic: "t2", Channel: "ch1"}, {Topic: "t2", Channel: "ch2#ephemeral"}, {Topic: "t3#ephemeral"}} {
			if err := c.Register(r.Topic, r.Channel); err != nil {
				t.Fatal(err)
			}
		}
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, addr, port, "t1"))
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, addr, port, "t2", "ch1", "ch2#ephemeral"))
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, addr, port, "t3#ephemeral"))
		for i, st := range c.Status() {
			if st.Address != ds[i].TCPAddr || !st.Connected || st.Registrations != 4 || st.Connects != 1 {
				t.Errorf("status %d = %+v", i, st)
			}
		}

		if err := c.Unregister("t2", "ch2#ephemeral"); err != nil {
			t.Fatal(err)
		}
		producertest.Eventually(t, 3*time.Second, producertest.ChannelGone(ds, "t2", "ch2#ephemeral"))
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, addr, port, "t2", "ch1"))
		if err := c.Unregister("t1", ""); err != nil {
			t.Fatal(err)
		}
		producertest.Eventually(t, 3*time.Second, producertest.Unregistered(ds, addr, port, "t1"))

		closeClient(t, c, 5*time.Second)
		assertNoProducerGoroutines(t)
		// Close sends UNREGISTER before closing, so the ephemeral topic is
		// gone even on nsqlookupd.
		for _, d := range ds {
			r, err := producertest.Lookup(d.HTTPAddr, "t3#ephemeral")
			if err != nil {
				t.Fatal(err)
			}
			if r.Found {
				t.Errorf("%s: ephemeral topic still listed after Close: %+v", d.HTTPAddr, r)
			}
		}
		producertest.Eventually(t, 3*time.Second, producertest.Unregistered(ds, addr, port, "t2"))
		assertGoroutinesBack(t, baseline)
	})
}

// A lookupd that is stopped and started again on the same address has the
// full state back within one heartbeat interval of its return, however long
// it was away; the others are untouched.
func TestClient_RestartedLookupd(t *testing.T) {
	forEachKind(t, func(t *testing.T, start producertest.Starter) {
		const heartbeat = 300 * time.Millisecond
		ds := producertest.StartN(t, start, 3)
		c := newClient(t, producertest.TCPAddrs(ds), func(cfg *producer.Config) { cfg.HeartbeatInterval = heartbeat })
		id := c.Identity()
		for _, r := range []producer.Registration{{Topic: "t", Channel: "a"}, {Topic: "t", Channel: "b"}, {Topic: "u"}} {
			if err := c.Register(r.Topic, r.Channel); err != nil {
				t.Fatal(err)
			}
		}
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, id.BroadcastAddress, id.TCPPort, "t", "a", "b"))

		tcpAddr := ds[0].TCPAddr
		ds[0].Stop()
		// Stay away until the backoff has grown past the heartbeat interval
		// (10 ms doubling, capped at the heartbeat).
		producertest.Eventually(t, 5*time.Second, func() error {
			if st := c.Status()[0]; st.Connected || st.Failures < 7 {
				return fmt.Errorf("status %+v", st)
			}
			return nil
		})
		// Registration changes while it is away must reach it too.
		if err := c.Unregister("t", "b"); err != nil {
			t.Fatal(err)
		}
		if err := c.Register("v", "c"); err != nil {
			t.Fatal(err)
		}
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds[1:], id.BroadcastAddress, id.TCPPort, "v", "c"))

		ds[0] = start(t, tcpAddr)
		took := producertest.Eventually(t, 5*time.Second, func() error {
			for _, cond := range []func() error{
				producertest.Registered(ds[:1], id.BroadcastAddress, id.TCPPort, "t", "a"),
				producertest.Registered(ds[:1], id.BroadcastAddress, id.TCPPort, "u"),
				producertest.Registered(ds[:1], id.BroadcastAddress, id.TCPPort, "v", "c"),
			} {
				if err := cond(); err != nil {
					return err
				}
			}
			return nil
		})
		t.Logf("state back on restarted lookupd after %s", took)
		if took > heartbeat+300*time.Millisecond {
			t.Errorf("state back after %s, want within one heartbeat interval (%s) plus slack", took, heartbeat)
		}
		r, err := producertest.Lookup(ds[0].HTTPAddr, "t")
		if err != nil {
			t.Fatal(err)
		}
		if r.HasChannel("b") {
			t.Errorf("restarted lookupd got channel b, unregistered while it was away")
		}
		if st := c.Status()[0]; st.Connects != 2 || st.LastError == "" {
			t.Errorf("status after restart = %+v", st)
		}
		for i := 1; i < 3; i++ {
			if st := c.Status()[i]; st.Connects != 1 {
				t.Errorf("lookupd %d reconnected: %+v", i, st)
			}
		}
	})
}

// A lookupd that accepts connections but never answers neither delays the
// others nor Close.
func TestClient_SilentLookupd(t *testing.T) {
	forEachKind(t, func(t *testing.T, start producertest.Starter) {
		ds := producertest.StartN(t, start, 2)
		silent := lookuptest.SilentListener(t)
		const readTimeout = 20 * time.Second
		c := newClient(t, append([]string{silent}, producertest.TCPAddrs(ds)...), func(cfg *producer.Config) {
			cfg.ReadTimeout = readTimeout
		})
		id := c.Identity()
		if err := c.Register("t", "ch"); err != nil {
			t.Fatal(err)
		}
		took := producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, id.BroadcastAddress, id.TCPPort, "t", "ch"))
		t.Logf("registered on the two live lookupds after %s", took)
		if st := c.Status()[0]; st.Connected {
			t.Errorf("silent lookupd reported connected: %+v", st)
		}
		if took := closeClient(t, c, 10*time.Second); took > time.Second {
			t.Errorf("Close took %s with a silent lookupd", took)
		}
		assertNoProducerGoroutines(t)
		producertest.Eventually(t, 3*time.Second, producertest.Unregistered(ds, id.BroadcastAddress, id.TCPPort, "t"))
	})
}

// Anti-entropy: a registration an operator deleted over HTTP comes back
// within one resync interval, on the same connection.
func TestClient_AntiEntropy(t *testing.T) {
	forEachKind(t, func(t *testing.T, start producertest.Starter) {
		const resync = 300 * time.Millisecond
		ds := producertest.StartN(t, start, 3)
		c := newClient(t, producertest.TCPAddrs(ds), func(cfg *producer.Config) {
			cfg.ResyncInterval = resync
			cfg.HeartbeatInterval = 10 * time.Second
		})
		id := c.Identity()
		if err := c.Register("t", "ch"); err != nil {
			t.Fatal(err)
		}
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, id.BroadcastAddress, id.TCPPort, "t", "ch"))
		before := c.Status()[0]
		if err := producertest.DeleteTopic(ds[0].HTTPAddr, "t"); err != nil {
			t.Fatal(err)
		}
		if r, err := producertest.Lookup(ds[0].HTTPAddr, "t"); err != nil {
			t.Fatal(err)
		} else if r.HasProducer(id.BroadcastAddress, id.TCPPort) {
			// Only possible if a resync ran in between; checked below.
			t.Logf("registration already back right after delete")
		}
		took := producertest.Eventually(t, 3*time.Second, producertest.Registered(ds[:1], id.BroadcastAddress, id.TCPPort, "t", "ch"))
		t.Logf("deleted registration back after %s", took)
		if took > resync+300*time.Millisecond {
			t.Errorf("registration back after %s, want within one resync interval (%s) plus slack", took, resync)
		}
		// The status is updated once the whole resync is acknowledged,
		// just after the lookupd shows the registration.
		producertest.Eventually(t, time.Second, func() error {
			if after := c.Status()[0]; after.Connects != before.Connects || !after.LastResync.After(before.LastResync) {
				return fmt.Errorf("not restored by a resync on the same connection: before %+v, after %+v", before, after)
			}
			return nil
		})
	})
}

// Suspend withdraws everything from every lookupd and keeps it locally;
// Resume brings it back.
func TestClient_Suspend(t *testing.T) {
	forEachKind(t, func(t *testing.T, start producertest.Starter) {
		ds := producertest.StartN(t, start, 3)
		c := newClient(t, producertest.TCPAddrs(ds), func(cfg *producer.Config) { cfg.StartSuspended = true })
		id := c.Identity()
		if err := c.Register("t", "ch"); err != nil {
			t.Fatal(err)
		}
		producertest.Eventually(t, 3*time.Second, func() error {
			for _, st := range c.Status() {
				if !st.Connected || st.LastHeartbeat.IsZero() {
					return fmt.Errorf("status %+v", st)
				}
			}
			return nil
		})
		if err := producertest.Unregistered(ds, id.BroadcastAddress, id.TCPPort, "t")(); err != nil {
			t.Fatalf("registered while suspended: %v", err)
		}
		c.Resume()
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, id.BroadcastAddress, id.TCPPort, "t", "ch"))
		c.Suspend()
		if !c.Suspended() {
			t.Fatal("Suspended() = false")
		}
		producertest.Eventually(t, 3*time.Second, producertest.Unregistered(ds, id.BroadcastAddress, id.TCPPort, "t"))
		if got := c.State(); len(got) != 1 {
			t.Fatalf("State while suspended = %v", got)
		}
		c.Resume()
		producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, id.BroadcastAddress, id.TCPPort, "t", "ch"))
	})
}

// fakeLookupd accepts connections, records when each arrived, and runs
// serve on each; serve must return when the connection fails.
type fakeLookupd struct {
	addr    string
	mu      sync.Mutex
	accepts []time.Time
}

func startFake(t *testing.T, serve func(net.Conn, *bufio.Reader)) *fakeLookupd {
	t.Helper()
	f := &fakeLookupd{}
	f.addr = lookuptest.Listen(t, func(nc net.Conn) {
		f.mu.Lock()
		f.accepts = append(f.accepts, time.Now())
		f.mu.Unlock()
		serve(nc, bufio.NewReader(nc))
	}).Addr()
	return f
}

func (f *fakeLookupd) acceptTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.accepts)
}

// readIdentify consumes the magic and the IDENTIFY command of a client.
func readIdentify(r *bufio.Reader) error {
	magic := make([]byte, 4)
	if _, err := io.ReadFull(r, magic); err != nil {
		return err
	}
	if line, err := r.ReadString('\n'); err != nil || line != "IDENTIFY\n" {
		return fmt.Errorf("want IDENTIFY, got %q, %v", line, err)
	}
	_, err := wire.ReadIdentifyBody(r, 1<<16)
	return err
}

// A lookupd that refuses commands, or sends garbage, is reported in Status
// and retried with growing delays: never a crash, never a tight loop.
func TestClient_BadLookupdReplies(t *testing.T) {
	identifyOK := []byte(`{"version":"fake","tcp_port":1,"http_port":2,"broadcast_address":"x","hostname":"x"}`)
	tests := []struct {
		name    string
		serve   func(nc net.Conn, r *bufio.Reader)
		wantErr string
	}{
		{
			name: "E_INVALID to REGISTER",
			serve: func(nc net.Conn, r *bufio.Reader) {
				if readIdentify(r) != nil || wire.WriteResponse(nc, identifyOK) != nil {
					return
				}
				if line, err := r.ReadString('\n'); err == nil && strings.HasPrefix(line, "REGISTER") {
					_ = wire.WriteResponse(nc, []byte("E_INVALID boom"))
				}
			},
			wantErr: "E_INVALID boom",
		},
		{
			name: "E_BAD_BODY to IDENTIFY",
			serve: func(nc net.Conn, r *bufio.Reader) {
				if readIdentify(r) == nil {
					_ = wire.WriteResponse(nc, []byte("E_BAD_BODY IDENTIFY missing fields"))
				}
			},
			wantErr: "E_BAD_BODY",
		},
		{
			name: "oversized reply length",
			serve: func(nc net.Conn, r *bufio.Reader) {
				if readIdentify(r) == nil {
					_, _ = nc.Write(binary.BigEndian.AppendUint32(nil, 1<<31-1))
				}
			},
			wantErr: "response size",
		},
		{
			name: "garbage identify reply",
			serve: func(nc net.Conn, r *bufio.Reader) {
				if readIdentify(r) == nil {
					_ = wire.WriteResponse(nc, []byte("not json"))
				}
			},
			wantErr: "decode reply",
		},
		{
			name: "closes after identify",
			serve: func(nc net.Conn, r *bufio.Reader) {
				_ = readIdentify(r)
			},
			wantErr: "closed the connection",
		},
	}
	const backoffMin = 20 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.serve)
			c := newClient(t, []string{f.addr}, func(cfg *producer.Config) {
				cfg.BackoffMin = backoffMin
				cfg.BackoffMax = time.Second
				cfg.HeartbeatInterval = time.Second
			})
			if err := c.Register("t", ""); err != nil {
				t.Fatal(err)
			}
			producertest.Eventually(t, 5*time.Second, func() error {
				if n := len(f.acceptTimes()); n < 5 {
					return fmt.Errorf("%d connections", n)
				}
				return nil
			})
			st := c.Status()[0]
			if !strings.Contains(st.LastError, tc.wantErr) || st.Connected && st.Failures == 0 {
				t.Errorf("status = %+v, want last error containing %q", st, tc.wantErr)
			}
			// Each retry waits at least half the doubled delay.
			at := f.acceptTimes()
			for k := 1; k < 5; k++ {
				gap, floor := at[k].Sub(at[k-1]), backoffMin<<(k-1)/2
				if gap < floor {
					t.Errorf("retry %d after %s, want at least %s (accepts %v)", k, gap, floor, at)
				}
			}
		})
	}
}

// Close gives up at its context's deadline when a lookupd never answers
// UNREGISTER, and still leaves no goroutine behind.
func TestClient_CloseDeadline(t *testing.T) {
	identifyOK := []byte(`{"version":"fake","tcp_port":1,"http_port":2,"broadcast_address":"x","hostname":"x"}`)
	registered := make(chan string, 16)
	f := startFake(t, func(nc net.Conn, r *bufio.Reader) {
		if readIdentify(r) != nil || wire.WriteResponse(nc, identifyOK) != nil {
			return
		}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(line, "UNREGISTER") {
				continue // never answered
			}
			if strings.HasPrefix(line, "REGISTER") {
				registered <- line
			}
			if wire.WriteResponse(nc, wire.OK) != nil {
				return
			}
		}
	})
	c := newClient(t, []string{f.addr}, func(cfg *producer.Config) { cfg.ReadTimeout = 30 * time.Second })
	if err := c.Register("t", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case line := <-registered:
		if line != "REGISTER t\n" {
			t.Fatalf("fake got %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no REGISTER reached the fake lookupd")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.Close(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want deadline exceeded", err)
	}
	if took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("Close took %s with a 200ms deadline", took)
	}
	assertNoProducerGoroutines(t)
}
