package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/mreiferson/go-options"

	"github.com/lookupd/lookupd/lookup/peer"
	"github.com/lookupd/lookupd/lookup/peer/sidekick"
)

// Options is producerd's configuration. Every field with a flag tag is a
// command line flag and a TOML key (the flag name with underscores); see
// flagSet for each one's meaning and README.md for the reference. Defaults
// live only in NewOptions.
type Options struct {
	// LogLevel is the minimum level logged.
	LogLevel LogLevel `flag:"log-level"`

	// What is announced, and to whom.
	LookupdTCPAddresses []string `flag:"lookupd-tcp-address"`
	BroadcastAddress    string   `flag:"broadcast-address"`
	BroadcastTCPPort    int      `flag:"broadcast-tcp-port"`
	BroadcastHTTPPort   int      `flag:"broadcast-http-port"`
	Hostname            string   `flag:"hostname"`
	Register            []string `flag:"register"`

	// How often to PING, and to re-send everything.
	HeartbeatInterval time.Duration `flag:"heartbeat-interval"`
	ResyncInterval    time.Duration `flag:"resync-interval"`

	// HTTPAddress is the admin API's listen address; empty disables it.
	HTTPAddress string `flag:"http-address"`

	// Health gating; HealthURL empty disables it.
	HealthURL      string        `flag:"health-url"`
	HealthInterval time.Duration `flag:"health-interval"`
	HealthRise     int           `flag:"health-rise"`
	HealthFall     int           `flag:"health-fall"`

	// ShutdownTimeout bounds the withdrawal of registrations on exit.
	ShutdownTimeout time.Duration `flag:"shutdown-timeout"`
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	hostname, _ := os.Hostname() // empty if unknown; Validate reports it
	return &Options{
		LogLevel:          LogLevel(slog.LevelInfo),
		BroadcastAddress:  hostname,
		BroadcastTCPPort:  4150,
		BroadcastHTTPPort: 4151,
		Hostname:          hostname,
		HeartbeatInterval: peer.DefaultHeartbeatInterval,
		ResyncInterval:    peer.DefaultResyncInterval,
		HTTPAddress:       "127.0.0.1:4170",
		HealthInterval:    sidekick.DefaultHealthInterval,
		HealthRise:        sidekick.DefaultHealthRise,
		HealthFall:        sidekick.DefaultHealthFall,
		ShutdownTimeout:   5 * time.Second,
	}
}

// Validate checks values and cross-field rules.
func (o *Options) Validate() error {
	var errs []error
	if len(o.LookupdTCPAddresses) == 0 {
		errs = append(errs, errors.New("at least one --lookupd-tcp-address is required"))
	}
	for _, a := range o.LookupdTCPAddresses {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("--lookupd-tcp-address %q: want host:port", a))
		}
	}
	if o.BroadcastAddress == "" {
		errs = append(errs, errors.New("--broadcast-address is empty (and the hostname is unknown)"))
	}
	if o.Hostname == "" {
		errs = append(errs, errors.New("--hostname is empty (and the hostname is unknown)"))
	}
	for name, p := range map[string]int{"--broadcast-tcp-port": o.BroadcastTCPPort, "--broadcast-http-port": o.BroadcastHTTPPort} {
		if p < 1 || p > 65535 {
			errs = append(errs, fmt.Errorf("%s %d outside 1..65535", name, p))
		}
	}
	if _, err := sidekick.ParseRegistrations(o.Register); err != nil {
		errs = append(errs, fmt.Errorf("--register: %w", err))
	}
	for name, d := range map[string]time.Duration{
		"--heartbeat-interval": o.HeartbeatInterval, "--resync-interval": o.ResyncInterval,
		"--health-interval": o.HealthInterval, "--shutdown-timeout": o.ShutdownTimeout,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s must be positive", name, d))
		}
	}
	if o.HTTPAddress != "" {
		if _, _, err := net.SplitHostPort(o.HTTPAddress); err != nil {
			errs = append(errs, fmt.Errorf("--http-address %q: %w", o.HTTPAddress, err))
		}
	}
	if o.HealthURL != "" {
		if err := sidekick.ValidateHealthURL(o.HealthURL); err != nil {
			errs = append(errs, fmt.Errorf("--health-url: %w", err))
		}
	}
	if o.HealthRise < 1 || o.HealthFall < 1 {
		errs = append(errs, errors.New("--health-rise and --health-fall must be at least 1"))
	}
	return errors.Join(errs...)
}

