//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// This file holds what decides pass or fail. The rules keep the ground
// truth of a run (which lookupds are good since when, which producers are
// live with what registrations, which departed how) and judge every
// observation against it. They do no I/O, read no clock and take no lock:
// each event comes with its time, the caller serialises the calls (the
// harness holds its mutex), and the violations come out as values. The
// events are defined in events.go; rules_test.go drives the rules with
// timelines of them.

// stallThreshold is how late the stall detector's tick may be before the
// harness counts itself stalled; stallTick is the detector's period.
const (
	stallTick      = 50 * time.Millisecond
	stallThreshold = 300 * time.Millisecond
)

// A violation is a broken promise. producer, if not -1, is the producer
// whose output may explain it.
type violation struct {
	at       time.Time
	check    string
	detail   string
	producer int
}

// lookupAnswer is what a lookupd (or the watcher) lists for a topic:
// producer keys (broadcast_address:tcp_port) and channels.
type lookupAnswer struct {
	producers map[string]bool
	channels  map[string]bool
}

// lookupdState is the rules' view of one lookupd.
type lookupdState struct {
	name                  string
	running, stopped, cut bool

	// goodSince is when the lookupd last became good (zero while it is
	// not); upSince when it last began answering HTTP; lastResume when it
	// was last sent SIGCONT; lastChange when its state last changed, so
	// that a poll overlapping a change is not judged.
	goodSince, upSince, lastResume, lastChange time.Time

	// Per spell of goodness: producers whose convergence was measured, and
	// whose absence was reported. The others persist.
	convSeen    map[int]bool
	reported    map[int]bool
	absReported map[int]bool
	goneSeen    map[int]bool // departed producers seen unlisted
	// lastPoll is when the previous judged poll of it began.
	lastPoll time.Time
}

func (l *lookupdState) answering() bool { return l.running && !l.stopped }
func (l *lookupdState) good() bool      { return l.answering() && !l.cut }

// producerState is the rules' view of one producer.
type producerState struct {
	name, key string
	regs      map[string][]string

	liveSince  time.Time
	departedAt time.Time // zero while live
	how        string
	silent     bool
	// held[i] is set when lookupd i was not good at the departure (or a
	// stall hid it): its close, or last heartbeats, may be held until the
	// lookupd is good again, at heldUntil[i] (zero until then).
	held      []bool
	heldUntil []time.Time

	unionSeen     bool
	unionReported map[string]bool
	unionAbsRep   map[string]bool
}

func (p *producerState) live() bool { return p.departedAt.IsZero() }

// presentIn reports whether answers list p for all its topics and
// channels.
func (p *producerState) presentIn(answers map[string]lookupAnswer) bool {
	for topic, chs := range p.regs {
		a := answers[topic]
		if !a.producers[p.key] {
			return false
		}
		for _, ch := range chs {
			if !a.channels[ch] {
				return false
			}
		}
	}
	return true
}

// listedIn reports whether answers list p for any topic.
func (p *producerState) listedIn(answers map[string]lookupAnswer) bool {
	for topic := range p.regs {
		if answers[topic].producers[p.key] {
			return true
		}
	}
	return false
}

// wait is a condition the run waits for (see faultsEnded).
type wait struct {
	from, deadline time.Time
	stallsBefore   time.Duration // sum.StallTime when it began
	over           bool
}

// rules judges one run. See the top of this file.
type rules struct {
	cfg    Config
	start  time.Time
	topics []string

	lookupds  []*lookupdState
	producers []*producerState
	views     map[string]lookupAnswer    // the watcher's last view, by topic
	ever      map[string]map[string]bool // topic -> every channel ever registered
	waits     map[string]*wait           // by check
	stallEnd  time.Time                  // when the last stall ended
	sum       *Summary                   // checks, measures, stalls, resources
	out       []violation                // not yet taken by drain
}

