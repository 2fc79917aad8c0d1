//go:build linux

package chaos

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// The rules are driven here by timelines: events at times after t0 go in,
// violations come out. No process, no network, no clock.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// The timelines' run: two lookupds, two topics, a bound of 2 s (two 500 ms
// heartbeats plus 1 s slack), a union bound of 4.275 s (the watcher's lag
// is 250 ms + 25 ms + 2 x 1 s).
func rulesConfig() Config {
	return Config{
		Lookupds:             2,
		Heartbeat:            500 * time.Millisecond,
		Slack:                time.Second,
		InactiveTimeout:      3 * time.Second,
		IdleTimeout:          4 * time.Second,
		PollInterval:         250 * time.Millisecond,
		QueryTimeout:         time.Second,
		MaxLookupdGoroutines: 400,
		MaxLookupdRSS:        100 << 20,
		MaxProducerdRSS:      50 << 20,
	}
}

var rulesTopics = []string{"t1", "t2"}

// The timelines' producers: p0 registers t1 with channel c0, p1 registers
// t1 (no channel) and t2 with channel c1.
var testProducers = []producerUp{
	{producer: 0, name: "p0", key: "127.0.0.1:30000", regs: map[string][]string{"t1": {"c0"}}},
	{producer: 1, name: "p1", key: "127.0.0.1:30001", regs: map[string][]string{"t1": {}, "t2": {"c1"}}},
}

// step is one event of a timeline, at t0 plus at.
type step struct {
	at time.Duration
	e  event
}

// sec converts seconds (to the millisecond) to a duration.
func sec(s float64) time.Duration { return time.Duration(math.Round(s*1000)) * time.Millisecond }

// cluster is the start of most timelines: both lookupds and both
// producers up at t0.
func cluster(steps ...step) []step {
	return append([]step{
		{0, lookupdUp{lookupd: 0}}, {0, lookupdUp{lookupd: 1}},
		{0, testProducers[0]}, {0, testProducers[1]},
	}, steps...)
}

// listing returns answers (or a view, per topic) listing producers ps with
// all their registrations.
func listing(ps ...int) map[string]lookupAnswer {
	out := make(map[string]lookupAnswer)
	for _, topic := range rulesTopics {
		out[topic] = lookupAnswer{producers: map[string]bool{}, channels: map[string]bool{}}
	}
	for _, id := range ps {
		p := testProducers[id]
		for topic, chs := range p.regs {
			out[topic].producers[p.key] = true
			for _, ch := range chs {
				out[topic].channels[ch] = true
			}
		}
	}
	return out
}

// poll is a poll of lookupd i sent at from, answered at to, listing ps;
// its step must come at to or later.
func poll(i int, from, to float64, ps ...int) polled {
	return polled{lookupd: i, t0: t0.Add(sec(from)), t1: t0.Add(sec(to)), answers: listing(ps...)}
}

// views are the watcher's views of every topic, listing ps.
func views(at float64, ps ...int) []step {
	var out []step
	for _, topic := range rulesTopics {
		out = append(out, step{sec(at), viewed{topic: topic, view: listing(ps...)[topic]}})
	}
	return out
}

// play runs a timeline and returns the rules after it, the summary they
// filled, and the violations, each as "time check" or "time check
// producer", the time since t0.
func play(t *testing.T, steps []step) (*rules, *Summary, []string) {
	t.Helper()
	sum := &Summary{}
	r := newRules(rulesConfig(), rulesTopics, t0, sum)
	var got []string
	last := time.Duration(-1)
	for _, s := range steps {
		if s.at < last {
			t.Fatalf("timeline goes back from %s to %s", last, s.at)
		}
		last = s.at
		r.apply(t0.Add(s.at), s.e)
		for _, v := range r.drain() {
			if v.at != t0.Add(s.at) {
				t.Errorf("violation %s at %s, during the event at %s", v.check, v.at.Sub(t0), s.at)
			}
			desc := v.at.Sub(t0).String() + " " + v.check
			if v.producer >= 0 {
				desc += " " + testProducers[v.producer].name
			}
			got = append(got, desc)
		}
	}
	return r, sum, got
}

