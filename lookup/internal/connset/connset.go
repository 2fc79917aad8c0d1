package connset

import (
	"errors"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lookupd/lookupd/lookup/internal/limit"
)

// Set is the open connections of one server, at most max of them and at
// most perSource from one source address (limit.Source). It is safe for
// concurrent use.
type Set struct {
	max       int
	mu        sync.Mutex
	conns     map[net.Conn]netip.Prefix // each with its source
	perSource limit.PerSource
	closed    bool
}

// New returns an empty Set holding at most max connections, and at most
// perSource from one source address (0: no cap, for either).
func New(max, perSource int) *Set {
	s := &Set{max: max, conns: make(map[net.Conn]netip.Prefix)}
	s.perSource.Max = perSource
	return s
}

// Result is what Add did with a connection.
type Result int

// The results of Add.
const (
	// Added: the connection is in the set.
	Added Result = iota
	// Closed: the set is closed; the connection was closed.
	Closed
	// Full: the set holds max connections; the connection was closed.
	Full
	// SourceFull: the connection's source holds perSource connections;
	// the connection was closed.
	SourceFull
)

// Add records c and returns Added, or closes c and says why not.
func (s *Set) Add(c net.Conn) Result {
	src := limit.Source(c.RemoteAddr())
	s.mu.Lock()
	r := Added
	switch {
	case s.closed:
		r = Closed
	case s.max > 0 && len(s.conns) >= s.max:
		r = Full
	case !s.perSource.Acquire(src):
		r = SourceFull
	default:
		s.conns[c] = src
	}
	s.mu.Unlock()
	if r != Added {
		c.Close()
	}
	return r
}

// Remove forgets c. It does not close it.
func (s *Set) Remove(c net.Conn) {
	s.mu.Lock()
	if src, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.perSource.Release(src)
	}
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
