package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	options "github.com/mreiferson/go-options"

	"github.com/lookupd/lookupd/lookup"
)

// lookupdFlagSet builds the flag set, taking every default from opts.
func lookupdFlagSet(opts *lookup.Options, output io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lookupd", flag.ContinueOnError)
	fs.SetOutput(output)

	fs.String("config", "", "path to a TOML config file (keys are flag names with underscores)")
	fs.Bool("version", false, "print version string and exit")

	fs.String("log-level", opts.LogLevel, "log verbosity: debug, info, warn, error or fatal")
	fs.String("log-prefix", opts.LogPrefix, "log message prefix")

	fs.String("tcp-address", opts.TCPAddress, "<addr>:<port> to listen on for TCP clients")
	fs.String("http-address", opts.HTTPAddress, "<addr>:<port> to listen on for HTTP clients")
	fs.String("broadcast-address", opts.BroadcastAddress, "address of this lookupd node (default: the OS hostname)")

	fs.Duration("inactive-producer-timeout", opts.InactiveProducerTimeout, "how long a producer stays listed after its last heartbeat")
	fs.Duration("tombstone-lifetime", opts.TombstoneLifetime, "how long a tombstoned producer stays hidden from /lookup")

	fs.Duration("client-idle-timeout", opts.ClientIdleTimeout, "close a TCP connection silent this long and remove its registrations (0: twice --inactive-producer-timeout)")
	fs.Int("max-identify-body-size", opts.MaxIdentifyBodySize, "maximum IDENTIFY body size in bytes")
	fs.Int("max-command-length", opts.MaxCommandLength, "maximum V1 command line length in bytes")
	fs.Int("max-tcp-clients", opts.MaxTCPClients, "maximum concurrent TCP connections (0: no limit)")
	fs.Int("max-registrations-per-producer", opts.MaxRegistrationsPerProducer, "maximum topic and channel registrations of one connection (0: no limit)")

	fs.Duration("http-read-timeout", opts.HTTPReadTimeout, "HTTP server read timeout")
	fs.Duration("http-write-timeout", opts.HTTPWriteTimeout, "HTTP server write timeout")
	fs.Duration("http-idle-timeout", opts.HTTPIdleTimeout, "HTTP keep-alive idle timeout")
	fs.Int("http-max-header-bytes", opts.HTTPMaxHeaderBytes, "maximum HTTP request header size in bytes (request line included)")
	fs.Duration("shutdown-timeout", opts.ShutdownTimeout, "how long a graceful shutdown may take")
	return fs
}

// loadConfig reads a TOML file into a map fit for options.Resolve, checking
// every key and value type first so that go-options never has to fail.
func loadConfig(path string, opts *lookup.Options) (map[string]any, error) {
	cfg := map[string]any{}
	if path == "" {
		return cfg, nil
	}
	if _, err := toml.DecodeFile(path, &cfg); err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	if err := checkConfig(cfg, opts); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// checkConfig rejects unknown keys and values of the wrong type.
func checkConfig(cfg map[string]any, opts *lookup.Options) error {
	fields := map[string]reflect.Type{}
	typ := reflect.TypeOf(*opts)
	for i := range typ.NumField() {
		f := typ.Field(i)
		if tag := f.Tag.Get("flag"); tag != "" {
			fields[strings.ReplaceAll(tag, "-", "_")] = f.Type
		}
	}
	var errs []error
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := cfg[k]
		ft, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown key %q", k))
			continue
		}
		switch {
		case ft == reflect.TypeOf(time.Duration(0)):
			s, ok := v.(string)
			if !ok {
				errs = append(errs, fmt.Errorf("%s: want a duration string like \"30s\", got %T", k, v))
				continue
			}
			if _, err := time.ParseDuration(s); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", k, err))
			}
		case ft.Kind() == reflect.Int:
			if _, ok := v.(int64); !ok {
				errs = append(errs, fmt.Errorf("%s: want an integer, got %T", k, v))
			}
		case ft.Kind() == reflect.String:
			if _, ok := v.(string); !ok {
				errs = append(errs, fmt.Errorf("%s: want a string, got %T", k, v))
			}
		case ft.Kind() == reflect.Bool:
			if _, ok := v.(bool); !ok {
				errs = append(errs, fmt.Errorf("%s: want true or false, got %T", k, v))
			}
		}
	}
	if lvl, ok := cfg["log_level"].(string); ok {
		if _, err := lookup.ParseLogLevel(lvl); err != nil {
			errs = append(errs, fmt.Errorf("log_level: %w", err))
		}
	}
	return errors.Join(errs...)
}

// errVersion asks main to print the version and exit 0.
var errVersion = errors.New("version requested")

// parseOptions resolves command-line args and the config file they name
// into Options: flag given > config file > default. It returns errVersion
// for --version and flag.ErrHelp for -h.
func parseOptions(args []string, output io.Writer) (*lookup.Options, error) {
	opts := lookup.NewOptions()
	fs := lookupdFlagSet(opts, output)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if fs.Lookup("version").Value.(flag.Getter).Get().(bool) {
		return nil, errVersion
	}
	cfg, err := loadConfig(fs.Lookup("config").Value.String(), opts)
	if err != nil {
		return nil, err
	}
	options.Resolve(opts, fs, cfg)
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return opts, nil
}
