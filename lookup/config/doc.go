// Package config is the one configuration loader of every program in this
// module (lookupd, producerd, lookupctl): it builds the command line from an
// Options struct, reads the TOML file named by --config, resolves each
// option as flag given > TOML file > default with go-options' Resolve (as
// nsq does), and validates. It also owns the one --log-level parser
// (LogLevel) and the --version line.
//
// # Options structs
//
// Each field with a `flag:"name"` tag is both the command-line flag --name
// and the TOML key name_with_underscores. Its `help:"…"` tag is the flag's
// usage text (required). Its default is the field's value in the struct
// passed to Load, so defaults live only in the daemon's NewOptions. Fields
// without a flag tag (a logger, a clock) are left alone. Embedded structs
// are walked as if their fields were declared in place.
//
// Adding an option is therefore one line in the Options struct, plus its
// default in NewOptions, a check in Validate and a README row:
//
//	// MaxWaiters caps blocked ?wait= queries (0: no cap).
//	MaxWaiters int `flag:"max-waiters" help:"maximum concurrent blocking queries (0: no limit)"`
//
// # Types
//
// A field may be one of these types; anything else is a programming error
// that Load reports before parsing (and this package's tests catch):
//
//	Go type          flag                           TOML value
//	string           --x=s                          string
//	bool             --x, --x=false                 true or false (never 0 or 1)
//	int, int64       --x=42                         integer
//	uint, uint64     --x=42                         integer >= 0
//	float64          --x=0.5                        float or integer
//	time.Duration    --x=30s                        string: "30s", "1m30s"
//	[]string         --x=a --x=b (repeatable)       array of strings: ["a", "b"]
//	text types       --x=s                          string
//
// Text types are those whose pointer implements encoding.TextUnmarshaler
// and whose value implements encoding.TextMarshaler, such as LogLevel.
//
// A repeatable flag given on the command line replaces the file's (or the
// default) list rather than adding to it.
//
// Durations in TOML are strings. go-options would read a bare integer as
// milliseconds and toml as nanoseconds; since a file written for
// nsqlookupd may mean milliseconds while a reader may assume seconds, a bare
// integer is an error that says which string to write instead.
//
// # Errors
//
// Load never lets go-options see a value it cannot convert (it would call
// log.Fatal): every TOML value is checked against its field's type and
// converted first. Every problem in the file is reported, in file order, as
// "config file PATH: KEY: PROBLEM"; an unknown key says "unknown key".
// Keys match exactly, as in nsqlookupd. The file is decoded into a map and
// its keys are checked against the options rather than decoded into a
// struct and checked with toml's MetaData.Undecoded, because toml matches
// struct fields case-insensitively, so "Log_Level" would pass unnoticed.
//
// After resolving, Load calls the options' Validate method if it has one.
// Validator collects the checks of a Validate method in the order they are
// made, with one wording for every daemon.
//
// Package config imports nothing from this module; any package may import
// it.
package config
