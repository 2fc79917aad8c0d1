package tcpserver

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/internal/connset"
	"github.com/lookupd/lookupd/lookup/internal/limit"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Options configure a Server. Zero values take the defaults noted.
type Options struct {
	// MaxLineLength bounds one command line in bytes (default 4096).
	MaxLineLength int
	// MaxIdentifySize bounds the IDENTIFY body in bytes (default 64 KiB).
	MaxIdentifySize int
	// IdleTimeout closes a connection that sends nothing for this long
	// (default 600 s).
	IdleTimeout time.Duration
	// WriteTimeout bounds each write of replies (default 10 s).
	WriteTimeout time.Duration
	// MaxConnections caps concurrent connections; further ones are closed
	// at once. 0 means no cap.
	MaxConnections int
	// MaxConnectionsPerSource caps the concurrent connections from one
	// source (an IPv4 address or an IPv6 /64, see limit.Source); further
	// ones are closed at once. 0 means no cap.
	MaxConnectionsPerSource int
	// HandshakeTimeout closes a connection that has not completed IDENTIFY
	// this long after it was accepted (TLS handshake included). 0 means
	// only the idle timeout applies.
	HandshakeTimeout time.Duration
	// RequireAuth makes IDENTIFY need an auth_token in its body that Auth
	// grants role register (its topics then limit REGISTER), or, without
	// a token, a source address inside one of Allow. A refusal is a fatal
	// E_UNAUTHORIZED that touches nothing registered.
	RequireAuth bool
	// Auth holds the tokens; nil refuses every token.
	Auth *auth.Store
	// Allow lists the networks whose connections may register any topic
	// without a token (producers that cannot send one, such as nsqd).
	Allow []netip.Prefix
	// Identity is the reply to IDENTIFY: this lookupd's own address, ports,
	// hostname and protocol version.
	Identity LookupdInfo
	// Logger receives connection events. Default slog.Default().
	Logger *slog.Logger
}

// LookupdInfo is what the server says about itself in reply to IDENTIFY.
type LookupdInfo struct {
	BroadcastAddress string `json:"broadcast_address"`
	Hostname         string `json:"hostname"`
	HTTPPort         int    `json:"http_port"`
	TCPPort          int    `json:"tcp_port"`
	Version          string `json:"version"`
}

// Stats counts connection events since the server started.
type Stats struct {
	Open              int64 // connections open now
	Accepted          int64 // connections accepted
	Rejected          int64 // connections refused by MaxConnections
	RejectedPerSource int64 // connections refused by MaxConnectionsPerSource
	Commands          int64 // commands executed
	Errors            int64 // protocol errors replied
	Timeouts          int64 // connections closed by the idle timeout
	HandshakeTimeouts int64 // connections closed by the handshake timeout
	TLSErrors         int64 // TLS handshakes that failed other than by a deadline
	Unauthorized      int64 // IDENTIFYs refused for want of an acceptable token or address
	Forbidden         int64 // REGISTERs refused: topic not covered by the token
}

// Server serves the V1 protocol. Create it with New; Serve runs it.
type Server struct {
	db       *registry.DB
	opts     Options
	log      *slog.Logger
	identify []byte
	// readers holds the read buffers (MaxLineLength bytes each) that
	// connections use while they have input; a connection waiting for
	// input gives its buffer back, so an idle one holds none.
	readers sync.Pool

	conns *connset.Set
	wg    sync.WaitGroup

	// Refusals and timeouts an attacker can repeat at will are logged at
	// most once a second each, with the count held back.
	logRejected, logHandshake, logAuth limit.Every

	accepted, rejected, rejectedSource, commands, errs, timeouts, handshakeTimeouts atomic.Int64
	unauthorized, forbidden, tlsErrors                                              atomic.Int64
}

// New returns a Server over db.
func New(db *registry.DB, opts Options) (*Server, error) {
	if opts.MaxLineLength <= 0 {
		opts.MaxLineLength = wire.DefaultMaxLineLength
	}
	if opts.MaxIdentifySize <= 0 {
		opts.MaxIdentifySize = wire.DefaultMaxIdentifySize
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 600 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Keys are written in sorted order, as nsqlookupd's map encoding does.
	id, err := json.Marshal(opts.Identity)
	if err != nil {
		return nil, fmt.Errorf("encode identity: %w", err)
	}
	s := &Server{
		db:       db,
		opts:     opts,
		log:      opts.Logger.With("component", "tcp"),
		identify: id,
		conns:    connset.New(opts.MaxConnections, opts.MaxConnectionsPerSource),
	}
	s.logRejected.Interval = time.Second
	s.logHandshake.Interval = time.Second
	s.logAuth.Interval = time.Second
	s.readers.New = func() any { return bufio.NewReaderSize(nil, opts.MaxLineLength) }
	return s, nil
}

// Serve accepts connections on ln until ln is closed, then waits for every
// connection handler to return. Closing ln does not close open
// connections: call Close for that. It returns nil when ln was closed and
// the accept error otherwise.
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, nil) }

// ServeTLS is Serve for a listener whose clients speak TLS with cfg: each
// connection's handshake must finish within the handshake timeout (or,
// without one, the idle timeout), then the V1 protocol runs inside TLS.
// The per-source cap counts a connection from its accept, before the
// handshake.
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error { return s.serve(ln, cfg) }

func (s *Server) serve(ln net.Listener, cfg *tls.Config) error {
	defer s.wg.Wait()
	for {
		conn, err := connset.Accept(ln, s.log)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		if !s.track(conn) {
			continue
		}
		s.wg.Go(func() { s.handle(conn, cfg) })
	}
}

// track records conn, or closes it if the server is closed or full, or
// its source holds MaxConnectionsPerSource already.
func (s *Server) track(conn net.Conn) bool {
	switch s.conns.Add(conn) {
	case connset.Added:
		s.accepted.Add(1)
		return true
	case connset.Full:
		s.rejected.Add(1)
		s.logRefusal("connection refused: too many clients", conn, "max", s.opts.MaxConnections)
	case connset.SourceFull:
		s.rejectedSource.Add(1)
		s.logRefusal("connection refused: too many clients from one address", conn,
			"source", limit.Source(conn.RemoteAddr()).String(), "max", s.opts.MaxConnectionsPerSource)
	}
	return false
}

// logRefusal logs a refused connection, at most once a second.
func (s *Server) logRefusal(msg string, conn net.Conn, args ...any) {
	if ok, n := s.logRejected.Allow(time.Now()); ok {
		s.log.Warn(msg, append([]any{"remote_addr", conn.RemoteAddr().String(), "suppressed", n}, args...)...)
	}
}

func (s *Server) untrack(conn net.Conn) { s.conns.Remove(conn) }

// Close closes every open connection and refuses new ones. Handlers remove
// their registrations as they exit; Serve waits for them.
func (s *Server) Close() { s.conns.Close() }

// Stats returns connection counters.
func (s *Server) Stats() Stats {
	return Stats{
		Open:              int64(s.conns.Len()),
		Accepted:          s.accepted.Load(),
		Rejected:          s.rejected.Load(),
		RejectedPerSource: s.rejectedSource.Load(),
		Commands:          s.commands.Load(),
		Errors:            s.errs.Load(),
		Timeouts:          s.timeouts.Load(),
		HandshakeTimeouts: s.handshakeTimeouts.Load(),
		TLSErrors:         s.tlsErrors.Load(),
		Unauthorized:      s.unauthorized.Load(),
		Forbidden:         s.forbidden.Load(),
	}
}
