// Package fakeclock is a manually advanced clock for tests that inject
// time (registry.Options.Now, httpapi.Options.Now, lookup.Options.Now). It
// imports nothing from this project, so any package's tests may use it.
package fakeclock

import (
	"sync/atomic"
	"time"
)

// Start is where every new Clock begins.
var Start = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct{ ns atomic.Int64 }

// New returns a Clock reading Start.
func New() *Clock {
	c := &Clock{}
	c.ns.Store(Start.UnixNano())
	return c
}

// Now returns the clock's time; pass the method value as a Now option.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()) }

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
