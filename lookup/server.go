package lookup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/internal/tlssniff"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
)

// Server is one lookupd. New binds it; Run serves it.
type Server struct {
	opts     Options
	log      *slog.Logger
	db       *registry.DB
	tcp      *tcpserver.Server
	api      *httpapi.Handler
	tcpLn    net.Listener
	httpLn   *httpapi.Listener
	httpSrv  *http.Server
	dns      *dnsserver.Server  // nil when DNSAddress is empty
	auth     *auth.Store        // nil without AuthFile
	tls      *tlsFiles          // nil without TLSCert
	sniff    *tlssniff.Listener // the HTTPS listener; nil without TLSCert
	tcpTLSLn net.Listener       // nil without TCPTLSAddress
	started  time.Time

	runOnce sync.Once
}

// New validates opts, binds the TCP and HTTP listeners (so TCPAddr and
// HTTPAddr are known at once) and returns a Server ready to Run. opts is
// copied; the caller may not change it afterwards anyway.
func New(opts *Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	s := &Server{opts: *opts, started: time.Now()}
	if s.opts.Now == nil {
		s.opts.Now = time.Now
	}
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = s.opts.NewLogger()
	}

	var err error
	if s.opts.AuthFile != "" {
		if s.auth, err = auth.Open(s.opts.AuthFile, s.log); err != nil {
			return nil, err
		}
	}
	if s.opts.TLSCert != "" {
		if s.tls, err = newTLSFiles(&s.opts); err != nil {
			return nil, err
		}
	}
	allow := make([]netip.Prefix, 0, len(s.opts.TCPAllow))
	for _, a := range s.opts.TCPAllow {
		p, _ := parsePrefix(a) // Validate checked it
		allow = append(allow, p)
	}
	s.tcpLn, err = net.Listen("tcp", s.opts.TCPAddress)
	if err != nil {
		return nil, fmt.Errorf("tcp listener: %w", err) // err names the address
	}
	httpLn, err := net.Listen("tcp", s.opts.HTTPAddress)
	if err != nil {
		s.tcpLn.Close()
		return nil, fmt.Errorf("http listener: %w", err)
	}
	// The HTTP listener takes back the connections of answered blocking
	// queries (see httpapi.Listener). With TLS, it is HTTPS only, and a
	// plaintext request is told where HTTPS is (see httpapi).
	if s.tls != nil {
		s.sniff = tlssniff.NewListener(httpLn.(*net.TCPListener), s.tls.config(false))
		s.httpLn = httpapi.NewListener(s.sniff)
	} else {
		s.httpLn = httpapi.NewListener(httpLn.(*net.TCPListener))
	}
	if s.opts.TCPTLSAddress != "" {
		if s.tcpTLSLn, err = net.Listen("tcp", s.opts.TCPTLSAddress); err != nil {
			s.closeListeners()
			return nil, fmt.Errorf("tcp tls listener: %w", err)
		}
	}

	s.db = registry.New(registry.Options{
		InactiveTimeout:             s.opts.InactiveProducerTimeout,
		TombstoneLifetime:           s.opts.TombstoneLifetime,
		MaxRegistrationsPerProducer: s.opts.MaxRegistrationsPerProducer,
		MaxTopics:                   s.opts.MaxTopics,
		MaxChannelsPerTopic:         s.opts.MaxChannelsPerTopic,
		Now:                         s.opts.Now,
		// s.api is set below, before anything can change the registry.
		OnChange: func(c registry.Change) { s.api.Changed(c) },
	})
	hostname, _ := os.Hostname()
	s.tcp, err = tcpserver.New(s.db, tcpserver.Options{
		MaxLineLength:           s.opts.MaxCommandLength,
		MaxIdentifySize:         s.opts.MaxIdentifyBodySize,
		IdleTimeout:             s.opts.IdleTimeout(),
		MaxConnections:          s.opts.MaxTCPClients,
		MaxConnectionsPerSource: s.opts.MaxTCPClientsPerIP,
		HandshakeTimeout:        s.opts.HandshakeTimeout,
		RequireAuth:             s.opts.requireTCPAuth(),
		Auth:                    s.auth,
		Allow:                   allow,
		Identity: tcpserver.LookupdInfo{
			BroadcastAddress: s.opts.BroadcastAddress,
			Hostname:         hostname,
			HTTPPort:         s.HTTPAddr().Port,
			TCPPort:          s.TCPAddr().Port,
			Version:          CompatVersion,
		},
		Logger: s.log,
	})
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	if s.opts.DNSAddress != "" {
		s.dns, err = dnsserver.New(registrySource{db: s.db}, dnsserver.Options{
			Address:           s.opts.DNSAddress,
			Zone:              s.opts.DNSZone,
			TTL:               s.opts.DNSTTL,
			MaxUDPSize:        s.opts.DNSMaxUDPSize,
			MaxTCPConnections: s.opts.DNSMaxTCPConnections,
			TCPIdleTimeout:    s.opts.DNSTCPIdleTimeout,
			Logger:            s.log,
			Now:               s.opts.Now,
		})
		if err != nil {
			s.closeListeners()
			return nil, err
		}
	}
	// The fast path of hijacked blocking queries applies the server's
	// header timeout itself, so both get the same one.
	readHeaderTimeout := min(s.opts.HTTPReadTimeout, 10*time.Second)
	hm := newHTTPMetrics()
	metrics := newMetrics(s, hm)
	s.api = httpapi.New(s.db, httpapi.Options{
		Version:                     CompatVersion,
		Logger:                      s.log,
		Now:                         s.opts.Now,
		AfterFunc:                   s.opts.AfterFunc,
		MaxBlockingQueries:          s.opts.MaxBlockingQueries,
		MaxBlockingQueriesPerSource: s.opts.MaxBlockingQueriesPerIP,
		WriteTimeout:                s.opts.HTTPWriteTimeout,
		IdleTimeout:                 s.opts.HTTPIdleTimeout,
		ReadHeaderTimeout:           readHeaderTimeout,
		MaxHeaderBytes:              s.opts.HTTPMaxHeaderBytes,
		Handback:                    s.httpLn.Handback,
		AccessLog:                   s.opts.HTTPAccessLog,
		Observe:                     hm.observe,
		Auth:                        s.auth,
		AuthReads:                   s.opts.AuthReads,
		Plaintext:                   s.plaintext,
		HTTPSPort:                   s.HTTPAddr().Port,
		Extra: func(r *httprouter.Router) {
			r.Handler("GET", "/metrics", metrics)
			r.GET("/stats", func(w http.ResponseWriter, _ *http.Request, _ httprouter.Params) { s.writeStats(w) })
		},
	})
	handler := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	s.httpSrv = &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       s.opts.HTTPReadTimeout,
		WriteTimeout:      s.opts.HTTPWriteTimeout,
		IdleTimeout:       s.opts.HTTPIdleTimeout,
		MaxHeaderBytes:    s.opts.HTTPMaxHeaderBytes,
		ErrorLog:          handler,
		// The connection goes in each request's context, for plaintext.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	return s, nil
}

