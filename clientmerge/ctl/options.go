package ctl

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/credentials"
	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
)

// EnvAddresses is the environment variable read for lookupd addresses
// when no --lookupd-http-address is given: a comma-separated list.
const EnvAddresses = "LOOKUPD_HTTP_ADDRESSES"

// Options are lookupctl's settings. Defaults live in NewOptions.
type Options struct {
	// LookupdHTTPAddresses are the lookupds asked, "host:port" or a base
	// URL.
	LookupdHTTPAddresses []string `flag:"lookupd-http-address" help:"a lookupd's HTTP address, host:port or a base URL; repeat for each (default: $LOOKUPD_HTTP_ADDRESSES)"`
	// LookupdDNSRefresh is how often names among LookupdHTTPAddresses are
	// resolved again by the commands that run until interrupted; 0: once.
	LookupdDNSRefresh time.Duration `flag:"lookupd-dns-refresh" help:"watch, ui, dns: resolve names among the lookupd addresses again this often (0: once)"`
	// Output is "table" or "json".
	Output string `flag:"output" help:"output format: table or json (-o)"`
	// Timeout bounds each lookupd's answer to each query.
	Timeout time.Duration `flag:"timeout" help:"bound on each lookupd's answer to each query"`
	// Interval is the polling interval of watch and ui.
	Interval time.Duration `flag:"interval" help:"watch, ui: polling interval for lookupds without blocking queries, and of the health probe"`
	// HTTPAddress is where ui listens.
	HTTPAddress string `flag:"http-address" help:"ui: listen address"`
	// EnableActions lets the web view tombstone producers and delete
	// topics and channels.
	EnableActions bool `flag:"enable-actions" help:"ui: offer tombstoning producers and deleting topics and channels"`
	// AuthTokenFile names a file holding the bearer token sent to every
	// lookupd (clientmerge.WithBearerToken); empty: none.
	AuthTokenFile string `flag:"auth-token-file" help:"file holding the bearer token sent to every lookupd run with --auth-file: a read token (for --auth-reads), or an admin token for the ui's actions"`
	// FeedSize bounds the web view's change feed.
	FeedSize int `flag:"feed-size" help:"ui: changes kept in the change feed"`

	// TLS for https:// lookupds; see clientmerge/credentials.
	TLSCAFile     string `flag:"tls-ca-file" help:"PEM CA certificates that verify https:// lookupds (default: the system's)"`
	TLSCert       string `flag:"tls-cert" help:"PEM client certificate, for lookupds run with --tls-client-ca"`
	TLSKey        string `flag:"tls-key" help:"PEM private key of --tls-cert"`
	TLSServerName string `flag:"tls-server-name" help:"the name https:// lookupds' certificates must carry (default: each URL's host)"`

	// The dns command's server. The names and defaults are lookupd's
	// --dns-* flags, except the address, which dns needs.
	DNSAddress           string        `flag:"dns-address" help:"dns: UDP and TCP listen address"`
	DNSZone              string        `flag:"dns-zone" help:"dns: domain answered for"`
	DNSTTL               time.Duration `flag:"dns-ttl" help:"dns: TTL of the records"`
	DNSMaxTCPConnections int           `flag:"dns-max-tcp-connections" help:"dns: concurrent TCP connections (0: no limit)"`
	DNSTCPIdleTimeout    time.Duration `flag:"dns-tcp-idle-timeout" help:"dns: close a TCP connection that sends no complete query this long"`
	DNSMaxUDPSize        int           `flag:"dns-max-udp-size" help:"dns: largest UDP answer EDNS0 may ask for (512..65535)"`
	DNSUDPWorkers        int           `flag:"dns-udp-workers" help:"dns: UDP queries answered at once, and so merged lookups in flight"`
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Output:            "table",
		Timeout:           5 * time.Second,
		LookupdDNSRefresh: dnsaddr.DefaultRefresh,
		Interval:          500 * time.Millisecond,
		HTTPAddress:       "127.0.0.1:4171",
		FeedSize:          200,

		DNSAddress:           "127.0.0.1:4153",
		DNSZone:              "lookupd.",
		DNSTTL:               5 * time.Second,
		DNSMaxTCPConnections: 256,
		DNSTCPIdleTimeout:    10 * time.Second,
		DNSMaxUDPSize:        1232,
		DNSUDPWorkers:        64,
	}
}

