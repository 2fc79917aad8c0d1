package connset

import (
	"errors"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"time"
)

// Set is the open connections of one server, at most Max of them. It is
// safe for concurrent use.
type Set struct {
	max    int
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// New returns an empty Set holding at most max connections (0: no cap).
func New(max int) *Set {
	return &Set{max: max, conns: make(map[net.Conn]struct{})}
}

// Add records c and reports true, or closes c and reports false when the
// set is closed or full; full says it was the cap.
func (s *Set) Add(c net.Conn) (added, full bool) {
	s.mu.Lock()
	full = s.max > 0 && len(s.conns) >= s.max
	if s.closed || full {
		s.mu.Unlock()
		c.Close()
		return false, full
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	return true, false
}

// Remove forgets c. It does not close it.
func (s *Set) Remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close closes every connection in the set and makes Add refuse new ones.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	// Add adds nothing once closed is set, so this copy is every
	// connection there will be; closing them unlocked keeps a slow Close
	// from stalling Len and the handlers' Remove.
	conns := slices.Collect(maps.Keys(s.conns))
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Len returns the number of connections in the set.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Accept returns the next connection of ln. Temporary errors (such as
// running out of file descriptors) are logged and retried with a backoff
// growing from 5 ms to 1 s; any other error is returned, wrapping
// net.ErrClosed once ln is closed. It blocks until one or the other.
func Accept(ln net.Listener, log *slog.Logger) (net.Conn, error) {
	var backoff time.Duration
	for {
		conn, err := ln.Accept()
		if err == nil || errors.Is(err, net.ErrClosed) || !Temporary(err) {
			return conn, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		log.Warn("accept failed", "err", err, "retry_in", backoff)
		time.Sleep(backoff) // accept backoff, not test synchronisation
	}
}

// Temporary reports whether err is a timeout or says it is temporary:
// worth retrying the same call.
func Temporary(err error) bool {
	var t interface{ Temporary() bool }
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.As(err, &t) && t.Temporary()
}
