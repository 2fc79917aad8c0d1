package producerd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer/producertest"
	"github.com/lookupd/lookupd/lookup/producerd"
)

// daemonOptions returns Options announcing 127.0.0.1:port to ds, with the
// admin API on 127.0.0.1:0.
func daemonOptions(t *testing.T, ds []*producertest.Daemon, port int, register ...string) *producerd.Options {
	o := producerd.NewOptions()
	o.LookupdTCPAddresses = producertest.TCPAddrs(ds)
	o.BroadcastAddress = "127.0.0.1"
	o.BroadcastTCPPort = port
	o.BroadcastHTTPPort = port + 1
	o.Hostname = "daemon-test"
	o.Register = register
	o.HeartbeatInterval = 100 * time.Millisecond
	o.HTTPAddress = "127.0.0.1:0"
	o.ShutdownTimeout = 5 * time.Second
	o.Logger = testLogger(t)
	return o
}

// runDaemon runs d.Run in an owned goroutine and returns a function that
// cancels it and returns Run's result; the cleanup does the same if the
// test did not.
func runDaemon(t *testing.T, d *producerd.Daemon) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		err error
	)
	wg.Go(func() { err = d.Run(ctx) })
	stop = sync.OnceValue(func() error {
		cancel()
		wg.Wait()
		return err
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// The daemon's whole life in process: New binds the admin API, Run
// announces to nsqlookupd and ours, Reload applies a changed registration
// list and refuses an invalid one, and the end of Run's context withdraws
// everything with explicit UNREGISTERs.
func TestDaemon_RunReloadStop(t *testing.T) {
	const port = 24170
	ds := []*producertest.Daemon{producertest.StartNSQ(t, ""), producertest.StartOurs(t, "")}
	opts := daemonOptions(t, ds, port, "a", "b/c")
	d, err := producerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	addr := d.AdminAddr()
	if addr == nil || !strings.HasPrefix(addr.String(), "127.0.0.1:") || strings.HasSuffix(addr.String(), ":0") {
		t.Fatalf("admin address %v, want a bound 127.0.0.1 port", addr)
	}
	opts.Register[0] = "changed-after-New" // New copied its options
	stop := runDaemon(t, d)

	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "b", "c"))
	code, body := lookuptest.Do(t, "GET", "http://"+addr.String()+"/state")
	var st producerd.State
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || len(st.Registrations) != 2 || len(st.Lookupds) != 2 {
		t.Fatalf("admin /state = %d %s (%v)", code, body, err)
	}

	next := daemonOptions(t, ds, port, "b/c", "d#ephemeral")
	next.LogLevel = config.LevelDebug
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "d#ephemeral"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "b", "c"))

	bad := daemonOptions(t, ds, port, "e", "not a topic")
	if err := d.Reload(bad); err == nil || !strings.Contains(err.Error(), "--register") {
		t.Fatalf("Reload(invalid) = %v, want a --register error", err)
	}
	code, body = lookuptest.Do(t, "GET", "http://"+addr.String()+"/state")
	st = producerd.State{}
	if err := json.Unmarshal(body, &st); code != 200 || err != nil || len(st.Registrations) != 2 {
		t.Fatalf("after an invalid reload /state = %d %s (%v), want the 2 registrations kept", code, body, err)
	}

	if err := stop(); err != nil {
		t.Fatalf("Run = %v, want nil after its context ended", err)
	}
	// nsqlookupd drops an ephemeral topic only on UNREGISTER, not on a
	// disconnect: its absence proves the withdrawal was explicit.
	for _, l := range ds {
		r, err := producertest.Lookup(l.HTTPAddr, "d#ephemeral")
		if err != nil {
			t.Fatal(err)
		}
		if r.Found {
			t.Errorf("%s %s: d#ephemeral still listed after Run returned: %+v", l.Kind, l.HTTPAddr, r)
		}
	}
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "b"))
	if err := d.Run(t.Context()); err == nil {
		t.Fatal("a second Run returned nil")
	}
}

// A Daemon that will never Run gives its listener back on Close.
func TestDaemon_CloseWithoutRun(t *testing.T) {
	ds := producertest.StartN(t, producertest.StartOurs, 1)
	d, err := producerd.New(daemonOptions(t, ds, 24180, "a"))
	if err != nil {
		t.Fatal(err)
	}
	addr := d.AdminAddr().String()
	d.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("admin address still bound after Close: %v", err)
	}
	ln.Close()
	if err := d.Run(t.Context()); err == nil {
		t.Fatal("Run after Close returned nil")
	}
}

func TestNew_Errors(t *testing.T) {
	ds := producertest.StartN(t, producertest.StartOurs, 1)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	tests := []struct {
		name   string
		change func(o *producerd.Options)
		want   string
	}{
		{"invalid options", func(o *producerd.Options) { o.HealthRise = 0 }, "invalid options: --health-rise: must be at least 1, got 0"},
		{"admin address taken", func(o *producerd.Options) { o.HTTPAddress = taken.Addr().String() }, "admin api: listen tcp " + taken.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := daemonOptions(t, ds, 24190, "a")
			tt.change(o)
			if _, err := producerd.New(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Reload says what it applied and names every changed option it cannot
// apply, the log level included when the logger was injected.
func TestDaemon_ReloadLogs(t *testing.T) {
	ds := producertest.StartN(t, producertest.StartOurs, 1)
	var logs bytes.Buffer // written only from this goroutine: the daemon never runs
	opts := daemonOptions(t, ds, 24200, "a", "b")
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d, err := producerd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	next := daemonOptions(t, ds, 24200, "b", "c/x")
	next.HeartbeatInterval = time.Second
	next.LogLevel = config.LevelWarn
	if err := d.Reload(next); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`msg="option changed; restart to apply it" option=heartbeat-interval`,
		`msg="option changed; restart to apply it" option=log-level`,
		`msg="config reloaded" registered=1 unregistered=1`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), "option=register") || strings.Contains(logs.String(), "option=logger") {
		t.Errorf("logs name an option that was applied or is no option:\n%s", logs.String())
	}
}
