//go:build linux

package chaos

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
)

// Fault kinds, as counted in Summary.Faults.
const (
	FaultKillRestart = "lookupd-kill-restart"
	FaultStopCont    = "lookupd-stop-cont"
	FaultBlackhole   = "partition-blackhole"
	FaultDelay       = "partition-delay"
	FaultAllStop     = "all-lookupds-stop"
	FaultLeave       = "producer-leave"
	FaultJoin        = "producer-join"
	FaultCrash       = "producer-crash"
	FaultDeadHost    = "producer-dead-host"
)

// maxReapWait bounds how long an idle-reap check may be postponed because
// faults keep stopping a lookupd.
const maxReapWait = time.Minute

// faultLoop injects the faults of a run and runs what they schedule (their
// ends, idle-reap checks). It belongs to the goroutine of Run, which also
// uses its random source for the producers' registrations: nothing else
// touches its fields.
type faultLoop struct {
	h          *harness
	rng        *rand.Rand
	pend       []*pending // scheduled actions, by time
	firstKinds []string   // kinds still to inject first
	active     []*pending // by lookupd: the end of its fault, or nil
}

// pending is a scheduled action of the fault loop.
type pending struct {
	at  time.Time
	run func()
}

func newFaultLoop(h *harness, rng *rand.Rand) *faultLoop {
	return &faultLoop{h: h, rng: rng, active: make([]*pending, h.cfg.Lookupds)}
}

// dur returns a random duration in [lo, hi].
func (f *faultLoop) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(f.rng.Int64N(int64(hi-lo)+1))
}

// randomRegs picks a producer's registrations: TopicsPerProducer topics,
// each with up to two channels.
func (f *faultLoop) randomRegs() map[string][]string {
	channels := []string{"c0", "c1", "c2", "ce#ephemeral"}
	topics := f.h.topics
	regs := make(map[string][]string)
	for _, ti := range f.rng.Perm(len(topics))[:f.h.cfg.TopicsPerProducer] {
		chs := []string{}
		for _, ci := range f.rng.Perm(len(channels))[:f.rng.IntN(3)] {
			chs = append(chs, channels[ci])
		}
		slices.Sort(chs)
		regs[topics[ti]] = chs
	}
	return regs
}

// schedule runs fn from the fault loop after d.
func (f *faultLoop) schedule(d time.Duration, fn func()) *pending {
	p := &pending{at: time.Now().Add(d), run: fn}
	i, _ := slices.BinarySearchFunc(f.pend, p, func(a, b *pending) int { return a.at.Compare(b.at) })
	f.pend = slices.Insert(f.pend, i, p)
	return p
}

// unschedule removes p, reporting whether it was still pending.
func (f *faultLoop) unschedule(p *pending) bool {
	i := slices.Index(f.pend, p)
	if i < 0 {
		return false
	}
	f.pend = slices.Delete(f.pend, i, i+1)
	return true
}

// runDue runs every pending action due by now (and those they make due).
func (f *faultLoop) runDue(now time.Time) {
	for len(f.pend) > 0 && !f.pend[0].at.After(now) {
		p := f.pend[0]
		f.pend = f.pend[1:]
		p.run()
	}
}

// sleepUntil waits until t or until ctx ends, whichever is first; it
// returns ctx.Err() in the latter case.
func sleepUntil(ctx context.Context, t time.Time) error {
	return proc.Sleep(ctx, time.Until(t))
}

