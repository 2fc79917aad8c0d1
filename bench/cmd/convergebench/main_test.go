package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/bench/proc"
)

// TestMain lets the test binary stand in for the command: the daemon
// processes the benchmark starts re-execute this binary with childEnv
// set, and then it serves a daemon instead of running the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(proc.SignalContext(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every phase at a tiny scale, end to end through run,
// and checks that every figure is there and sane and that the outputs are
// written and render again.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven daemon processes")
	}
	out := filepath.Join(t.TempDir(), "res", "converge.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-lookupds=2", "-watchers=4", "-events=4", "-event-interval=100ms", "-warm=2",
		"-poll-interval=200ms", "-settle=5s", "-blocked=60", "-iso-others=10,60", "-iso-changes=20",
		"-iso-rounds=1", "-floor-events=3", "-out=" + out}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if code := run(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d\nstderr:\n%s", code, stderr.String())
	}
	var rep bench.ConvergeReport
	if err := bench.ReadReport(out, &rep); err != nil {
		t.Fatalf("read report %s: %v", out, err)
	}
	for _, p := range []*bench.PhaseResult{rep.Ours, rep.Polling} {
		if p == nil {
			t.Fatal("a convergence phase is missing")
		}
		// 4 watchers see 2 joins and 2 leaves each.
		if p.Missed != 0 || p.Joins.Samples != 8 || p.Leaves.Samples != 8 {
			t.Errorf("%s: missed %d, samples %d + %d, want 0 and 8 + 8", p.Kind, p.Missed, p.Joins.Samples, p.Leaves.Samples)
		}
		if p.Joins.P50Ms <= 0 || p.Joins.MaxMs < p.Joins.P99Ms || p.Joins.P99Ms < p.Joins.P50Ms || p.LookupdCPUPerEventMs <= 0 {
			t.Errorf("%s: implausible figures %+v", p.Kind, p)
		}
	}
	// 4 watchers, 2 servers, 3 events: 12 watcher-events, each with a
	// first and a last answer.
	if f := rep.Floor; f == nil || f.Missed != 0 || f.First.Samples != 12 || f.Last.Samples != 12 ||
		f.First.P50Ms <= 0 || f.Last.MaxMs < f.First.MaxMs || f.CPUPerExchangeUs <= 0 {
		t.Errorf("floor: %+v", rep.Floor)
	}
	if b := rep.Blocked; b == nil || b.Queries != 60 || b.PerQueryKiB <= 0 {
		t.Errorf("blocked: %+v", rep.Blocked)
	}
	if iso := rep.Isolation; iso == nil || len(iso.Runs) != 2 || iso.Ratio < 1 {
		t.Errorf("isolation: %+v", rep.Isolation)
	}
	md, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"join p99", "leave p99", "**Floor**", "KiB each", "Most over fewest"} {
		if !bytes.Contains(md, []byte(want)) || !strings.Contains(stdout.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	stdout.Reset()
	if code := run(ctx, []string{"-render", out}, strings.NewReader(""), &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "join p99") {
		t.Errorf("render exited %d: %s", code, stdout.String())
	}
}
