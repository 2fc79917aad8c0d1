//go:build linux

package chaos

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChaos runs the fault-injection harness: 3 lookupds, 20+ producerd
// processes, a clientmerge watcher, ~25 s of random faults (5 min with
// -chaos.long), and requires no violation.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts dozens of processes; skipped with -short")
	}
	overlay := ""
	if *mutantFlag {
		overlay = mutantOverlay(t)
	}
	bin := binaries(t, overlay)
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano() % 1_000_000_007
	}
	t.Logf("chaos seed %d (repeat with -chaos.seed=%d)", seed, seed)
	var cfg Config
	if long() {
		cfg = LongConfig(bin, seed, logDir(t), *phaseFlag)
	} else {
		cfg = ShortConfig(bin, seed, logDir(t))
	}
	cfg.Logger = testLogger(t, slogLevel())
	sum, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Logf("\n%s", sum)
	if sum.Violations > 0 {
		t.Errorf("seed %d: %d violations (see the summary above)", seed, sum.Violations)
	}
	// The run must have exercised what it claims to check.
	for _, k := range []string{"lookupd-presence", "lookupd-absence", "union-presence", "union-absence", "final-match", "exit-status", "rss", "goroutines", "shutdown-withdraw"} {
		if sum.Checks[k] == 0 {
			t.Errorf("no %s check was made", k)
		}
	}
	if got, want := sum.Checks["stale-snapshot"], cfg.Topics; got != want {
		t.Errorf("stale-snapshot checks = %d, want %d (one per topic)", got, want)
	}
	// Stalls of the harness itself suspend the checks; if they take much
	// of the run, it proved little (or a daemon hogs the CPU: see the CPU
	// times in the summary).
	if sum.StallTime > cfg.FaultPhase/5 {
		t.Errorf("the harness was starved of CPU for %s of a %s fault phase; rerun on a quieter machine", sum.StallTime, cfg.FaultPhase)
	}
	if n := len(sum.Faults); n < 9 {
		t.Errorf("only %d of the 9 kinds of fault injected: %v", n, sum.Faults)
	}
}

// slogLevel is the harness's log level: faults are logged with -v.
func slogLevel() slog.Level {
	if testing.Verbose() {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// mutantOverlay writes a go build overlay replacing lookup/producer/link.go by
// a copy whose connections send the full state only on a link's first
// connect, not on a reconnect: registrations a restarted lookupd lost are
// then not restored until the resync interval. The tree is not touched.
func mutantOverlay(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("..", "..", "lookup", "producer", "link.go"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	const field = "\tstatus LookupdStatus\n}"
	const fullSync = "\tif err := cn.sync(true); err != nil {\n\t\treturn false, err\n\t}\n\thb := time.NewTicker"
	if strings.Count(s, field) != 1 || strings.Count(s, fullSync) != 1 {
		t.Fatalf("%s changed: the mutation points (the link struct's status field, the full sync in serve) are gone; update mutantOverlay", src)
	}
	s = strings.Replace(s, field, "\tstatus LookupdStatus\n\tmutantSynced bool // MUTANT\n}", 1)
	s = strings.Replace(s, fullSync, "\tif !l.mutantSynced { // MUTANT: full state on the first connect only\n\t\tl.mutantSynced = true\n\t\tif err := cn.sync(true); err != nil {\n\t\t\treturn false, err\n\t\t}\n\t}\n\thb := time.NewTicker", 1)
	dir := t.TempDir()
	mutant := filepath.Join(dir, "link.go")
	if err := os.WriteFile(mutant, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {src: mutant}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(path, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestChaos_CatchesLostRegistration shows that the harness can fail: with
// a producerd that does not re-register on reconnect, restarting lookupds
// must produce presence and final-match violations.
func TestChaos_CatchesLostRegistration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	bin := binaries(t, mutantOverlay(t))
	cfg := ShortConfig(bin, 1, logDir(t))
	cfg.Producers, cfg.MinProducers, cfg.MaxProducers = 5, 5, 5
	cfg.Kinds = []string{FaultKillRestart}
	cfg.FaultPhase = 6 * time.Second
	cfg.MinGap, cfg.MaxGap = 800*time.Millisecond, 1200*time.Millisecond
	cfg.AllStop = 0
	cfg.Logger = testLogger(t, slogLevel())
	sum, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mutant run (expected to fail):\n%s", sum)
	if sum.Faults[FaultKillRestart] == 0 {
		t.Fatalf("no lookupd was restarted: %v", sum.Faults)
	}
	var kinds []string
	for _, d := range sum.Details {
		if _, rest, ok := strings.Cut(d, "] "); ok {
			kind, _, _ := strings.Cut(rest, ":")
			kinds = append(kinds, kind)
		}
	}
	for _, want := range []string{"lookupd-presence", "final-match"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("the mutant produced no %s violation; violations: %q", want, sum.Details)
		}
	}
}
