package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/config/configtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producerd"
)

func TestLoadOptions_Defaults(t *testing.T) {
	opts, err := loadOptions([]string{"--lookupd-tcp-address", "127.0.0.1:4160"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := producerd.NewOptions()
	want.LookupdTCPAddresses = []string{"127.0.0.1:4160"}
	if !reflect.DeepEqual(opts, want) {
		t.Fatalf("options = %+v\nwant %+v", opts, want)
	}
	if opts.HeartbeatInterval != 15*time.Second || opts.ResyncInterval != time.Minute ||
		opts.HTTPAddress != "127.0.0.1:4170" || opts.LogLevel != config.LevelInfo ||
		opts.HealthRise != 2 || opts.HealthFall != 3 || opts.HealthInterval != 2*time.Second {
		t.Fatalf("defaults changed: %+v", opts)
	}
	host, _ := os.Hostname()
	if opts.BroadcastAddress != host || opts.Hostname != host {
		t.Fatalf("broadcast address %q, hostname %q; want %q", opts.BroadcastAddress, opts.Hostname, host)
	}
}

// Flag given on the command line > TOML file > default, for every kind of
// option.
func TestLoadOptions_Precedence(t *testing.T) {
	path := configtest.WriteFile(t, `
log_level = "debug"
lookupd_tcp_address = ["10.0.0.1:4160", "10.0.0.2:4160"]
broadcast_address = "file.example"
broadcast_tcp_port = 5150
register = ["a", "b/c"]
heartbeat_interval = "20s"
health_url = "http://127.0.0.1:8080/health"
health_rise = 5
`)
	opts, err := loadOptions([]string{
		"--config", path,
		"--heartbeat-interval", "30s",
		"--register", "x", "--register", "y/z",
		"--broadcast-tcp-port", "6150",
		"--hostname", "flag-host",
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"heartbeat flag over file", opts.HeartbeatInterval, 30 * time.Second},
		{"register flag over file", opts.Register, []string{"x", "y/z"}},
		{"tcp port flag over file", opts.BroadcastTCPPort, 6150},
		{"hostname flag over default", opts.Hostname, "flag-host"},
		{"log level from file", opts.LogLevel, config.LevelDebug},
		{"lookupds from file", opts.LookupdTCPAddresses, []string{"10.0.0.1:4160", "10.0.0.2:4160"}},
		{"broadcast address from file", opts.BroadcastAddress, "file.example"},
		{"health url from file", opts.HealthURL, "http://127.0.0.1:8080/health"},
		{"health rise from file", opts.HealthRise, 5},
		{"resync default", opts.ResyncInterval, producer.DefaultResyncInterval},
		{"http port default", opts.BroadcastHTTPPort, 4151},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}

	// A flag repeated replaces the file's list rather than appending, and
	// the log level flag beats the file.
	opts, err = loadOptions([]string{"--config", path, "--lookupd-tcp-address", "127.0.0.1:1", "--log-level", "WARN"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opts.LookupdTCPAddresses, []string{"127.0.0.1:1"}) || opts.LogLevel != config.LevelWarn {
		t.Fatalf("lookupds %v, level %v", opts.LookupdTCPAddresses, opts.LogLevel)
	}
}

func TestLoadOptions_Errors(t *testing.T) {
	lookupd := []string{"--lookupd-tcp-address", "127.0.0.1:4160"}
	tests := []struct {
		name string
		file string // TOML, if not empty
		args []string
		want string
	}{
		{name: "unknown key", file: "lookupd_tcp_address = [\"127.0.0.1:4160\"]\nbogus = 1\n", want: "bogus: unknown key"},
		{name: "unknown table", file: "[extra]\nx = 1\n", args: lookupd, want: "extra: unknown key"},
		{name: "nsqd spelling is unknown", file: "nsqlookupd_tcp_addresses = [\"a:1\"]\n", args: lookupd, want: "nsqlookupd_tcp_addresses: unknown key"},
		{name: "flag-only key", file: "version = true\n", args: lookupd, want: "version: unknown key"},
		{name: "bare integer duration", file: "heartbeat_interval = 5000\n", args: lookupd, want: `heartbeat_interval: want a duration string such as "5000s", got integer 5000 (write "5000ms" if milliseconds are meant)`},
		{name: "bad duration string", file: "resync_interval = \"soon\"\n", args: lookupd, want: `resync_interval: want a duration such as "30s"`},
		{name: "bad log level in file", file: "log_level = \"loud\"\n", args: lookupd, want: `log_level: invalid log level "loud"`},
		{name: "port as string", file: "broadcast_tcp_port = \"4150\"\n", args: lookupd, want: `broadcast_tcp_port: want an integer, got string "4150"`},
		{name: "list of integers", file: "register = [1, 2]\n", args: lookupd, want: "register: want an array of strings, got integer 1 at index 0"},
		{name: "a string is no list", file: "register = \"a\"\n", args: lookupd, want: `register: want an array of strings, got string "a"`},
		{name: "bad toml", file: "log_level = \n", args: lookupd, want: "config file "},
		{name: "missing file", args: append([]string{"--config", "/nonexistent/producerd.toml"}, lookupd...), want: "no such file"},
		{name: "bad log level flag", args: append([]string{"--log-level", "loud"}, lookupd...), want: "invalid log level"},
		{name: "no lookupd", want: "--lookupd-tcp-address: at least one is required"},
		{name: "lookupd without port", args: []string{"--lookupd-tcp-address", "127.0.0.1"}, want: `--lookupd-tcp-address: want ip:port, host:port or srv+NAME, got "127.0.0.1"`},
		{name: "lookupd dns refresh", args: append([]string{"--lookupd-dns-refresh=0s"}, lookupd...), want: "--lookupd-dns-refresh: must be positive, got 0s"},
		{name: "bad register", args: append([]string{"--register", "a b"}, lookupd...), want: "--register: registration \"a b\""},
		{name: "bad port", args: append([]string{"--broadcast-http-port", "0"}, lookupd...), want: "--broadcast-http-port: must be in 1..65535, got 0"},
		{name: "zero heartbeat", args: append([]string{"--heartbeat-interval", "0s"}, lookupd...), want: "--heartbeat-interval: must be positive, got 0s"},
		{name: "bad health url", args: append([]string{"--health-url", "localhost:80"}, lookupd...), want: "--health-url: want http(s)://host[:port]/path, got \"localhost:80\""},
		{name: "zero fall", args: append([]string{"--health-fall", "0"}, lookupd...), want: "--health-fall: must be at least 1, got 0"},
		{name: "bad http address", args: append([]string{"--http-address", "nope"}, lookupd...), want: `--http-address: want host:port, got "nope"`},
		{name: "unknown flag", args: []string{"--bogus"}, want: "not defined"},
		{name: "positional argument", args: append(lookupd, "extra"), want: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", configtest.WriteFile(t, tc.file)}, args...)
			}
			_, err := loadOptions(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadOptions(%q) error = %v, want one containing %q", args, err, tc.want)
			}
		})
	}
}

func TestLoadOptions_VersionAndHelp(t *testing.T) {
	if _, err := loadOptions([]string{"--version"}, io.Discard); !errors.Is(err, config.ErrVersion) {
		t.Fatalf("--version: %v", err)
	}
	var usage strings.Builder
	if _, err := loadOptions([]string{"-h"}, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if !strings.Contains(usage.String(), "-lookupd-tcp-address") {
		t.Fatalf("usage lacks flags:\n%s", usage.String())
	}
}

// Every problem is reported, each time in the same order (this daemon's
// Validate once ranged over maps).
func TestLoadOptions_ErrorOrder(t *testing.T) {
	args := []string{"--broadcast-tcp-port=0", "--broadcast-http-port=0", "--heartbeat-interval=0s",
		"--resync-interval=0s", "--health-interval=0s", "--shutdown-timeout=0s", "--health-rise=0", "--health-fall=0"}
	want := strings.Join([]string{
		"--lookupd-tcp-address: at least one is required",
		"--broadcast-tcp-port: must be in 1..65535, got 0",
		"--broadcast-http-port: must be in 1..65535, got 0",
		"--heartbeat-interval: must be positive, got 0s",
		"--resync-interval: must be positive, got 0s",
		"--health-interval: must be positive, got 0s",
		"--health-rise: must be at least 1, got 0",
		"--health-fall: must be at least 1, got 0",
		"--shutdown-timeout: must be positive, got 0s",
	}, "\n")
	for range 20 {
		if _, err := loadOptions(args, io.Discard); err == nil || err.Error() != want {
			t.Fatalf("err =\n%v\nwant\n%s", err, want)
		}
	}
}

// The README's flags table lists every flag with its default.
func TestREADMEFlagTable(t *testing.T) {
	fs, err := command.FlagSet(producerd.NewOptions(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	configtest.FlagTable(t, fs, configtest.Section(t, "../../README.md", "## producerd: the producer side"))
}

// A listener that cannot bind is reported once, as "producerd: ERR" on
// stderr (the shape lookupd uses), with the address named once.
func TestRun_StartFailed(t *testing.T) {
	taken := lookuptest.SilentListener(t)
	var stdout, stderr strings.Builder
	code := run([]string{"--lookupd-tcp-address", lookuptest.SilentListener(t), "--http-address", taken}, &stdout, &stderr)
	want := "producerd: admin api: listen tcp " + taken + ": bind: address already in use\n"
	if code != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q; want 1, %q", code, stderr.String(), stdout.String(), want)
	}
}
