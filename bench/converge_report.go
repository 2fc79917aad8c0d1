package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ConvergeReport is what Converge measured.
type ConvergeReport struct {
	Config      ConvergeConfig `json:"config"`
	Machine     string         `json:"machine"`
	WallSeconds float64        `json:"wall_seconds"`
	// LoadBefore and LoadAfter are the load averages (1, 5, 15 min) at the
	// start and the end: other work shares the CPUs.
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
	// Ours is the watchers on our lookupds (blocking queries).
	Ours *PhaseResult `json:"ours,omitempty"`
	// Polling is the same watchers polling nsqlookupd v1.3.0.
	Polling *PhaseResult `json:"polling,omitempty"`
	// Floor is the same fan-out as bare TCP exchanges.
	Floor     *FloorResult     `json:"floor,omitempty"`
	Blocked   *BlockedResult   `json:"blocked,omitempty"`
	Isolation *IsolationResult `json:"isolation,omitempty"`
}

// Targets of the convergence benchmark (issue 10).
const (
	TargetP99Ms          = 50   // join and leave p99 with blocking queries
	TargetVsPolling      = 20   // times better than polling at 1 s (p99)
	TargetVsGoNSQ        = 1000 // times better than go-nsq's 60 s default (p99)
	TargetKiBPerQuery    = 16   // RSS per blocked query
	TargetIsolationRatio = 1.5  // CPU per change, most over fewest waiters elsewhere
)

