package lookup

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/dnsserver"
)

// CompatVersion is the nsqlookupd version whose protocol and API this
// daemon speaks; /info and the IDENTIFY reply report it, since clients
// (nsqadmin) parse it as a semantic version.
const CompatVersion = "1.3.0"

// Options configure a Server. Defaults live only in NewOptions; each field
// with a flag tag is a command-line flag and a TOML key (dashes become
// underscores), loaded by lookup/config: adding a field with flag and help
// tags adds the option. Options are read-only once passed to New.
type Options struct {
	LogLevel  config.LogLevel `flag:"log-level" help:"log verbosity: debug, info, warn, error or fatal"`
	LogPrefix string          `flag:"log-prefix" help:"log message prefix"`

	TCPAddress       string `flag:"tcp-address" help:"<addr>:<port> to listen on for producers (V1 protocol)"`
	HTTPAddress      string `flag:"http-address" help:"<addr>:<port> to listen on for consumers and tools (HTTP API)"`
	BroadcastAddress string `flag:"broadcast-address" help:"address this lookupd reports for itself in the IDENTIFY reply"`

	InactiveProducerTimeout time.Duration `flag:"inactive-producer-timeout" help:"how long a producer stays listed after its last heartbeat"`
	TombstoneLifetime       time.Duration `flag:"tombstone-lifetime" help:"how long a tombstoned producer stays hidden from /lookup"`

	// ClientIdleTimeout closes a TCP connection silent for this long and
	// removes its registrations; 0 means twice InactiveProducerTimeout.
	ClientIdleTimeout time.Duration `flag:"client-idle-timeout" help:"close a TCP connection silent this long and remove its registrations (0: twice --inactive-producer-timeout)"`
	// MaxIdentifyBodySize bounds the IDENTIFY body in bytes.
	MaxIdentifyBodySize int `flag:"max-identify-body-size" help:"maximum IDENTIFY body size in bytes"`
	// MaxCommandLength bounds one V1 command line in bytes.
	MaxCommandLength int `flag:"max-command-length" help:"maximum V1 command line length in bytes"`
	// MaxTCPClients caps concurrent TCP connections (0: no cap).
	MaxTCPClients int `flag:"max-tcp-clients" help:"maximum concurrent TCP connections (0: no limit)"`
	// MaxTCPClientsPerIP caps the concurrent TCP connections from one
	// address (an IPv6 /64 counts as one), so that one host cannot take
	// every slot (0: no cap).
	MaxTCPClientsPerIP int `flag:"max-tcp-clients-per-ip" help:"maximum concurrent TCP connections from one IP address or IPv6 /64 (0: no limit)"`
	// HandshakeTimeout closes a TCP connection that has not sent IDENTIFY
	// this long after connecting (0: only the idle timeout applies).
	HandshakeTimeout time.Duration `flag:"handshake-timeout" help:"close a TCP connection that has not completed IDENTIFY this long after connecting (0: no limit)"`
	// MaxRegistrationsPerProducer caps one connection's topic and channel
	// registrations (0: no cap).
	MaxRegistrationsPerProducer int `flag:"max-registrations-per-producer" help:"maximum topic and channel registrations of one connection (0: no limit)"`

	// MaxBlockingQueries caps the blocking queries (?index=) held at
	// once; past it a query is answered at once, as if it had no index.
	// 0 disables blocking.
	MaxBlockingQueries int `flag:"max-blocking-queries" help:"maximum blocking queries (?index=) held at once; more are answered at once (0: no blocking)"`
	// MaxBlockingQueriesPerIP caps the blocking queries held for one
	// address (an IPv6 /64 counts as one); past it its queries are
	// answered at once (0: no cap).
	MaxBlockingQueriesPerIP int `flag:"max-blocking-queries-per-ip" help:"maximum blocking queries held for one IP address or IPv6 /64; more are answered at once (0: no limit)"`

	// MaxTopics caps the topics that POST /topic/create and
	// /channel/create may add to; producers' REGISTERs are never refused
	// by it (0: no cap).
	MaxTopics int `flag:"max-topics" help:"POST /topic/create and /channel/create refuse a new topic when this many are listed (0: no limit); producers are never refused"`
	// MaxChannelsPerTopic caps the channels of a topic that POST
	// /channel/create may add to, likewise (0: no cap).
	MaxChannelsPerTopic int `flag:"max-channels-per-topic" help:"POST /channel/create refuses a new channel when its topic lists this many (0: no limit); producers are never refused"`

	// AuthFile is a TOML file of bearer tokens (lookup/auth); with it,
	// HTTP POSTs need an admin token and TCP registration needs a register
	// token or a --tcp-allow address. Re-read on SIGHUP (Server.Reload).
	AuthFile string `flag:"auth-file" help:"TOML file of bearer tokens ([[tokens]] token, role, topics); POSTs then need an admin token and producers a register token or a --tcp-allow address; re-read on SIGHUP"`
	// AuthReads makes HTTP reads need a read or admin token too.
	AuthReads bool `flag:"auth-reads" help:"with --auth-file, HTTP reads (all but /ping) need a read or admin token too"`
	// TCPAllow lists networks (CIDR, or a bare address) whose producers
	// may register without a token; with it, or with AuthFile, others
	// must send a register token in IDENTIFY.
	TCPAllow []string `flag:"tcp-allow" help:"network (CIDR or address) whose producers may register without a token, e.g. nsqd's; repeatable. With it or --auth-file, others need a register token"`

	// TLSCert and TLSKey turn TLS on: --http-address then serves HTTPS
	// only (a plaintext request gets 403 TLS_REQUIRED with the port, as
	// from nsqd), and TCPTLSAddress may be set. Re-read on SIGHUP.
	TLSCert string `flag:"tls-cert" help:"PEM certificate (chain) of this lookupd; with it --http-address serves HTTPS only; re-read on SIGHUP"`
	TLSKey  string `flag:"tls-key" help:"PEM private key of --tls-cert"`
	// TLSClientCA makes both TLS listeners require a client certificate
	// signed by one of its certificates (mTLS).
	TLSClientCA string `flag:"tls-client-ca" help:"PEM CA certificates; with it TLS clients (HTTPS and --tcp-tls-address) must present a certificate they signed (mTLS)"`
	// TLSMinVersion is the oldest TLS version accepted: "1.2" or "1.3".
	TLSMinVersion string `flag:"tls-min-version" help:"oldest TLS version accepted: 1.2 or 1.3"`
	// TCPTLSAddress, if set, is a second V1 listener that speaks TLS
	// only, for producers that can (lookup/producer, producerd).
	TCPTLSAddress string `flag:"tcp-tls-address" help:"<addr>:<port> of a second TCP listener for producers, TLS only (needs --tls-cert); empty: none"`

	HTTPReadTimeout    time.Duration `flag:"http-read-timeout" help:"HTTP server read timeout"`
	HTTPWriteTimeout   time.Duration `flag:"http-write-timeout" help:"HTTP server write timeout"`
	HTTPIdleTimeout    time.Duration `flag:"http-idle-timeout" help:"HTTP keep-alive idle timeout"`
	HTTPMaxHeaderBytes int           `flag:"http-max-header-bytes" help:"maximum HTTP request header size in bytes (request line included)"`
	// HTTPAccessLog logs one line per HTTP request at info.
	HTTPAccessLog   bool          `flag:"http-access-log" help:"log one line per HTTP request at info (method, path, status, duration, remote address)"`
	ShutdownTimeout time.Duration `flag:"shutdown-timeout" help:"how long a graceful shutdown may take"`

	// DNSAddress is host:port to serve DNS on, UDP and TCP on the same
	// port; empty (the default) means no DNS server.
	DNSAddress string `flag:"dns-address" help:"<addr>:<port> to serve DNS on, UDP and TCP (empty: no DNS server)"`
	// DNSZone is the domain the DNS server answers for.
	DNSZone string `flag:"dns-zone" help:"domain the DNS server answers for"`
	// DNSTTL is the TTL of DNS records, cut to the time until the answer
	// could change by itself; 0 means answers are not to be cached.
	DNSTTL time.Duration `flag:"dns-ttl" help:"TTL of DNS records, cut to the time until the answer could change by itself"`
	// DNSMaxTCPConnections caps concurrent DNS TCP connections (0: no cap).
	DNSMaxTCPConnections int `flag:"dns-max-tcp-connections" help:"maximum concurrent DNS TCP connections (0: no limit)"`
	// DNSTCPIdleTimeout closes a DNS TCP connection that sends no complete
	// query for this long.
	DNSTCPIdleTimeout time.Duration `flag:"dns-tcp-idle-timeout" help:"close a DNS TCP connection that sends no complete query this long"`
	// DNSMaxUDPSize caps the EDNS0 size honoured over UDP.
	DNSMaxUDPSize int `flag:"dns-max-udp-size" help:"largest EDNS0 UDP answer size honoured (512..65535)"`

	// Logger, if set, receives all logs and LogLevel/LogPrefix are ignored.
	Logger *slog.Logger
	// Now is the clock (tests inject one); default time.Now.
	Now func() time.Time
	// AfterFunc calls f once d has passed on Now's clock and returns a
	// function that cancels the call; default time.AfterFunc. Tests that
	// inject Now inject this too (fakeclock.Clock has both).
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// NewOptions returns the defaults, which match nsqlookupd v1.3.0's where
// nsqlookupd has the same setting.
func NewOptions() *Options {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "localhost"
	}
	return &Options{
		LogLevel:         config.LevelInfo,
		LogPrefix:        "[lookupd] ",
		TCPAddress:       "0.0.0.0:4160",
		HTTPAddress:      "0.0.0.0:4161",
		BroadcastAddress: hostname,

		InactiveProducerTimeout: 300 * time.Second,
		TombstoneLifetime:       45 * time.Second,

		ClientIdleTimeout:           0,
		MaxIdentifyBodySize:         64 * 1024,
		MaxCommandLength:            4096,
		MaxTCPClients:               16384,
		MaxTCPClientsPerIP:          64,
		HandshakeTimeout:            10 * time.Second,
		MaxRegistrationsPerProducer: 100000,
		MaxBlockingQueries:          16384,
		MaxBlockingQueriesPerIP:     1024,
		MaxTopics:                   10000,
		MaxChannelsPerTopic:         100,
		TLSMinVersion:               "1.2",

		HTTPReadTimeout:    30 * time.Second,
		HTTPWriteTimeout:   30 * time.Second,
		HTTPIdleTimeout:    120 * time.Second,
		HTTPAccessLog:      true,
		HTTPMaxHeaderBytes: 64 * 1024,
		ShutdownTimeout:    10 * time.Second,

		DNSAddress:           "",
		DNSZone:              dnsserver.DefaultZone,
		DNSTTL:               dnsserver.DefaultTTL,
		DNSMaxTCPConnections: dnsserver.DefaultMaxTCPConnections,
		DNSTCPIdleTimeout:    dnsserver.DefaultTCPIdleTimeout,
		DNSMaxUDPSize:        dnsserver.DefaultMaxUDPSize,
	}
}

