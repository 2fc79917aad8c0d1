package ctl

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// liveUpdate is one report to the Live loop: a watch's new answer from
// lookupd i, or a round of health probes.
type liveUpdate struct {
	i      int
	topics *[]string           // set by the topics (or lookup) watch
	nodes  *[]clientmerge.Node // set by the nodes (or lookup) watch
	health []Health            // set by the health probe
}

// errNoAnswer marks a lookupd that answers /ping but whose watches have
// delivered nothing yet.
var errNoAnswer = errors.New("no answer to /topics or /nodes yet")

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
// has answered or been found down. Live returns after every goroutine it
// started has exited.
func (c *Cluster) Live(ctx context.Context, topic string, interval time.Duration, fn func(s *Survey, health []Health, changed bool)) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	updates := make(chan liveUpdate, 4*len(c.each)+1)
	send := func(u liveUpdate) {
		select {
		case updates <- u:
		case <-ctx.Done():
		}
	}
	for i, cl := range c.each {
		if topic != "" {
			wg.Go(func() {
				clientmerge.Watch(ctx, cl, clientmerge.LookupQuery(topic), interval, func(r *clientmerge.LookupResult) {
					v := topicOnly(topic, r)
					send(liveUpdate{i: i, topics: &v.topics, nodes: &v.nodes})
				})
			})
			continue
		}
		wg.Go(func() {
			clientmerge.Watch(ctx, cl, clientmerge.TopicsQuery(), interval, func(r *clientmerge.TopicsResult) {
				send(liveUpdate{i: i, topics: &r.Topics})
			})
		})
		wg.Go(func() {
			clientmerge.Watch(ctx, cl, clientmerge.NodesQuery(), interval, func(r *clientmerge.NodesResult) {
				send(liveUpdate{i: i, nodes: &r.Nodes})
			})
		})
	}
	wg.Go(func() {
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			hs := c.Health(ctx)
			if ctx.Err() != nil {
				return
			}
			send(liveUpdate{health: hs})
			t.Reset(max(interval-time.Since(start), 0))
		}
	})

	n := len(c.each)
	views := make([]lookupdView, n)
	hasTopics, hasNodes := make([]bool, n), make([]bool, n)
	var health []Health
	// A lookupd that answers /ping but whose watches have not answered by
	// then is reported without its answers (errNoAnswer).
	readyBy := time.Now().Add(c.timeout + interval)
	var last *Survey
	dirty := true // views changed since the last Survey
	apply := func(u liveUpdate) {
		if u.health == nil {
			dirty = true
		}
		switch {
		case u.health != nil:
			health = u.health
		case u.topics != nil && u.nodes != nil:
			views[u.i].topics, views[u.i].nodes = *u.topics, *u.nodes
			hasTopics[u.i], hasNodes[u.i] = true, true
		case u.topics != nil:
			views[u.i].topics, hasTopics[u.i] = *u.topics, true
		case u.nodes != nil:
			views[u.i].nodes, hasNodes[u.i] = *u.nodes, true
		}
	}
	ready := func() bool {
		if health == nil {
			return false
		}
		if time.Now().After(readyBy) {
			return true
		}
		for i := range n {
			if health[i].Err == nil && !(hasTopics[i] && hasNodes[i]) {
				return false
			}
		}
		return true
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
		if !ready() {
			continue
		}
		states := make([]LookupdState, n)
		same := last != nil && !dirty
		for i, h := range health {
			states[i] = LookupdState{Addr: h.Addr, Err: h.Err, Latency: h.Latency}
			if h.Err == nil && !(hasTopics[i] && hasNodes[i]) {
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
		last, dirty = buildSurvey(time.Now(), states, views), false
		fn(last, health, true)
	}
}
