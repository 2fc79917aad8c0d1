package config_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
)

// Limits is embedded in testOptions to show that embedded fields are
// options too.
type Limits struct {
	MaxConns int `flag:"max-conns" help:"connection cap"`
}

// testOptions has one field of every supported type.
type testOptions struct {
	Name     string          `flag:"name" help:"a string"`
	Enabled  bool            `flag:"enabled" help:"a bool"`
	Count    int             `flag:"count" help:"an int"`
	Big      int64           `flag:"big" help:"an int64"`
	Small    uint            `flag:"small" help:"a uint"`
	Huge     uint64          `flag:"huge" help:"a uint64"`
	Ratio    float64         `flag:"ratio" help:"a float64"`
	Timeout  time.Duration   `flag:"timeout" help:"a duration"`
	Peers    []string        `flag:"peer" help:"repeatable"`
	LogLevel config.LogLevel `flag:"log-level" help:"a text type"`
	Limits

	Untagged string // not an option
	// validate, if set, is the Validate method's result.
	validate func(*testOptions) error
}

func (o *testOptions) Validate() error {
	if o.validate != nil {
		return o.validate(o)
	}
	return nil
}

func newTestOptions() *testOptions {
	return &testOptions{
		Name:     "default",
		Enabled:  true,
		Count:    1,
		Big:      2,
		Small:    3,
		Huge:     4,
		Ratio:    0.5,
		Timeout:  time.Second,
		Peers:    []string{"a:1"},
		LogLevel: config.LevelInfo,
		Limits:   Limits{MaxConns: 5},
		Untagged: "untouched",
	}
}