// IdleTimeout returns the effective TCP idle timeout.
func (o *Options) IdleTimeout() time.Duration {
	if o.ClientIdleTimeout > 0 {
		return o.ClientIdleTimeout
	}
	return 2 * o.InactiveProducerTimeout
}

// Validate checks each field and the rules between fields, in a fixed
// order, and returns every problem found.
func (o *Options) Validate() error {
	var v config.Validator
	v.ListenAddress("tcp-address", o.TCPAddress)
	v.ListenAddress("http-address", o.HTTPAddress)
	v.NotEmpty("broadcast-address", o.BroadcastAddress)
	v.Positive("inactive-producer-timeout", o.InactiveProducerTimeout)
	v.Positive("tombstone-lifetime", o.TombstoneLifetime)
	v.Positive("http-read-timeout", o.HTTPReadTimeout)
	v.Positive("http-write-timeout", o.HTTPWriteTimeout)
	v.Positive("http-idle-timeout", o.HTTPIdleTimeout)
	v.Positive("shutdown-timeout", o.ShutdownTimeout)
	v.Check(o.ClientIdleTimeout >= 0, "client-idle-timeout", "must not be negative, got %s", o.ClientIdleTimeout)
	v.Check(o.ClientIdleTimeout <= 0 || o.ClientIdleTimeout >= o.InactiveProducerTimeout, "client-idle-timeout",
		"%s is shorter than --inactive-producer-timeout %s", o.ClientIdleTimeout, o.InactiveProducerTimeout)
	v.InRange("max-identify-body-size", o.MaxIdentifyBodySize, 64, 16<<20)
	v.InRange("max-command-length", o.MaxCommandLength, 256, 1<<20)
	v.AtLeast("max-tcp-clients", o.MaxTCPClients, 0)
	v.AtLeast("max-tcp-clients-per-ip", o.MaxTCPClientsPerIP, 0)
	v.Check(o.HandshakeTimeout >= 0, "handshake-timeout", "must not be negative, got %s", o.HandshakeTimeout)
	v.AtLeast("max-registrations-per-producer", o.MaxRegistrationsPerProducer, 0)
	v.AtLeast("max-blocking-queries", o.MaxBlockingQueries, 0)
	v.AtLeast("max-blocking-queries-per-ip", o.MaxBlockingQueriesPerIP, 0)
	v.AtLeast("max-topics", o.MaxTopics, 0)
	v.AtLeast("max-channels-per-topic", o.MaxChannelsPerTopic, 0)
	v.AtLeast("http-max-header-bytes", o.HTTPMaxHeaderBytes, 1024)
	v.Check(!o.AuthReads || o.AuthFile != "", "auth-reads", "needs --auth-file")
	v.Check((o.TLSCert == "") == (o.TLSKey == ""), "tls-cert", "and --tls-key go together")
	v.Check(o.TLSClientCA == "" || o.TLSCert != "", "tls-client-ca", "needs --tls-cert")
	_, ok := tlsVersions[o.TLSMinVersion]
	v.Check(ok, "tls-min-version", "want 1.2 or 1.3, got %q", o.TLSMinVersion)
	if o.TCPTLSAddress != "" {
		v.ListenAddress("tcp-tls-address", o.TCPTLSAddress)
		v.Check(o.TLSCert != "", "tcp-tls-address", "needs --tls-cert")
	}
	for _, a := range o.TCPAllow {
		_, err := parsePrefix(a)
		v.Add("tcp-allow", err)
	}
	if o.DNSAddress != "" {
		v.ListenAddress("dns-address", o.DNSAddress)
	}
	v.Add("dns-zone", dnsserver.ValidateZone(o.DNSZone))
	v.Check(o.DNSTTL >= 0 && o.DNSTTL <= 24*time.Hour, "dns-ttl", "must be in 0s..24h, got %s", o.DNSTTL)
	v.AtLeast("dns-max-tcp-connections", o.DNSMaxTCPConnections, 0)
	v.Positive("dns-tcp-idle-timeout", o.DNSTCPIdleTimeout)
	v.InRange("dns-max-udp-size", o.DNSMaxUDPSize, 512, 65535)
	return v.Err()
}

// parsePrefix reads a --tcp-allow entry: a CIDR, or an address meaning
// itself alone. IPv4-mapped IPv6 forms are read as IPv4.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("want a CIDR such as 10.0.0.0/8 or an address, got %q", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// requireTCPAuth reports whether producers need a token or an allowed
// address.
func (o *Options) requireTCPAuth() bool { return o.AuthFile != "" || len(o.TCPAllow) > 0 }

// NewLogger returns the text logger on stderr that the daemon uses when
// Options.Logger is nil, honouring LogLevel and LogPrefix.
func (o *Options) NewLogger() *slog.Logger {
	return slog.New(config.NewTextHandler(config.PrefixWriter(os.Stderr, o.LogPrefix), o.LogLevel))
}
