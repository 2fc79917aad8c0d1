package httpapi

import (
	"sync"
	"sync/atomic"
	"time"
)

// maxCacheEntries bounds each cache; past it the cache starts over.
const maxCacheEntries = 1 << 16

// cache keeps encoded answers keyed by topic (or "" for whole-database
// answers), each valid while the registry version it was computed from is
// current and the clock is before its expiry.
type cache struct {
	mu sync.RWMutex
	m  map[string]*entry
}

type entry struct {
	version    uint64
	validUntil time.Time
	body       rawJSON
	// confirmed is the database version (registry DB.Version) at which
	// the entry was last known current. While the database version is
	// still that, nothing at all has changed, so the entry can be served
	// without asking the registry for the key's own version.
	confirmed atomic.Uint64
}

func newEntry(version uint64, validUntil time.Time, body rawJSON, dbVersion uint64) *entry {
	e := &entry{version: version, validUntil: validUntil, body: body}
	e.confirmed.Store(dbVersion)
	return e
}

func (c *cache) init() { c.m = make(map[string]*entry) }

// get returns the body cached for key if it was computed at version and
// has not expired at now.
func (c *cache) get(key string, version uint64, now time.Time) (rawJSON, bool) {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e == nil || e.version != version || !now.Before(e.validUntil) {
		return nil, false
	}
	return e.body, true
}

// fresh returns the body cached for key if it was last confirmed at
// database version dbVersion, so nothing has changed since, and has not
// expired at now.
func (c *cache) fresh(key string, dbVersion uint64, now time.Time) (rawJSON, bool) {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e == nil || e.confirmed.Load() != dbVersion || !now.Before(e.validUntil) {
		return nil, false
	}
	return e.body, true
}

// confirm is get that also records dbVersion as the database version the
// entry is known current at. The caller must have read dbVersion before
// version, so that a change in between leaves the record too old, never
// too new.
func (c *cache) confirm(key string, version, dbVersion uint64, now time.Time) (rawJSON, bool) {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	if e == nil || e.version != version || !now.Before(e.validUntil) {
		return nil, false
	}
	e.confirmed.Store(dbVersion)
	return e.body, true
}

func (c *cache) put(key string, e *entry) {
	c.mu.Lock()
	if len(c.m) >= maxCacheEntries {
		if _, ok := c.m[key]; !ok {
			clear(c.m)
		}
	}
	c.m[key] = e
	c.mu.Unlock()
}

func (c *cache) drop(key string) {
	c.mu.RLock()
	_, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		c.mu.Lock()
		delete(c.m, key)
		c.mu.Unlock()
	}
}
