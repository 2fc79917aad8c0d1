package ctl

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// liveUpdate is one report to the Live loop: a watch's new answer from
// one lookupd, a round of health probes, or the lookupds the names stand
// for now.
type liveUpdate struct {
	from    *liveLookupd        // set by a watch
	topics  *[]string           // set by the topics (or lookup) watch
	nodes   *[]clientmerge.Node // set by the nodes (or lookup) watch
	health  []Health            // set by the health probe
	members []*member           // set by the DNS refresh
}

// liveLookupd is the Live loop's state of one lookupd.
type liveLookupd struct {
	m                   *member
	stop                context.CancelFunc // ends its watches
	view                lookupdView
	hasTopics, hasNodes bool
	health              *Health   // nil until probed
	readyBy             time.Time // shown from then on even without answers
	shown               bool      // in a Survey already
}

// settled reports whether l goes into the Survey: once it has been
// probed and is down or has answered both watches, or once readyBy has
// passed; and from then on until it leaves.
func (l *liveLookupd) settled(now time.Time) bool {
	if !l.shown {
		l.shown = now.After(l.readyBy) ||
			l.health != nil && (l.health.Err != nil || l.hasTopics && l.hasNodes)
	}
	return l.shown
}

// errNoAnswer marks a lookupd that answers /ping but whose watches have
// delivered nothing yet.
var errNoAnswer = errors.New("no answer to /topics or /nodes yet")

// errNotProbed marks a lookupd whose health has not been probed yet.
var errNotProbed = errors.New("not probed yet")

