package tcpserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// conn is one producer connection, owned by the goroutine running handle.
type conn struct {
	s      *Server
	c      net.Conn
	br     *bufio.Reader // from s.readers while input is buffered, else nil
	pre    prefetched    // what br reads from
	out    []byte        // replies not yet flushed
	remote string
	id     string       // registry id once identified
	log    *slog.Logger // built on first use: see logAt
	// handshakeBy is when the connection must have identified; zero when
	// there is no handshake timeout.
	handshakeBy time.Time
	// grant limits what the connection may REGISTER; nil: anything.
	grant *auth.Grant
}

func (s *Server) handle(nc net.Conn, cfg *tls.Config) {
	c := &conn{s: s, c: nc, remote: nc.RemoteAddr().String(), pre: prefetched{c: nc}}
	if s.opts.HandshakeTimeout > 0 {
		c.handshakeBy = time.Now().Add(s.opts.HandshakeTimeout)
	}
	c.logAt(slog.LevelDebug, "connection opened")
	var err error
	if cfg != nil {
		err = c.handshakeTLS(cfg)
	}
	if err == nil {
		err = c.serve()
	}
	if c.br != nil {
		c.releaseReader()
	}
	// The producer is gone before its connection closes, and the
	// connection is closed and untracked before the outcome is counted,
	// so Stats never counts a timeout for a connection still open.
	removed := c.id != "" && s.db.RemoveProducer(c.id)
	c.c.Close() // over TLS, with a close_notify
	s.untrack(nc)
	if removed {
		c.logAt(slog.LevelInfo, "producer removed", "conn", c.id)
	}
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.logAt(slog.LevelDebug, "connection closed")
	case errors.Is(err, os.ErrDeadlineExceeded) && c.id == "" && !c.handshakeBy.IsZero() && !time.Now().Before(c.handshakeBy):
		s.handshakeTimeouts.Add(1)
		if ok, n := s.logHandshake.Allow(time.Now()); ok {
			s.log.Info("handshake timeout: no IDENTIFY in time", "remote_addr", c.remote,
				"timeout", s.opts.HandshakeTimeout, "suppressed", n)
		}
	case errors.As(err, new(tlsError)):
		s.tlsErrors.Add(1)
		if ok, n := s.logHandshake.Allow(time.Now()); ok {
			s.log.Info("tls handshake failed", "remote_addr", c.remote, "err", err, "suppressed", n)
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.timeouts.Add(1)
		c.logAt(slog.LevelInfo, "connection idle timeout", "conn", c.id, "timeout", s.opts.IdleTimeout)
	default:
		c.logAt(slog.LevelInfo, "connection closed on error", "conn", c.id, "err", err)
	}
}

// enabled reports whether the server logs at level.
func (c *conn) enabled(level slog.Level) bool { return c.s.log.Enabled(context.Background(), level) }

// logAt logs with the connection's remote_addr if level is enabled. The
// per-connection logger is built only then, so a quiet connection costs
// none.
func (c *conn) logAt(level slog.Level, msg string, args ...any) {
	if !c.enabled(level) {
		return
	}
	if c.log == nil {
		c.log = c.s.log.With("remote_addr", c.remote)
	}
	c.log.Log(context.Background(), level, msg, args...)
}

// prefetched is the reader under a connection's pooled bufio.Reader: first
// the bytes await read while the connection held no buffer, then the
// connection itself.
type prefetched struct {
	c       net.Conn
	b       [1024]byte // a command line, or a pipelined burst of them, in one read
	pending []byte     // unread part of b
}