// TCPAddr returns the bound TCP address.
func (s *Server) TCPAddr() *net.TCPAddr { return s.tcpLn.Addr().(*net.TCPAddr) }

// connKey is the context key of a request's connection.
type connKey struct{}

// plaintext reports whether req came in plaintext to the HTTPS listener.
func (s *Server) plaintext(req *http.Request) bool {
	if s.sniff == nil {
		return false
	}
	c, _ := req.Context().Value(connKey{}).(net.Conn)
	sc := tlssniff.Find(c)
	return sc != nil && sc.Plaintext()
}

// TCPTLSAddr returns the bound address of the V1-over-TLS listener, and
// false without --tcp-tls-address.
func (s *Server) TCPTLSAddr() (*net.TCPAddr, bool) {
	if s.tcpTLSLn == nil {
		return nil, false
	}
	return s.tcpTLSLn.Addr().(*net.TCPAddr), true
}

// HTTPAddr returns the bound HTTP address.
func (s *Server) HTTPAddr() *net.TCPAddr { return s.httpLn.Addr().(*net.TCPAddr) }

// BlockingStats returns the blocking-query counters.
func (s *Server) BlockingStats() httpapi.BlockingStats { return s.api.BlockingStats() }

// DNSAddr returns the bound DNS address (UDP and TCP share its port), and
// false when the DNS server is off.
func (s *Server) DNSAddr() (netip.AddrPort, bool) {
	if s.dns == nil {
		return netip.AddrPort{}, false
	}
	return s.dns.Addr(), true
}