func TestRules_Timelines(t *testing.T) {
	tests := []struct {
		name   string
		steps  []step
		want   []string       // violations, in order
		checks map[string]int // if set, the checks counted
	}{
		{
			name:   "every producer listed within the bound",
			steps:  cluster(step{sec(2.6), poll(0, 2.5, 2.6, 0, 1)}, step{sec(2.7), poll(1, 2.6, 2.7, 0, 1)}),
			checks: map[string]int{"lookupd-answers": 2, "lookupd-presence": 4},
		},
		{
			name:   "lost registration: a live producer missing past the bound, reported once",
			steps:  cluster(step{sec(2.6), poll(0, 2.5, 2.6, 0)}, step{sec(3.1), poll(0, 3, 3.1, 0)}),
			want:   []string{"2.6s lookupd-presence p1"},
			checks: map[string]int{"lookupd-answers": 2, "lookupd-presence": 4},
		},
		{
			name: "a live producer listed without one of its channels",
			steps: cluster(step{sec(2.6), polled{lookupd: 0, t0: t0.Add(sec(2.5)), t1: t0.Add(sec(2.6)), answers: map[string]lookupAnswer{
				"t1": {producers: map[string]bool{"127.0.0.1:30000": true, "127.0.0.1:30001": true}, channels: map[string]bool{}},
				"t2": {producers: map[string]bool{"127.0.0.1:30001": true}, channels: map[string]bool{"c1": true}},
			}}}),
			want: []string{"2.6s lookupd-presence p0"},
		},
		{
			name:   "not yet listed within the bound: not judged",
			steps:  cluster(step{sec(1.6), poll(0, 1.5, 1.6)}),
			checks: map[string]int{},
		},
		{
			name: "lost registration after a lookupd restart: judged again a bound after the restart",
			steps: cluster(
				step{sec(2.6), poll(0, 2.5, 2.6, 0, 1)},
				step{sec(3), lookupdKilled{lookupd: 0}},
				step{sec(4), lookupdUp{lookupd: 0}},
				step{sec(5.1), poll(0, 5, 5.1)},
				step{sec(6.6), poll(0, 6.5, 6.6, 1)},
			),
			want: []string{"6.6s lookupd-presence p0"},
		},
		{
			name: "a cut lookupd is not held to presence until a bound after it heals",
			steps: cluster(
				step{sec(1), lookupdCut{lookupd: 0}},
				step{sec(3.1), poll(0, 3, 3.1)},
				step{sec(4), lookupdHealed{lookupd: 0}},
				step{sec(5.1), poll(0, 5, 5.1)},
				step{sec(6.6), poll(0, 6.5, 6.6)},
			),
			want: []string{"6.6s lookupd-presence p0", "6.6s lookupd-presence p1"},
		},
		{
			name: "a poll overlapping a change of its lookupd is not judged",
			steps: cluster(
				step{sec(0.5), producerGone{producer: 1, how: "left"}},
				step{sec(3.2), lookupdKilled{lookupd: 0}},
				step{sec(3.4), lookupdUp{lookupd: 0}},
				step{sec(3.5), poll(0, 3, 3.5, 0, 1)},
				step{sec(3.6), poll(1, 3, 3.6, 0, 1)}, // the same answer from the other lookupd
			),
			want: []string{"3.6s lookupd-absence p1"},
		},
		{
			name: "a stopped lookupd is not judged",
			steps: cluster(
				step{sec(2), lookupdStopped{lookupd: 0}},
				step{sec(4.6), poll(0, 4.5, 4.6)},
			),
			checks: map[string]int{},
		},
		{
			name: "a departed producer unlisted by its deadline",
			steps: cluster(
				step{sec(3), producerGone{producer: 1, how: "left"}},
				step{sec(4.1), poll(0, 4, 4.1, 0, 1)},
				step{sec(5.6), poll(0, 5.5, 5.6, 0)},
			),
			checks: map[string]int{"lookupd-answers": 2, "lookupd-presence": 2, "lookupd-absence": 1},
		},
		{
			name: "a departed producer still listed past its deadline",
			steps: cluster(
				step{sec(3), producerGone{producer: 1, how: "left"}},
				step{sec(5.6), poll(0, 5.5, 5.6, 0, 1)},
				step{sec(6.1), poll(0, 6, 6.1, 0, 1)},
			),
			want: []string{"5.6s lookupd-absence p1"},
		},
		{
			name: "a silent death has the inactive timeout more",
			steps: cluster(
				step{sec(3), producerGone{producer: 1, how: "host died", silent: true}},
				step{sec(7.6), poll(0, 7.5, 7.6, 0, 1)},
				step{sec(8.1), poll(0, 8, 8.1, 0, 1)},
				step{sec(8.6), poll(0, 8.5, 8.6, 0, 1)},
			),
			want: []string{"8.6s lookupd-absence p1"},
		},
		{
			name: "a close held by a partition: due a bound after the heal",
			steps: cluster(
				step{sec(2), lookupdCut{lookupd: 0}},
				step{sec(3), producerGone{producer: 1, how: "left"}},
				step{sec(7), lookupdHealed{lookupd: 0}},
				step{sec(8.6), poll(0, 8.5, 8.6, 0, 1)},
				step{sec(9.6), poll(0, 9.5, 9.6, 0, 1)},
			),
			want: []string{"9.6s lookupd-absence p1"},
		},
		{
			name: "a close held by a partition that never heals: the inactive timeout hides it",
			steps: cluster(
				step{sec(2), lookupdCut{lookupd: 0}},
				step{sec(3), producerGone{producer: 1, how: "left"}},
				step{sec(7.6), poll(0, 7.5, 7.6, 0, 1)},
				step{sec(8.6), poll(0, 8.5, 8.6, 0, 1)},
			),
			want: []string{"8.6s lookupd-absence p1"},
		},
		{
			name: "a lookupd up for the bound must answer",
			steps: cluster(
				step{sec(1.1), polled{lookupd: 0, t0: t0.Add(sec(1)), t1: t0.Add(sec(1.1)), err: errors.New("refused")}},
				step{sec(2.6), polled{lookupd: 0, t0: t0.Add(sec(2.5)), t1: t0.Add(sec(2.6)), err: errors.New("refused")}},
			),
			want: []string{"2.6s lookupd-answers"},
		},
		{
			name: "a stall: polls begun before its end are skipped, and good is counted from its end",
			steps: cluster(
				step{sec(3), stalled{since: t0.Add(sec(2))}},
				step{sec(3.1), poll(0, 2.5, 3.1, 0)},
				step{sec(4.1), poll(0, 4, 4.1, 0)},
				step{sec(5.1), poll(0, 5.1, 5.1, 0)},
			),
			want: []string{"5.1s lookupd-presence p1"},
		},
		{
			name: "a poll begun before a stall ended is not judged, even on a lookupd the stall did not touch",
			steps: cluster(
				step{sec(1), lookupdCut{lookupd: 0}},
				step{sec(1.5), producerGone{producer: 1, how: "left"}},
				step{sec(8), stalled{since: t0.Add(sec(7))}},
				step{sec(8.1), poll(0, 7.5, 8.1, 0, 1)},
				step{sec(8.7), poll(0, 8.1, 8.7, 0, 1)},
			),
			want: []string{"8.7s lookupd-absence p1"},
		},
		{
			name:   "a stall not yet detected (the detector is late): the poll is skipped",
			steps:  cluster(step{sec(2.6), polled{lookupd: 0, t0: t0.Add(sec(2.5)), t1: t0.Add(sec(2.6)), answers: listing(0), sinceTick: 400 * time.Millisecond}}),
			checks: map[string]int{},
		},
		{
			name: "a departure just before a stall counts as held until its end",
			steps: cluster(
				step{sec(2.5), producerGone{producer: 1, how: "left"}},
				step{sec(5), stalled{since: t0.Add(sec(3))}},
				step{sec(6.1), poll(0, 6, 6.1, 0, 1)},
				step{sec(7.6), poll(0, 7.5, 7.6, 0, 1)},
			),
			want: []string{"7.6s lookupd-absence p1"},
		},
		{
			name: "the union lacks a live producer",
			steps: append(cluster(views(1, 0, 1)...),
				step{sec(2), viewed{topic: "t2", view: listing()["t2"]}},
				step{sec(4), unionChecked{}},
				step{sec(5), unionChecked{}},
				step{sec(5.5), unionChecked{}},
			),
			want:   []string{"5s union-presence p1"},
			checks: map[string]int{"union-presence": 6},
		},
		{
			name: "the union lists a departed producer past its deadline and the watcher's lag",
			steps: append(cluster(views(1, 0, 1)...),
				step{sec(2), producerGone{producer: 0, how: "crashed"}},
				step{sec(6), unionChecked{}},
				step{sec(6.5), unionChecked{}},
			),
			want: []string{"6.5s union-absence p0"},
		},
		{
			name: "no lookupd good for the union bound: the union is not judged",
			steps: cluster(
				step{sec(0.5), lookupdCut{lookupd: 0}},
				step{sec(0.5), lookupdStopped{lookupd: 1}},
				step{sec(6), unionChecked{}},
			),
			checks: map[string]int{},
		},
		{
			name:   "a stall in progress suspends the union check",
			steps:  cluster(step{sec(6), unionChecked{sinceTick: time.Second}}),
			checks: map[string]int{},
		},
		{
			name: "resources over their limits",
			steps: []step{
				{0, rssSampled{name: "lookupd-0", lookupd: true, rss: 99 << 20}},
				{0, rssSampled{name: "lookupd-0", lookupd: true, rss: 101 << 20}},
				{0, rssSampled{name: "producerd-0", rss: 51 << 20}},
				{0, goroutinesSampled{name: "lookupd-0", n: 400}},
				{0, goroutinesSampled{name: "lookupd-1", n: 401}},
			},
			want:   []string{"0s rss", "0s rss", "0s goroutines"},
			checks: map[string]int{"rss": 3, "goroutines": 2},
		},
		{
			name:  "an exit not as asked",
			steps: []step{{0, exited{}}, {0, exited{err: errors.New("lookupd-0: exited unasked")}}},
			want:  []string{"0s exit-status"},
		},
		{
			name: "a dead host's connection still open at the reap check",
			steps: cluster(
				step{sec(1), producerGone{producer: 1, how: "host died", silent: true}},
				step{sec(7), reapChecked{producer: 1, open: []int{0, 2}}},
			),
			want:   []string{"7s idle-reap p1"},
			checks: map[string]int{"idle-reap": 2},
		},
		{
			name: "the watcher does not hold the snapshot while every lookupd is stopped",
			steps: append(cluster(views(1, 0, 1)...),
				step{sec(2), snapshotHeld{topic: "t1", want: []string{"127.0.0.1:30000", "127.0.0.1:30001"}}},
				step{sec(2), snapshotHeld{topic: "t2", want: []string{}}},
			),
			want: []string{"2s stale-watch"},
		},
		{
			name: "final match in time",
			steps: cluster(
				step{sec(10), faultsEnded{}},
				step{sec(11), compared{check: "final-match", diff: "lookupd-0 t1 lacks p0", checks: 4}},
				step{sec(11.5), compared{check: "final-match", checks: 4}},
				step{sec(20), compared{check: "final-match", diff: "ignored: the wait is over", checks: 4}},
			),
			checks: map[string]int{"final-match": 8},
		},
		{
			name: "final match missed: one violation at the deadline",
			steps: cluster(
				step{sec(10), faultsEnded{}},
				step{sec(11.5), compared{check: "final-match", diff: "lookupd-0 t1 lacks p0", checks: 4}},
				step{sec(12.5), compared{check: "final-match", diff: "lookupd-0 t1 lacks p0", checks: 4}},
				step{sec(13), compared{check: "final-match", diff: "lookupd-0 t1 lacks p0", checks: 4}},
			),
			want: []string{"12.5s final-match"},
		},
		{
			name: "a stall extends the final deadline by its length",
			steps: cluster(
				step{sec(10), faultsEnded{}},
				step{sec(11.5), stalled{since: t0.Add(sec(10.5))}},
				step{sec(12.5), compared{check: "final-match", diff: "x", checks: 4}},
				step{sec(12.9), compared{check: "final-match", diff: "x", checks: 4}},
				step{sec(13.5), compared{check: "final-match", diff: "x", checks: 4}},
			),
			want: []string{"13.5s final-match"},
		},
		{
			name: "producers still listed after a graceful shutdown",
			steps: cluster(
				step{sec(5), producerGone{producer: 0, how: "shut down"}},
				step{sec(5), producerGone{producer: 1, how: "shut down"}},
				step{sec(6), producersStopped{}},
				step{sec(7), compared{check: "shutdown-withdraw", diff: "lookupd-0 t1 lists p0", checks: 2}},
				step{sec(8.5), compared{check: "shutdown-withdraw", diff: "lookupd-0 t1 lists p0", checks: 2}},
			),
			want: []string{"8.5s shutdown-withdraw"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sum, got := play(t, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("violations %q, want %q", got, tt.want)
			}
			if tt.checks != nil {
				for k, n := range sum.Checks {
					if n == 0 {
						delete(sum.Checks, k)
					}
				}
				if fmt.Sprint(sum.Checks) != fmt.Sprint(tt.checks) {
					t.Errorf("checks %v, want %v", sum.Checks, tt.checks)
				}
			}
		})
	}
}