// newRules returns the rules of a run of cfg over topics, started at
// start, with cfg.Lookupds lookupds not yet up. They fill sum's checks,
// measures, stalls and resources; violations come out of drain.
func newRules(cfg Config, topics []string, start time.Time, sum *Summary) *rules {
	r := &rules{
		cfg:    cfg,
		start:  start,
		topics: topics,
		views:  make(map[string]lookupAnswer),
		ever:   make(map[string]map[string]bool),
		waits:  make(map[string]*wait),
		sum:    sum,
	}
	if sum.Checks == nil {
		sum.Checks = make(map[string]int)
	}
	for i := range cfg.Lookupds {
		r.lookupds = append(r.lookupds, &lookupdState{
			name:     fmt.Sprintf("lookupd-%d", i),
			convSeen: map[int]bool{}, reported: map[int]bool{}, absReported: map[int]bool{}, goneSeen: map[int]bool{},
		})
	}
	return r
}

// drain returns the violations found since the last call.
func (r *rules) drain() []violation {
	out := r.out
	r.out = nil
	return out
}

// check counts n assertions of kind.
func (r *rules) check(kind string, n int) { r.sum.Checks[kind] += n }

// violate records a broken promise found at at.
func (r *rules) violate(at time.Time, check string, producer int, format string, args ...any) {
	r.out = append(r.out, violation{at: at, check: check, detail: fmt.Sprintf(format, args...), producer: producer})
}

// apply takes one event at its time. Events come in time order.
func (r *rules) apply(at time.Time, e event) {
	switch e := e.(type) {
	case lookupdUp:
		ln := r.lookupds[e.lookupd]
		ln.running, ln.upSince = true, at
		r.refreshGood(e.lookupd, at)
	case lookupdKilled:
		r.lookupds[e.lookupd].running = false
		r.refreshGood(e.lookupd, at)
	case lookupdStopped:
		r.lookupds[e.lookupd].stopped = true
		r.refreshGood(e.lookupd, at)
	case lookupdResumed:
		ln := r.lookupds[e.lookupd]
		ln.stopped, ln.upSince, ln.lastResume = false, at, at
		r.refreshGood(e.lookupd, at)
	case lookupdCut:
		r.lookupds[e.lookupd].cut = true
		r.refreshGood(e.lookupd, at)
	case lookupdHealed:
		r.lookupds[e.lookupd].cut = false
		r.refreshGood(e.lookupd, at)
	case producerUp:
		r.producerUp(at, e)
	case producerGone:
		p := r.producers[e.producer]
		p.departedAt, p.how, p.silent = at, e.how, e.silent
		for i, ln := range r.lookupds {
			p.held[i] = !ln.good()
		}
	case stalled:
		r.stalled(at, e.since)
	case polled:
		r.polled(at, e)
	case viewed:
		r.viewed(at, e)
	case unionChecked:
		r.checkUnion(at, e.sinceTick)
	case rssSampled:
		r.rssSampled(at, e)
	case goroutinesSampled:
		r.check("goroutines", 1)
		r.sum.MaxGoroutines = max(r.sum.MaxGoroutines, e.n)
		if r.cfg.MaxLookupdGoroutines > 0 && e.n > r.cfg.MaxLookupdGoroutines {
			r.violate(at, "goroutines", -1, "%s runs %d goroutines, over %d", e.name, e.n, r.cfg.MaxLookupdGoroutines)
		}
	case exited:
		r.check("exit-status", 1)
		if e.err != nil {
			r.violate(at, "exit-status", -1, "%v", e.err)
		}
	case reapChecked:
		p := r.producers[e.producer]
		for i, open := range e.open {
			r.check("idle-reap", 1)
			if open > 0 {
				r.violate(at, "idle-reap", e.producer, "lookupd-%d still holds %d connection(s) of %s, whose host died %s ago",
					i, open, p.name, at.Sub(p.departedAt).Round(time.Millisecond))
			}
		}
	case snapshotHeld:
		r.check("stale-watch", 1)
		got := sortedKeys(r.views[e.topic].producers)
		if !slices.Equal(got, e.want) {
			r.violate(at, "stale-watch", -1, "watcher of %s holds %v during the stop, the snapshot was %v", e.topic, got, e.want)
		}
	case faultsEnded:
		w := r.begin("final-match", at, r.finalDeadline(at))
		r.sum.FinalBound = w.deadline.Sub(at)
	case producersStopped:
		r.begin("shutdown-withdraw", at, at.Add(r.cfg.bound()))
	case compared:
		r.compared(at, e)
	default:
		panic(fmt.Sprintf("chaos: unknown event %T", e))
	}
}

