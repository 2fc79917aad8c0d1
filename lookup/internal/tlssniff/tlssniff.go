package tlssniff

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// recordTypeHandshake is the first byte of every TLS connection.
const recordTypeHandshake = 0x16

// DeadlineListener is a listener whose Accept a deadline can interrupt,
// as *net.TCPListener's can.
type DeadlineListener interface {
	net.Listener
	SetDeadline(t time.Time) error
}

// Listener wraps a listener: every connection it accepts is a *Conn that
// speaks TLS with the listener's configuration if the client opens with a
// TLS handshake, and plaintext otherwise. Safe for concurrent use.
type Listener struct {
	ln  DeadlineListener
	cfg *tls.Config

	handshakeErrors, plaintext atomic.Int64
}

// NewListener wraps ln; cfg is used for every TLS connection (its
// GetConfigForClient may pick a newer configuration per handshake).
func NewListener(ln DeadlineListener, cfg *tls.Config) *Listener {
	return &Listener{ln: ln, cfg: cfg}
}

// Accept returns the next connection as a *Conn, without reading from it.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &Conn{raw: c, l: l}, nil
}

// SetDeadline sets the deadline of Accept.
func (l *Listener) SetDeadline(t time.Time) error { return l.ln.SetDeadline(t) }

// Close closes the listener; accepted connections stay open.
func (l *Listener) Close() error { return l.ln.Close() }

// Addr returns the listener's address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Stats counts what the listener's connections turned out to be.
type Stats struct {
	// HandshakeErrors counts TLS handshakes that failed (a bad or missing
	// client certificate, a protocol error, a deadline).
	HandshakeErrors int64
	// Plaintext counts connections whose client did not speak TLS.
	Plaintext int64
}

// Stats returns the counters.
func (l *Listener) Stats() Stats {
	return Stats{HandshakeErrors: l.handshakeErrors.Load(), Plaintext: l.plaintext.Load()}
}

// The modes of a Conn.
const (
	undecided int32 = iota
	modeTLS
	modePlain
)

// Conn is a connection accepted by a Listener. Until its first Read it is
// undecided; that Read reads one byte and either runs the TLS handshake or
// settles for plaintext. Read and Write may be called from different
// goroutines, as net/http does, but the first Write must come after the
// first Read returns (a server reads the request first).
type Conn struct {
	raw net.Conn
	l   *Listener

	mode   atomic.Int32
	decide sync.Mutex // held by the first Read
	tls    *tls.Conn  // set before mode becomes modeTLS
	plain  *prefixed  // set before mode becomes modePlain: the first byte, then raw
	err    error      // of the first Read, returned to every later one

	readDeadline atomic.Pointer[time.Time] // for the handshake's writes
}

// Read reads from the connection, deciding its mode on the first call.
func (c *Conn) Read(p []byte) (int, error) {
	switch c.mode.Load() {
	case modeTLS:
		return c.tls.Read(p)
	case modePlain:
		return c.plain.Read(p)
	}
	if err := c.first(); err != nil {
		return 0, err
	}
	return c.Read(p)
}

// first decides the mode from the client's first byte.
func (c *Conn) first() error {
	c.decide.Lock()
	defer c.decide.Unlock()
	if c.mode.Load() != undecided || c.err != nil {
		return c.err
	}
	var b [1]byte
	if _, err := c.raw.Read(b[:]); err != nil {
		c.err = err
		return err
	}
	if b[0] != recordTypeHandshake {
		c.l.plaintext.Add(1)
		c.plain = &prefixed{Conn: c.raw, first: []byte{b[0]}}
		c.mode.Store(modePlain)
		return nil
	}
	tc := tls.Server(&prefixed{Conn: c.raw, first: b[:]}, c.l.cfg)
	// The handshake writes too: bound its writes by the reader's deadline.
	if d := c.readDeadline.Load(); d != nil {
		_ = c.raw.SetWriteDeadline(*d)
	}
	err := tc.Handshake()
	_ = c.raw.SetWriteDeadline(time.Time{})
	if err != nil {
		c.l.handshakeErrors.Add(1)
		c.err = err
		return err
	}
	c.tls = tc
	c.mode.Store(modeTLS)
	return nil
}

// Write writes to the connection: through TLS once it speaks TLS, in
// plaintext otherwise.
func (c *Conn) Write(p []byte) (int, error) {
	if c.mode.Load() == modeTLS {
		return c.tls.Write(p)
	}
	return c.raw.Write(p)
}

// Close closes the connection (sending TLS's close_notify first, within
// the 5 s crypto/tls allows).
func (c *Conn) Close() error {
	if c.mode.Load() == modeTLS {
		return c.tls.Close()
	}
	return c.raw.Close()
}

// Plaintext reports whether the client has spoken plaintext. It is false
// before the first Read.
func (c *Conn) Plaintext() bool { return c.mode.Load() == modePlain }

// ConnectionState returns the TLS state, and false unless the connection
// speaks TLS.
func (c *Conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.mode.Load() != modeTLS {
		return tls.ConnectionState{}, false
	}
	return c.tls.ConnectionState(), true
}

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.readDeadline.Store(&t)
	return c.raw.SetDeadline(t)
}

// SetReadDeadline sets the read deadline, which also bounds the TLS
// handshake's writes.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.readDeadline.Store(&t)
	return c.raw.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.SetWriteDeadline(t) }

// Find returns the *Conn that c is or wraps, following Unwrap() net.Conn
// methods (as wrappers such as a hijacked connection handed back to the
// HTTP server have), or nil.
func Find(c net.Conn) *Conn {
	for c != nil {
		switch x := c.(type) {
		case *Conn:
			return x
		case interface{ Unwrap() net.Conn }:
			c = x.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// prefixed replays first before reading from Conn.
type prefixed struct {
	net.Conn
	first []byte
}

func (p *prefixed) Read(b []byte) (int, error) {
	if len(p.first) > 0 {
		n := copy(b, p.first)
		p.first = p.first[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
