package httpapi

import (
	"errors"
	"net"
	"sync"
	"time"
)

// DeadlineListener is a listener whose Accept can be interrupted by a
// deadline, as *net.TCPListener's can.
type DeadlineListener interface {
	net.Listener
	SetDeadline(t time.Time) error
}

// Listener is the HTTP server's listener. Besides new connections, its
// Accept returns the connections the handler hijacked for blocked queries
// and hands back once answered (pass Handback as Options.Handback), so
// that a client's keep-alive connection outlives a blocking query.
// Accept is meant for one goroutine (http.Server.Serve); Handback and
// Close may be called from any.
type Listener struct {
	ln DeadlineListener

	mu     sync.Mutex
	back   []net.Conn
	closed bool
}

// NewListener wraps ln.
func NewListener(ln DeadlineListener) *Listener { return &Listener{ln: ln} }

// Accept returns the next handed-back connection, or else waits for a new
// one. A Handback interrupts the wait by setting the listener's deadline
// in the past.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		// Clear the deadline before looking at the queue: a Handback
		// that lands after the look sets it again, after queueing.
		_ = l.ln.SetDeadline(time.Time{})
		l.mu.Lock()
		if len(l.back) > 0 {
			c := l.back[0]
			l.back[0] = nil
			l.back = l.back[1:]
			l.mu.Unlock()
			return c, nil
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil, net.ErrClosed
		}
		c, err := l.ln.Accept()
		var ne net.Error
		if err != nil && errors.As(err, &ne) && ne.Timeout() {
			continue // interrupted by Handback (or Close)
		}
		return c, err
	}
}

// Handback queues c to be returned by Accept, and reports false (leaving
// c to the caller) once the listener is closed.
func (l *Listener) Handback(c net.Conn) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.back = append(l.back, c)
	l.mu.Unlock()
	_ = l.ln.SetDeadline(aLongTimeAgo)
	return true
}

// Close closes the listener and the connections still queued.
func (l *Listener) Close() error {
	l.mu.Lock()
	l.closed = true
	for _, c := range l.back {
		c.Close()
	}
	l.back = nil
	l.mu.Unlock()
	return l.ln.Close()
}

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }
