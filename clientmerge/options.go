package clientmerge

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
)

// Defaults of the options.
const (
	// DefaultTimeout is the deadline of one call (see WithTimeout).
	DefaultTimeout = 5 * time.Second
	// DefaultMaxResponseBytes bounds the body read from one lookupd.
	DefaultMaxResponseBytes = 64 << 20
	// DefaultMaxConcurrency bounds the requests in flight per call; with
	// fewer lookupds than this, all are asked at once.
	DefaultMaxConcurrency = 32
	// DefaultBlockingWait is how long a blocking query of Watch waits at a
	// lookupd for a change (see WithBlockingWait), as in Consul.
	DefaultBlockingWait = 60 * time.Second
)

// Option configures a Client in New.
type Option func(*settings) error

type settings struct {
	timeout      time.Duration
	httpClient   *http.Client
	logger       *slog.Logger
	minResponses int
	snapshots    bool
	maxSnapshots int
	concurrency  int
	maxBytes     int64
	resolver     dnsaddr.Resolver
	dnsRefresh   time.Duration
	blockingWait time.Duration
	token        string
	tlsConfig    *tls.Config
}

// WithTimeout sets the deadline of one call (default DefaultTimeout): each
// call (Lookup, Topics, Channels, Nodes, and every request of Watch, where
// a blocking query gets its wait on top) runs
// under one context that ends d after the call starts, or earlier when the
// caller's context ends. All the requests of the call share that deadline;
// it is not a per-lookupd timeout, so a call returns within about d however
// many lookupds hang, and a lookupd still waiting for its turn (see
// WithMaxConcurrency) when it passes counts as failed. Answers that arrived
// before it are kept (see Client.Lookup). d must be positive.
func WithTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return errors.New("timeout must be positive")
		}
		s.timeout = d
		return nil
	}
}

// WithHTTPClient makes the Client send its requests with hc instead of its
// own (which has dial, header and idle timeouts). The per-call context
// timeout applies either way. hc must not be nil.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return errors.New("http client is nil")
		}
		s.httpClient = hc
		return nil
	}
}

// WithBearerToken makes every request carry "Authorization: Bearer
// token": a read token for lookupds run with --auth-reads, or an admin
// one for Do's POSTs (go-nsq consumers send their AuthSecret the same
// way). The token is never logged nor put in an error. It must not be
// empty.
func WithBearerToken(token string) Option {
	return func(s *settings) error {
		if token == "" {
			return errors.New("bearer token is empty")
		}
		s.token = token
		return nil
	}
}

// WithTLSConfig makes the Client's own transports use cfg (cloned) for
// https:// lookupd addresses: the roots that verify the lookupds'
// certificates and, for lookupds that ask for one (--tls-client-ca), the
// client certificate. Addresses choose the scheme: write
// "https://host:port". It cannot be combined with WithHTTPClient (set
// the TLS configuration on that client's transport instead).
func WithTLSConfig(cfg *tls.Config) Option {
	return func(s *settings) error {
		if cfg == nil {
			return errors.New("tls config is nil")
		}
		s.tlsConfig = cfg.Clone()
		return nil
	}
}

// WithLogger sets the logger of Watch and of packages built on the
// Client, such as nsqbridge (default: a text handler on stderr). The query
// methods log nothing: they return their errors.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return errors.New("logger is nil")
		}
		s.logger = l
		return nil
	}
}

// WithMinResponses sets how many lookupds must answer for a call to
// succeed (default 1). With fewer, the call returns an *UnavailableError
// and no fresh data, even though some lookupds answered; a snapshot is
// served instead when one exists. n must be at least 1. When every
// address is a literal lookupd (no DNS name), New also rejects an n larger
// than their count; with DNS names the count is only known per call, and a
// call that expands to fewer than n lookupds cannot succeed with fresh
// data.
func WithMinResponses(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return errors.New("min responses must be at least 1")
		}
		s.minResponses = n
		return nil
	}
}

// WithSnapshots turns the snapshot fallback on (the default) or off. With
// it on, the Client keeps the last successful answer of each query (per
// topic for Lookup and Channels) and serves it, marked stale, when too few
// lookupds answer. At most WithMaxSnapshots distinct queries are kept; the
// one used least recently is forgotten first.
func WithSnapshots(enabled bool) Option {
	return func(s *settings) error {
		s.snapshots = enabled
		return nil
	}
}

// DefaultMaxSnapshots is the default bound on kept snapshots.
const DefaultMaxSnapshots = 1024

// WithMaxSnapshots bounds how many distinct queries (each topic of Lookup
// and Channels counts as one) keep a snapshot (default
// DefaultMaxSnapshots). n must be positive.
func WithMaxSnapshots(n int) Option {
	return func(s *settings) error {
		if n <= 0 {
			return errors.New("max snapshots must be positive")
		}
		s.maxSnapshots = n
		return nil
	}
}

// WithMaxConcurrency bounds how many requests one call has in flight
// (default DefaultMaxConcurrency). With fewer than the number of lookupds,
// the rest wait their turn within the same timeout, and a lookupd whose turn
// has not come when the timeout expires counts as failed. n must be
// positive.
func WithMaxConcurrency(n int) Option {
	return func(s *settings) error {
		if n < 1 {
			return errors.New("max concurrency must be at least 1")
		}
		s.concurrency = n
		return nil
	}
}

// WithMaxResponseBytes bounds the body read from one lookupd (default
// DefaultMaxResponseBytes); a longer body is a failure of that lookupd
// with ErrResponseTooLarge. n must be positive.
func WithMaxResponseBytes(n int64) Option {
	return func(s *settings) error {
		if n < 1 {
			return errors.New("max response bytes must be at least 1")
		}
		s.maxBytes = n
		return nil
	}
}

// WithResolver sets the resolver of lookupd addresses that are names
// (default net.DefaultResolver); see New. r must not be nil.
func WithResolver(r dnsaddr.Resolver) Option {
	return func(s *settings) error {
		if r == nil {
			return errors.New("resolver is nil")
		}
		s.resolver = r
		return nil
	}
}

// WithDNSRefresh sets how often names among the lookupd addresses are
// resolved again (default dnsaddr.DefaultRefresh, 30 s); see New. d must be
// positive.
func WithDNSRefresh(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return errors.New("dns refresh must be positive")
		}
		s.dnsRefresh = d
		return nil
	}
}

// WithBlockingWait caps how long each blocking query of Watch may wait at
// a lookupd for its answer to change (default DefaultBlockingWait; Watch
// also waits no longer than its interval, and our lookupd caps the wait
// at 10 minutes and adds up to 1/16 at random). A longer wait costs fewer
// requests while nothing changes and does not delay a change, which ends
// the wait; a shorter one finds a hung lookupd sooner. 0 turns blocking
// queries off: Watch then polls every lookupd at its interval, as it does
// a lookupd that does not support them (nsqlookupd). d must not be
// negative.
func WithBlockingWait(d time.Duration) Option {
	return func(s *settings) error {
		if d < 0 {
			return errors.New("blocking wait must not be negative")
		}
		s.blockingWait = d
		return nil
	}
}