// refreshGood records a change of lookupd i's state.
func (r *rules) refreshGood(i int, now time.Time) {
	ln := r.lookupds[i]
	ln.lastChange = now
	switch {
	case !ln.good():
		if !ln.goodSince.IsZero() {
			// A producer that departed just now may not have sent its
			// close yet: count this fault as holding it too.
			for _, p := range r.producers {
				if !p.live() && !p.held[i] && now.Sub(p.departedAt) < r.cfg.bound() {
					p.held[i] = true
				}
			}
		}
		ln.goodSince = time.Time{}
	case ln.goodSince.IsZero():
		ln.goodSince = now
		clear(ln.convSeen)
		clear(ln.reported)
		for _, p := range r.producers {
			if !p.live() && p.held[i] && p.heldUntil[i].IsZero() {
				p.heldUntil[i] = now
			}
		}
	}
}

func (r *rules) producerUp(at time.Time, e producerUp) {
	if e.producer != len(r.producers) {
		panic(fmt.Sprintf("chaos: producer %d up as the %dth", e.producer, len(r.producers)))
	}
	r.producers = append(r.producers, &producerState{
		name:          e.name,
		key:           e.key,
		regs:          e.regs,
		liveSince:     at,
		held:          make([]bool, len(r.lookupds)),
		heldUntil:     make([]time.Time, len(r.lookupds)),
		unionReported: make(map[string]bool),
		unionAbsRep:   make(map[string]bool),
	})
	for topic, chs := range e.regs {
		if r.ever[topic] == nil {
			r.ever[topic] = make(map[string]bool)
		}
		for _, ch := range chs {
			r.ever[topic][ch] = true
		}
	}
}

// stalled treats a stall of the harness as a fault that covered every
// good lookupd: checks skip it, closes sent during it count as held until
// its end, and each good lookupd counts as good again only from its end.
func (r *rules) stalled(at, since time.Time) {
	gap := at.Sub(since)
	r.sum.Stalls++
	r.sum.StallTime += gap
	r.sum.WorstStall = max(r.sum.WorstStall, gap)
	r.stallEnd = at
	for i, ln := range r.lookupds {
		if !ln.good() {
			continue
		}
		for _, p := range r.producers {
			if !p.live() && !p.held[i] && since.Sub(p.departedAt) < r.cfg.bound() {
				p.held[i], p.heldUntil[i] = true, at
			}
		}
		ln.goodSince = time.Time{}
		r.refreshGood(i, at)
		ln.upSince = at
	}
}

// suspended reports whether observations made at at are not judged: the
// stall detector is late now (a stall in progress), or a stall ended less
// than lag ago.
func (r *rules) suspended(at time.Time, sinceTick, lag time.Duration) bool {
	return sinceTick > stallThreshold || at.Sub(r.stallEnd) < lag
}

// absenceDeadline is when lookupd i must no longer list departed producer
// p. The close reaches a lookupd that was good at the departure at once,
// and one that was not when it is good again (held traffic flows then);
// until then the inactive timeout hides the producer. A silent death is
// noticed only by the inactive timeout, counted from the last heartbeat
// the lookupd processed.
func (r *rules) absenceDeadline(p *producerState, i int) time.Time {
	base := p.departedAt
	if p.held[i] {
		if p.heldUntil[i].IsZero() {
			return p.departedAt.Add(r.cfg.InactiveTimeout + r.cfg.bound())
		}
		base = p.heldUntil[i]
	}
	d := base.Add(r.cfg.bound())
	if p.silent {
		d = d.Add(r.cfg.InactiveTimeout)
	}
	return d
}

// finalDeadline is when, faults having ended at end, every lookupd must
// match the ground truth: the bound, or the latest absence deadline of a
// departed producer.
func (r *rules) finalDeadline(end time.Time) time.Time {
	deadline := end.Add(r.cfg.bound())
	for _, p := range r.producers {
		if p.live() {
			continue
		}
		for i := range r.lookupds {
			if d := r.absenceDeadline(p, i); d.After(deadline) {
				deadline = d
			}
		}
	}
	return deadline
}

