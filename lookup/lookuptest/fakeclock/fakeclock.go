// Package fakeclock is a manually advanced clock for tests that inject
// time (registry.Options.Now, httpapi.Options.Now and AfterFunc,
// lookup.Options.Now and AfterFunc). It imports nothing from this
// project, so any package's tests may use it.
package fakeclock

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Start is where every new Clock begins.
var Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	ns atomic.Int64

	mu     sync.Mutex
	timers []*timer
}

type timer struct {
	at int64
	f  func()
}

// New returns a Clock reading Start.
func New() *Clock {
	c := &Clock{}
	c.ns.Store(Start.UnixNano())
	return c
}

// Now returns the clock's time; pass the method value as a Now option.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// AfterFunc arranges for f to be called once the clock has been advanced
// by d or more, like time.AfterFunc. f runs in the goroutine that calls
// Advance, after the clock has moved and outside the clock's lock, so it
// may call AfterFunc itself. The returned stop cancels the call and
// reports whether it did so before f was called. A d of zero or less
// fires at the next Advance.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	t := &timer{at: c.ns.Load() + int64(max(d, 0)), f: f}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.timers, t)
		if i < 0 {
			return false
		}
		c.timers = slices.Delete(c.timers, i, i+1)
		return true
	}
}

// Pending returns how many AfterFunc calls are waiting for the clock.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// Advance moves the clock forward by d and then calls, in the order of
// their instants, the functions of every AfterFunc that has come due.
func (c *Clock) Advance(d time.Duration) {
	now := c.ns.Add(int64(d))
	c.mu.Lock()
	var due []*timer
	c.timers = slices.DeleteFunc(c.timers, func(t *timer) bool {
		if t.at <= now {
			due = append(due, t)
			return true
		}
		return false
	})
	c.mu.Unlock()
	slices.SortStableFunc(due, func(a, b *timer) int { return cmp.Compare(a.at, b.at) })
	for _, t := range due {
		t.f()
	}
}