// The measures of convergence come out of the same timelines.
func TestRules_Measures(t *testing.T) {
	steps := cluster(
		step{sec(0.6), poll(0, 0.5, 0.6, 0)},
		step{sec(1.1), poll(0, 1, 1.1, 0, 1)}, // p1 listed 1.1 s after both were up
	)
	steps = append(steps, views(1.2, 0)...)
	steps = append(steps, views(1.5, 0, 1)...) // the union listed p1 at 1.5 s
	_, sum, got := play(t, append(steps,
		step{sec(2), producerGone{producer: 0, how: "left"}},
		step{sec(2.1), poll(0, 2.1, 2.1, 0, 1)},
		step{sec(2.4), poll(0, 2.3, 2.4, 1)}, // p0 unlisted 0.4 s after it left
		step{sec(3), stalled{since: t0.Add(sec(2.5))}},
		step{sec(3), producersStopped{}},
	))
	if len(got) != 0 {
		t.Fatalf("violations %q", got)
	}
	for _, m := range []struct {
		name      string
		got, want time.Duration
	}{
		{"WorstLookupd", sum.WorstLookupd, sec(1.1)},
		{"WorstUnion", sum.WorstUnion, sec(1.5)},
		{"WorstDeparture", sum.WorstDeparture, sec(0.4)},
		{"StallTime", sum.StallTime, sec(0.5)},
		{"WorstStall", sum.WorstStall, sec(0.5)},
	} {
		if m.got != m.want {
			t.Errorf("%s = %s, want %s", m.name, m.got, m.want)
		}
	}
	if sum.Stalls != 1 {
		t.Errorf("Stalls = %d, want 1", sum.Stalls)
	}
}

