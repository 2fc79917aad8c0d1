package httpapi

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/lookupd/lookupd/lookup/internal/limit"
	"github.com/lookupd/lookupd/lookup/registry"
)

// hub keeps the blocked queries, one set of waiters per key, and wakes
// the waiters of a key when its index changes. It finds out through the
// registry's change notices (which name the topics a mutation touched)
// and through one timer per watched key that fires when the key's answer
// runs out of time (a producer going inactive, a tombstone expiring). A
// change therefore costs work for the keys it touches and their waiters
// only, however many waiters other keys have.
type hub struct {
	h   *Handler
	max int

	mu           sync.Mutex
	running      bool
	active       int                   // admitted blocked queries
	sources      limit.PerSource       // admitted blocked queries per source
	watches      map[key]*watch        // keys with waiters
	dirty        map[key]struct{}      // watched keys to recompute
	kick         chan struct{}         // cap 1: dirty is not empty
	total        uint64                // blocked queries admitted
	woken        uint64                // waiters woken by a change of their answer
	capped       uint64                // blocked queries refused by max
	cappedSource uint64                // blocked queries refused by the per-source max
	wg           sync.WaitGroup        // goroutines of hijacked waiters
	conns        map[net.Conn]struct{} // answered hijacked connections awaiting the next request
}

// watch is the set of waiters of one key and the timer that recomputes
// its answer when it expires.
type watch struct {
	waiters   map[*waiter]struct{}
	timerAt   time.Time
	stopTimer func() bool
	timerGen  uint64 // tells a stale timer's call from the current one's
}

// waiter is one blocked query. wake ends its wait; it may be called any
// number of times, from any goroutine, and must not block.
type waiter struct {
	key     key
	source  netip.Prefix // reserved under
	wake    func()
	changed bool // woken by a change (under hub.mu)
}

func (b *hub) init(h *Handler, max, perSource int) {
	b.h, b.max = h, max
	b.sources.Max = perSource
	b.watches = make(map[key]*watch)
	b.dirty = make(map[key]struct{})
	b.kick = make(chan struct{}, 1)
	b.conns = make(map[net.Conn]struct{})
}

// idle adds (in) or removes an answered hijacked connection that waits
// for its client's next request, so that shutdown can end the wait. Adding
// reports false once the hub has stopped.
func (b *hub) idle(c net.Conn, in bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !in {
		delete(b.conns, c)
		return true
	}
	if !b.running {
		return false
	}
	b.conns[c] = struct{}{}
	return true
}

// run recomputes watched keys as they are marked dirty, and on ctx's end
// wakes every waiter, refuses new ones and waits for the hijacked ones to
// be answered.
func (b *hub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			b.shutdown()
			return
		case <-b.kick:
		}
		b.mu.Lock()
		dirty := b.dirty
		b.dirty = make(map[key]struct{}, len(dirty))
		b.mu.Unlock()
		for k := range dirty {
			// A new index wakes the key's waiters from inside put.
			if a, err := b.h.answer(k); err == nil {
				b.arm(k, a.validUntil)
			}
		}
	}
}

func (b *hub) shutdown() {
	b.mu.Lock()
	b.running = false
	for c := range b.conns {
		_ = c.SetReadDeadline(aLongTimeAgo)
	}
	for _, w := range b.watches {
		for wt := range w.waiters {
			wt.wake()
		}
		if w.stopTimer != nil {
			w.stopTimer()
			w.stopTimer = nil
		}
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// reserve admits one more blocked query from src, and reports false when
// the hub is not running, is full or src holds its share (counting the
// last two). A waiter made after a true reserve carries src, and leave
// releases it.
func (b *hub) reserve(src netip.Prefix) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		return false
	}
	if b.active >= b.max {
		b.capped++
		return false
	}
	if !b.sources.Acquire(src) {
		b.cappedSource++
		return false
	}
	b.active++
	b.total++
	return true
}

// join adds a reserved waiter to its key's set. If the hub has stopped
// meanwhile, it wakes the waiter at once.
func (b *hub) join(wt *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.running {
		wt.wake()
		return
	}
	w := b.watches[wt.key]
	if w == nil {
		w = &watch{waiters: make(map[*waiter]struct{})}
		b.watches[wt.key] = w
	}
	w.waiters[wt] = struct{}{}
}

// leave removes a waiter and releases its reservation.
func (b *hub) leave(wt *waiter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.active--
	b.sources.Release(wt.source)
	w := b.watches[wt.key]
	if w == nil {
		return
	}
	delete(w.waiters, wt)
	if len(w.waiters) == 0 {
		if w.stopTimer != nil {
			w.stopTimer()
		}
		delete(b.watches, wt.key)
		delete(b.dirty, wt.key)
	}
}

// watched reports whether k has waiters.
func (b *hub) watched(k key) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.watches[k] != nil
}

// changed wakes the waiters of k: its index has just changed.
func (b *hub) changed(k key) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.watches[k]; w != nil {
		for wt := range w.waiters {
			if !wt.changed {
				wt.changed = true
				b.woken++
			}
			wt.wake()
		}
	}
}

// notify marks the watched keys a registry change may have changed.
func (b *hub) notify(c registry.Change) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.watches) == 0 {
		return
	}
	for _, t := range c.Topics {
		b.markLocked(key{kind: kindLookup, topic: t})
		b.markLocked(key{kind: kindChannels, topic: t})
	}
	if c.TopicList {
		b.markLocked(key{kind: kindTopics})
	}
	b.markLocked(key{kind: kindNodes})
}

// expired marks k to be recomputed: the timer armed as generation gen of
// watch w fired.
func (b *hub) expired(k key, w *watch, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watches[k] != w || w.timerGen != gen {
		return
	}
	w.stopTimer, w.timerAt = nil, time.Time{}
	b.markLocked(k)
}

func (b *hub) markLocked(k key) {
	if b.watches[k] == nil {
		return
	}
	b.dirty[k] = struct{}{}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// arm makes sure k's answer is recomputed at validUntil, the instant time
// alone may change it, if k has waiters.
func (b *hub) arm(k key, validUntil time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.watches[k]
	if w == nil || (w.stopTimer != nil && w.timerAt.Equal(validUntil)) {
		return
	}
	if w.stopTimer != nil {
		w.stopTimer()
		w.stopTimer = nil
	}
	w.timerAt = validUntil
	if !validUntil.Before(never) {
		return
	}
	w.timerGen++
	gen := w.timerGen
	w.stopTimer = b.h.opts.AfterFunc(validUntil.Sub(b.h.opts.Now()), func() { b.expired(k, w, gen) })
}

// BlockingStats counts blocked queries.
type BlockingStats struct {
	// Waiting is the number of blocked queries now held.
	Waiting int
	// Keys is the number of distinct answers they wait on.
	Keys int
	// Total counts blocked queries admitted since start.
	Total uint64
	// Woken counts wake-ups of blocked queries by a change of their
	// answer (not by the end of their wait or a shutdown).
	Woken uint64
	// Capped counts queries answered at once because MaxBlockingQueries
	// were already held.
	Capped uint64
	// CappedPerSource counts queries answered at once because their
	// source held MaxBlockingQueriesPerSource already.
	CappedPerSource uint64
}

func (b *hub) stats() BlockingStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BlockingStats{Waiting: b.active, Keys: len(b.watches), Total: b.total, Woken: b.woken,
		Capped: b.capped, CappedPerSource: b.cappedSource}
}

// isRunning reports whether run is holding blocked queries.
func (b *hub) isRunning() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
}
