package config

import (
	"fmt"
	"log/slog"
	"strings"
)

// LogLevel is a --log-level value: debug, info, warn, error or fatal. It is
// a slog.Leveler, so it can be a handler's minimum level directly.
type LogLevel slog.Level

// The named levels; each but LevelFatal is the slog level of the same name.
const (
	LevelDebug = LogLevel(slog.LevelDebug)
	LevelInfo  = LogLevel(slog.LevelInfo)
	LevelWarn  = LogLevel(slog.LevelWarn)
	LevelError = LogLevel(slog.LevelError)
	// LevelFatal is above every level the daemons log at, as nsqlookupd's
	// fatal is: nothing but a fatal message would be shown.
	LevelFatal = LogLevel(slog.LevelError + 4)
)

// ParseLogLevel parses a level name, case-insensitively. "warning" is
// accepted for warn (nsqlookupd prints its warn level as WARNING).
func ParseLogLevel(s string) (LogLevel, error) {
	switch strings.ToLower(s) {
	case "debug":
		return LevelDebug, nil
	case "info":
		return LevelInfo, nil
	case "warn", "warning":
		return LevelWarn, nil
	case "error":
		return LevelError, nil
	case "fatal":
		return LevelFatal, nil
	}
	return 0, fmt.Errorf("invalid log level %q (want debug, info, warn, error or fatal)", s)
}

// Level implements slog.Leveler.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// String returns the level's name, lower case; a level between the named
// ones prints as slog does ("INFO+2").
func (l LogLevel) String() string {
	switch l {
	case LevelDebug:
		return "debug"
	case LevelInfo:
		return "info"
	case LevelWarn:
		return "warn"
	case LevelError:
		return "error"
	case LevelFatal:
		return "fatal"
	}
	return slog.Level(l).String()
}

// MarshalText implements encoding.TextMarshaler.
func (l LogLevel) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseLogLevel,
// which makes LogLevel a text type to the loader.
func (l *LogLevel) UnmarshalText(b []byte) error {
	v, err := ParseLogLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