// pollingArithmetic is the latency of polling every interval, from
// arithmetic: a change lands at a uniformly random point of the interval,
// so it is seen after U(0, interval) plus a round trip, ignored here.
func pollingArithmetic(interval time.Duration) Latencies {
	ms := float64(interval) / float64(time.Millisecond)
	return Latencies{P50Ms: ms * 0.50, P99Ms: ms * 0.99, MaxMs: ms}
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func fmtMs(v float64) string {
	switch {
	case v >= 10000:
		return fmt.Sprintf("%.0f s", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.1f ms", v)
	}
}

// Markdown renders the report as the tables bench/README.md quotes.
func (r *ConvergeReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Wall time %.0f s. Load average %s before, %s after.\n\n", r.Machine, r.WallSeconds, r.LoadBefore, r.LoadAfter)
	if r.Ours != nil {
		r.convergeMarkdown(&b)
	}
	r.blockedMarkdown(&b)
	return b.String()
}

func (r *ConvergeReport) convergeMarkdown(b *strings.Builder) {
	c := r.Config
	fmt.Fprintf(b, "%d watchers (clientmerge.Watch, one Client each) follow one topic on %d lookupd processes; "+
		"after %d warm-up producers, %d events one every %s alternate a producer (lookup/producer, connected to every lookupd) "+
		"registering the topic and the oldest one closing (UNREGISTER, then its connections end). "+
		"Latency is, for every event and every watcher, the time from the REGISTER (or Close) call to the watcher's callback "+
		"showing the change.\n\n", c.Watchers, c.Lookupds, c.Warm, c.Events, c.EventInterval)

	gonsq := pollingArithmetic(c.GoNSQInterval)
	fmt.Fprintf(b, "| figure | ours: blocking queries (watch interval %s) |", c.WatchInterval)
	if r.Polling != nil {
		fmt.Fprintf(b, " nsqlookupd v1.3.0, polled every %s |", time.Duration(r.Polling.Interval*float64(time.Second)))
	}
	fmt.Fprintf(b, " go-nsq default, polled every %s (arithmetic) | target | met |\n", c.GoNSQInterval)
	b.WriteString("|---|--:|")
	if r.Polling != nil {
		b.WriteString("--:|")
	}
	b.WriteString("--:|---|:-:|\n")
	row := func(name string, ours, polling, arith float64, target string, met string) {
		fmt.Fprintf(b, "| %s | %s |", name, fmtMs(ours))
		if r.Polling != nil {
			fmt.Fprintf(b, " %s |", fmtMs(polling))
		}
		fmt.Fprintf(b, " %s | %s | %s |\n", fmtMs(arith), target, met)
	}
	var pj, pl Latencies
	if r.Polling != nil {
		pj, pl = r.Polling.Joins, r.Polling.Leaves
	}
	p99Target := func(ours, polling float64) (string, string) {
		t := fmt.Sprintf("≤ %d ms, ≥ %d× polling, ≥ %d× go-nsq", TargetP99Ms, TargetVsPolling, TargetVsGoNSQ)
		ok := ours <= TargetP99Ms && ours*TargetVsGoNSQ <= gonsq.P99Ms
		if r.Polling != nil {
			ok = ok && ours*TargetVsPolling <= polling
		}
		return t, yes(ok)
	}
	ours := *r.Ours
	row("join p50", r.Ours.Joins.P50Ms, pj.P50Ms, gonsq.P50Ms, "", "")
	t, ok := p99Target(r.Ours.Joins.P99Ms, pj.P99Ms)
	row("join p99", r.Ours.Joins.P99Ms, pj.P99Ms, gonsq.P99Ms, t, ok)
	row("join max", r.Ours.Joins.MaxMs, pj.MaxMs, gonsq.MaxMs, "", "")
	row("leave p50", r.Ours.Leaves.P50Ms, pl.P50Ms, gonsq.P50Ms, "", "")
	t, ok = p99Target(r.Ours.Leaves.P99Ms, pl.P99Ms)
	row("leave p99", r.Ours.Leaves.P99Ms, pl.P99Ms, gonsq.P99Ms, t, ok)
	row("leave max", r.Ours.Leaves.MaxMs, pl.MaxMs, gonsq.MaxMs, "", "")
	fmt.Fprintf(b, "\n| per phase | ours |")
	if r.Polling != nil {
		b.WriteString(" nsqlookupd polled |")
	}
	b.WriteString("\n|---|--:|")
	if r.Polling != nil {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	phaseRow := func(name string, f func(p PhaseResult) string) {
		fmt.Fprintf(b, "| %s | %s |", name, f(ours))
		if r.Polling != nil {
			fmt.Fprintf(b, " %s |", f(*r.Polling))
		}
		b.WriteString("\n")
	}
	phaseRow("samples (joins + leaves)", func(p PhaseResult) string { return fmt.Sprintf("%d + %d", p.Joins.Samples, p.Leaves.Samples) })
	phaseRow("watcher-events missed", func(p PhaseResult) string { return fmt.Sprint(p.Missed) })
	phaseRow("lookupd CPU per event (all lookupds)", func(p PhaseResult) string { return fmt.Sprintf("%.1f ms", p.LookupdCPUPerEventMs) })
	phaseRow("lookupd CPU, share of one core", func(p PhaseResult) string { return fmt.Sprintf("%.0f%%", p.LookupdCPUPercent) })
	phaseRow("watchers' CPU per event (load generator)", func(p PhaseResult) string { return fmt.Sprintf("%.1f ms", p.WatchersCPUPerEventMs) })
	if f := r.Floor; f != nil {
		exchanges := float64(c.Watchers * c.Lookupds)
		fmt.Fprintf(b, "\n**Floor**: the same fan-out as bare TCP, in the load generator's process: %d watchers with a connection "+
			"to each of %d servers, one goroutine per connection on each side; at each of %d events every server answers every "+
			"connection with %d bytes and reads the next %d-byte request; no HTTP, no JSON, no merge.\n\n"+
			"| floor | p50 | p99 | max |\n|---|--:|--:|--:|\n"+
			"| first answer per watcher (what a join waits for) | %s | %s | %s |\n"+
			"| last answer per watcher (what a leave waits for) | %s | %s | %s |\n\n"+
			"CPU per event, both sides: %.1f ms (%.1f µs per exchange); ours: %.1f ms (%.1f µs per exchange, lookupds and watchers). "+
			"Watcher-events missed: %d.\n",
			f.Watchers, f.Servers, f.Events, f.ResponseBytes, f.RequestBytes,
			fmtMs(f.First.P50Ms), fmtMs(f.First.P99Ms), fmtMs(f.First.MaxMs),
			fmtMs(f.Last.P50Ms), fmtMs(f.Last.P99Ms), fmtMs(f.Last.MaxMs),
			f.CPUPerEventMs, f.CPUPerExchangeUs,
			ours.LookupdCPUPerEventMs+ours.WatchersCPUPerEventMs, (ours.LookupdCPUPerEventMs+ours.WatchersCPUPerEventMs)*1000/exchanges,
			f.Missed)
	}
}

func (r *ConvergeReport) blockedMarkdown(b *strings.Builder) {

	if bl := r.Blocked; bl != nil {
		fmt.Fprintf(b, "\n**Blocked queries on one lookupd**: %d, each on a topic of its own and on a connection of its own: "+
			"RSS %d KiB before, %d KiB while they wait: **%.2f KiB each** (target ≤ %d KiB: %s).\n",
			bl.Queries, bl.RSSBeforeKiB, bl.RSSAfterKiB, bl.PerQueryKiB, TargetKiBPerQuery, yes(bl.PerQueryKiB <= TargetKiBPerQuery))
	}
	if iso := r.Isolation; iso != nil {
		fmt.Fprintf(b, "\n**A change to one topic beside waiters on others**: one blocked query on topic `hot`, whose channel "+
			"is added and removed %d times (each change answered and asked again), while other blocked queries wait "+
			"on other topics; lookupd CPU per change:\n\n| queries elsewhere | runs (µs per change) | median |\n|--:|---|--:|\n", iso.Changes)
		keys := make([]int, 0, len(iso.Median))
		for k := range iso.Median {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			var runs []string
			for _, ru := range iso.Runs {
				if ru.Others == k {
					runs = append(runs, fmt.Sprintf("%.1f", ru.PerChangeUs))
				}
			}
			fmt.Fprintf(b, "| %d | %s | %.1f µs |\n", k, strings.Join(runs, ", "), iso.Median[k])
		}
		fmt.Fprintf(b, "\nMost over fewest: **%.2f×** (target ≤ %.1f×: %s).\n", iso.Ratio, TargetIsolationRatio, yes(iso.Ratio <= TargetIsolationRatio))
	}
}
