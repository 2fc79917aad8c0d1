package bench

import (
	"strings"
	"testing"
	"time"
)

func TestQuantileAndSummarise(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := summarise(ds)
	if l.Samples != 100 || l.P50Ms != 50 || l.P99Ms != 99 || l.MaxMs != 100 {
		t.Fatalf("summarise = %+v, want p50 50, p99 99, max 100", l)
	}
	if got := quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Fatalf("quantile of one = %v", got)
	}
	if l := summarise(nil); l.Samples != 0 {
		t.Fatalf("summarise(nil) = %+v", l)
	}
}

// The recorder measures each watcher's callback from the event's own
// instant and ignores what it was not asked to measure.
func TestRecorder(t *testing.T) {
	r := &recorder{events: map[string]*convEvent{}}
	t0 := time.Now()
	r.joinAt("warm:1", t0, true)
	r.joinAt("p:1", t0, false)
	r.observe([]string{"warm:1", "p:1", "unknown:1"}, nil, t0.Add(5*time.Millisecond))
	r.leaveAt("p:1", t0.Add(time.Second))
	r.observe(nil, []string{"p:1", "warm:1"}, t0.Add(time.Second+7*time.Millisecond))
	seen, warm := r.counts()
	if seen != 2 || warm != 1 {
		t.Fatalf("seen %d warm %d, want 2 and 1", seen, warm)
	}
	if len(r.joins) != 1 || r.joins[0] != 5*time.Millisecond || len(r.leaves) != 1 || r.leaves[0] != 7*time.Millisecond {
		t.Fatalf("joins %v leaves %v", r.joins, r.leaves)
	}
}

func TestConvergeMarkdown(t *testing.T) {
	cfg := DefaultConvergeConfig()
	rep := &ConvergeReport{
		Config: cfg, Machine: "test",
		Ours:      &PhaseResult{Kind: Ours, Joins: Latencies{Samples: 10, P50Ms: 5, P99Ms: 20, MaxMs: 30}, Leaves: Latencies{Samples: 10, P50Ms: 5, P99Ms: 60, MaxMs: 70}},
		Polling:   &PhaseResult{Kind: NSQ, Interval: 1, Joins: Latencies{P50Ms: 500, P99Ms: 990, MaxMs: 1000}, Leaves: Latencies{P50Ms: 500, P99Ms: 990, MaxMs: 1000}},
		Blocked:   &BlockedResult{Queries: 10000, PerQueryKiB: 8.2},
		Isolation: &IsolationResult{Changes: 10, Runs: []IsoRun{{Others: 1000, PerChangeUs: 100}, {Others: 10000, PerChangeUs: 120}}, Median: map[int]float64{1000: 100, 10000: 120}, Ratio: 1.2},
	}
	md := rep.Markdown()
	// Joins meet p99 (20 ms; 990/20 = 49.5 ≥ 20; 59,400/20 ≥ 1000);
	// leaves miss it (60 ms).
	for _, want := range []string{
		"| join p99 | 20 ms | 990 ms | 59 s | ≤ 50 ms, ≥ 20× polling, ≥ 1000× go-nsq | yes |",
		"| leave p99 | 60 ms | 990 ms | 59 s | ≤ 50 ms, ≥ 20× polling, ≥ 1000× go-nsq | **no** |",
		"**8.20 KiB each** (target ≤ 16 KiB: yes)",
		"| 10000 | 120.0 | 120.0 µs |",
		"**1.20×** (target ≤ 1.5×: yes)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
