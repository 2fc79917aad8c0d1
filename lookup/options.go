package lookup

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// Version is this build's version, printed by --version and exported as a
// metric.
const Version = "0.1.0"

// CompatVersion is the nsqlookupd version whose protocol and API this
// daemon speaks; /info and the IDENTIFY reply report it, since clients
// (nsqadmin) parse it as a semantic version.
const CompatVersion = "1.3.0"

// LevelFatal is the slog level --log-level=fatal maps to.
const LevelFatal = slog.LevelError + 4

// Options configure a Server. Defaults live only in NewOptions; each field
// with a flag tag is a command-line flag and a TOML key (dashes become
// underscores). Options are read-only once passed to New.
type Options struct {
	LogLevel  string `flag:"log-level"`
	LogPrefix string `flag:"log-prefix"`

	TCPAddress       string `flag:"tcp-address"`
	HTTPAddress      string `flag:"http-address"`
	BroadcastAddress string `flag:"broadcast-address"`

	InactiveProducerTimeout time.Duration `flag:"inactive-producer-timeout"`
	TombstoneLifetime       time.Duration `flag:"tombstone-lifetime"`

	// ClientIdleTimeout closes a TCP connection silent for this long and
	// removes its registrations; 0 means twice InactiveProducerTimeout.
	ClientIdleTimeout time.Duration `flag:"client-idle-timeout"`
	// MaxIdentifyBodySize bounds the IDENTIFY body in bytes.
	MaxIdentifyBodySize int `flag:"max-identify-body-size"`
	// MaxCommandLength bounds one V1 command line in bytes.
	MaxCommandLength int `flag:"max-command-length"`
	// MaxTCPClients caps concurrent TCP connections (0: no cap).
	MaxTCPClients int `flag:"max-tcp-clients"`
	// MaxRegistrationsPerProducer caps one connection's topic and channel
	// registrations (0: no cap).
	MaxRegistrationsPerProducer int `flag:"max-registrations-per-producer"`

	HTTPReadTimeout    time.Duration `flag:"http-read-timeout"`
	HTTPWriteTimeout   time.Duration `flag:"http-write-timeout"`
	HTTPIdleTimeout    time.Duration `flag:"http-idle-timeout"`
	HTTPMaxHeaderBytes int           `flag:"http-max-header-bytes"`
	ShutdownTimeout    time.Duration `flag:"shutdown-timeout"`

	// Logger, if set, receives all logs and LogLevel/LogPrefix are ignored.
	Logger *slog.Logger
	// Now is the clock (tests inject one); default time.Now.
	Now func() time.Time
}

// NewOptions returns the defaults, which match nsqlookupd v1.3.0's where
// nsqlookupd has the same setting.
func NewOptions() *Options {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "localhost"
	}
	return &Options{
		LogLevel:         "info",
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
		MaxRegistrationsPerProducer: 100000,

		HTTPReadTimeout:    30 * time.Second,
		HTTPWriteTimeout:   30 * time.Second,
		HTTPIdleTimeout:    120 * time.Second,
		HTTPMaxHeaderBytes: 64 * 1024,
		ShutdownTimeout:    10 * time.Second,
	}
}

// ParseLogLevel maps debug, info, warn, error and fatal to slog levels.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "fatal":
		return LevelFatal, nil
	}
	return 0, fmt.Errorf("invalid log level %q (want debug, info, warn, error or fatal)", s)
}

// IdleTimeout returns the effective TCP idle timeout.
func (o *Options) IdleTimeout() time.Duration {
	if o.ClientIdleTimeout > 0 {
		return o.ClientIdleTimeout
	}
	return 2 * o.InactiveProducerTimeout
}

// Validate checks each field and the rules between fields.
func (o *Options) Validate() error {
	var errs []error
	if _, err := ParseLogLevel(o.LogLevel); err != nil {
		errs = append(errs, err)
	}
	for _, a := range []struct{ name, addr string }{{"tcp-address", o.TCPAddress}, {"http-address", o.HTTPAddress}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", a.name, a.addr, err))
		}
	}
	if o.BroadcastAddress == "" {
		errs = append(errs, errors.New("broadcast-address must not be empty"))
	}
	positive := []struct {
		name string
		d    time.Duration
	}{
		{"inactive-producer-timeout", o.InactiveProducerTimeout},
		{"tombstone-lifetime", o.TombstoneLifetime},
		{"http-read-timeout", o.HTTPReadTimeout},
		{"http-write-timeout", o.HTTPWriteTimeout},
		{"http-idle-timeout", o.HTTPIdleTimeout},
		{"shutdown-timeout", o.ShutdownTimeout},
	}
	for _, p := range positive {
		if p.d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", p.name, p.d))
		}
	}
	if o.ClientIdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("client-idle-timeout must not be negative, got %s", o.ClientIdleTimeout))
	} else if o.ClientIdleTimeout > 0 && o.ClientIdleTimeout < o.InactiveProducerTimeout {
		errs = append(errs, fmt.Errorf("client-idle-timeout %s is shorter than inactive-producer-timeout %s", o.ClientIdleTimeout, o.InactiveProducerTimeout))
	}
	if o.MaxIdentifyBodySize < 64 || o.MaxIdentifyBodySize > 16<<20 {
		errs = append(errs, fmt.Errorf("max-identify-body-size must be in 64..16777216, got %d", o.MaxIdentifyBodySize))
	}
	if o.MaxCommandLength < 256 || o.MaxCommandLength > 1<<20 {
		errs = append(errs, fmt.Errorf("max-command-length must be in 256..1048576, got %d", o.MaxCommandLength))
	}
	if o.MaxTCPClients < 0 {
		errs = append(errs, fmt.Errorf("max-tcp-clients must not be negative, got %d", o.MaxTCPClients))
	}
	if o.MaxRegistrationsPerProducer < 0 {
		errs = append(errs, fmt.Errorf("max-registrations-per-producer must not be negative, got %d", o.MaxRegistrationsPerProducer))
	}
	if o.HTTPMaxHeaderBytes < 1024 {
		errs = append(errs, fmt.Errorf("http-max-header-bytes must be at least 1024, got %d", o.HTTPMaxHeaderBytes))
	}
	return errors.Join(errs...)
}

// prefixWriter prepends a prefix to each log record (one Write each).
type prefixWriter struct {
	prefix []byte
	w      *os.File
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append(append([]byte(nil), p.prefix...), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// NewLogger returns the text logger on stderr that the daemon uses when
// Options.Logger is nil, honouring LogLevel and LogPrefix.
func (o *Options) NewLogger() (*slog.Logger, error) {
	lvl, err := ParseLogLevel(o.LogLevel)
	if err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(prefixWriter{prefix: []byte(o.LogPrefix), w: os.Stderr},
		&slog.HandlerOptions{Level: lvl})), nil
}