// reapDeadline is when every lookupd must have closed its connection from
// producer id, whose host died, as seen at now. The idle clock starts at
// the lookupd's last read: at the death, or, for a lookupd that was not
// good then, when it was good again (it reads what its socket buffered).
// A lookupd's timers do not fire while it is stopped, so one stopped after
// the death closes on resumption at the earliest; one still stopped, or
// not yet good again, is looked at again later (a deadline past now).
func (r *rules) reapDeadline(id int, now time.Time) time.Time {
	p := r.producers[id]
	var deadline time.Time
	for i, ln := range r.lookupds {
		var d time.Time
		switch {
		case ln.stopped || (p.held[i] && p.heldUntil[i].IsZero()):
			d = now.Add(r.cfg.IdleTimeout)
		case p.held[i]:
			d = p.heldUntil[i].Add(r.cfg.IdleTimeout)
		default:
			d = p.departedAt.Add(r.cfg.IdleTimeout)
		}
		if ln.lastResume.After(d) {
			d = ln.lastResume
		}
		if d = d.Add(r.cfg.bound()); d.After(deadline) {
			deadline = d
		}
	}
	return deadline
}

// polled judges one poll of a lookupd: it answers once up for the bound;
// while good for the bound it lists every live producer with all its
// topics and channels; it stops listing a departed producer by its
// absence deadline. It also measures convergence and departure times.
func (r *rules) polled(at time.Time, e polled) {
	ln := r.lookupds[e.lookupd]
	if !ln.lastChange.Before(e.t0) || !ln.answering() {
		return // its state moved during the poll
	}
	if !r.stallEnd.Before(e.t0) || e.sinceTick > stallThreshold {
		return // the harness (the network) stalled meanwhile
	}
	B := r.cfg.bound()
	if e.t0.Sub(ln.upSince) > B {
		r.check("lookupd-answers", 1)
		if e.err != nil {
			r.violate(at, "lookupd-answers", -1, "%s up for %s did not answer: %v", ln.name, e.t0.Sub(ln.upSince).Round(time.Millisecond), e.err)
		}
	}
	if e.err != nil {
		return
	}
	prevPoll := ln.lastPoll
	ln.lastPoll = e.t0
	for id, p := range r.producers {
		if p.live() {
			if !ln.good() {
				continue
			}
			since := later(ln.goodSince, p.liveSince)
			present := p.presentIn(e.answers)
			if present && !e.t0.Before(since) && !ln.convSeen[id] {
				ln.convSeen[id] = true
				r.sum.WorstLookupd = max(r.sum.WorstLookupd, e.t1.Sub(since))
			}
			if e.t0.Sub(since) > B {
				r.check("lookupd-presence", 1)
				if !present && !ln.reported[id] {
					ln.reported[id] = true
					r.violate(at, "lookupd-presence", id, "%s (good for %s) does not list live %s (up %s) with %v",
						ln.name, e.t0.Sub(ln.goodSince).Round(time.Millisecond), p.name, e.t0.Sub(p.liveSince).Round(time.Millisecond), p.regs)
				}
			}
			continue
		}
		if !ln.goneSeen[id] && !p.listedIn(e.answers) {
			// Removal time: from the departure, or from the release of a
			// held close; a silent death is expected to take the inactive
			// timeout more, which is left out.
			base := p.departedAt
			if p.held[e.lookupd] {
				base = p.heldUntil[e.lookupd]
			}
			if !base.IsZero() && !e.t0.Before(base) {
				ln.goneSeen[id] = true
				// Measured only when this lookupd was being polled all
				// along; after a gap the removal time is unknown.
				if e.t0.Sub(later(base, prevPoll)) <= 2*r.cfg.PollInterval {
					c := e.t1.Sub(base)
					if p.silent {
						c -= r.cfg.InactiveTimeout
					}
					r.sum.WorstDeparture = max(r.sum.WorstDeparture, c)
				}
			}
		}
		if e.t0.After(r.absenceDeadline(p, e.lookupd)) {
			r.check("lookupd-absence", 1)
			if p.listedIn(e.answers) && !ln.absReported[id] {
				ln.absReported[id] = true
				r.violate(at, "lookupd-absence", id, "%s still lists %s, %s %s ago (held %v until %v)", ln.name, p.name, p.how,
					e.t0.Sub(p.departedAt).Round(time.Millisecond), p.held[e.lookupd], p.heldUntil[e.lookupd].Sub(p.departedAt).Round(time.Millisecond))
			}
		}
	}
}

