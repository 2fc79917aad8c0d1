//go:build linux

package chaos

import (
	"log/slog"
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
	bin := binaries(t)
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
	cfg.LoseRegistrations = *loseRegFlag
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

// TestChaos_CatchesLostRegistration shows that the harness can fail end to
// end: once the cluster is up, the proxies lose every registration sent on
// a new connection (REGISTER becomes PING, which the lookupd acknowledges).
// Restarting lookupds then leaves producers registered nowhere they
// reconnected to, which must show as presence and final-match violations.
// rules_test.go shows the same timeline judged without processes.
func TestChaos_CatchesLostRegistration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes; skipped with -short")
	}
	cfg := ShortConfig(binaries(t), 1, logDir(t))
	cfg.Producers, cfg.MinProducers, cfg.MaxProducers = 5, 5, 5
	cfg.Kinds = []string{FaultKillRestart}
	cfg.FaultPhase = 6 * time.Second
	cfg.MinGap, cfg.MaxGap = 800*time.Millisecond, 1200*time.Millisecond
	cfg.AllStop = 0
	cfg.LoseRegistrations = true
	cfg.Logger = testLogger(t, slogLevel())
	sum, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("run with lost registrations (expected to fail):\n%s", sum)
	if sum.Faults[FaultKillRestart] == 0 {
		t.Fatalf("no lookupd was restarted: %v", sum.Faults)
	}
	kinds := violationKinds(sum)
	// The end state is compared whatever happened on the way, so the lost
	// registrations always show there. Presence checks are skipped while
	// the harness itself is starved of CPU (a stall), so on a loaded
	// machine they may miss every window; they are required only when no
	// stall happened.
	want := []string{"final-match"}
	if sum.Stalls == 0 {
		want = append(want, "lookupd-presence")
	}
	for _, w := range want {
		if !slices.Contains(kinds, w) {
			t.Errorf("lost registrations produced no %s violation (%d harness stalls); violations: %q", w, sum.Stalls, sum.Details)
		}
	}
	// Only what the fault explains: the daemons themselves stayed sound.
	for _, k := range kinds {
		if !slices.Contains([]string{"lookupd-presence", "union-presence", "final-match"}, k) {
			t.Errorf("unexpected %s violation; violations: %q", k, sum.Details)
		}
	}
}

// violationKinds returns the check of each violation described in sum.
func violationKinds(sum *Summary) []string {
	var kinds []string
	for _, d := range sum.Details {
		if _, rest, ok := strings.Cut(d, "] "); ok {
			kind, _, _ := strings.Cut(rest, ":")
			kinds = append(kinds, kind)
		}
	}
	return kinds
}
