package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/peer"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "producerd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadOptions_Defaults(t *testing.T) {
	opts, err := loadOptions([]string{"--lookupd-tcp-address", "127.0.0.1:4160"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := NewOptions()
	want.LookupdTCPAddresses = []string{"127.0.0.1:4160"}
	if !reflect.DeepEqual(opts, want) {
		t.Fatalf("options = %+v\nwant %+v", opts, want)
	}
	if opts.HeartbeatInterval != 15*time.Second || opts.ResyncInterval != time.Minute ||
		opts.HTTPAddress != "127.0.0.1:4170" || opts.LogLevel != LogLevel(slog.LevelInfo) ||
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
	path := writeConfig(t, `
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
		{"log level from file", opts.LogLevel, LogLevel(slog.LevelDebug)},
		{"lookupds from file", opts.LookupdTCPAddresses, []string{"10.0.0.1:4160", "10.0.0.2:4160"}},
		{"broadcast address from file", opts.BroadcastAddress, "file.example"},
		{"health url from file", opts.HealthURL, "http://127.0.0.1:8080/health"},
		{"health rise from file", opts.HealthRise, 5},
		{"resync default", opts.ResyncInterval, peer.DefaultResyncInterval},
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
	if !slices.Equal(opts.LookupdTCPAddresses, []string{"127.0.0.1:1"}) || opts.LogLevel != LogLevel(slog.LevelWarn) {
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
		{name: "unknown key", file: "lookupd_tcp_address = [\"127.0.0.1:4160\"]\nbogus = 1\n", want: "unknown keys: bogus"},
		{name: "unknown table", file: "[extra]\nx = 1\n", args: lookupd, want: "unknown keys: extra"},
		{name: "nsqd spelling is unknown", file: "nsqlookupd_tcp_addresses = [\"a:1\"]\n", args: lookupd, want: "unknown keys"},
		{name: "flag-only key", file: "version = true\n", args: lookupd, want: "unknown keys: version"},
		{name: "bare integer duration", file: "heartbeat_interval = 5000\n", args: lookupd, want: "heartbeat_interval"},
		{name: "bad duration string", file: "resync_interval = \"soon\"\n", args: lookupd, want: "resync_interval"},
		{name: "bad log level in file", file: "log_level = \"loud\"\n", args: lookupd, want: "invalid log level"},
		{name: "port as string", file: "broadcast_tcp_port = \"4150\"\n", args: lookupd, want: "broadcast_tcp_port"},
		{name: "list of integers", file: "register = [1, 2]\n", args: lookupd, want: "register"},
		{name: "bad toml", file: "log_level = \n", args: lookupd, want: "config file"},
		{name: "missing file", args: append([]string{"--config", "/nonexistent/producerd.toml"}, lookupd...), want: "no such file"},
		{name: "bad log level flag", args: append([]string{"--log-level", "loud"}, lookupd...), want: "invalid log level"},
		{name: "no lookupd", want: "at least one --lookupd-tcp-address"},
		{name: "lookupd without port", args: []string{"--lookupd-tcp-address", "127.0.0.1"}, want: "want host:port"},
		{name: "bad register", args: append([]string{"--register", "a b"}, lookupd...), want: "--register"},
		{name: "bad port", args: append([]string{"--broadcast-http-port", "0"}, lookupd...), want: "--broadcast-http-port 0"},
		{name: "zero heartbeat", args: append([]string{"--heartbeat-interval", "0s"}, lookupd...), want: "--heartbeat-interval"},
		{name: "bad health url", args: append([]string{"--health-url", "localhost:80"}, lookupd...), want: "--health-url"},
		{name: "zero fall", args: append([]string{"--health-fall", "0"}, lookupd...), want: "--health-fall"},
		{name: "bad http address", args: append([]string{"--http-address", "nope"}, lookupd...), want: "--http-address"},
		{name: "unknown flag", args: []string{"--bogus"}, want: "not defined"},
		{name: "positional argument", args: append(lookupd, "extra"), want: "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				args = append([]string{"--config", writeConfig(t, tc.file)}, args...)
			}
			_, err := loadOptions(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("loadOptions(%q) error = %v, want one containing %q", args, err, tc.want)
			}
		})
	}
}

func TestLoadOptions_VersionAndHelp(t *testing.T) {
	if _, err := loadOptions([]string{"--version"}, io.Discard); !errors.Is(err, errVersion) {
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

// Every option has a TOML key of the same type family, and no key lacks
// an option: a flag added without its TOML twin fails here.
func TestFileConfigMatchesOptions(t *testing.T) {
	ot, ft := reflect.TypeFor[Options](), reflect.TypeFor[fileConfig]()
	keys := map[string]reflect.Type{}
	for i := range ft.NumField() {
		keys[ft.Field(i).Tag.Get("toml")] = ft.Field(i).Type
	}
	fs := flagSet(NewOptions(), io.Discard)
	for i := range ot.NumField() {
		f := ot.Field(i)
		name := f.Tag.Get("flag")
		if name == "" {
			continue
		}
		if fs.Lookup(name) == nil {
			t.Errorf("option %s: no flag --%s", f.Name, name)
		}
		key := strings.ReplaceAll(name, "-", "_")
		kt, ok := keys[key]
		if !ok {
			t.Errorf("option %s: no TOML key %s", f.Name, key)
			continue
		}
		delete(keys, key)
		want := f.Type
		if want == reflect.TypeFor[time.Duration]() || want == reflect.TypeFor[LogLevel]() {
			want = reflect.TypeFor[string]()
		}
		if kt != want {
			t.Errorf("TOML key %s is %s, want %s", key, kt, want)
		}
	}
	for k := range keys {
		t.Errorf("TOML key %s has no option", k)
	}
}

func TestLogLevel(t *testing.T) {
	for name, want := range map[string]slog.Level{
		"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"error": slog.LevelError, "fatal": slog.LevelError + 4,
	} {
		var l LogLevel
		if err := l.Set(name); err != nil || slog.Level(l) != want {
			t.Errorf("Set(%q) = %v, %v; want %v", name, slog.Level(l), err, want)
		}
		if got := l.String(); got != strings.ToLower(name) {
			t.Errorf("String() = %q, want %q", got, strings.ToLower(name))
		}
	}
}

// The SIGHUP logic: what a reload registers, unregisters and cannot apply.
func TestPlanReload(t *testing.T) {
	cur := NewOptions()
	cur.LookupdTCPAddresses = []string{"127.0.0.1:4160"}
	cur.Register = []string{"a", "b/x", "b/y", "c/z"}
	next := NewOptions()
	next.LookupdTCPAddresses = []string{"127.0.0.1:4160", "127.0.0.1:4161"}
	next.Register = []string{"b/y", "c", "d/w"}
	next.LogLevel = LogLevel(slog.LevelDebug)
	next.HeartbeatInterval = time.Second

	p, err := planReload(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	wantUnreg := []peer.Registration{{Topic: "a"}, {Topic: "b", Channel: "x"}, {Topic: "c", Channel: "z"}}
	wantReg := []peer.Registration{{Topic: "c"}, {Topic: "d", Channel: "w"}}
	if !slices.Equal(p.unregister, wantUnreg) || !slices.Equal(p.register, wantReg) {
		t.Fatalf("plan = unregister %v, register %v; want %v, %v", p.unregister, p.register, wantUnreg, wantReg)
	}
	if want := []string{"lookupd-tcp-address", "heartbeat-interval"}; !slices.Equal(p.restartOnly, want) {
		t.Fatalf("restart-only = %v, want %v", p.restartOnly, want)
	}

	same, err := planReload(cur, cur)
	if err != nil || len(same.register)+len(same.unregister)+len(same.restartOnly) != 0 {
		t.Fatalf("reload of identical options = %+v, %v", same, err)
	}
}