// viewed records the watcher's view of a topic and measures how long the
// union took to list each producer: from when it started or a lookupd
// became good, whichever is later. A producer first seen while no lookupd
// is good is not measured, nor is anything across a stall.
func (r *rules) viewed(at time.Time, e viewed) {
	r.views[e.topic] = e.view
	if r.suspended(at, e.sinceTick, r.cfg.watchLag()) {
		return
	}
	var goodSince time.Time
	for _, ln := range r.lookupds {
		if ln.good() && (goodSince.IsZero() || ln.goodSince.Before(goodSince)) {
			goodSince = ln.goodSince
		}
	}
	for _, p := range r.producers {
		if !p.live() || p.unionSeen || !r.inUnion(p) {
			continue
		}
		p.unionSeen = true
		if goodSince.IsZero() {
			continue
		}
		r.sum.WorstUnion = max(r.sum.WorstUnion, at.Sub(later(p.liveSince, goodSince)))
	}
}

// inUnion reports whether the watcher's views list p with all its topics
// and channels.
func (r *rules) inUnion(p *producerState) bool {
	return p.presentIn(r.views)
}

// checkUnion judges the watcher's views while some lookupd has been good
// for the union bound: they list every live producer up for that bound,
// and no departed producer past its latest absence deadline plus the
// watcher's lag.
func (r *rules) checkUnion(now time.Time, sinceTick time.Duration) {
	lag := r.cfg.watchLag()
	if r.suspended(now, sinceTick, lag) {
		return // the harness stalled: the watcher's view may predate it
	}
	Bu := r.cfg.unionBound()
	anyGood := false
	for _, ln := range r.lookupds {
		if ln.good() && now.Sub(ln.goodSince) > Bu {
			anyGood = true
		}
	}
	if !anyGood {
		return
	}
	for id, p := range r.producers {
		if p.live() {
			if now.Sub(p.liveSince) <= Bu {
				continue
			}
			for topic, chs := range p.regs {
				r.check("union-presence", 1)
				v := r.views[topic]
				ok := v.producers[p.key]
				for _, ch := range chs {
					ok = ok && v.channels[ch]
				}
				if !ok && !p.unionReported[topic] {
					p.unionReported[topic] = true
					r.violate(now, "union-presence", id, "union of %s lacks live %s (up %s, channels %v)", topic, p.name, now.Sub(p.liveSince).Round(time.Millisecond), chs)
				}
			}
			continue
		}
		var deadline time.Time
		for i := range r.lookupds {
			deadline = later(deadline, r.absenceDeadline(p, i))
		}
		if now.Before(deadline.Add(lag)) {
			continue
		}
		for topic := range p.regs {
			r.check("union-absence", 1)
			if r.views[topic].producers[p.key] && !p.unionAbsRep[topic] {
				p.unionAbsRep[topic] = true
				r.violate(now, "union-absence", id, "union of %s still lists %s, %s %s ago", topic, p.name, p.how, now.Sub(p.departedAt).Round(time.Millisecond))
			}
		}
	}
}

func (r *rules) rssSampled(at time.Time, e rssSampled) {
	r.check("rss", 1)
	limit := r.cfg.MaxProducerdRSS
	if e.lookupd {
		r.sum.MaxLookupdRSS = max(r.sum.MaxLookupdRSS, e.rss)
		limit = r.cfg.MaxLookupdRSS
	} else {
		r.sum.MaxProducerdRSS = max(r.sum.MaxProducerdRSS, e.rss)
	}
	if limit > 0 && e.rss > limit {
		r.violate(at, "rss", -1, "%s resident set %d MiB over %d MiB", e.name, e.rss>>20, limit>>20)
	}
}

// begin starts the wait for check, from at until deadline.
func (r *rules) begin(check string, at, deadline time.Time) *wait {
	w := &wait{from: at, deadline: deadline, stallsBefore: r.sum.StallTime}
	r.waits[check] = w
	return w
}

// waiting reports whether the wait for check has begun and is not over.
func (r *rules) waiting(check string) bool {
	w := r.waits[check]
	return w != nil && !w.over
}

