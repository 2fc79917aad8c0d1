package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/producer/producertest"
)

// buildProducerd compiles this package into a temporary directory.
func buildProducerd(t *testing.T) string {
	t.Helper()
	// go test puts its own GOROOT/bin first on PATH.
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("find the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "producerd")
	cmd := exec.CommandContext(t.Context(), goBin, "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// logLines follows a process's stderr, echoing it to the test output and
// sending lines that contain "msg=" to a channel. The returned wait
// function returns once the stream has ended.
func logLines(t *testing.T, r io.Reader) (<-chan string, func()) {
	lines := make(chan string, 1024)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			fmt.Fprintln(t.Output(), "producerd:", sc.Text())
			select {
			case lines <- sc.Text():
			default: // nobody is waiting for that many lines
			}
		}
	})
	return lines, wg.Wait
}

// waitLine reads lines until one contains all parts.
func waitLine(t *testing.T, lines <-chan string, timeout time.Duration, parts ...string) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("producerd output ended before a line with %q", parts)
			}
			match := true
			for _, p := range parts {
				match = match && strings.Contains(l, p)
			}
			if match {
				return l
			}
		case <-deadline.C:
			t.Fatalf("no line with %q within %s", parts, timeout)
		}
	}
}

func tomlList(addrs []string) string {
	q := make([]string, len(addrs))
	for i, a := range addrs {
		q[i] = fmt.Sprintf("%q", a)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// The real binary: registers on three lookupds (two nsqlookupd, one ours), follows its health check,
// applies an edited config
// file on SIGHUP, and on SIGTERM withdraws everything and exits 0.
func TestProducerd_Binary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildProducerd(t)
	// A mixed cluster: nsqlookupd v1.3.0 twice and ours.
	ds := []*producertest.Daemon{producertest.StartNSQ(t, ""), producertest.StartOurs(t, ""), producertest.StartNSQ(t, "")}
	var healthStatus atomic.Int32
	healthStatus.Store(http.StatusOK)
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(int(healthStatus.Load()))
	}))
	defer health.Close()
	const port = 25150
	config := func(registers string) string {
		return fmt.Sprintf(`
lookupd_tcp_address = %s
broadcast_address = "127.0.0.1"
broadcast_tcp_port = %d
broadcast_http_port = %d
hostname = "binary-test"
register = %s
heartbeat_interval = "100ms"
http_address = "127.0.0.1:0"
log_level = "debug"
health_url = %q
health_interval = "50ms"
health_rise = 1
health_fall = 2
`, tomlList(producertest.TCPAddrs(ds)), port, port+1, registers, health.URL)
	}
	path := filepath.Join(t.TempDir(), "producerd.toml")
	if err := os.WriteFile(path, []byte(config(`["a", "b/c"]`)), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "--config", path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines, waitLog := logLines(t, stderr)
	var procWG sync.WaitGroup
	procWG.Go(func() {
		waitLog() // Wait closes the pipe; read it all first
		exited <- cmd.Wait()
	})
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		procWG.Wait()
	})

	listen := waitLine(t, lines, 10*time.Second, "admin api listening")
	if !strings.HasPrefix(listen, "[producerd] ") {
		t.Fatalf("log line without the default --log-prefix: %q", listen)
	}
	_, adminAddr, _ := strings.Cut(listen, "addr=")
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "b", "c"))

	resp, err := http.Get("http://" + adminAddr + "/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Registrations []struct{ Topic, Channel string }
		Lookupds      []struct{ Connected bool }
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || len(st.Registrations) != 2 || len(st.Lookupds) != 3 {
		t.Fatalf("admin /state: %+v, %v", st, err)
	}

	// Health gating: withdrawn while the service fails, back when it recovers.
	healthStatus.Store(http.StatusInternalServerError)
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "b"))
	healthStatus.Store(http.StatusOK)
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "b", "c"))

	// Edit the file and reload: "a" goes, "d#ephemeral" comes, "b/c" stays.
	if err := os.WriteFile(path, []byte(config(`["b/c", "d#ephemeral"]`)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, 5*time.Second, "config reloaded", "registered=1", "unregistered=1")
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "a"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "d#ephemeral"))
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "b", "c"))

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("producerd exited with %v, want status 0", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("producerd did not exit within 10s of SIGTERM")
	}
	// The ephemeral topic vanishing on nsqlookupd (ds[0], ds[2]) proves an
	// explicit UNREGISTER was sent before exit (a disconnect alone keeps it).
	for _, d := range ds {
		r, err := producertest.Lookup(d.HTTPAddr, "d#ephemeral")
		if err != nil {
			t.Fatal(err)
		}
		if r.Found {
			t.Errorf("%s: d#ephemeral still listed after exit: %+v", d.HTTPAddr, r)
		}
	}
	producertest.Eventually(t, 5*time.Second, producertest.Unregistered(ds, "127.0.0.1", port, "b"))
}