func (f *prefetched) Read(p []byte) (int, error) {
	if len(f.pending) == 0 {
		return f.c.Read(p)
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// tlsError is a failed TLS handshake that was not cut by a deadline.
type tlsError struct{ err error }

func (e tlsError) Error() string { return "tls handshake: " + e.err.Error() }
func (e tlsError) Unwrap() error { return e.err }

// handshakeTLS runs the server side of a TLS handshake on c within the
// handshake deadline (or, without one, the idle timeout), then makes c
// read and write through TLS.
func (c *conn) handshakeTLS(cfg *tls.Config) error {
	deadline := c.handshakeBy
	if deadline.IsZero() {
		deadline = time.Now().Add(c.s.opts.IdleTimeout)
	}
	tc := tls.Server(c.c, cfg)
	if err := tc.SetDeadline(deadline); err != nil {
		return err
	}
	if err := tc.Handshake(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		return tlsError{err: err}
	}
	if err := tc.SetDeadline(time.Time{}); err != nil {
		return err
	}
	c.c, c.pre.c = tc, tc
	return nil
}

// readDeadline returns the deadline of the next wait for input: the idle
// timeout from now, or the handshake deadline if that comes first and the
// connection has not identified yet.
func (c *conn) readDeadline() time.Time {
	d := time.Now().Add(c.s.opts.IdleTimeout)
	if c.id == "" && !c.handshakeBy.IsZero() && c.handshakeBy.Before(d) {
		return c.handshakeBy
	}
	return d
}

// await makes c.br hold input. While nothing is buffered it returns the
// read buffer to the server's pool, restarts the read deadline and blocks
// on a read into a small array, so an idle connection holds no buffer; the
// limits are unchanged since every buffer is MaxLineLength bytes and sees
// the same bytes in the same order. Commands already buffered (a pipelined
// burst) cost no deadline update. Read errors are returned unchanged.
func (c *conn) await() error {
	if c.br != nil {
		if c.br.Buffered() > 0 {
			return nil
		}
		c.releaseReader()
	}
	if err := c.c.SetReadDeadline(c.readDeadline()); err != nil {
		return err
	}
	n, err := c.c.Read(c.pre.b[:])
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	// An error with data comes back on the next read.
	c.pre.pending = c.pre.b[:n]
	c.br = c.s.readers.Get().(*bufio.Reader)
	c.br.Reset(&c.pre)
	return nil
}

// releaseReader returns c.br to the pool. Anything still buffered is
// dropped, which happens only when the connection ends.
func (c *conn) releaseReader() {
	c.br.Reset(nil)
	c.s.readers.Put(c.br)
	c.br = nil
}

func (c *conn) serve() error {
	s := c.s
	var magic [4]byte
	if err := c.await(); err != nil {
		return fmt.Errorf("read protocol magic: %w", err)
	}
	if _, err := io.ReadFull(c.br, magic[:]); err != nil {
		return fmt.Errorf("read protocol magic: %w", err)
	}
	if string(magic[:]) != wire.MagicV1 {
		s.errs.Add(1)
		c.logAt(slog.LevelInfo, "bad protocol magic", "magic", fmt.Sprintf("%q", magic[:]))
		c.out = wire.AppendResponse(c.out, []byte(wire.CodeBadProtocol))
		return c.flush()
	}
	for {
		if err := c.await(); err != nil {
			return err
		}
		line, err := wire.ReadLine(c.br)
		var resp []byte
		if err == nil {
			s.commands.Add(1)
			resp, err = c.exec(wire.ParseCommand(line))
		}
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				return err
			}
			s.errs.Add(1)
			c.logAt(slog.LevelInfo, "protocol error", "conn", c.id, "err", err, "cause", we.Err)
			c.out = wire.AppendResponse(c.out, []byte(we.Error()))
			if ferr := c.flush(); ferr != nil || we.Fatal {
				return errors.Join(err, ferr)
			}
			continue
		}
		c.out = wire.AppendResponse(c.out, resp)
		// Batch replies to pipelined commands into one write, but only
		// while a whole next line is already buffered: waiting on a
		// partial one would hold these replies back.
		if !c.lineBuffered() || len(c.out) > 4096 {
			if err := c.flush(); err != nil {
				return err
			}
		}
	}
}

