package ctl

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// EnvAddresses is the environment variable read for lookupd addresses
// when no --lookupd-http-address is given: a comma-separated list.
const EnvAddresses = "LOOKUPD_HTTP_ADDRESSES"

// Options are lookupctl's settings. Defaults live in NewOptions.
type Options struct {
	// LookupdHTTPAddresses are the lookupds asked, "host:port" or a base
	// URL.
	LookupdHTTPAddresses []string `flag:"lookupd-http-address"`
	// Output is "table" or "json".
	Output string `flag:"output"`
	// Timeout bounds each lookupd's answer to each query.
	Timeout time.Duration `flag:"timeout"`
	// Interval is the polling interval of watch and ui.
	Interval time.Duration `flag:"interval"`
	// HTTPAddress is where ui listens.
	HTTPAddress string `flag:"http-address"`
	// EnableActions lets the web view tombstone producers and delete
	// topics and channels.
	EnableActions bool `flag:"enable-actions"`
	// FeedSize bounds the web view's change feed.
	FeedSize int `flag:"feed-size"`
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Output:      "table",
		Timeout:     5 * time.Second,
		Interval:    500 * time.Millisecond,
		HTTPAddress: "127.0.0.1:4171",
		FeedSize:    200,
	}
}

// Validate checks the options; the error names the first bad one.
func (o *Options) Validate() error {
	switch {
	case len(o.LookupdHTTPAddresses) == 0:
		return fmt.Errorf("no lookupd addresses: give --lookupd-http-address or set %s", EnvAddresses)
	case o.Output != "table" && o.Output != "json":
		return fmt.Errorf("invalid --output %q: want table or json", o.Output)
	case o.Timeout <= 0:
		return fmt.Errorf("invalid --timeout %s: must be positive", o.Timeout)
	case o.Interval <= 0:
		return fmt.Errorf("invalid --interval %s: must be positive", o.Interval)
	case o.FeedSize < 1:
		return fmt.Errorf("invalid --feed-size %d: must be at least 1", o.FeedSize)
	}
	if _, _, err := net.SplitHostPort(o.HTTPAddress); err != nil {
		return fmt.Errorf("invalid --http-address %q: %w", o.HTTPAddress, err)
	}
	return nil
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
// the global ones (addresses, output, timeout) apply to all.
var commandFlags = map[string][]string{
	"watch": {"interval"},
	"ui":    {"interval", "http-address", "enable-actions", "feed-size"},
}

// flagSet builds the flag set over o, with o's values as defaults.
func flagSet(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("lookupctl", flag.ContinueOnError)
	fs.Var(stringsFlag{&o.LookupdHTTPAddresses}, "lookupd-http-address", "")
	fs.StringVar(&o.Output, "output", o.Output, "")
	fs.StringVar(&o.Output, "o", o.Output, "")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "")
	fs.DurationVar(&o.Interval, "interval", o.Interval, "")
	fs.StringVar(&o.HTTPAddress, "http-address", o.HTTPAddress, "")
	fs.BoolVar(&o.EnableActions, "enable-actions", o.EnableActions, "")
	fs.IntVar(&o.FeedSize, "feed-size", o.FeedSize, "")
	return fs
}

// parseArgs parses flags anywhere among args (before or after the command
// and its arguments; "--" ends the flags) and returns the positional
// arguments. getenv supplies LOOKUPD_HTTP_ADDRESSES when no address flag
// is given.
func parseArgs(args []string, getenv func(string) string) (*Options, []string, error) {
	o := NewOptions()
	fs := flagSet(o)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(o.LookupdHTTPAddresses) == 0 && getenv != nil {
		for a := range strings.SplitSeq(getenv(EnvAddresses), ",") {
			if a = strings.TrimSpace(a); a != "" {
				o.LookupdHTTPAddresses = append(o.LookupdHTTPAddresses, a)
			}
		}
	}
	if len(pos) > 0 {
		allowed := commandFlags[pos[0]]
		var bad string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "lookupd-http-address", "output", "o", "timeout":
			default:
				if bad == "" && !slices.Contains(allowed, f.Name) {
					bad = f.Name
				}
			}
		})
		if bad != "" {
			return nil, nil, fmt.Errorf("flag --%s does not apply to %s", bad, pos[0])
		}
	}
	return o, pos, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
