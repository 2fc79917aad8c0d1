package producer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultHeartbeatInterval is nsqd's PING interval.
	DefaultHeartbeatInterval = 15 * time.Second
	// DefaultResyncInterval is how often the whole state is sent again.
	DefaultResyncInterval = 60 * time.Second
	// DefaultDialTimeout bounds one TCP connect.
	DefaultDialTimeout = 5 * time.Second
	// DefaultReadTimeout bounds the wait for one reply.
	DefaultReadTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds one write to a lookupd.
	DefaultWriteTimeout = 5 * time.Second
	// DefaultBackoffMin is the first reconnect delay.
	DefaultBackoffMin = 100 * time.Millisecond
)

// Config configures a Client. Zero durations and sizes take the defaults
// documented on each field. A Config is copied by New; changing it later has
// no effect.
type Config struct {
	// LookupdTCPAddresses lists the lookupds: "ip:port", "host:port" (one
	// lookupd per address the name resolves to, each on port) or
	// "srv+NAME" (the SRV records of NAME, ports included); see package
	// clientmerge/dnsaddr. Duplicates are an error. An empty list is
	// allowed (the Client then only keeps state).
	LookupdTCPAddresses []string

	// LookupdDNSRefresh is how often names among LookupdTCPAddresses are
	// resolved again (default dnsaddr.DefaultRefresh, 30 s). A lookupd
	// that appears is connected and gets the whole state; one that goes is
	// disconnected. A failed resolution keeps the last good lookupds.
	LookupdDNSRefresh time.Duration
	// Resolver resolves those names (default net.DefaultResolver).
	Resolver dnsaddr.Resolver

	// Identity is sent in IDENTIFY. BroadcastAddress and Hostname default
	// to the OS hostname, Version to config.Version (this module's
	// version); TCPPort and HTTPPort are required (1..65535).
	// RemoteAddress is ignored (the lookupd fills it in).
	Identity wire.ProducerInfo

	// TLSConfig, if set, makes every connection TLS: the lookupds'
	// addresses are then their --tcp-tls-address listeners. Its ServerName
	// defaults to each address's host; a client certificate in it answers
	// lookupds run with --tls-client-ca. It is cloned by New.
	TLSConfig *tls.Config

	// AuthToken, if set, is sent as "auth_token" in IDENTIFY: the
	// register token a lookupd run with --auth-file asks of producers
	// outside its --tcp-allow networks. Lookupds that do not ask for one
	// (and nsqlookupd) ignore it. It is never logged.
	AuthToken string

	// HeartbeatInterval is the time between PINGs (default 15 s, as nsqd).
	HeartbeatInterval time.Duration
	// ResyncInterval is the time between full re-sends of the state
	// (default 60 s). REGISTER is idempotent, so this only repairs.
	ResyncInterval time.Duration

	// DialTimeout bounds one connect (default 5 s).
	DialTimeout time.Duration
	// ReadTimeout bounds the wait for each reply (default 5 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds each write (default 5 s).
	WriteTimeout time.Duration

	// BackoffMin is the first reconnect delay (default 100 ms); each failed
	// attempt doubles it up to BackoffMax (default HeartbeatInterval, so a
	// lookupd that comes back has our state within one heartbeat interval).
	// The actual delay is drawn uniformly from [d/2, d].
	BackoffMin time.Duration
	// BackoffMax caps the reconnect delay; see BackoffMin.
	BackoffMax time.Duration

	// MaxResponseSize bounds one reply from a lookupd (default
	// wire.DefaultMaxResponseSize).
	MaxResponseSize int

	// StartSuspended makes the Client start suspended (see
	// Client.Suspend): it connects and heartbeats but announces nothing
	// until Resume. Health-gated producers start this way.
	StartSuspended bool

	// Logger receives the Client's logs (default: text to stderr).
	Logger *slog.Logger
}

// withDefaults returns a copy of cfg with defaults applied, or an error for
// a value that cannot be used.
func (cfg Config) withDefaults() (Config, error) {
	cfg.LookupdTCPAddresses = append([]string(nil), cfg.LookupdTCPAddresses...)
	cfg.TLSConfig = cfg.TLSConfig.Clone() // nil stays nil
	if _, err := dnsaddr.New(cfg.LookupdTCPAddresses, nil); err != nil {
		return Config{}, fmt.Errorf("lookupd %w", err)
	}

	id := &cfg.Identity
	id.RemoteAddress = ""
	if id.Hostname == "" || id.BroadcastAddress == "" {
		h, err := os.Hostname()
		if err != nil && (id.Hostname == "" || id.BroadcastAddress == "") {
			return Config{}, fmt.Errorf("identity: no hostname given and os hostname unknown: %w", err)
		}
		if id.Hostname == "" {
			id.Hostname = h
		}
		if id.BroadcastAddress == "" {
			id.BroadcastAddress = h
		}
	}
	if id.Version == "" {
		id.Version = config.Version
	}
	if id.TCPPort < 1 || id.TCPPort > 65535 {
		return Config{}, fmt.Errorf("identity: tcp port %d outside 1..65535", id.TCPPort)
	}
	if id.HTTPPort < 1 || id.HTTPPort > 65535 {
		return Config{}, fmt.Errorf("identity: http port %d outside 1..65535", id.HTTPPort)
	}

	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{name: "heartbeat interval", v: &cfg.HeartbeatInterval, def: DefaultHeartbeatInterval},
		{name: "resync interval", v: &cfg.ResyncInterval, def: DefaultResyncInterval},
		{name: "dial timeout", v: &cfg.DialTimeout, def: DefaultDialTimeout},
		{name: "read timeout", v: &cfg.ReadTimeout, def: DefaultReadTimeout},
		{name: "write timeout", v: &cfg.WriteTimeout, def: DefaultWriteTimeout},
		{name: "backoff min", v: &cfg.BackoffMin, def: DefaultBackoffMin},
		{name: "lookupd dns refresh", v: &cfg.LookupdDNSRefresh, def: dnsaddr.DefaultRefresh},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return Config{}, fmt.Errorf("%s %s is negative", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.BackoffMax < 0 {
		return Config{}, fmt.Errorf("backoff max %s is negative", cfg.BackoffMax)
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = max(cfg.HeartbeatInterval, cfg.BackoffMin)
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		return Config{}, fmt.Errorf("backoff max %s is below backoff min %s", cfg.BackoffMax, cfg.BackoffMin)
	}
	if cfg.MaxResponseSize < 0 {
		return Config{}, errors.New("max response size is negative")
	}
	if cfg.MaxResponseSize == 0 {
		cfg.MaxResponseSize = wire.DefaultMaxResponseSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return cfg, nil
}
