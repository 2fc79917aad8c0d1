package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/lookupd/lookupd/lookup/internal/connset"
)

// Defaults of the Options, also the defaults of the --dns-* flags of
// lookupd and lookupctl dns.
const (
	DefaultZone              = "lookupd."
	DefaultTTL               = 5 * time.Second
	DefaultMaxUDPSize        = 1232
	DefaultMaxTCPConnections = 256
	DefaultTCPIdleTimeout    = 10 * time.Second
)

// Options configure a Server. Zero values take the defaults noted, except
// TTL, whose zero means answers are not to be cached.
type Options struct {
	// Address is host:port to serve on, UDP and TCP on the same port. With
	// port 0 a free port is chosen that is free for both.
	Address string
	// Zone is the domain the server answers for (default "lookupd.").
	Zone string
	// TTL of every record, cut to the time until the answer could change
	// by itself. Whole seconds count; 0 means answers are not cached.
	TTL time.Duration
	// MaxUDPSize caps the EDNS0 size honoured over UDP (default 1232, the
	// size that avoids IP fragmentation on nearly every path; 512..65535).
	MaxUDPSize int
	// MaxTCPConnections caps concurrent TCP connections; further ones are
	// closed at once. 0 means no cap.
	MaxTCPConnections int
	// TCPIdleTimeout closes a TCP connection that has not sent a complete
	// query for this long (default 10 s).
	TCPIdleTimeout time.Duration
	// UDPWorkers is the number of goroutines answering UDP queries, which
	// bounds how many are answered at once (default GOMAXPROCS). A Source
	// that blocks on the network wants more.
	UDPWorkers int
	// Logger receives events. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock TTLs are computed with; it must be the Source's.
	// Default time.Now.
	Now func() time.Time
}

// Stats counts what the server did since it started.
type Stats struct {
	UDPQueries     int64 `json:"udp_queries"`       // UDP packets answered
	TCPQueries     int64 `json:"tcp_queries"`       // TCP messages answered
	Dropped        int64 `json:"dropped"`           // packets dropped: malformed, a response, or an answer that could not fit
	Truncated      int64 `json:"truncated"`         // answers sent with TC
	NXDomain       int64 `json:"nxdomain"`          // NXDOMAIN answers
	Refused        int64 `json:"refused"`           // REFUSED answers (another zone or class)
	SourceErrors   int64 `json:"source_errors"`     // SERVFAIL answers: the Source failed
	TCPOpen        int64 `json:"tcp_open"`          // TCP connections open now
	TCPAccepted    int64 `json:"tcp_accepted"`      // TCP connections accepted
	TCPRejected    int64 `json:"tcp_rejected"`      // TCP connections closed at once by MaxTCPConnections
	TCPIdleTimeout int64 `json:"tcp_idle_timeouts"` // TCP connections closed by TCPIdleTimeout
}

type counters struct {
	udp, tcp, dropped, truncated, nxdomain, refused, sourceErrors atomic.Int64
	accepted, rejected, idle                                      atomic.Int64
}

// Server is a DNS server over a Source. New binds it; Run serves it.
type Server struct {
	opts Options
	zone string
	src  Source
	log  *slog.Logger
	udp  *net.UDPConn
	tcp  net.Listener

	conns *connset.Set

	stats   counters
	runOnce sync.Once
}