// Validate checks the options. Each problem reads "--NAME: PROBLEM", as
// the daemons word theirs (lookup/config's Validator; this package does
// not import lookup), and all of them are reported, in a fixed order.
func (o *Options) Validate() error {
	var errs []error
	check := func(ok bool, name, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf("--%s: %s", name, fmt.Sprintf(format, args...)))
		}
	}
	if len(o.LookupdHTTPAddresses) == 0 {
		return fmt.Errorf("no lookupd addresses: give --lookupd-http-address or set %s", EnvAddresses)
	}
	check(o.Output == "table" || o.Output == "json", "output", "want table or json, got %q", o.Output)
	check(o.Timeout > 0, "timeout", "must be positive, got %s", o.Timeout)
	check(o.Interval > 0, "interval", "must be positive, got %s", o.Interval)
	check(o.LookupdDNSRefresh >= 0, "lookupd-dns-refresh", "must not be negative, got %s", o.LookupdDNSRefresh)
	check(o.FeedSize >= 1, "feed-size", "must be at least 1, got %d", o.FeedSize)
	_, _, err := net.SplitHostPort(o.HTTPAddress)
	check(err == nil, "http-address", "want host:port, got %q", o.HTTPAddress)
	_, _, err = net.SplitHostPort(o.DNSAddress)
	check(err == nil, "dns-address", "want host:port, got %q", o.DNSAddress)
	check(o.DNSZone != "", "dns-zone", "must not be empty")
	check(o.DNSTTL >= 0 && o.DNSTTL <= 24*time.Hour, "dns-ttl", "must be in 0s..24h, got %s", o.DNSTTL)
	check(o.DNSMaxTCPConnections >= 0, "dns-max-tcp-connections", "must not be negative, got %d", o.DNSMaxTCPConnections)
	check(o.DNSTCPIdleTimeout > 0, "dns-tcp-idle-timeout", "must be positive, got %s", o.DNSTCPIdleTimeout)
	check(o.DNSMaxUDPSize >= 512 && o.DNSMaxUDPSize <= 65535, "dns-max-udp-size", "must be in 512..65535, got %d", o.DNSMaxUDPSize)
	check(o.DNSUDPWorkers >= 1 && o.DNSUDPWorkers <= 4096, "dns-udp-workers", "must be in 1..4096, got %d", o.DNSUDPWorkers)
	return errors.Join(errs...)
}

// clientOptions returns the clientmerge options of the credentials: the
// token read from AuthTokenFile and a TLS configuration from the TLS
// files, each if given.
func (o *Options) clientOptions() ([]clientmerge.Option, error) {
	var out []clientmerge.Option
	if o.AuthTokenFile != "" {
		tok, err := credentials.ReadTokenFile(o.AuthTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--auth-token-file: %w", err)
		}
		out = append(out, clientmerge.WithBearerToken(tok))
	}
	files := credentials.TLSFiles{CAFile: o.TLSCAFile, CertFile: o.TLSCert, KeyFile: o.TLSKey, ServerName: o.TLSServerName}
	if !files.IsZero() {
		cfg, err := files.Config()
		if err != nil {
			return nil, err
		}
		out = append(out, clientmerge.WithTLSConfig(cfg))
	}
	return out, nil
}

// dnsOptions returns the clientmerge options that resolve names among
// the lookupd addresses: r (if not nil) and LookupdDNSRefresh, where 0
// means resolving once (a refresh that never comes).
func (o *Options) dnsOptions(r dnsaddr.Resolver) []clientmerge.Option {
	refresh := o.LookupdDNSRefresh
	if refresh == 0 {
		refresh = math.MaxInt64
	}
	out := []clientmerge.Option{clientmerge.WithDNSRefresh(refresh)}
	if r != nil {
		out = append(out, clientmerge.WithResolver(r))
	}
	return out
}