// Live keeps a Survey current and calls fn with it, on the caller's
// goroutine, after every change and every health round, until ctx ends;
// changed is false when the Survey is the previous one (same pointer)
// because only health figures moved. It holds one
// clientmerge.Watch per lookupd and query — /topics and /nodes, or only
// /lookup?topic= when topic is not empty — so a change reaches fn as
// soon as the watch sees it (within interval while the watches poll),
// and probes every lookupd's health (/ping, /stats) every interval; the
// probe decides which lookupds are up. A lookupd that is down keeps what
// it last listed (see Tracker). The first call comes once every lookupd
// has answered or been found down.
//
// Names among the addresses are resolved again every
// clientmerge.WithDNSRefresh (see Refresh): a lookupd that appears is
// watched and probed, and enters the Survey once it has answered or been
// found down; one that goes leaves the Survey at once. A failed
// resolution keeps the lookupds. health is parallel to the Survey's
// Lookupds. Live returns after every goroutine it started has exited.
func (c *Cluster) Live(ctx context.Context, topic string, interval time.Duration, fn func(s *Survey, health []Health, changed bool)) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	updates := make(chan liveUpdate, 16)
	send := func(ctx context.Context, u liveUpdate) {
		select {
		case updates <- u:
		case <-ctx.Done():
		}
	}
	watch := func(l *liveLookupd) {
		lctx, stop := context.WithCancel(ctx)
		l.stop = stop
		cl := l.m.cl
		if topic != "" {
			wg.Go(func() {
				clientmerge.Watch(lctx, cl, clientmerge.LookupQuery(topic), interval, func(r *clientmerge.LookupResult) {
					v := topicOnly(topic, r)
					send(lctx, liveUpdate{from: l, topics: &v.topics, nodes: &v.nodes})
				})
			})
			return
		}
		wg.Go(func() {
			clientmerge.Watch(lctx, cl, clientmerge.TopicsQuery(), interval, func(r *clientmerge.TopicsResult) {
				send(lctx, liveUpdate{from: l, topics: &r.Topics})
			})
		})
		wg.Go(func() {
			clientmerge.Watch(lctx, cl, clientmerge.NodesQuery(), interval, func(r *clientmerge.NodesResult) {
				send(lctx, liveUpdate{from: l, nodes: &r.Nodes})
			})
		})
	}

	// The lookupds now, by address, and their order.
	lookupds := map[string]*liveLookupd{}
	var order []string
	setMembers := func(ms []*member) bool {
		prev := order
		order = addrsOf(ms)
		readyBy := time.Now().Add(c.timeout + interval)
		for _, m := range ms {
			if lookupds[m.addr] == nil {
				l := &liveLookupd{m: m, readyBy: readyBy}
				lookupds[m.addr] = l
				watch(l)
			}
		}
		for addr, l := range lookupds {
			if !slices.Contains(order, addr) {
				l.stop()
				delete(lookupds, addr)
			}
		}
		return !slices.Equal(prev, order)
	}
	setMembers(c.current(ctx))

	kick := make(chan struct{}, 1) // probe at once: lookupds joined
	wg.Go(func() {
		repeat(ctx, 0, kick, func() time.Duration {
			start := time.Now()
			hs := c.Health(ctx)
			if ctx.Err() == nil {
				send(ctx, liveUpdate{health: hs})
			}
			return max(interval-time.Since(start), 0)
		})
	})
	if refresh := c.merged.DNSRefresh(); refresh > 0 {
		// Each resolution starts refresh after the previous one ended, so
		// it is always due.
		wg.Go(func() {
			repeat(ctx, refresh, nil, func() time.Duration {
				ms := c.refresh(ctx)
				if ctx.Err() == nil {
					send(ctx, liveUpdate{members: ms})
				}
				return refresh
			})
		})
	}

	var last *Survey
	var lastShown []string
	started := false // fn has been called
	dirty := true    // views changed since the last Survey
	apply := func(u liveUpdate) {
		switch {
		case u.members != nil:
			if setMembers(u.members) {
				dirty = true
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		case u.health != nil:
			for _, h := range u.health {
				if l := lookupds[h.Addr]; l != nil {
					l.health = &h
				}
			}
		case u.from == nil || lookupds[u.from.m.addr] != u.from:
			// From a lookupd that has left.
		default:
			l := u.from
			dirty = true
			if u.topics != nil {
				l.view.topics, l.hasTopics = *u.topics, true
			}
			if u.nodes != nil {
				l.view.nodes, l.hasNodes = *u.nodes, true
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u := <-updates:
			apply(u)
		}
		// Take every update already queued, so a burst is one call.
	drain:
		for {
			select {
			case u := <-updates:
				apply(u)
			default:
				break drain
			}
		}
		now := time.Now()
		var shown []*liveLookupd
		for _, addr := range order {
			l := lookupds[addr]
			if l.settled(now) {
				shown = append(shown, l)
			} else if !started {
				shown = nil
				break
			}
		}
		if shown == nil && (!started || len(order) > 0) {
			continue
		}
		shownAddrs := make([]string, len(shown))
		for i, l := range shown {
			shownAddrs[i] = l.m.addr
		}
		if !slices.Equal(shownAddrs, lastShown) {
			dirty, lastShown = true, shownAddrs
		}
		started = true
		states := make([]LookupdState, len(shown))
		views := make([]lookupdView, len(shown))
		health := make([]Health, len(shown))
		same := last != nil && !dirty
		for i, l := range shown {
			h := Health{Addr: l.m.addr, Err: errNotProbed}
			if l.health != nil {
				h = *l.health
			}
			health[i], views[i] = h, l.view
			states[i] = LookupdState{Addr: h.Addr, Err: h.Err, Latency: h.Latency}
			if h.Err == nil && !(l.hasTopics && l.hasNodes) {
				// Up, but its answers have not arrived: what it lists is
				// unknown, not empty.
				states[i].Err = errNoAnswer
			}
			if same && states[i].Up() != last.Lookupds[i].Up() {
				same = false
			}
		}
		if same {
			fn(last, health, false)
			continue
		}
		last, dirty = buildSurvey(now, states, views), false
		fn(last, health, true)
	}
}

// repeat calls f after first, and then again after the pause f returns or
// at once when kick (which may be nil) fires, until ctx ends.
func repeat(ctx context.Context, first time.Duration, kick <-chan struct{}, f func() time.Duration) {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
		t.Reset(f())
	}
}