var cmd = config.Command{Name: "testd", Version: "1.2.3"}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "testd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Flag given > TOML file > default, for every supported type.
func TestLoad_Resolution(t *testing.T) {
	file := `
name = "file"
enabled = false
count = 10
big = 20
small = 30
huge = 40
ratio = 1
timeout = "1m30s"
peer = ["b:1", "c:1"]
log_level = "DEBUG"
max_conns = 50
`
	fromFile := func() *testOptions {
		o := newTestOptions()
		o.Name, o.Enabled, o.Count, o.Big, o.Small, o.Huge = "file", false, 10, 20, 30, 40
		o.Ratio, o.Timeout, o.Peers, o.LogLevel, o.MaxConns = 1, 90*time.Second, []string{"b:1", "c:1"}, config.LevelDebug, 50
		return o
	}
	tests := []struct {
		name string
		file string
		args []string
		want func() *testOptions
	}{
		{name: "defaults", want: newTestOptions},
		{name: "file over default", file: file, want: fromFile},
		{name: "flags over default", args: []string{
			"--name=flag", "--enabled=false", "--count=-1", "--big=-2", "--small=7", "--huge=8",
			"--ratio=2.5", "--timeout=250ms", "--peer=x:1", "--peer=y:1", "--log-level=fatal", "--max-conns=0",
		}, want: func() *testOptions {
			o := newTestOptions()
			o.Name, o.Enabled, o.Count, o.Big, o.Small, o.Huge = "flag", false, -1, -2, 7, 8
			o.Ratio, o.Timeout, o.Peers, o.LogLevel, o.MaxConns = 2.5, 250*time.Millisecond, []string{"x:1", "y:1"}, config.LevelFatal, 0
			return o
		}},
		{name: "flags over file", file: file, args: []string{"--name=flag", "--peer=z:1", "--log-level=warning", "--timeout=2s", "--enabled"}, want: func() *testOptions {
			o := fromFile()
			o.Name, o.Peers, o.LogLevel, o.Timeout, o.Enabled = "flag", []string{"z:1"}, config.LevelWarn, 2*time.Second, true
			return o
		}},
		{name: "a flag set to its default still beats the file", file: file, args: []string{"--count=1"}, want: func() *testOptions {
			o := fromFile()
			o.Count = 1
			return o
		}},
		{name: "empty array in file clears the default", file: "peer = []\n", want: func() *testOptions {
			o := newTestOptions()
			o.Peers = []string{}
			return o
		}},
		{name: "integer for a float", file: "ratio = 3\n", want: func() *testOptions {
			o := newTestOptions()
			o.Ratio = 3
			return o
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			got := newTestOptions()
			if err := cmd.Load(got, args, io.Discard); err != nil {
				t.Fatal(err)
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every problem in a file is an error worded "config file PATH: KEY:
// PROBLEM"; nothing reaches go-options that would make it log.Fatal or
// silently invert a boolean.
func TestLoad_FileErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string // after "config file PATH: "
	}{
		{"unknown key", `nmae = "x"`, `nmae: unknown key`},
		{"keys match exactly", `Name = "x"`, `Name: unknown key`},
		{"unknown table", "[extra]\nx = 1", `extra: unknown key`},
		{"flag-only key config", `config = "other.toml"`, `config: unknown key`},
		{"flag-only key version", `version = true`, `version: unknown key`},
		{"quoted unknown key", `"a b" = 1`, `"a b": unknown key`},
		{"integer for a string", `name = 5`, `name: want a string, got integer 5`},
		{"integer boolean", `enabled = 1`, `enabled: want true or false, got integer 1`},
		{"string boolean", `enabled = "yes"`, `enabled: want true or false, got string "yes"`},
		{"string for an int", `count = "many"`, `count: want an integer, got string "many"`},
		{"float for an int", `count = 1.5`, `count: want an integer, got float 1.5`},
		{"negative uint", `small = -1`, `small: want a non-negative integer, got integer -1`},
		{"string for a float", `ratio = "half"`, `ratio: want a number, got string "half"`},
		{"bare integer duration", `timeout = 45`, `timeout: want a duration string such as "45s", got integer 45 (write "45ms" if milliseconds are meant)`},
		{"bad duration", `timeout = "soon"`, `timeout: want a duration such as "30s": time: invalid duration "soon"`},
		{"boolean duration", `timeout = true`, `timeout: want a duration string such as "30s", got boolean true`},
		{"string for a list", `peer = "a:1"`, `peer: want an array of strings, got string "a:1"`},
		{"integers in a list", `peer = ["a:1", 2]`, `peer: want an array of strings, got integer 2 at index 1`},
		{"table for a string", "[name]\nx = 1", `name: want a string, got table`},
		{"bad text value", `log_level = "loud"`, `log_level: invalid log level "loud" (want debug, info, warn, error or fatal)`},
		{"integer for a text value", `log_level = 1`, `log_level: want a string, got integer 1`},
		{"datetime", `name = 2026-01-01T00:00:00Z`, `name: want a string, got datetime`},
		{"long string is cut", `name = ` + `"` + strings.Repeat("x", 50) + `"` + "\ncount = \"" + strings.Repeat("y", 50) + `"`, `count: want an integer, got string "` + strings.Repeat("y", 40) + `…"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file)
			err := cmd.Load(newTestOptions(), []string{"--config", path}, io.Discard)
			if want := "config file " + path + ": " + tt.want; err == nil || err.Error() != want {
				t.Fatalf("err = %v\nwant  %s", err, want)
			}
		})
	}
}

// All problems are reported, in file order, every time: the same file
// gives the same error text on every load.
func TestLoad_ErrorOrder(t *testing.T) {
	path := writeFile(t, `
zeta = 1
count = "x"
alpha = 2
timeout = 5
enabled = 0
[beta]
x = 1
`)
	var want string
	for _, line := range []string{"zeta: unknown key", `count: want an integer, got string "x"`, "alpha: unknown key",
		`timeout: want a duration string such as "5s", got integer 5 (write "5ms" if milliseconds are meant)`,
		"enabled: want true or false, got integer 0", "beta: unknown key"} {
		want += "config file " + path + ": " + line + "\n"
	}
	want = strings.TrimSuffix(want, "\n")
	for range 20 {
		err := cmd.Load(newTestOptions(), []string{"--config", path}, io.Discard)
		if err == nil || err.Error() != want {
			t.Fatalf("err =\n%v\nwant\n%s", err, want)
		}
	}
}

func TestLoad_OtherErrors(t *testing.T) {
	invalid := errors.New("count too high")
	tests := []struct {
		name     string
		file     string
		args     []string
		validate func(*testOptions) error
		want     string // substring
		is       error
	}{
		{name: "toml syntax", file: "name = \n", want: "config file "},
		{name: "duplicate key", file: "name = \"a\"\nname = \"b\"\n", want: "config file "},
		{name: "missing file", args: []string{"--config", "/nonexistent/testd.toml"}, want: "config file /nonexistent/testd.toml: no such file or directory", is: os.ErrNotExist},
		{name: "unknown flag", args: []string{"--bogus"}, want: "flag provided but not defined: -bogus"},
		{name: "bad flag value", args: []string{"--log-level=loud"}, want: `invalid value "loud" for flag -log-level: invalid log level "loud"`},
		{name: "bad duration flag", args: []string{"--timeout=5"}, want: `invalid value "5" for flag -timeout`},
		{name: "positional argument", args: []string{"extra"}, want: `unexpected arguments: ["extra"]`},
		{name: "help", args: []string{"-h"}, is: flag.ErrHelp},
		{name: "version beats a bad file", args: []string{"--version", "--config", "/nonexistent"}, is: config.ErrVersion},
		{name: "validate sees the resolved options", file: "count = 11\n", validate: func(o *testOptions) error {
			if o.Count > 10 {
				return invalid
			}
			return nil
		}, is: invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append([]string{"--config", writeFile(t, tt.file)}, args...)
			}
			o := newTestOptions()
			o.validate = tt.validate
			err := cmd.Load(o, args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Fatalf("err = %v, want one containing %q (is %v)", err, tt.want, tt.is)
			}
		})
	}
}

func TestLoadArgs(t *testing.T) {
	o := newTestOptions()
	rest, err := cmd.LoadArgs(o, []string{"--count=3", "diff", "--count=4"}, io.Discard)
	if err != nil || !reflect.DeepEqual(rest, []string{"diff", "--count=4"}) || o.Count != 3 {
		t.Fatalf("rest %q, count %d, err %v", rest, o.Count, err)
	}
}

// Options structs the loader must refuse, before parsing anything.
func TestFlagSet_ProgrammingErrors(t *testing.T) {
	type named string
	type inner struct {
		X int `flag:"x" help:"x"`
	}
	tests := []struct {
		name string
		opts any
		want string
	}{
		{"not a pointer", testOptions{}, "non-nil pointer to a struct"},
		{"nil pointer", (*testOptions)(nil), "non-nil pointer to a struct"},
		{"pointer to non-struct", new(int), "non-nil pointer to a struct"},
		{"no help", &struct {
			A int `flag:"a"`
		}{}, "field A: flag --a has no help tag"},
		{"unsupported type", &struct {
			A map[string]int `flag:"a" help:"a"`
		}{}, "field A: type map[string]int cannot be a flag"},
		{"named type without text methods", &struct {
			A named `flag:"a" help:"a"`
		}{}, "cannot be a flag"},
		{"duplicate flag", &struct {
			A int `flag:"a" help:"a"`
			B int `flag:"a" help:"b"`
		}{}, "field B: flag --a is defined twice"},
		{"clash with --config", &struct {
			A string `flag:"config" help:"a"`
		}{}, "flag --config is defined twice"},
		{"underscore in name", &struct {
			A int `flag:"a_b" help:"a"`
		}{}, `bad flag name "a_b"`},
		{"cfg tag", &struct {
			A int `flag:"a" cfg:"b" help:"a"`
		}{}, "cfg and deprecated tags are not supported"},
		{"unexported", &struct {
			a int `flag:"a" help:"a"`
		}{}, "unexported field"},
		{"embedded pointer", &struct {
			*inner
		}{inner: &inner{}}, "promoted through an unexported or pointer embedded field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cmd.FlagSet(tt.opts, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
			if err := cmd.Load(tt.opts, nil, io.Discard); err == nil {
				t.Fatal("Load accepted what FlagSet refused")
			}
		})
	}
}

// The usage text lists every option with its help and its default taken
// from the options passed in.
func TestFlagSet_Usage(t *testing.T) {
	var out bytes.Buffer
	if err := cmd.Load(newTestOptions(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-config string", "-version", "-name string\n    \ta string (default \"default\")",
		"-log-level value\n    \ta text type (default info)", "-peer value\n    \trepeatable (default a:1)",
		"-timeout duration\n    \ta duration (default 1s)", "-max-conns int\n    \tconnection cap (default 5)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "Untagged") || strings.Contains(out.String(), "untagged") {
		t.Errorf("usage lists an untagged field:\n%s", out.String())
	}
}

func TestLogLevel(t *testing.T) {
	tests := []struct {
		in   string
		want slog.Level
		name string
	}{
		{"debug", slog.LevelDebug, "debug"},
		{"INFO", slog.LevelInfo, "info"},
		{"warn", slog.LevelWarn, "warn"},
		{"Warning", slog.LevelWarn, "warn"},
		{"error", slog.LevelError, "error"},
		{"fatal", slog.LevelError + 4, "fatal"},
	}
	for _, tt := range tests {
		l, err := config.ParseLogLevel(tt.in)
		if err != nil || l.Level() != tt.want || l.String() != tt.name {
			t.Errorf("ParseLogLevel(%q) = %v (%s), %v; want %v (%s)", tt.in, l.Level(), l, err, tt.want, tt.name)
		}
		var u config.LogLevel
		if err := u.UnmarshalText([]byte(tt.name)); err != nil || u != l {
			t.Errorf("UnmarshalText(%q) = %v, %v", tt.name, u, err)
		}
	}
	for _, bad := range []string{"", "trace", "info+2", "5"} {
		if _, err := config.ParseLogLevel(bad); err == nil {
			t.Errorf("ParseLogLevel(%q) accepted", bad)
		}
	}
	if got := config.LogLevel(slog.LevelInfo + 2).String(); got != "INFO+2" {
		t.Errorf("unnamed level prints %q", got)
	}
	var _ slog.Leveler = config.LevelInfo
}

func TestValidator(t *testing.T) {
	var v config.Validator
	if v.Err() != nil {
		t.Fatal("zero Validator has an error")
	}
	cause := errors.New("boom")
	v.ListenAddress("listen", ":4160")
	v.ListenAddress("listen", "nonsense")
	v.DialAddress("dial", "127.0.0.1:1")
	v.DialAddress("dial", ":4160")
	v.Positive("timeout", 0)
	v.Positive("timeout", time.Second)
	v.AtLeast("conns", -1, 0)
	v.AtLeast("bytes", 10, 1024)
	v.InRange("size", 5, 64, 128)
	v.InRange("size", 64, 64, 128)
	v.NotEmpty("host", "")
	v.Add("url", cause)
	v.Add("url", nil)
	v.Check(false, "pair", "%s below %s", "a", "b")
	want := strings.Join([]string{
		`--listen: want host:port, got "nonsense"`,
		`--dial: want host:port, got ":4160"`,
		`--timeout: must be positive, got 0s`,
		`--conns: must not be negative, got -1`,
		`--bytes: must be at least 1024, got 10`,
		`--size: must be in 64..128, got 5`,
		`--host: must not be empty`,
		`--url: boom`,
		`--pair: a below b`,
	}, "\n")
	if err := v.Err(); err == nil || err.Error() != want || !errors.Is(err, cause) {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
}

func TestCommand_VersionAndExitCode(t *testing.T) {
	if got, want := cmd.VersionLine(), "testd v1.2.3 (built w/"+runtime.Version()+")"; got != want {
		t.Errorf("VersionLine = %q, want %q", got, want)
	}
	noted := config.Command{Name: "lookupd", Version: "0.1.0", Note: "nsqlookupd 1.3.0 compatible"}
	if got, want := noted.VersionLine(), "lookupd v0.1.0 (nsqlookupd 1.3.0 compatible, built w/"+runtime.Version()+")"; got != want {
		t.Errorf("VersionLine = %q, want %q", got, want)
	}
	tests := []struct {
		err            error
		code           int
		stdout, stderr string
	}{
		{nil, 0, "", ""},
		{flag.ErrHelp, 0, "", ""},
		{config.ErrVersion, 0, cmd.VersionLine() + "\n", ""},
		{errors.New("bad"), 2, "", "testd: bad\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if code := cmd.ExitCode(tt.err, &stdout, &stderr); code != tt.code || stdout.String() != tt.stdout || stderr.String() != tt.stderr {
			t.Errorf("ExitCode(%v) = %d, %q, %q; want %d, %q, %q", tt.err, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}

func TestChanged(t *testing.T) {
	a, b := newTestOptions(), newTestOptions()
	b.Peers = []string{"a:1"} // equal contents, another slice
	b.Untagged = "not an option"
	if got, err := config.Changed(a, b); err != nil || got != nil {
		t.Fatalf("Changed(equal) = %q, %v", got, err)
	}
	b.Timeout, b.Peers, b.LogLevel, b.MaxConns = time.Minute, nil, config.LevelDebug, 6
	want := []string{"timeout", "peer", "log-level", "max-conns"}
	if got, err := config.Changed(a, b); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Changed = %q, %v; want %q", got, err, want)
	}
	if _, err := config.Changed(a, &Limits{}); err == nil {
		t.Fatal("Changed compared different types")
	}
}

// A bad flag is printed once, by the flag set with the usage after it;
// ExitCode adds nothing but the exit code.
func TestCommand_BadFlagPrintedOnce(t *testing.T) {
	var out, stdout bytes.Buffer
	err := cmd.Load(newTestOptions(), []string{"--no-such-flag"}, &out)
	if code := cmd.ExitCode(err, &stdout, &out); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	const msg = "flag provided but not defined: -no-such-flag"
	if n := strings.Count(out.String(), msg); n != 1 || !strings.HasPrefix(out.String(), msg+"\n") || !strings.Contains(out.String(), "Usage of testd") {
		t.Fatalf("output has the error %d times, want once before the usage:\n%s", n, out.String())
	}
}