// DNSConfig is the dns command's configuration, as Hooks.ServeDNS gets
// it; Logger receives the server's logs.
type DNSConfig struct {
	Address           string
	Zone              string
	TTL               time.Duration
	MaxTCPConnections int
	TCPIdleTimeout    time.Duration
	MaxUDPSize        int
	UDPWorkers        int
	Logger            *slog.Logger
}

func (o *Options) dnsConfig(log *slog.Logger) DNSConfig {
	return DNSConfig{
		Address: o.DNSAddress, Zone: o.DNSZone, TTL: o.DNSTTL,
		MaxTCPConnections: o.DNSMaxTCPConnections, TCPIdleTimeout: o.DNSTCPIdleTimeout,
		MaxUDPSize: o.DNSMaxUDPSize, UDPWorkers: o.DNSUDPWorkers, Logger: log,
	}
}

// stringsFlag is a repeatable string flag.
type stringsFlag struct{ v *[]string }

func (s stringsFlag) String() string {
	if s.v == nil {
		return ""
	}
	return strings.Join(*s.v, ",")
}

func (s stringsFlag) Set(v string) error {
	if v == "" {
		return errors.New("empty address")
	}
	*s.v = append(*s.v, v)
	return nil
}

// commandFlags says which command-specific flags each command accepts;
// the others (addresses, output, timeout, config) apply to all.
var commandFlags = map[string][]string{
	"watch": {"interval", "lookupd-dns-refresh"},
	"ui":    {"interval", "http-address", "enable-actions", "feed-size", "lookupd-dns-refresh"},
	"dns":   append([]string{"lookupd-dns-refresh"}, dnsFlags...),
}

// dnsFlags are the dns command's own flags.
var dnsFlags = []string{"dns-address", "dns-zone", "dns-ttl", "dns-max-tcp-connections",
	"dns-tcp-idle-timeout", "dns-max-udp-size", "dns-udp-workers"}

// Loader fills opts (a pointer to Options holding the defaults) from
// flag arguments and, through --config, a TOML file, then validates it,
// and returns the arguments after the flags: the shared loader's
// Command.LoadArgs (lookup/config) in the lookupctl binary. ctl does not
// import it, as clientmerge imports nothing from lookup.
type Loader func(opts any, args []string, output io.Writer) ([]string, error)

// flagSet builds ctl's own flag set over o (for Main without a Loader,
// and to know which flags take a value). --config and --version are the
// Loader's; they are defined here only to be recognised.
func flagSet(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("lookupctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(stringsFlag{&o.LookupdHTTPAddresses}, "lookupd-http-address", "")
	fs.StringVar(&o.Output, "output", o.Output, "")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "")
	fs.DurationVar(&o.LookupdDNSRefresh, "lookupd-dns-refresh", o.LookupdDNSRefresh, "")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "")
	fs.StringVar(&o.HTTPAddress, "http-address", o.HTTPAddress, "")
	fs.BoolVar(&o.EnableActions, "enable-actions", o.EnableActions, "")
	fs.IntVar(&o.FeedSize, "feed-size", o.FeedSize, "")
	fs.StringVar(&o.AuthTokenFile, "auth-token-file", o.AuthTokenFile, "")
	fs.StringVar(&o.TLSCAFile, "tls-ca-file", o.TLSCAFile, "")
	fs.StringVar(&o.TLSCert, "tls-cert", o.TLSCert, "")
	fs.StringVar(&o.TLSKey, "tls-key", o.TLSKey, "")
	fs.StringVar(&o.TLSServerName, "tls-server-name", o.TLSServerName, "")
	fs.StringVar(&o.DNSAddress, "dns-address", o.DNSAddress, "")
	fs.StringVar(&o.DNSZone, "dns-zone", o.DNSZone, "")
	fs.DurationVar(&o.DNSTTL, "dns-ttl", o.DNSTTL, "")
	fs.IntVar(&o.DNSMaxTCPConnections, "dns-max-tcp-connections", o.DNSMaxTCPConnections, "")
	fs.DurationVar(&o.DNSTCPIdleTimeout, "dns-tcp-idle-timeout", o.DNSTCPIdleTimeout, "")
	fs.IntVar(&o.DNSMaxUDPSize, "dns-max-udp-size", o.DNSMaxUDPSize, "")
	fs.IntVar(&o.DNSUDPWorkers, "dns-udp-workers", o.DNSUDPWorkers, "")
	fs.String("config", "", "")
	fs.Bool("version", false, "")
	return fs
}

