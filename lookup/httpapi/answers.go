package httpapi

import (
	"bytes"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxAnswers bounds the answer table; past it, entries without waiters
// are dropped.
const maxAnswers = 1 << 16

// kind names one of the four read endpoints that carry an index.
type kind uint8

const (
	kindLookup kind = iota
	kindChannels
	kindTopics
	kindNodes
)

// key names one answer: a read endpoint and, for /lookup and /channels,
// the topic asked for.
type key struct {
	kind  kind
	topic string
}

// answer is one encoded answer of a read endpoint, valid while the
// registry version it was computed from is current and the clock is before
// validUntil. It is immutable once put in the table, apart from confirmed.
type answer struct {
	status     int // 200, or 404 for /lookup of a missing topic
	body       rawJSON
	version    uint64 // the registry version of what the body shows
	validUntil time.Time
	// dbv and at are the database version and clock reading taken before
	// computing: put keeps the later of two answers by them.
	dbv uint64
	at  int64
	// index is the answer's X-Lookupd-Index, given by put: it changes
	// exactly when status or body change.
	index uint64
	// Header values, built once so that serving an answer allocates
	// nothing.
	indexHdr, lengthHdr []string
	// confirmed is the database version (registry DB.Version) at which
	// the answer was last known current. While the database version is
	// still that, nothing at all has changed, so the answer can be served
	// without asking the registry for the key's own version.
	confirmed atomic.Uint64
}

func newAnswer(status int, body rawJSON, version uint64, validUntil time.Time, dbv uint64, at time.Time) *answer {
	a := &answer{
		status: status, body: body, version: version, validUntil: validUntil,
		dbv: dbv, at: at.UnixNano(), lengthHdr: []string{strconv.Itoa(len(body))},
	}
	a.confirmed.Store(dbv)
	return a
}

// newer reports whether a was computed from a later state than b.
func (a *answer) newer(b *answer) bool {
	return a.dbv > b.dbv || a.dbv == b.dbv && a.at > b.at
}

// answers holds the current answer of every key asked for recently, with
// its index. Indexes come from one counter, so a key's index never
// repeats while the daemon runs, and a new daemon starts again from 1.
type answers struct {
	mu   sync.RWMutex
	m    map[key]*answer
	last uint64 // last index handed out
	// changed is called, outside the lock, after put gave k a new index.
	changed func(k key)
	// keep reports whether k must survive a trim (it has waiters).
	keep func(k key) bool
}

func (t *answers) init(changed func(key), keep func(key) bool) {
	t.m = make(map[key]*answer)
	t.changed, t.keep = changed, keep
}

func (t *answers) get(k key) *answer {
	t.mu.RLock()
	a := t.m[k]
	t.mu.RUnlock()
	return a
}

// fresh returns the answer for k if it was last confirmed at database
// version dbv, so nothing has changed since, and has not expired at now.
func (t *answers) fresh(k key, dbv uint64, now time.Time) *answer {
	a := t.get(k)
	if a == nil || a.confirmed.Load() != dbv || !now.Before(a.validUntil) {
		return nil
	}
	return a
}

// confirm returns the answer for k if it was computed at version and has
// not expired at now, and records dbv as the database version it is known
// current at. The caller must have read dbv before version, so that a
// change in between leaves the record too old, never too new.
func (t *answers) confirm(k key, version, dbv uint64, now time.Time) *answer {
	a := t.get(k)
	if a == nil || a.version != version || !now.Before(a.validUntil) {
		return nil
	}
	a.confirmed.Store(dbv)
	return a
}

// put stores a as k's answer unless the table holds one computed from a
// later state, and returns the one it holds. a keeps the index of the
// answer it replaces if status and body are the same, and gets the next
// index otherwise.
func (t *answers) put(k key, a *answer) *answer {
	t.mu.Lock()
	old := t.m[k]
	if old != nil && old.newer(a) {
		t.mu.Unlock()
		return old
	}
	same := old != nil && old.status == a.status && bytes.Equal(old.body, a.body)
	if same {
		a.index, a.indexHdr = old.index, old.indexHdr
	} else {
		t.last++
		a.index = t.last
		a.indexHdr = []string{strconv.FormatUint(a.index, 10)}
	}
	if old == nil && len(t.m) >= maxAnswers {
		t.trim()
	}
	t.m[k] = a
	t.mu.Unlock()
	if !same && t.changed != nil {
		t.changed(k)
	}
	return a
}

// trim drops every answer whose key has no waiters; the caller holds the
// lock. A dropped key gets a new index when next computed, so a client
// holding the old one is answered at once: trimming costs a round trip,
// never a missed change.
func (t *answers) trim() {
	for k := range t.m {
		if t.keep == nil || !t.keep(k) {
			delete(t.m, k)
		}
	}
}
