//go:build linux

package chaos

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	seedFlag    = flag.Int64("chaos.seed", 0, "seed of the fault schedule (0: taken from the clock; printed either way)")
	longFlag    = flag.Bool("chaos.long", false, "run the long forms of the chaos and load tests (also CHAOS_LONG=1)")
	phaseFlag   = flag.Duration("chaos.duration", 5*time.Minute, "fault phase of the long chaos run")
	logDirFlag  = flag.String("chaos.logdir", "", "keep the daemons' logs in this directory (default: a temporary one)")
	raceBinFlag = flag.Bool("chaos.racebin", false, "build lookupd and producerd with -race")
	loseRegFlag = flag.Bool("chaos.lose-registrations", false, "run TestChaos with proxies that lose every registration sent once the cluster is up (must fail)")
)

// long reports whether the long forms were asked for.
func long() bool { return *longFlag || os.Getenv("CHAOS_LONG") == "1" }

// builds caches the daemons built for this test binary.
var builds struct {
	dir  string
	mu   sync.Mutex
	bins *Binaries
}

// binaries builds lookupd and producerd once per test binary.
func binaries(t *testing.T) Binaries {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.bins != nil {
		return *builds.bins
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	b, err := Build(ctx, builds.dir, BuildOptions{Race: *raceBinFlag})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built lookupd and producerd in %s (race %v)", time.Since(start).Round(time.Millisecond), *raceBinFlag)
	builds.bins = &b
	return b
}

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "chaos-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builds.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// logDir returns where the daemons' logs go.
func logDir(t *testing.T) string {
	t.Helper()
	if *logDirFlag == "" {
		return t.TempDir()
	}
	dir := filepath.Join(*logDirFlag, strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testLogger writes to the test's output.
func testLogger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: level}))
}

// raiseNoFile raises this process's RLIMIT_NOFILE soft limit to want (or
// the hard limit, if lower, and the hard limit cannot be raised: only root
// may) with syscall.Setrlimit. Calling Setrlimit also makes child
// processes inherit the limit (the Go runtime otherwise gives them the
// limit the process started with). It returns the soft limit now in force.
func raiseNoFile(t *testing.T, want uint64) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if want > lim.Max {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return want
		}
	}
	lim.Cur = max(lim.Cur, min(want, lim.Max))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit nofile %d: %v", lim.Cur, err)
	}
	return lim.Cur
}