// splitArgs separates flags (with their values) from positional
// arguments, which may come in any order; "--" ends the flags. -o is
// rewritten as --output. It returns the flag arguments, the positional
// ones and the names of the flags given.
func splitArgs(args []string) (flags, pos, names []string) {
	known := flagSet(NewOptions())
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "o" {
			name, a = "output", "--output"
			if hasValue {
				a += "=" + value
			}
		}
		names = append(names, name)
		flags = append(flags, a)
		f := known.Lookup(name)
		if hasValue || f == nil || isBool(f) || i+1 >= len(args) {
			continue
		}
		i++
		flags = append(flags, args[i])
	}
	return flags, pos, names
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseArgs reads the options from args (flags anywhere, see splitArgs),
// the environment (LOOKUPD_HTTP_ADDRESSES, below flags and the config
// file) and, with a Loader, the file named by --config. It returns the
// options (nil when only the positional arguments could be read, with the
// error) and the positional arguments; the command itself is checked
// before any option is, so that help works without addresses.
func parseArgs(args []string, getenv func(string) string, load Loader) (*Options, []string, error) {
	flags, pos, names := splitArgs(args)
	for _, n := range names {
		if n == "h" || n == "help" {
			return nil, pos, flag.ErrHelp
		}
	}
	if err := checkCommand(pos, names); err != nil {
		return nil, pos, err
	}
	o := NewOptions()
	if getenv != nil {
		for a := range strings.SplitSeq(getenv(EnvAddresses), ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.LookupdHTTPAddresses = append(o.LookupdHTTPAddresses, a)
			}
		}
	}
	if load != nil {
		rest, err := load(o, flags, io.Discard)
		if err != nil {
			return nil, pos, err
		}
		return o, append(rest, pos...), nil
	}
	fs := flagSet(o)
	var env []string
	env, o.LookupdHTTPAddresses = o.LookupdHTTPAddresses, nil
	if err := fs.Parse(flags); err != nil {
		return nil, pos, err
	}
	if len(o.LookupdHTTPAddresses) == 0 {
		o.LookupdHTTPAddresses = env
	}
	if fs.Lookup("config").Value.String() != "" {
		return nil, pos, errors.New("--config needs the lookupctl binary's loader")
	}
	return o, append(fs.Args(), pos...), o.Validate()
}

// checkCommand checks the command, its argument count and that every
// command-specific flag given applies to it.
func checkCommand(pos, names []string) error {
	if len(pos) == 0 {
		return errors.New("no command given")
	}
	if pos[0] == "help" {
		return flag.ErrHelp
	}
	cmd, ok := commands[pos[0]]
	if !ok {
		return fmt.Errorf("unknown command %q", pos[0])
	}
	if n := len(pos) - 1; n < cmd.minArgs || n > cmd.maxArgs {
		return fmt.Errorf("%s takes %s", pos[0], cmd.args)
	}
	for _, n := range names {
		switch n {
		case "lookupd-http-address", "output", "timeout", "config", "version":
		default:
			if _, isFlag := commandFlagNames[n]; isFlag && !slices.Contains(commandFlags[pos[0]], n) {
				return fmt.Errorf("flag --%s does not apply to %s", n, pos[0])
			}
		}
	}
	return nil
}

// commandFlagNames are the flags that belong to some commands only.
var commandFlagNames = func() map[string]bool {
	m := map[string]bool{}
	for _, names := range commandFlags {
		for _, n := range names {
			m[n] = true
		}
	}
	return m
}()
