package clientmerge

import (
	"container/list"
	"sync"
	"time"
)

// snapshotStore keeps the last successful result of each query, keyed by
// query kind and topic, up to max entries; the entry stored or served
// least recently is evicted first. Values are private deep copies, never
// handed out directly. It is safe for concurrent use.
type snapshotStore struct {
	mu    sync.Mutex
	max   int
	m     map[string]*list.Element
	order list.List // front: most recently used; values are *snapshot
}

type snapshot struct {
	key string
	at  time.Time
	v   any
}

func newSnapshotStore(limit int) *snapshotStore {
	return &snapshotStore{max: limit, m: make(map[string]*list.Element)}
}

func (s *snapshotStore) put(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok {
		e.Value = &snapshot{key: key, at: time.Now(), v: v}
		s.order.MoveToFront(e)
		return
	}
	s.m[key] = s.order.PushFront(&snapshot{key: key, at: time.Now(), v: v})
	for len(s.m) > s.max {
		last := s.order.Back()
		s.order.Remove(last)
		delete(s.m, last.Value.(*snapshot).key)
	}
}

// get returns the value stored under key and when it was stored. The
// caller must not modify the value.
func (s *snapshotStore) get(key string) (any, time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok {
		return nil, time.Time{}, false
	}
	s.order.MoveToFront(e)
	sn := e.Value.(*snapshot)
	return sn.v, sn.at, true
}

// len returns the number of snapshots kept.
func (s *snapshotStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
