//go:build linux

package chaos

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// maxDetails bounds the violations described in a Summary.
const maxDetails = 40

// Summary is the outcome of a Run. Violations is the number of broken
// promises; a correct system has 0. The caller owns the maps and slices.
type Summary struct {
	Seed int64
	// Lookupds and ProducerProcesses count the processes started.
	Lookupds, ProducerProcesses int
	// Elapsed is the length of the whole run.
	Elapsed time.Duration
	// Bound, UnionBound and FinalBound are the convergence bounds checked:
	// per lookupd, for the clientmerge union, and after faults stop (the
	// latter includes the inactive timeout when a silent death was recent).
	Bound, UnionBound, FinalBound time.Duration

	// Faults counts the faults injected, by kind.
	Faults map[string]int
	// Checks counts the assertions evaluated, by kind.
	Checks map[string]int
	// Violations counts failed assertions; Details describes the first
	// ones.
	Violations int
	Details    []string

	// WorstLookupd is the longest time a lookupd that was up and reachable
	// took to list a live producer (from when both were up); WorstUnion
	// the longest time until the union listed a producer (from its start,
	// or from when some lookupd was good again, whichever is later);
	// Final the time from the end of the faults until every lookupd
	// matched the ground truth exactly.
	WorstLookupd, WorstUnion, Final time.Duration
	// WorstDeparture is the longest time a lookupd kept listing a departed
	// producer: from the departure, or from the end of a fault that held
	// its close; for a silent death, beyond the inactive timeout. Its
	// bound is Bound.
	WorstDeparture time.Duration

	// Resource use seen: the most goroutines of any lookupd, the largest
	// resident set of a lookupd and of a producerd, and the CPU time
	// (user+system) used by all lookupd and all producerd processes.
	MaxGoroutines                  int
	MaxLookupdRSS, MaxProducerdRSS int64
	LookupdCPU, ProducerdCPU       time.Duration

	// Stalls counts the times the harness process itself was starved of
	// CPU for more than 300 ms (another process hogging the machine), and
	// StallTime their total. The proxies live in the harness, so a stall
	// is a partition of every lookupd; checks skip it.
	Stalls                int
	StallTime, WorstStall time.Duration
}

// String formats the summary as a small report.
func (s *Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos summary (seed %d, %s, %d lookupds, %d producerd processes)\n", s.Seed, s.Elapsed.Round(time.Millisecond), s.Lookupds, s.ProducerProcesses)
	total := 0
	for _, n := range s.Faults {
		total += n
	}
	fmt.Fprintf(&b, "  faults injected: %d\n", total)
	for _, k := range slices.Sorted(maps.Keys(s.Faults)) {
		fmt.Fprintf(&b, "    %-24s %6d\n", k, s.Faults[k])
	}
	total = 0
	for _, n := range s.Checks {
		total += n
	}
	fmt.Fprintf(&b, "  checks made: %d\n", total)
	for _, k := range slices.Sorted(maps.Keys(s.Checks)) {
		fmt.Fprintf(&b, "    %-24s %6d\n", k, s.Checks[k])
	}
	fmt.Fprintf(&b, "  worst convergence: lookupd %s (bound %s), union %s (bound %s), departure %s (bound %s), after faults %s (bound %s)\n",
		s.WorstLookupd.Round(time.Millisecond), s.Bound, s.WorstUnion.Round(time.Millisecond), s.UnionBound,
		s.WorstDeparture.Round(time.Millisecond), s.Bound, s.Final.Round(time.Millisecond), s.FinalBound.Round(time.Millisecond))
	fmt.Fprintf(&b, "  resources: max lookupd goroutines %d, max RSS lookupd %.1f MiB, producerd %.1f MiB; CPU lookupds %s, producerds %s\n",
		s.MaxGoroutines, float64(s.MaxLookupdRSS)/(1<<20), float64(s.MaxProducerdRSS)/(1<<20),
		s.LookupdCPU.Round(10*time.Millisecond), s.ProducerdCPU.Round(10*time.Millisecond))
	fmt.Fprintf(&b, "  harness stalls (CPU starvation, checks skipped): %d, %s in all, longest %s\n",
		s.Stalls, s.StallTime.Round(time.Millisecond), s.WorstStall.Round(time.Millisecond))
	fmt.Fprintf(&b, "  violations: %d\n", s.Violations)
	for _, d := range s.Details {
		fmt.Fprintf(&b, "    %s\n", d)
	}
	if s.Violations > len(s.Details) {
		fmt.Fprintf(&b, "    ... and %d more\n", s.Violations-len(s.Details))
	}
	return b.String()
}