// LogLevel is a --log-level value: debug, info, warn, error or fatal
// (slog.LevelError+4).
type LogLevel slog.Level

// LevelFatal is what --log-level=fatal maps to.
const LevelFatal = LogLevel(slog.LevelError + 4)

var logLevels = map[string]LogLevel{
	"debug": LogLevel(slog.LevelDebug),
	"info":  LogLevel(slog.LevelInfo),
	"warn":  LogLevel(slog.LevelWarn),
	"error": LogLevel(slog.LevelError),
	"fatal": LevelFatal,
}

// ParseLogLevel parses a level name, case-insensitively.
func ParseLogLevel(s string) (LogLevel, error) {
	if l, ok := logLevels[strings.ToLower(s)]; ok {
		return l, nil
	}
	return 0, fmt.Errorf("invalid log level %q (debug, info, warn, error, fatal)", s)
}

// Set implements flag.Value.
func (l *LogLevel) Set(s string) error {
	v, err := ParseLogLevel(s)
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// String implements flag.Value.
func (l *LogLevel) String() string {
	for name, v := range logLevels {
		if v == *l {
			return name
		}
	}
	return slog.Level(*l).String()
}

// Get implements flag.Getter, which go-options reads.
func (l *LogLevel) Get() any { return *l }

// stringArray is a repeatable flag. Values given on the command line
// replace the default rather than adding to it.
type stringArray struct {
	vals []string
	set  bool
}

func (a *stringArray) Set(s string) error {
	if !a.set {
		a.vals, a.set = nil, true
	}
	a.vals = append(a.vals, s)
	return nil
}

func (a *stringArray) String() string {
	if a == nil {
		return ""
	}
	return strings.Join(a.vals, ",")
}

func (a *stringArray) Get() any { return append([]string(nil), a.vals...) }

// flagSet builds the command line, with defaults taken from opts.
func flagSet(opts *Options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("producerd", flag.ContinueOnError)
	fs.SetOutput(output)

	fs.String("config", "", "path to a TOML config file (keys are the flag names with underscores)")
	fs.Bool("version", false, "print version string and exit")

	level := opts.LogLevel
	fs.Var(&level, "log-level", "log verbosity: debug, info (default), warn, error or fatal")

	fs.Var(&stringArray{vals: opts.LookupdTCPAddresses}, "lookupd-tcp-address", "lookupd TCP address, host:port (repeat for each lookupd)")
	fs.String("broadcast-address", opts.BroadcastAddress, "address announced to lookupds")
	fs.Int("broadcast-tcp-port", opts.BroadcastTCPPort, "TCP port announced to lookupds")
	fs.Int("broadcast-http-port", opts.BroadcastHTTPPort, "HTTP port announced to lookupds")
	fs.String("hostname", opts.Hostname, "hostname announced to lookupds")
	fs.Var(&stringArray{vals: opts.Register}, "register", "topic or topic/channel to announce (repeatable)")

	fs.Duration("heartbeat-interval", opts.HeartbeatInterval, "time between PINGs to each lookupd")
	fs.Duration("resync-interval", opts.ResyncInterval, "time between full re-sends of all registrations (repairs lookupds that lost them)")

	fs.String("http-address", opts.HTTPAddress, "host:port of the admin HTTP API (empty disables it)")

	fs.String("health-url", opts.HealthURL, "URL whose 2xx answer gates the announcements (empty: always announce)")
	fs.Duration("health-interval", opts.HealthInterval, "time between health checks (also each check's timeout)")
	fs.Int("health-rise", opts.HealthRise, "consecutive successes before announcing")
	fs.Int("health-fall", opts.HealthFall, "consecutive failures before withdrawing")

	fs.Duration("shutdown-timeout", opts.ShutdownTimeout, "how long to spend withdrawing registrations on exit")
	return fs
}

// fileConfig is the TOML file's schema: every Options flag, with
// underscores. Durations and the log level are strings ("15s", "debug");
// a bare integer there is rejected instead of being read as milliseconds.
type fileConfig struct {
	LogLevel            string   `toml:"log_level"`
	LookupdTCPAddresses []string `toml:"lookupd_tcp_address"`
	BroadcastAddress    string   `toml:"broadcast_address"`
	BroadcastTCPPort    int      `toml:"broadcast_tcp_port"`
	BroadcastHTTPPort   int      `toml:"broadcast_http_port"`
	Hostname            string   `toml:"hostname"`
	Register            []string `toml:"register"`
	HeartbeatInterval   string   `toml:"heartbeat_interval"`
	ResyncInterval      string   `toml:"resync_interval"`
	HTTPAddress         string   `toml:"http_address"`
	HealthURL           string   `toml:"health_url"`
	HealthInterval      string   `toml:"health_interval"`
	HealthRise          int      `toml:"health_rise"`
	HealthFall          int      `toml:"health_fall"`
	ShutdownTimeout     string   `toml:"shutdown_timeout"`
}

// loadConfigFile decodes path and returns the keys it sets, each converted
// to the type of its Options field, ready for options.Resolve (which would
// otherwise call log.Fatal on a value it cannot convert). Unknown keys,
// wrong types, bad durations and bad log levels are errors.
func loadConfigFile(path string) (map[string]any, error) {
	var fc fileConfig
	md, err := toml.DecodeFile(path, &fc)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	cfg := make(map[string]any)
	v := reflect.ValueOf(fc)
	optType := reflect.TypeFor[Options]()
	for i := range v.NumField() {
		key := v.Type().Field(i).Tag.Get("toml")
		if !md.IsDefined(key) {
			continue
		}
		val := v.Field(i).Interface()
		field, ok := optionFieldForKey(optType, key)
		if !ok {
			return nil, fmt.Errorf("config key %s has no option", key) // a bug, caught by tests
		}
		switch field.Type {
		case reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(val.(string))
			if err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", path, key, err)
			}
			val = d
		case reflect.TypeFor[LogLevel]():
			l, err := ParseLogLevel(val.(string))
			if err != nil {
				return nil, fmt.Errorf("config file %s: %s: %w", path, key, err)
			}
			val = l
		}
		cfg[key] = val
	}
	return cfg, nil
}

// optionFieldForKey finds the Options field whose flag tag, with
// underscores, is key.
func optionFieldForKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag := f.Tag.Get("flag"); tag != "" && strings.ReplaceAll(tag, "-", "_") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// errVersion asks main to print the version and exit 0.
var errVersion = errors.New("version requested")

// loadOptions parses args, reads the --config file if any and resolves
// each option as flag > file > default, then validates. It returns
// flag.ErrHelp for -h and errVersion for --version. Usage and flag errors
// are written to output.
func loadOptions(args []string, output io.Writer) (*Options, error) {
	opts := NewOptions()
	fs := flagSet(opts, output)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if fs.Lookup("version").Value.(flag.Getter).Get().(bool) {
		return nil, errVersion
	}
	cfg := map[string]any{}
	if path := fs.Lookup("config").Value.String(); path != "" {
		var err error
		if cfg, err = loadConfigFile(path); err != nil {
			return nil, err
		}
	}
	options.Resolve(opts, fs, cfg)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return opts, nil
}