// New validates opts and binds UDP and TCP on opts.Address, so Addr is
// known at once. The Server answers from src.
func New(src Source, opts Options) (*Server, error) {
	if opts.Zone == "" {
		opts.Zone = DefaultZone
	}
	if opts.MaxUDPSize == 0 {
		opts.MaxUDPSize = DefaultMaxUDPSize
	}
	if opts.TCPIdleTimeout == 0 {
		opts.TCPIdleTimeout = DefaultTCPIdleTimeout
	}
	if opts.UDPWorkers == 0 {
		opts.UDPWorkers = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:  opts,
		zone:  canonicalZone(opts.Zone),
		src:   src,
		log:   opts.Logger.With("component", "dns"),
		conns: connset.New(opts.MaxTCPConnections, 0),
	}
	var err error
	s.udp, s.tcp, err = listen(opts.Address)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// ValidateZone checks that zone is usable as Options.Zone.
func ValidateZone(zone string) error {
	if zone == "" {
		return errors.New("zone must not be empty")
	}
	fq := dns.Fqdn(zone)
	if fq != "." && (!isDomainName(fq) || !validLabels(fq[:len(fq)-1])) {
		return fmt.Errorf("zone %q is not a valid domain name", zone)
	}
	return nil
}

func (o *Options) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		errs = append(errs, fmt.Errorf("address %q: %w", o.Address, err))
	}
	if err := ValidateZone(o.Zone); err != nil {
		errs = append(errs, err)
	}
	if o.TTL < 0 || o.TTL > time.Duration(1<<31-1)*time.Second {
		errs = append(errs, fmt.Errorf("ttl must be in 0..%ds, got %s", 1<<31-1, o.TTL))
	}
	if o.MaxUDPSize < dns.MinMsgSize || o.MaxUDPSize > dns.MaxMsgSize {
		errs = append(errs, fmt.Errorf("max udp size must be in 512..65535, got %d", o.MaxUDPSize))
	}
	if o.MaxTCPConnections < 0 {
		errs = append(errs, fmt.Errorf("max tcp connections must not be negative, got %d", o.MaxTCPConnections))
	}
	if o.TCPIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("tcp idle timeout must not be negative, got %s", o.TCPIdleTimeout))
	}
	if o.UDPWorkers < 1 || o.UDPWorkers > 4096 {
		errs = append(errs, fmt.Errorf("udp workers must be in 1..4096, got %d", o.UDPWorkers))
	}
	return errors.Join(errs...)
}

// listen binds TCP and UDP on the same address. With port 0 it lets the
// system choose a TCP port and takes the same UDP port, trying again a few
// times if that one is taken.
func listen(addr string) (*net.UDPConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("listen dns %s: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 16
	}
	for i := 0; ; i++ {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns tcp listener: %w", err) // err names the address
		}
		udpAddr := net.JoinHostPort(host, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
		pc, err := net.ListenPacket("udp", udpAddr)
		if err == nil {
			return pc.(*net.UDPConn), ln, nil
		}
		ln.Close()
		if i+1 >= tries || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns udp listener: %w", err)
		}
	}
}

// Addr returns the bound address; UDP and TCP share its port.
func (s *Server) Addr() netip.AddrPort {
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close releases the sockets of a Server that will never Run. After Run
// it does nothing.
func (s *Server) Close() {
	s.runOnce.Do(func() {
		s.udp.Close()
		s.tcp.Close()
	})
}

// Stats returns the counters. It is safe to call at any time.
func (s *Server) Stats() Stats {
	open := int64(s.conns.Len())
	c := &s.stats
	return Stats{
		UDPQueries: c.udp.Load(), TCPQueries: c.tcp.Load(), Dropped: c.dropped.Load(),
		Truncated: c.truncated.Load(), NXDomain: c.nxdomain.Load(), Refused: c.refused.Load(),
		SourceErrors: c.sourceErrors.Load(), TCPOpen: open, TCPAccepted: c.accepted.Load(),
		TCPRejected: c.rejected.Load(), TCPIdleTimeout: c.idle.Load(),
	}
}

// Run serves until ctx ends or a socket fails, then closes both sockets and
// every TCP connection, and returns after every goroutine it started has
// exited. It returns nil on a clean shutdown. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	ran := false
	s.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("dnsserver: Run called twice or after Close")
	}
	s.log.Info("dns server started", "address", s.Addr().String(), "zone", s.zone)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, s.opts.UDPWorkers+1)
	for range s.opts.UDPWorkers {
		wg.Go(func() {
			if err := s.serveUDP(ctx); err != nil {
				errc <- err
			}
		})
	}
	wg.Go(func() {
		if err := s.serveTCP(ctx, &wg); err != nil {
			errc <- err
		}
	})
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	s.udp.Close()
	s.tcp.Close()
	s.conns.Close()
	wg.Wait()
	close(errc)
	for err := range errc {
		runErr = errors.Join(runErr, err)
	}
	s.log.Info("dns server stopped")
	return runErr
}