func TestRules_AbsenceDeadline(t *testing.T) {
	const left = 10.0
	tests := []struct {
		name      string
		held      bool
		heldUntil float64 // 0: not released
		silent    bool
		want      float64 // seconds after t0
	}{
		{name: "close delivered", want: left + 2},
		{name: "silent death", silent: true, want: left + 2 + 3},
		{name: "held, released", held: true, heldUntil: 15, want: 15 + 2},
		{name: "held, released, silent", held: true, heldUntil: 15, silent: true, want: 15 + 2 + 3},
		{name: "held, never released", held: true, want: left + 3 + 2},
		{name: "held, never released, silent", held: true, silent: true, want: left + 3 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRules(rulesConfig(), rulesTopics, t0, &Summary{})
			p := &producerState{departedAt: t0.Add(sec(left)), silent: tt.silent, held: []bool{tt.held}, heldUntil: []time.Time{{}}}
			if tt.heldUntil > 0 {
				p.heldUntil[0] = t0.Add(sec(tt.heldUntil))
			}
			if got := r.absenceDeadline(p, 0).Sub(t0); got != sec(tt.want) {
				t.Errorf("deadline %s, want %s", got, sec(tt.want))
			}
		})
	}
}

// reapDeadline: idle timeout 4 s plus the bound 2 s from the lookupd's
// last read, the latest over both lookupds.
func TestRules_ReapDeadline(t *testing.T) {
	dead := step{sec(10), producerGone{producer: 1, how: "host died", silent: true}}
	tests := []struct {
		name  string
		steps []step
		now   float64
		want  float64
	}{
		{name: "both good at the death", steps: cluster(dead), now: 16, want: 10 + 6},
		{
			name:  "one cut at the death, healed later",
			steps: cluster(step{sec(9), lookupdCut{lookupd: 1}}, dead, step{sec(12), lookupdHealed{lookupd: 1}}),
			now:   16, want: 12 + 6,
		},
		{
			name:  "one cut at the death, not healed yet: look again later",
			steps: cluster(step{sec(9), lookupdCut{lookupd: 1}}, dead),
			now:   16, want: 16 + 6,
		},
		{
			name:  "one stopped now: look again later",
			steps: cluster(dead, step{sec(11), lookupdStopped{lookupd: 0}}),
			now:   16, want: 16 + 6,
		},
		{
			name:  "one stopped just after the death: the stop holds the close too",
			steps: cluster(dead, step{sec(11), lookupdStopped{lookupd: 0}}, step{sec(15), lookupdResumed{lookupd: 0}}),
			now:   16, want: 15 + 6,
		},
		{
			name:  "one stopped later, over its idle deadline: its timers fire on resumption",
			steps: cluster(dead, step{sec(12.5), lookupdStopped{lookupd: 0}}, step{sec(15.5), lookupdResumed{lookupd: 0}}),
			now:   16, want: 15.5 + 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _, got := play(t, tt.steps)
			if len(got) != 0 {
				t.Fatalf("violations %q", got)
			}
			if d := r.reapDeadline(1, t0.Add(sec(tt.now))).Sub(t0); d != sec(tt.want) {
				t.Errorf("deadline %s, want %s", d, sec(tt.want))
			}
		})
	}
}