// Reload re-reads the files named by the options, as SIGHUP asks: the
// token file (--auth-file) and the TLS certificate, key and client CA.
// Each that cannot be read or is invalid leaves the one in use in place,
// and the error says why (never with a token in it); the others are
// still reloaded. Other options need a restart. Safe to call at any time,
// from any goroutine.
func (s *Server) Reload() error {
	var errs []error
	if s.auth != nil {
		if err := s.auth.Reload(); err != nil {
			errs = append(errs, fmt.Errorf("keeping the previous tokens: %w", err))
		}
	}
	if s.tls != nil {
		if err := s.tls.reload(); err != nil {
			errs = append(errs, fmt.Errorf("keeping the previous certificate: %w", err))
		} else {
			s.log.Info("tls files loaded", "cert", s.opts.TLSCert, "client_ca", s.opts.TLSClientCA)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// DB returns the registry, for in-process inspection (tests, embedding).
func (s *Server) DB() *registry.DB { return s.db }

func (s *Server) closeListeners() {
	s.tcpLn.Close()
	s.httpLn.Close()
	if s.tcpTLSLn != nil {
		s.tcpTLSLn.Close()
	}
	if s.dns != nil {
		s.dns.Close()
	}
}

// Close releases the listeners of a Server that will never Run. After Run
// it does nothing.
func (s *Server) Close() {
	s.runOnce.Do(s.closeListeners)
}

// Run serves the listeners (TCP, HTTP and, when on, DNS) until ctx ends or
// one fails, then shuts down: it closes the listeners, closes every TCP
// connection (their registrations are removed), stops the DNS server,
// shuts the HTTP server down within
// ShutdownTimeout, and returns after every goroutine it started has
// exited. It returns nil on a clean shutdown. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	ran := false
	s.runOnce.Do(func() { ran = true })
	if !ran {
		return errors.New("lookup: Run called twice or after Close")
	}
	attrs := []any{"version", config.Version, "compat", CompatVersion,
		"tcp_address", s.TCPAddr().String(), "http_address", s.HTTPAddr().String(),
		"broadcast_address", s.opts.BroadcastAddress}
	if a, ok := s.TCPTLSAddr(); ok {
		attrs = append(attrs, "tcp_tls_address", a.String())
	}
	if s.tls != nil {
		attrs = append(attrs, "https", true, "mtls", s.opts.TLSClientCA != "")
	}
	if s.auth != nil {
		attrs = append(attrs, "auth_tokens", s.auth.Len(), "auth_reads", s.opts.AuthReads)
	}
	s.log.Info("lookupd started", attrs...)

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	stopAPI := s.api.Start()
	dnsCtx, stopDNS := context.WithCancel(context.Background())
	defer stopDNS()
	if s.dns != nil {
		wg.Go(func() {
			if err := s.dns.Run(dnsCtx); err != nil {
				errc <- fmt.Errorf("dns server: %w", err)
			}
		})
	}
	wg.Go(func() {
		if err := s.tcp.Serve(s.tcpLn); err != nil {
			errc <- fmt.Errorf("tcp server: %w", err)
		}
	})
	if s.tcpTLSLn != nil {
		wg.Go(func() {
			if err := s.tcp.ServeTLS(s.tcpTLSLn, s.tls.config(true)); err != nil {
				errc <- fmt.Errorf("tcp tls server: %w", err)
			}
		})
	}
	wg.Go(func() {
		if err := s.httpSrv.Serve(s.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("http server: %w", err)
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	s.log.Info("lookupd shutting down")
	// Answer every blocked query now, with the current answer, rather
	// than let the server's shutdown wait out their waits; and before the
	// TCP connections close, so that no one is told that every producer
	// left when only this lookupd did.
	stopAPI()
	s.tcpLn.Close()
	if s.tcpTLSLn != nil {
		s.tcpTLSLn.Close()
	}
	s.tcp.Close()
	stopDNS()
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	if err := s.httpSrv.Shutdown(sctx); err != nil {
		s.log.Warn("http shutdown incomplete, closing", "err", err)
		s.httpSrv.Close()
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		runErr = errors.Join(runErr, err)
	}
	s.log.Info("lookupd stopped")
	return runErr
}