// serveUDP answers UDP queries one at a time until the socket is closed.
func (s *Server) serveUDP(ctx context.Context) error {
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := s.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			if connset.Temporary(err) {
				continue
			}
			return fmt.Errorf("dns udp read: %w", err)
		}
		resp := s.respond(ctx, buf[:n], false)
		if resp == nil {
			continue
		}
		s.stats.udp.Add(1)
		if _, err := s.udp.WriteToUDPAddrPort(resp, from); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Debug("dns udp write failed", "remote_addr", from.String(), "err", err)
		}
	}
}

// serveTCP accepts connections until the listener is closed; their
// handlers join wg.
func (s *Server) serveTCP(ctx context.Context, wg *sync.WaitGroup) error {
	for {
		conn, err := connset.Accept(s.tcp, s.log)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dns tcp accept: %w", err)
		}
		switch s.conns.Add(conn) {
		case connset.Added:
		case connset.Full:
			s.stats.rejected.Add(1)
			s.log.Warn("dns connection refused: too many clients", "remote_addr", conn.RemoteAddr().String(), "max", s.opts.MaxTCPConnections)
			continue
		default:
			continue
		}
		s.stats.accepted.Add(1)
		wg.Go(func() {
			defer s.conns.Remove(conn)
			defer conn.Close()
			s.serveConn(ctx, conn)
		})
	}
}

// serveConn answers the queries of one TCP connection in order, each a
// two-byte length and a message, until the client closes it, sends
// garbage, or sends no complete query within the idle timeout.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	var buf []byte
	var lenb [2]byte
	for {
		conn.SetReadDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
		if _, err := io.ReadFull(conn, lenb[:]); err != nil {
			s.connEnded(conn, err)
			return
		}
		n := int(binary.BigEndian.Uint16(lenb[:]))
		if n < dnsHeaderSize {
			s.stats.dropped.Add(1)
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(conn, buf); err != nil {
			s.connEnded(conn, err)
			return
		}
		resp := s.respond(ctx, buf, true)
		if resp == nil {
			return // not DNS: the rest of the stream cannot be trusted
		}
		s.stats.tcp.Add(1)
		out := make([]byte, 2+len(resp))
		binary.BigEndian.PutUint16(out, uint16(len(resp)))
		copy(out[2:], resp)
		conn.SetWriteDeadline(time.Now().Add(s.opts.TCPIdleTimeout))
		if _, err := conn.Write(out); err != nil {
			s.log.Debug("dns tcp write failed", "remote_addr", conn.RemoteAddr().String(), "err", err)
			return
		}
	}
}

func (s *Server) connEnded(conn net.Conn, err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		s.stats.idle.Add(1)
		s.log.Debug("dns connection idle, closing", "remote_addr", conn.RemoteAddr().String())
	}
}

const dnsHeaderSize = 12

// respond parses one query and returns the packed answer, or nil to send
// nothing.
func (s *Server) respond(ctx context.Context, raw []byte, tcp bool) []byte {
	// A message with the QR bit set is a response: answering it could
	// start a loop between two servers.
	if len(raw) < dnsHeaderSize || raw[2]&0x80 != 0 {
		s.stats.dropped.Add(1)
		return nil
	}
	req := new(dns.Msg)
	if err := req.Unpack(raw); err != nil {
		s.stats.dropped.Add(1)
		s.log.Debug("dns malformed query dropped", "err", err)
		return nil
	}
	resp := s.reply(ctx, req)
	out, truncated := fit(resp, s.sizeLimit(req, len(raw), tcp), tcp)
	if out == nil {
		s.stats.dropped.Add(1)
		return nil
	}
	if truncated {
		s.stats.truncated.Add(1)
	}
	switch resp.Rcode {
	case dns.RcodeNameError:
		s.stats.nxdomain.Add(1)
	case dns.RcodeRefused:
		s.stats.refused.Add(1)
	}
	return out
}
