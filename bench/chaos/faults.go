//go:build linux

package chaos

import (
	"context"
	"errors"
	"fmt"
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

// dur returns a random duration in [lo, hi].
func (h *harness) dur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(h.rng.Int64N(int64(hi-lo)+1))
}

// schedule runs fn from the fault loop after d.
func (h *harness) schedule(d time.Duration, name string, fn func()) *pending {
	p := &pending{at: time.Now().Add(d), name: name, run: fn}
	i, _ := slices.BinarySearchFunc(h.pend, p, func(a, b *pending) int { return a.at.Compare(b.at) })
	h.pend = slices.Insert(h.pend, i, p)
	return p
}

// unschedule removes p, reporting whether it was still pending.
func (h *harness) unschedule(p *pending) bool {
	i := slices.Index(h.pend, p)
	if i < 0 {
		return false
	}
	h.pend = slices.Delete(h.pend, i, i+1)
	return true
}

// runDue runs every pending action due by now (and those they make due).
func (h *harness) runDue(now time.Time) {
	for len(h.pend) > 0 && !h.pend[0].at.After(now) {
		p := h.pend[0]
		h.pend = h.pend[1:]
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
func (h *harness) faultPhase(ctx context.Context) error {
	start := time.Now()
	end := start.Add(h.cfg.FaultPhase)
	var allStopAt time.Time
	if h.cfg.AllStop > 0 {
		allStopAt = start.Add(h.cfg.FaultPhase / 2)
	}
	kinds := []string{FaultKillRestart, FaultStopCont, FaultBlackhole, FaultDelay, FaultLeave, FaultJoin, FaultCrash, FaultDeadHost}
	for _, i := range h.rng.Perm(len(kinds)) {
		if len(h.cfg.Kinds) == 0 || slices.Contains(h.cfg.Kinds, kinds[i]) {
			h.firstKinds = append(h.firstKinds, kinds[i])
		}
	}
	nextFault := start.Add(h.dur(h.cfg.MinGap, h.cfg.MaxGap))
	injected := 0
	for ctx.Err() == nil {
		next := nextFault
		if len(h.pend) > 0 && h.pend[0].at.Before(next) {
			next = h.pend[0].at
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
		h.runDue(now)
		switch {
		case !allStopAt.IsZero() && !now.Before(allStopAt):
			allStopAt = time.Time{}
			h.allStop(ctx)
		case !now.Before(nextFault):
			if injected < h.cfg.MaxFaults {
				h.inject(ctx)
				injected++
				nextFault = time.Now().Add(h.dur(h.cfg.MinGap, h.cfg.MaxGap))
			} else {
				nextFault = end.Add(time.Hour)
			}
		}
		h.reap(false)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	h.endLookupdFaults()
	return nil
}

// endLookupdFaults ends every active lookupd fault now.
func (h *harness) endLookupdFaults() {
	for _, ln := range h.lookupds {
		if ln.fault != nil && h.unschedule(ln.fault) {
			ln.fault.run()
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
func (h *harness) inject(ctx context.Context) {
	var free []*lookupdNode
	for _, ln := range h.lookupds {
		if ln.fault == nil {
			free = append(free, ln)
		}
	}
	// At most all but one lookupd are faulted at once (except the planned
	// stop of all of them).
	lookupdOK := len(free) > 1
	live := h.liveProducers()
	canLeave := len(live) > h.cfg.MinProducers
	pickL := func() *lookupdNode { return free[h.rng.IntN(len(free))] }
	pickP := func() *producerNode { return live[h.rng.IntN(len(live))] }
	choices := []faultChoice{
		{name: FaultKillRestart, weight: 3, ok: lookupdOK, do: func() { h.killRestart(ctx, pickL()) }},
		{name: FaultStopCont, weight: 3, ok: lookupdOK, do: func() { h.stopCont(pickL()) }},
		{name: FaultBlackhole, weight: 3, ok: lookupdOK, do: func() {
			h.partition(pickL(), Blackhole, 0, h.dur(500*time.Millisecond, 6*time.Second))
		}},
		{name: FaultDelay, weight: 2, ok: lookupdOK, do: func() {
			h.partition(pickL(), Delay, h.dur(20*time.Millisecond, 800*time.Millisecond), h.dur(time.Second, 5*time.Second))
		}},
		{name: FaultLeave, weight: 3, ok: canLeave, do: func() { h.leave(pickP()) }},
		{name: FaultJoin, weight: 4, ok: len(live) < h.cfg.MaxProducers, do: h.join},
		{name: FaultCrash, weight: 1, ok: canLeave, do: func() { h.crash(pickP()) }},
		{name: FaultDeadHost, weight: 2, ok: canLeave, do: func() { h.deadHost(pickP()) }},
	}
	for i := range choices {
		if len(h.cfg.Kinds) > 0 && !slices.Contains(h.cfg.Kinds, choices[i].name) {
			choices[i].ok = false
		}
	}
	// The first faults of a run go through every kind once, in a random
	// order, so that every run exercises every kind early enough for its
	// consequences to be checked.
	for i, name := range h.firstKinds {
		for _, c := range choices {
			if c.name == name && c.ok {
				h.firstKinds = slices.Delete(h.firstKinds, i, i+1)
				h.apply(c)
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
	n := h.rng.IntN(total)
	for _, c := range choices {
		if !c.ok {
			continue
		}
		if n -= c.weight; n < 0 {
			h.apply(c)
			return
		}
	}
}

// apply injects one fault and counts it.
func (h *harness) apply(c faultChoice) {
	h.log.Info("fault", "kind", c.name, "at", time.Since(h.start).Round(time.Millisecond))
	c.do()
	h.mu.Lock()
	h.sum.Faults[c.name]++
	h.mu.Unlock()
}

func (h *harness) liveProducers() []*producerNode {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*producerNode
	for _, p := range h.producers {
		if p.live() {
			out = append(out, p)
		}
	}
	return out
}

// killRestart kills a lookupd with SIGKILL and restarts it on the same
// addresses a little later.
func (h *harness) killRestart(ctx context.Context, ln *lookupdNode) {
	h.mu.Lock()
	ln.running = false
	h.refreshGood(ln, time.Now())
	pr := ln.proc
	h.mu.Unlock()
	_ = pr.Signal(syscall.SIGKILL)
	if err := pr.Wait(5 * time.Second); err != nil {
		h.violateLocked("exit-status", "%v", err)
	}
	ln.fault = h.schedule(h.dur(300*time.Millisecond, 2*time.Second), "restart "+ln.name, func() {
		ln.fault = nil
		p, _, err := h.execLookupd(ctx, ln.name, ln.tcpAddr, ln.httpAddr)
		if err != nil {
			h.violateLocked("restart", "%s could not restart on %s: %v", ln.name, ln.tcpAddr, err)
			return
		}
		now := time.Now()
		h.mu.Lock()
		defer h.mu.Unlock()
		ln.proc, ln.running, ln.upSince = p, true, now
		h.refreshGood(ln, now)
	})
}

// stopCont freezes a lookupd with SIGSTOP and resumes it a little later.
func (h *harness) stopCont(ln *lookupdNode) {
	h.mu.Lock()
	ln.stopped = true
	h.refreshGood(ln, time.Now())
	pr := ln.proc
	h.mu.Unlock()
	_ = pr.Signal(syscall.SIGSTOP)
	if err := pr.WaitStopped(2 * time.Second); err != nil {
		h.log.Warn("lookupd did not stop", "err", err)
	}
	ln.fault = h.schedule(h.dur(500*time.Millisecond, 3500*time.Millisecond), "SIGCONT "+ln.name, func() {
		ln.fault = nil
		h.resume(ln)
	})
}

// resume sends SIGCONT to a stopped lookupd.
func (h *harness) resume(ln *lookupdNode) {
	h.mu.Lock()
	ln.lastResume = time.Now()
	pr := ln.proc
	h.mu.Unlock()
	_ = pr.Signal(syscall.SIGCONT)
	now := time.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	ln.stopped, ln.upSince = false, now
	h.refreshGood(ln, now)
}

// proxiesTo returns the proxies between live or departing producers and
// lookupd idx, leaving out those of dead hosts. h.mu must be held.
func (h *harness) proxiesTo(idx int) []*Proxy {
	var out []*Proxy
	for _, p := range h.producers {
		if !p.silent && p.proxies != nil && p.proxies[idx] != nil {
			out = append(out, p.proxies[idx])
		}
	}
	return out
}

// partition cuts (Blackhole) or slows (Delay) every producer's traffic to
// a lookupd for d, then heals it.
func (h *harness) partition(ln *lookupdNode, m Mode, delay, d time.Duration) {
	h.mu.Lock()
	ln.part, ln.delay = m, delay
	h.refreshGood(ln, time.Now())
	proxies := h.proxiesTo(ln.idx)
	h.mu.Unlock()
	for _, px := range proxies {
		px.SetMode(m, delay)
	}
	ln.fault = h.schedule(d, "heal "+ln.name, func() {
		ln.fault = nil
		h.mu.Lock()
		proxies := h.proxiesTo(ln.idx)
		h.mu.Unlock()
		for _, px := range proxies {
			px.SetMode(Pass, 0)
		}
		now := time.Now()
		h.mu.Lock()
		defer h.mu.Unlock()
		ln.part, ln.delay = Pass, 0
		h.refreshGood(ln, now)
	})
}

// depart marks p departed. h.mu must not be held.
func (h *harness) depart(p *producerNode, how string, silent bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p.departedAt, p.how, p.silent = time.Now(), how, silent
	for i, ln := range h.lookupds {
		p.held[i] = !ln.good()
	}
}

// leave stops a producer gracefully with SIGTERM.
func (h *harness) leave(p *producerNode) {
	h.depart(p, "left (SIGTERM)", false)
	_ = p.proc.Signal(syscall.SIGTERM)
}

// crash kills a producer with SIGKILL; its host closes the sockets.
func (h *harness) crash(p *producerNode) {
	h.depart(p, "crashed (SIGKILL)", false)
	_ = p.proc.Signal(syscall.SIGKILL)
}

// deadHost makes a producer's host vanish: its proxies drop everything,
// closes included, then the process is killed. The lookupds can only
// notice by the inactive timeout (unlisted) and the idle timeout (the
// connection closed); reapCheck verifies the latter.
func (h *harness) deadHost(p *producerNode) {
	h.depart(p, "host died", true)
	h.mu.Lock()
	proxies := slices.Clone(p.proxies)
	h.mu.Unlock()
	for _, px := range proxies {
		px.SetMode(Drop, 0)
	}
	_ = p.proc.Signal(syscall.SIGKILL)
	h.schedule(h.cfg.IdleTimeout+h.cfg.bound(), "reap check "+p.name, func() { h.reapCheck(p) })
}

// reapCheck verifies that every lookupd closed its connection from a dead
// host within the idle timeout plus the bound. The idle clock starts at
// the lookupd's last read: at the death, or, for a lookupd that was not
// good then, when it was good again (it reads what its socket buffered
// while stopped then). A lookupd's timers do not fire while it is
// stopped, so one stopped after the death closes on resumption at the
// earliest.
func (h *harness) reapCheck(p *producerNode) {
	h.mu.Lock()
	now := time.Now()
	var deadline time.Time
	for i, ln := range h.lookupds {
		var d time.Time
		switch {
		case ln.stopped || (p.held[i] && p.heldUntil[i].IsZero()):
			d = now.Add(h.cfg.IdleTimeout) // not good yet: look again later
		case p.held[i]:
			d = p.heldUntil[i].Add(h.cfg.IdleTimeout)
		default:
			d = p.departedAt.Add(h.cfg.IdleTimeout)
		}
		if ln.lastResume.After(d) {
			d = ln.lastResume
		}
		if d = d.Add(h.cfg.bound()); d.After(deadline) {
			deadline = d
		}
	}
	proxies := slices.Clone(p.proxies)
	h.mu.Unlock()
	if wait := time.Until(deadline); wait > 0 && time.Since(p.departedAt) < maxReapWait {
		h.schedule(wait, "reap check "+p.name, func() { h.reapCheck(p) })
		return
	}
	for i, px := range proxies {
		if px == nil {
			continue
		}
		open := px.Open()
		h.mu.Lock()
		h.check("idle-reap", 1)
		if open > 0 {
			h.violate("idle-reap", "lookupd-%d still holds %d connection(s) of %s, whose host died %s ago",
				i, open, p.name, time.Since(p.departedAt).Round(time.Millisecond))
		}
		h.mu.Unlock()
	}
	h.closeProxies(p)
}

// closeProxies closes p's proxies and forgets them.
func (h *harness) closeProxies(p *producerNode) {
	h.mu.Lock()
	proxies := p.proxies
	p.proxies = nil
	h.mu.Unlock()
	for _, px := range proxies {
		px.Close()
	}
}

// reap closes the proxies of departed producers once their process has
// exited and no connection is left through them (held traffic flows when
// a partition heals), or 30 s after departure. Dead hosts' proxies are
// left to reapCheck. With all set, it closes every such proxy at once.
func (h *harness) reap(all bool) {
	h.mu.Lock()
	var done []*producerNode
	for _, p := range h.producers {
		if p.live() || p.silent || p.proxies == nil || !p.proc.Exited() {
			continue
		}
		open := 0
		for _, px := range p.proxies {
			open += px.Open()
		}
		if all || open == 0 || time.Since(p.departedAt) > 30*time.Second {
			done = append(done, p)
		}
	}
	h.mu.Unlock()
	for _, p := range done {
		h.closeProxies(p)
	}
}

// join starts a new producer.
func (h *harness) join() {
	if err := h.startProducer(); err != nil {
		h.violateLocked("spawn", "start producer: %v", err)
	}
}

// allStop SIGSTOPs every lookupd at once and checks that clientmerge then
// serves its last snapshot, marked stale, to callers and to the watcher.
func (h *harness) allStop(ctx context.Context) {
	h.endLookupdFaults()
	// Wait until the union equals the ground truth (departed producers
	// expired too), so that the snapshot cannot change before the stop.
	deadline := time.Now().Add(h.cfg.InactiveTimeout + 2*h.cfg.unionBound())
	for !h.unionExact() {
		if time.Now().After(deadline) {
			h.violateLocked("stale-snapshot", "the union never matched the ground truth before the stop of every lookupd")
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
			h.violateLocked("stale-snapshot", "fresh lookup of %s before the stop failed: %v", topic, err)
			return
		}
		before[i] = producerKeys(res)
	}
	h.mu.Lock()
	var procs []*proc.Process
	for _, ln := range h.lookupds {
		ln.stopped = true
		h.refreshGood(ln, time.Now())
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
			h.violateLocked("stale-snapshot", "%v", err)
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
		h.check("stale-snapshot", 1)
		var se *clientmerge.StaleError
		switch {
		case !errors.As(r.err, &se):
			h.violate("stale-snapshot", "lookup of %s with every lookupd stopped: err %v, want a *StaleError", h.topics[i], r.err)
		case r.res == nil || !r.res.Stale:
			h.violate("stale-snapshot", "lookup of %s with every lookupd stopped: result not marked stale", h.topics[i])
		case !slices.Equal(producerKeys(r.res), before[i]):
			h.violate("stale-snapshot", "lookup of %s served %v, the snapshot was %v", h.topics[i], producerKeys(r.res), before[i])
		}
	}
	h.mu.Unlock()
	_ = sleepUntil(ctx, stoppedAt.Add(h.cfg.AllStop))
	h.mu.Lock()
	for i, topic := range h.topics {
		h.check("stale-watch", 1)
		v := h.views[topic]
		var got []string
		if v != nil {
			for k := range v.producers {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, before[i]) {
			h.violate("stale-watch", "watcher of %s holds %v during the stop, the snapshot was %v", topic, got, before[i])
		}
	}
	h.mu.Unlock()
	for _, ln := range h.lookupds {
		h.resume(ln)
	}
}

// unionExact reports whether the watcher's view of every topic lists
// exactly the live producers.
func (h *harness) unionExact() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, topic := range h.topics {
		want := map[string]bool{}
		for _, p := range h.producers {
			if _, ok := p.regs[topic]; ok && p.live() {
				want[p.key] = true
			}
		}
		v := h.views[topic]
		if v == nil || len(v.producers) != len(want) {
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

// producerKeys returns a result's sorted producer addresses.
func producerKeys(res *clientmerge.LookupResult) []string {
	out := []string{}
	for _, p := range res.Producers {
		out = append(out, p.TCPAddr())
	}
	slices.Sort(out)
	return out
}

// finalPhase waits until every lookupd matches the ground truth exactly,
// and checks that it happens within the bound, then runs the remaining
// idle-reap checks.
func (h *harness) finalPhase(ctx context.Context) {
	tEnd := time.Now()
	h.mu.Lock()
	deadline := tEnd.Add(h.cfg.bound())
	for _, p := range h.producers {
		if p.live() {
			continue
		}
		for _, ln := range h.lookupds {
			if d := h.absenceDeadline(p, ln); d.After(deadline) {
				deadline = d
			}
		}
	}
	h.sum.FinalBound = deadline.Sub(tEnd)
	stallsBefore := h.sum.StallTime
	h.mu.Unlock()
	h.log.Info("faults stopped; waiting for convergence", "bound", h.sum.FinalBound.Round(time.Millisecond))
	for ctx.Err() == nil {
		h.runDue(time.Now())
		diff := h.diffAll(ctx)
		now := time.Now()
		h.mu.Lock()
		h.check("final-match", len(h.lookupds)*len(h.topics))
		if diff == "" {
			h.sum.Final = now.Sub(tEnd)
			h.mu.Unlock()
			break
		}
		if now.After(deadline.Add(h.sum.StallTime - stallsBefore)) {
			h.violate("final-match", "%s after the faults stopped (bound %s): %s", now.Sub(tEnd).Round(time.Millisecond), h.sum.FinalBound.Round(time.Millisecond), diff)
			h.sum.Final = now.Sub(tEnd)
			h.mu.Unlock()
			break
		}
		h.mu.Unlock()
		_ = proc.Sleep(ctx, h.cfg.PollInterval/2)
	}
	// Remaining idle-reap checks; their deadlines are bounded.
	for len(h.pend) > 0 && ctx.Err() == nil {
		_ = sleepUntil(ctx, h.pend[0].at)
		h.runDue(time.Now())
	}
	h.reap(false)
}

// shutdown stops every producer with SIGTERM (each must withdraw its
// registrations and exit 0), then every lookupd (exit 0), and checks exit
// statuses and logs.
func (h *harness) shutdown(ctx context.Context) {
	live := h.liveProducers()
	for _, p := range live {
		h.depart(p, "shut down", false)
		_ = p.proc.Signal(syscall.SIGTERM)
	}
	for _, p := range live {
		if err := p.proc.Wait(10 * time.Second); err != nil {
			h.violateLocked("exit-status", "%v", err)
		}
	}
	deadline := time.Now().Add(h.cfg.bound())
	h.mu.Lock()
	stallsBefore := h.sum.StallTime
	h.mu.Unlock()
	for ctx.Err() == nil {
		left := h.listedAnywhere(ctx)
		h.mu.Lock()
		h.check("shutdown-withdraw", len(h.lookupds))
		if left == "" {
			h.mu.Unlock()
			break
		}
		if time.Now().After(deadline.Add(h.sum.StallTime - stallsBefore)) {
			h.violate("shutdown-withdraw", "producers still listed after a graceful shutdown: %s", left)
			h.mu.Unlock()
			break
		}
		h.mu.Unlock()
		_ = proc.Sleep(ctx, h.cfg.PollInterval/2)
	}
	h.reap(true)
	h.mu.Lock()
	var lookupds []*proc.Process
	for _, ln := range h.lookupds {
		if ln.running {
			lookupds = append(lookupds, ln.proc)
		}
	}
	h.mu.Unlock()
	for _, p := range lookupds {
		_ = p.Signal(syscall.SIGTERM)
	}
	for _, p := range lookupds {
		if err := p.Wait(15 * time.Second); err != nil {
			h.violateLocked("exit-status", "%v", err)
		}
	}
	h.checkExits()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		h.check("log-scan", 1)
		if a := p.Alarms(); len(a) > 0 {
			h.violate("log-scan", "%s logged %q", p.Name, a)
		}
	}
}

// listedAnywhere returns "" when no lookupd lists any producer, else what
// is listed where.
func (h *harness) listedAnywhere(ctx context.Context) string {
	h.mu.Lock()
	var bases []string
	for _, ln := range h.lookupds {
		bases = append(bases, ln.httpAddr)
	}
	h.mu.Unlock()
	var out []string
	for i, base := range bases {
		answers, err := h.fetchAll(ctx, base)
		if err != nil {
			out = append(out, fmt.Sprintf("lookupd-%d: %v", i, err))
			continue
		}
		for _, topic := range h.topics {
			for k := range answers[topic].producers {
				out = append(out, fmt.Sprintf("lookupd-%d %s: %s", i, topic, k))
			}
		}
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprint(out)
}
