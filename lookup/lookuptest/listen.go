package lookuptest

import (
	"net"
	"sync"
	"testing"
)

// Listener accepts TCP connections on 127.0.0.1 port 0 and hands each to a
// handler running in a goroutine of its own. It owns every connection it
// accepts: Close (which the test's cleanup calls too) closes them all and
// waits for the handlers.
type Listener struct {
	ln     net.Listener
	handle func(net.Conn)
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// Listen starts a Listener that runs handle for each connection and closes
// the connection when handle returns; handle must return once the
// connection is closed. A nil handle leaves each connection open and
// unread until Close: a server that accepts and never answers. Listen fails
// the test if it cannot listen; call it from the test goroutine.
func Listen(t testing.TB, handle func(net.Conn)) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	l := &Listener{ln: ln, handle: handle, conns: make(map[net.Conn]struct{})}
	l.wg.Go(l.accept)
	t.Cleanup(l.Close)
	return l
}

// SilentListener returns the address of a Listener that accepts
// connections, reads nothing and never answers, until the test ends.
func SilentListener(t testing.TB) string {
	t.Helper()
	return Listen(t, nil).Addr()
}

// Addr returns the host:port the Listener accepts on.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Close stops accepting, closes every accepted connection and waits for
// the handlers to return. It is safe to call more than once and from any
// goroutine, but not from a handler.
func (l *Listener) Close() {
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.ln.Close()
	l.wg.Wait()
}

func (l *Listener) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		if l.handle != nil {
			l.wg.Go(func() {
				defer l.release(c)
				l.handle(c)
			})
		}
	}
}

func (l *Listener) release(c net.Conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	c.Close()
}