// lineBuffered reports whether the read buffer holds a complete command
// line, so that the next ReadLine will not block.
func (c *conn) lineBuffered() bool {
	n := c.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := c.br.Peek(n)
	return bytes.IndexByte(b, '\n') >= 0
}

func (c *conn) flush() error {
	if len(c.out) == 0 {
		return nil
	}
	if err := c.c.SetWriteDeadline(time.Now().Add(c.s.opts.WriteTimeout)); err != nil {
		return err
	}
	_, err := c.c.Write(c.out)
	c.out = c.out[:0]
	if cap(c.out) > 64*1024 {
		c.out = nil
	}
	return err
}

func (c *conn) exec(cmd wire.Command) ([]byte, error) {
	switch cmd.Name {
	case wire.CmdPing:
		if c.id != "" {
			c.s.db.Touch(c.id)
		}
		return wire.OK, nil
	case wire.CmdIdentify:
		return c.identify()
	case wire.CmdRegister:
		return c.register(cmd)
	case wire.CmdUnregister:
		return c.unregister(cmd)
	}
	return nil, wire.NewFatal(wire.CodeInvalid, "invalid command "+cmd.Name, nil)
}

func (c *conn) identify() ([]byte, error) {
	if c.id != "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "cannot IDENTIFY again", nil)
	}
	body, err := wire.ReadIdentifyBody(c.br, c.s.opts.MaxIdentifySize)
	if err != nil {
		return nil, err
	}
	pi, err := wire.DecodeIdentify(body)
	if err != nil {
		return nil, err
	}
	if c.s.opts.RequireAuth {
		if c.grant, err = c.admit(body); err != nil {
			return nil, err
		}
	}
	pi.RemoteAddress = c.remote // DecodeIdentify never takes it from the body
	if err := c.s.db.Identify(c.remote, pi); err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "cannot IDENTIFY again", err)
	}
	c.id = c.remote
	if c.enabled(slog.LevelInfo) {
		c.logAt(slog.LevelInfo, "producer identified", "conn", c.id, "broadcast_address", pi.BroadcastAddress,
			"tcp_port", pi.TCPPort, "http_port", pi.HTTPPort, "version", pi.Version)
	}
	return c.s.identify, nil
}

func (c *conn) register(cmd wire.Command) ([]byte, error) {
	if c.id == "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "client must IDENTIFY", nil)
	}
	topic, channel, err := wire.TopicChannel(cmd)
	if err != nil {
		return nil, err
	}
	if err := c.mayRegister(topic); err != nil {
		return nil, err
	}
	added, err := c.s.db.Register(c.id, topic, channel)
	if errors.Is(err, registry.ErrTooManyRegistrations) {
		// Not fatal: closing would drop everything the producer holds.
		return nil, &wire.Error{Code: wire.CodeInvalid, Desc: "REGISTER too many registrations", Err: err}
	}
	if err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "REGISTER failed", err)
	}
	// Checked here so a disabled level costs no argument boxing per command.
	if added && c.enabled(slog.LevelInfo) {
		c.logAt(slog.LevelInfo, "producer registered", "conn", c.id, "topic", topic, "channel", channel)
	}
	return wire.OK, nil
}

func (c *conn) unregister(cmd wire.Command) ([]byte, error) {
	if c.id == "" {
		return nil, wire.NewFatal(wire.CodeInvalid, "client must IDENTIFY", nil)
	}
	topic, channel, err := wire.TopicChannel(cmd)
	if err != nil {
		return nil, err
	}
	removed, err := c.s.db.Unregister(c.id, topic, channel)
	if err != nil {
		return nil, wire.NewFatal(wire.CodeInvalid, "UNREGISTER failed", err)
	}
	if removed && c.enabled(slog.LevelInfo) {
		c.logAt(slog.LevelInfo, "producer unregistered", "conn", c.id, "topic", topic, "channel", channel)
	}
	return wire.OK, nil
}