func TestRules_FinalDeadline(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  time.Duration // FinalBound
	}{
		{name: "no departure: the bound", steps: cluster(), want: sec(2)},
		{name: "an old departure: the bound", steps: cluster(step{sec(1), producerGone{producer: 0, how: "left"}}), want: sec(2)},
		{name: "a recent departure: its absence deadline", steps: cluster(step{sec(9.5), producerGone{producer: 0, how: "left"}}), want: sec(1.5)},
		{name: "a recent silent death: the inactive timeout more", steps: cluster(step{sec(9), producerGone{producer: 0, how: "host died", silent: true}}), want: sec(4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sum, _ := play(t, append(tt.steps, step{sec(10), faultsEnded{}}))
			if want := max(tt.want, sec(2)); sum.FinalBound != want {
				t.Errorf("FinalBound %s, want %s", sum.FinalBound, want)
			}
		})
	}
}

func TestRules_Diff(t *testing.T) {
	r, _, _ := play(t, cluster(step{sec(1), producerGone{producer: 0, how: "left"}}))
	unknownCh := listing(1)
	unknownCh["t2"].channels["never"] = true
	tests := []struct {
		name string
		all  []map[string]lookupAnswer
		want []string
	}{
		{name: "exact", all: []map[string]lookupAnswer{listing(1), listing(1)}},
		{name: "unknown answers are skipped", all: []map[string]lookupAnswer{nil, listing(1)}},
		{
			name: "lacks a live producer, lists a departed one",
			all:  []map[string]lookupAnswer{listing(0), listing(1)},
			want: []string{
				"lookupd-0 t1 lacks p1 (live)", "lookupd-0 t1 lists p0 (left)",
				"lookupd-0 t2 lacks channel c1", "lookupd-0 t2 lacks p1 (live)",
			},
		},
		{
			name: "a departed producer's channel may stay, a never registered one may not",
			all:  []map[string]lookupAnswer{listing(0, 1), unknownCh},
			want: []string{"lookupd-0 t1 lists p0 (left)", "lookupd-1 t2 lists unknown channel never"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.diff(tt.all); !slices.Equal(got, tt.want) {
				t.Errorf("diff\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	if got := joinDiffs([]string{"a", "b", "c"}, 2); got != "a; b; ... 1 more" {
		t.Errorf("joinDiffs = %q", got)
	}
}

func TestRules_UnionExact(t *testing.T) {
	r, _, _ := play(t, append(cluster(views(1, 0, 1)...), step{sec(2), producerGone{producer: 0, how: "left"}}))
	if r.unionExact() {
		t.Error("exact while the views list a departed producer")
	}
	for _, s := range views(3, 1) {
		r.apply(t0.Add(s.at), s.e)
	}
	if !r.unionExact() {
		t.Error("not exact once the views list exactly the live producers")
	}
}

func TestStaleProblem(t *testing.T) {
	before := []string{"127.0.0.1:30000"}
	// Results as decoded from JSON, so that only the wire names matter.
	res := func(stale bool, ports ...int) *clientmerge.LookupResult {
		var ps []string
		for _, port := range ports {
			ps = append(ps, fmt.Sprintf(`{"broadcast_address":"127.0.0.1","tcp_port":%d}`, port))
		}
		var r clientmerge.LookupResult
		js := fmt.Sprintf(`{"stale":%v,"producers":[%s]}`, stale, strings.Join(ps, ","))
		if err := json.Unmarshal([]byte(js), &r); err != nil || r.Stale != stale || len(r.Producers) != len(ports) {
			t.Fatalf("decode %s: %+v, %v", js, r, err)
		}
		return &r
	}
	stale := &clientmerge.StaleError{}
	tests := []struct {
		name string
		res  *clientmerge.LookupResult
		err  error
		want string // a substring of the problem; "" for none
	}{
		{name: "snapshot served", res: res(true, 30000), err: stale},
		{name: "wrapped stale error", res: res(true, 30000), err: errors.Join(errors.New("lookup"), stale)},
		{name: "no error", res: res(false, 30000), want: "want a *StaleError"},
		{name: "another error", err: errors.New("all failed"), want: "want a *StaleError"},
		{name: "not marked stale", res: res(false, 30000), err: stale, want: "not marked stale"},
		{name: "another snapshot", res: res(true, 30000, 30001), err: stale, want: "the snapshot was"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := staleProblem(tt.res, tt.err, before)
			if (got == "") != (tt.want == "") || !strings.Contains(got, tt.want) {
				t.Errorf("staleProblem = %q, want %q", got, tt.want)
			}
		})
	}
}
