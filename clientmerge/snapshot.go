package clientmerge

import (
	"sync"
	"time"
)

// snapshotStore keeps the last successful result of each query, keyed by
// query kind and topic. Values are private deep copies, never handed out
// directly. One entry per distinct query is kept for the Client's life.
type snapshotStore struct {
	mu sync.Mutex
	m  map[string]snapshot
}

type snapshot struct {
	at time.Time
	v  any
}

func newSnapshotStore() *snapshotStore {
	return &snapshotStore{m: make(map[string]snapshot)}
}

func (s *snapshotStore) put(key string, v any) {
	s.mu.Lock()
	s.m[key] = snapshot{at: time.Now(), v: v}
	s.mu.Unlock()
}

// get returns the value stored under key and when it was stored. The
// caller must not modify the value.
func (s *snapshotStore) get(key string) (any, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn, ok := s.m[key]
	return sn.v, sn.at, ok
}
