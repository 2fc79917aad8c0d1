package producerd

import (
	"log/slog"
	"os"
	"time"

	"github.com/lookupd/lookupd/clientmerge/credentials"
	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/producer"
)

// Options is producerd's configuration. Every field with a flag tag is a
// command line flag and a TOML key (the flag name with underscores), loaded
// by lookup/config: adding a field with flag and help tags adds the option.
// See README.md for the reference. Defaults live only in NewOptions.
// Options are read-only once passed to New; Reload takes new ones.
type Options struct {
	LogLevel  config.LogLevel `flag:"log-level" help:"log verbosity: debug, info, warn, error or fatal"`
	LogPrefix string          `flag:"log-prefix" help:"log message prefix"`

	// What is announced, and to whom.
	LookupdTCPAddresses []string      `flag:"lookupd-tcp-address" help:"lookupd TCP address: ip:port, host:port (one lookupd per address of the name) or srv+NAME (SRV records); repeat for each"`
	LookupdDNSRefresh   time.Duration `flag:"lookupd-dns-refresh" help:"how often lookupd addresses that are DNS names are resolved again"`
	BroadcastAddress    string        `flag:"broadcast-address" help:"address announced to lookupds"`
	BroadcastTCPPort    int           `flag:"broadcast-tcp-port" help:"TCP port announced to lookupds"`
	BroadcastHTTPPort   int           `flag:"broadcast-http-port" help:"HTTP port announced to lookupds"`
	Hostname            string        `flag:"hostname" help:"hostname announced to lookupds"`
	Register            []string      `flag:"register" help:"topic or topic/channel to announce (repeatable)"`

	// AuthTokenFile names a file holding the register token sent in
	// IDENTIFY, for lookupds run with --auth-file (read at start).
	AuthTokenFile string `flag:"auth-token-file" help:"file holding the register token to send in IDENTIFY, for lookupds run with --auth-file (empty: none)"`

	// TLS makes producerd connect to every lookupd with TLS: the lookupd
	// addresses are then their --tcp-tls-address listeners.
	TLS bool `flag:"tls" help:"connect to lookupds with TLS (give their --tcp-tls-address as --lookupd-tcp-address)"`
	// TLSCAFile verifies the lookupds' certificates (default: the
	// system's roots); TLSCert and TLSKey are producerd's own, for
	// lookupds run with --tls-client-ca; TLSServerName overrides the name
	// checked. All need TLS.
	TLSCAFile     string `flag:"tls-ca-file" help:"with --tls: PEM CA certificates that verify the lookupds (default: the system's)"`
	TLSCert       string `flag:"tls-cert" help:"with --tls: PEM client certificate, for lookupds run with --tls-client-ca"`
	TLSKey        string `flag:"tls-key" help:"with --tls: PEM private key of --tls-cert"`
	TLSServerName string `flag:"tls-server-name" help:"with --tls: the name the lookupds' certificates must carry (default: the host of each address)"`

	HeartbeatInterval time.Duration `flag:"heartbeat-interval" help:"time between PINGs to each lookupd"`
	ResyncInterval    time.Duration `flag:"resync-interval" help:"time between full re-sends of all registrations (repairs lookupds that lost them)"`

	// HTTPAddress is the admin API's listen address; empty disables it.
	HTTPAddress string `flag:"http-address" help:"host:port of the admin HTTP API (empty disables it)"`

	// Health gating; HealthURL empty disables it.
	HealthURL      string        `flag:"health-url" help:"URL whose 2xx answer gates the announcements (empty: always announce)"`
	HealthInterval time.Duration `flag:"health-interval" help:"time between health checks (also each check's timeout)"`
	HealthRise     int           `flag:"health-rise" help:"consecutive successes before announcing"`
	HealthFall     int           `flag:"health-fall" help:"consecutive failures before withdrawing"`

	ShutdownTimeout time.Duration `flag:"shutdown-timeout" help:"how long to spend withdrawing registrations on exit"`

	// Logger, if set, receives all logs; LogLevel and LogPrefix are then
	// ignored, and a Reload cannot change the level.
	Logger *slog.Logger
	// Resolver resolves the lookupd addresses that are DNS names (default:
	// the system's resolver). Tests point it at an in-process DNS server.
	Resolver dnsaddr.Resolver
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	hostname, _ := os.Hostname() // empty if unknown; Validate reports it
	return &Options{
		LogLevel:          config.LevelInfo,
		LogPrefix:         "[producerd] ",
		BroadcastAddress:  hostname,
		BroadcastTCPPort:  4150,
		BroadcastHTTPPort: 4151,
		Hostname:          hostname,
		LookupdDNSRefresh: dnsaddr.DefaultRefresh,
		HeartbeatInterval: producer.DefaultHeartbeatInterval,
		ResyncInterval:    producer.DefaultResyncInterval,
		HTTPAddress:       "127.0.0.1:4170",
		HealthInterval:    DefaultHealthInterval,
		HealthRise:        DefaultHealthRise,
		HealthFall:        DefaultHealthFall,
		ShutdownTimeout:   5 * time.Second,
	}
}

// tlsFiles returns the TLS client files of the options.
func (o *Options) tlsFiles() credentials.TLSFiles {
	return credentials.TLSFiles{CAFile: o.TLSCAFile, CertFile: o.TLSCert, KeyFile: o.TLSKey, ServerName: o.TLSServerName}
}

// Validate checks values and cross-field rules, in declaration order, and
// returns every problem found.
func (o *Options) Validate() error {
	var v config.Validator
	v.Check(len(o.LookupdTCPAddresses) > 0, "lookupd-tcp-address", "at least one is required")
	for _, a := range o.LookupdTCPAddresses {
		v.Add("lookupd-tcp-address", dnsaddr.Check(a))
	}
	v.Positive("lookupd-dns-refresh", o.LookupdDNSRefresh)
	v.Check(o.BroadcastAddress != "", "broadcast-address", "must not be empty (and the hostname is unknown)")
	v.InRange("broadcast-tcp-port", o.BroadcastTCPPort, 1, 65535)
	v.InRange("broadcast-http-port", o.BroadcastHTTPPort, 1, 65535)
	v.Check(o.Hostname != "", "hostname", "must not be empty (and the hostname is unknown)")
	for _, r := range o.Register { // each problem named --register
		_, err := ParseRegistration(r)
		v.Add("register", err)
	}
	v.Check(o.TLS || o.tlsFiles().IsZero(), "tls", "must be set for --tls-ca-file, --tls-cert, --tls-key or --tls-server-name")
	v.Check((o.TLSCert == "") == (o.TLSKey == ""), "tls-cert", "and --tls-key go together")
	v.Positive("heartbeat-interval", o.HeartbeatInterval)
	v.Positive("resync-interval", o.ResyncInterval)
	if o.HTTPAddress != "" {
		v.ListenAddress("http-address", o.HTTPAddress)
	}
	if o.HealthURL != "" {
		v.Add("health-url", ValidateHealthURL(o.HealthURL))
	}
	v.Positive("health-interval", o.HealthInterval)
	v.AtLeast("health-rise", o.HealthRise, 1)
	v.AtLeast("health-fall", o.HealthFall, 1)
	v.Positive("shutdown-timeout", o.ShutdownTimeout)
	return v.Err()
}