// faultPhase injects random faults for cfg.FaultPhase (at most
// cfg.MaxFaults), with one all-lookupds stop in the middle, then ends every
// fault still active.
func (f *faultLoop) faultPhase(ctx context.Context) error {
	cfg := &f.h.cfg
	start := time.Now()
	end := start.Add(cfg.FaultPhase)
	var allStopAt time.Time
	if cfg.AllStop > 0 {
		allStopAt = start.Add(cfg.FaultPhase / 2)
	}
	kinds := []string{FaultKillRestart, FaultStopCont, FaultBlackhole, FaultDelay, FaultLeave, FaultJoin, FaultCrash, FaultDeadHost}
	for _, i := range f.rng.Perm(len(kinds)) {
		if len(cfg.Kinds) == 0 || slices.Contains(cfg.Kinds, kinds[i]) {
			f.firstKinds = append(f.firstKinds, kinds[i])
		}
	}
	nextFault := start.Add(f.dur(cfg.MinGap, cfg.MaxGap))
	injected := 0
	for ctx.Err() == nil {
		next := nextFault
		if len(f.pend) > 0 && f.pend[0].at.Before(next) {
			next = f.pend[0].at
		}
		if !allStopAt.IsZero() && allStopAt.Before(next) {
			next = allStopAt
		}
		if next.After(end) {
			break
		}
		if sleepUntil(ctx, next) != nil {
			break
		}
		now := time.Now()
		f.runDue(now)
		switch {
		case !allStopAt.IsZero() && !now.Before(allStopAt):
			allStopAt = time.Time{}
			f.allStop(ctx)
		case !now.Before(nextFault):
			if injected < cfg.MaxFaults {
				f.inject(ctx)
				injected++
				nextFault = time.Now().Add(f.dur(cfg.MinGap, cfg.MaxGap))
			} else {
				nextFault = end.Add(time.Hour)
			}
		}
		f.h.reap(false)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	f.endLookupdFaults()
	return nil
}

// endLookupdFaults ends every active lookupd fault now.
func (f *faultLoop) endLookupdFaults() {
	for _, p := range f.active {
		if p != nil && f.unschedule(p) {
			p.run()
		}
	}
}

// faultChoice is one kind of fault with its weight and preconditions.
type faultChoice struct {
	name   string
	weight int
	ok     bool
	do     func()
}

// inject applies one random fault whose preconditions hold.
func (f *faultLoop) inject(ctx context.Context) {
	h := f.h
	var free []int
	for i, p := range f.active {
		if p == nil {
			free = append(free, i)
		}
	}
	// At most all but one lookupd are faulted at once (except the planned
	// stop of all of them).
	lookupdOK := len(free) > 1
	live := h.liveProducers()
	canLeave := len(live) > h.cfg.MinProducers
	pickL := func() int { return free[f.rng.IntN(len(free))] }
	pickP := func() int { return live[f.rng.IntN(len(live))] }
	choices := []faultChoice{
		{name: FaultKillRestart, weight: 3, ok: lookupdOK, do: func() { f.killRestart(ctx, pickL()) }},
		{name: FaultStopCont, weight: 3, ok: lookupdOK, do: func() { f.stopCont(pickL()) }},
		{name: FaultBlackhole, weight: 3, ok: lookupdOK, do: func() {
			f.partition(pickL(), Blackhole, 0, f.dur(500*time.Millisecond, 6*time.Second))
		}},
		{name: FaultDelay, weight: 2, ok: lookupdOK, do: func() {
			f.partition(pickL(), Delay, f.dur(20*time.Millisecond, 800*time.Millisecond), f.dur(time.Second, 5*time.Second))
		}},
		{name: FaultLeave, weight: 3, ok: canLeave, do: func() { f.leave(pickP()) }},
		{name: FaultJoin, weight: 4, ok: len(live) < h.cfg.MaxProducers, do: f.join},
		{name: FaultCrash, weight: 1, ok: canLeave, do: func() { f.crash(pickP()) }},
		{name: FaultDeadHost, weight: 2, ok: canLeave, do: func() { f.deadHost(pickP()) }},
	}
	for i := range choices {
		if len(h.cfg.Kinds) > 0 && !slices.Contains(h.cfg.Kinds, choices[i].name) {
			choices[i].ok = false
		}
	}
	// The first faults of a run go through every kind once, in a random
	// order, so that every run exercises every kind early enough for its
	// consequences to be checked.
	for i, name := range f.firstKinds {
		for _, c := range choices {
			if c.name == name && c.ok {
				f.firstKinds = slices.Delete(f.firstKinds, i, i+1)
				f.apply(c)
				return
			}
		}
	}
	total := 0
	for _, c := range choices {
		if c.ok {
			total += c.weight
		}
	}
	if total == 0 {
		return
	}
	n := f.rng.IntN(total)
	for _, c := range choices {
		if !c.ok {
			continue
		}
		if n -= c.weight; n < 0 {
			f.apply(c)
			return
		}
	}
}

// apply injects one fault and counts it.
func (f *faultLoop) apply(c faultChoice) {
	h := f.h
	h.log.Info("fault", "kind", c.name, "at", time.Since(h.start).Round(time.Millisecond))
	c.do()
	h.mu.Lock()
	h.sum.Faults[c.name]++
	h.mu.Unlock()
}

// killRestart kills lookupd i with SIGKILL and restarts it on the same
// addresses a little later.
func (f *faultLoop) killRestart(ctx context.Context, i int) {
	h := f.h
	pr := h.changeLookupd(i, lookupdKilled{lookupd: i})
	_ = pr.Signal(syscall.SIGKILL)
	if err := pr.Wait(5 * time.Second); err != nil {
		h.violate("exit-status", "%v", err)
	}
	f.active[i] = f.schedule(f.dur(300*time.Millisecond, 2*time.Second), func() {
		f.active[i] = nil
		if err := h.restartLookupd(ctx, i); err != nil {
			h.violate("restart", "%s could not restart on %s: %v", h.lookupds[i].name, h.lookupds[i].tcpAddr, err)
		}
	})
}

// stopCont freezes lookupd i with SIGSTOP and resumes it a little later.
func (f *faultLoop) stopCont(i int) {
	h := f.h
	pr := h.changeLookupd(i, lookupdStopped{lookupd: i})
	_ = pr.Signal(syscall.SIGSTOP)
	if err := pr.WaitStopped(2 * time.Second); err != nil {
		h.log.Warn("lookupd did not stop", "err", err)
	}
	f.active[i] = f.schedule(f.dur(500*time.Millisecond, 3500*time.Millisecond), func() {
		f.active[i] = nil
		h.resume(i)
	})
}

// partition cuts (Blackhole) or slows (Delay) every producer's traffic to
// lookupd i for d, then heals it.
func (f *faultLoop) partition(i int, m Mode, delay, d time.Duration) {
	h := f.h
	h.mu.Lock()
	h.lookupds[i].mode, h.lookupds[i].delay = m, delay
	h.eventLocked(lookupdCut{lookupd: i})
	h.mu.Unlock()
	h.setProxyModes(i, m, delay)
	f.active[i] = f.schedule(d, func() {
		f.active[i] = nil
		h.setProxyModes(i, Pass, 0)
		h.mu.Lock()
		defer h.mu.Unlock()
		h.lookupds[i].mode, h.lookupds[i].delay = Pass, 0
		h.eventLocked(lookupdHealed{lookupd: i})
	})
}

// leave stops producer id gracefully with SIGTERM.
func (f *faultLoop) leave(id int) {
	f.h.depart(id, "left (SIGTERM)", false)
	f.h.signalProducer(id, syscall.SIGTERM)
}

// crash kills producer id with SIGKILL; its host closes the sockets.
func (f *faultLoop) crash(id int) {
	f.h.depart(id, "crashed (SIGKILL)", false)
	f.h.signalProducer(id, syscall.SIGKILL)
}

// deadHost makes producer id's host vanish: its proxies drop everything,
// closes included, then the process is killed. The lookupds can only
// notice by the inactive timeout (unlisted) and the idle timeout (the
// connection closed); reapCheck verifies the latter.
func (f *faultLoop) deadHost(id int) {
	h := f.h
	h.depart(id, "host died", true)
	h.mu.Lock()
	proxies := slices.Clone(h.producers[id].proxies)
	h.mu.Unlock()
	for _, px := range proxies {
		px.SetMode(Drop, 0)
	}
	h.signalProducer(id, syscall.SIGKILL)
	f.schedule(h.cfg.IdleTimeout+h.cfg.bound(), func() { f.reapCheck(id) })
}

// reapCheck checks, once the rules' reap deadline passed (see
// reapDeadline), that no lookupd holds a connection from dead host id
// any more, then closes its proxies.
func (f *faultLoop) reapCheck(id int) {
	h := f.h
	h.mu.Lock()
	deadline := h.rules.reapDeadline(id, time.Now())
	departedAt := h.rules.producers[id].departedAt
	proxies := slices.Clone(h.producers[id].proxies)
	h.mu.Unlock()
	if wait := time.Until(deadline); wait > 0 && time.Since(departedAt) < maxReapWait {
		f.schedule(wait, func() { f.reapCheck(id) })
		return
	}
	open := make([]int, len(proxies))
	for i, px := range proxies {
		open[i] = px.Open()
	}
	h.event(reapChecked{producer: id, open: open})
	h.closeProxies(id)
}

// join starts a new producer.
func (f *faultLoop) join() {
	if err := f.h.startProducer(f.randomRegs()); err != nil {
		f.h.violate("spawn", "start producer: %v", err)
	}
}

// allStop SIGSTOPs every lookupd at once and checks that clientmerge then
// serves its last snapshot, marked stale, to callers and to the watcher.
func (f *faultLoop) allStop(ctx context.Context) {
	h := f.h
	f.endLookupdFaults()
	// Wait until the union equals the ground truth (departed producers
	// expired too), so that the snapshot cannot change before the stop,
	// and until every lookupd does: the lookupds' blocking queries time
	// out one after another once they are stopped, and until the last
	// one has, the watcher shows (and keeps as its snapshot) the answers
	// of the lookupds not yet failed, which must then be the whole union
	// (a lookupd restarted by an earlier fault may still be missing the
	// registrations that the other two hold).
	deadline := time.Now().Add(h.cfg.InactiveTimeout + 2*h.cfg.unionBound())
	for {
		h.mu.Lock()
		exact := h.rules.unionExact()
		h.mu.Unlock()
		if exact && len(h.compareAll(ctx)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			h.violate("stale-snapshot", "the union and every lookupd never matched the ground truth before the stop of every lookupd")
			return
		}
		if proc.Sleep(ctx, h.cfg.PollInterval/2) != nil {
			return
		}
	}
	before := make([][]string, len(h.topics))
	for i, topic := range h.topics {
		res, err := h.merge.Lookup(ctx, topic)
		if err != nil || res.Stale {
			h.violate("stale-snapshot", "fresh lookup of %s before the stop failed: %v", topic, err)
			return
		}
		before[i] = producerKeys(res)
	}
	h.mu.Lock()
	var procs []*proc.Process
	for i, ln := range h.lookupds {
		h.eventLocked(lookupdStopped{lookupd: i})
		procs = append(procs, ln.proc)
	}
	h.sum.Faults[FaultAllStop]++
	h.mu.Unlock()
	h.log.Info("fault", "kind", FaultAllStop, "at", time.Since(h.start).Round(time.Millisecond))
	stoppedAt := time.Now()
	for _, p := range procs {
		_ = p.Signal(syscall.SIGSTOP)
	}
	// kill returns before every thread has stopped; a lookup sent at once
	// could still be answered.
	for _, p := range procs {
		if err := p.WaitStopped(2 * time.Second); err != nil {
			h.violate("stale-snapshot", "%v", err)
		}
	}

	type result struct {
		res *clientmerge.LookupResult
		err error
	}
	results := make([]result, len(h.topics))
	var wg sync.WaitGroup
	for i, topic := range h.topics {
		wg.Go(func() {
			r, err := h.merge.Lookup(ctx, topic)
			results[i] = result{res: r, err: err}
		})
	}
	wg.Wait()
	h.mu.Lock()
	for i, r := range results {
		h.rules.check("stale-snapshot", 1)
		if problem := staleProblem(r.res, r.err, before[i]); problem != "" {
			h.violateLocked("stale-snapshot", "lookup of %s with every lookupd stopped: %s", h.topics[i], problem)
		}
	}
	h.mu.Unlock()
	_ = sleepUntil(ctx, stoppedAt.Add(h.cfg.AllStop))
	h.mu.Lock()
	for i, topic := range h.topics {
		h.eventLocked(snapshotHeld{topic: topic, want: before[i]})
	}
	h.mu.Unlock()
	for i := range h.lookupds {
		h.resume(i)
	}
}

// finalPhase waits until every lookupd matches the ground truth exactly,
// which the rules expect within their final deadline (see finalDeadline),
// then runs the remaining idle-reap checks.
func (f *faultLoop) finalPhase(ctx context.Context) {
	h := f.h
	h.mu.Lock()
	h.eventLocked(faultsEnded{})
	bound := h.sum.FinalBound
	h.mu.Unlock()
	h.log.Info("faults stopped; waiting for convergence", "bound", bound.Round(time.Millisecond))
	h.awaitMatch(ctx, "final-match", len(h.lookupds)*len(h.topics), 12, func() { f.runDue(time.Now()) })
	// Remaining idle-reap checks; their deadlines are bounded.
	for len(f.pend) > 0 && ctx.Err() == nil {
		_ = sleepUntil(ctx, f.pend[0].at)
		f.runDue(time.Now())
	}
	h.reap(false)
}