// compared ends the wait for e.check when everything matches, or, with a
// violation, once its deadline (extended by the stalls since it began)
// passed.
func (r *rules) compared(at time.Time, e compared) {
	w := r.waits[e.check]
	if w == nil || w.over {
		return
	}
	r.check(e.check, e.checks)
	late := at.After(w.deadline.Add(r.sum.StallTime - w.stallsBefore))
	if e.diff != "" && !late {
		return
	}
	w.over = true
	if e.check == "final-match" {
		r.sum.Final = at.Sub(w.from)
	}
	if e.diff == "" {
		return
	}
	switch e.check {
	case "final-match":
		r.violate(at, e.check, -1, "%s after the faults stopped (bound %s): %s", at.Sub(w.from).Round(time.Millisecond), w.deadline.Sub(w.from).Round(time.Millisecond), e.diff)
	default:
		r.violate(at, e.check, -1, "producers still listed after a graceful shutdown: %s", e.diff)
	}
}

// diff compares the answers of each lookupd (nil: not known) with the
// ground truth: each topic lists exactly the live producers, every
// channel of a live producer, and no channel never registered. It returns
// the differences, sorted.
func (r *rules) diff(all []map[string]lookupAnswer) []string {
	var diffs []string
	for i, answers := range all {
		if answers == nil {
			continue
		}
		for _, topic := range r.topics {
			want, liveCh := map[string]bool{}, map[string]bool{}
			for _, p := range r.producers {
				if chs, ok := p.regs[topic]; ok && p.live() {
					want[p.key] = true
					for _, ch := range chs {
						liveCh[ch] = true
					}
				}
			}
			got := answers[topic]
			for k := range want {
				if !got.producers[k] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lacks %s", i, topic, r.nameOf(k)))
				}
			}
			for k := range got.producers {
				if !want[k] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lists %s", i, topic, r.nameOf(k)))
				}
			}
			for ch := range liveCh {
				if !got.channels[ch] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lacks channel %s", i, topic, ch))
				}
			}
			for ch := range got.channels {
				if !r.ever[topic][ch] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lists unknown channel %s", i, topic, ch))
				}
			}
		}
	}
	slices.Sort(diffs)
	return diffs
}

// nameOf names the producer with key k, and whether it is live.
func (r *rules) nameOf(k string) string {
	for _, p := range r.producers {
		if p.key == k {
			if p.live() {
				return p.name + " (live)"
			}
			return fmt.Sprintf("%s (%s)", p.name, p.how)
		}
	}
	return k
}

// unionExact reports whether the watcher's view of every topic lists
// exactly the live producers.
func (r *rules) unionExact() bool {
	for _, topic := range r.topics {
		want := map[string]bool{}
		for _, p := range r.producers {
			if _, ok := p.regs[topic]; ok && p.live() {
				want[p.key] = true
			}
		}
		v := r.views[topic]
		if len(v.producers) != len(want) {
			return false
		}
		for k := range want {
			if !v.producers[k] {
				return false
			}
		}
	}
	return true
}

// staleProblem judges a clientmerge lookup made while every lookupd is
// stopped: it must fail with a *StaleError and serve before, the snapshot's
// producers, marked stale. It returns "" when it did.
func staleProblem(res *clientmerge.LookupResult, err error, before []string) string {
	var se *clientmerge.StaleError
	switch {
	case !errors.As(err, &se):
		return fmt.Sprintf("err %v, want a *StaleError", err)
	case res == nil || !res.Stale:
		return "result not marked stale"
	case !slices.Equal(producerKeys(res), before):
		return fmt.Sprintf("served %v, the snapshot was %v", producerKeys(res), before)
	}
	return ""
}

// producerKeys returns a result's producer addresses, sorted.
func producerKeys(res *clientmerge.LookupResult) []string {
	out := []string{}
	for _, p := range res.Producers {
		out = append(out, p.TCPAddr())
	}
	slices.Sort(out)
	return out
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// joinDiffs formats differences for a report, at most n of them.
func joinDiffs(diffs []string, n int) string {
	if len(diffs) > n {
		diffs = append(diffs[:n:n], fmt.Sprintf("... %d more", len(diffs)-n))
	}
	return strings.Join(diffs, "; ")
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
