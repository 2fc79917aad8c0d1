package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/config/configtest"
)

func TestRun_Version(t *testing.T) {
	for _, arg := range []string{"--version", "-version"} {
		var out bytes.Buffer
		code := run(t.Context(), []string{arg}, &out, io.Discard)
		if want := "lookupctl v" + config.Version + " (built w/go"; code != ctl.ExitOK || !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s: code %d, out %q; want 0 and a line starting %q", arg, code, out.String(), want)
		}
	}
	// Anywhere before "--", with a command or not, it prints the version
	// and does nothing else; after "--" it is ctl's (an unknown argument).
	for _, args := range [][]string{{"--version", "nodes"}, {"nodes", "--version"}, {"-o", "json", "--version=true"}} {
		var out bytes.Buffer
		if code := run(t.Context(), args, &out, io.Discard); code != ctl.ExitOK || !strings.HasPrefix(out.String(), "lookupctl v") {
			t.Errorf("%q: code %d, out %q; want 0 and the version line", args, code, out.String())
		}
	}
	if code := run(t.Context(), []string{"nodes", "--", "--version"}, io.Discard, io.Discard); code == ctl.ExitOK {
		t.Errorf(`"nodes -- --version": code 0, want an error`)
	}
}

// TestRun_Config: options come from a TOML file given with --config (keys
// are the flag names with underscores), below the command line.
func TestRun_Config(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lookupctl.toml")
	if err := os.WriteFile(path, []byte("lookupd_http_address = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\noutput = \"json\"\ntimeout = \"2s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	code := run(t.Context(), []string{"health", "--config", path}, &out, &errw)
	if code != ctl.ExitUnreachable || !strings.HasPrefix(out.String(), `{"lookupds":[{"address":"127.0.0.1:1","up":false`) || !strings.Contains(out.String(), `"address":"127.0.0.1:2"`) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errw.String())
	}
	// The command line beats the file.
	out.Reset()
	run(t.Context(), []string{"--config=" + path, "-o", "table", "--lookupd-http-address=127.0.0.1:3", "health"}, &out, io.Discard)
	if !strings.HasPrefix(out.String(), "LOOKUPD ") || !strings.Contains(out.String(), "127.0.0.1:3 ") || strings.Contains(out.String(), "127.0.0.1:1") {
		t.Errorf("flags over file: %q", out.String())
	}

	// lookupd_dns_refresh is read (and checked) like every key.
	if err := os.WriteFile(path, []byte("lookupd_http_address = [\"127.0.0.1:1\"]\nlookupd_dns_refresh = \"-1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errw.Reset()
	code = run(t.Context(), []string{"health", "--config", path}, io.Discard, &errw)
	if code != ctl.ExitUsage || !strings.Contains(errw.String(), "--lookupd-dns-refresh: must not be negative, got -1s") {
		t.Errorf("lookupd_dns_refresh: exit %d, stderr %q", code, errw.String())
	}

	if err := os.WriteFile(path, []byte("bogus = 1\nfeed_size = \"many\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errw.Reset()
	code = run(t.Context(), []string{"topics", "--config", path}, io.Discard, &errw)
	want := "lookupctl: config file " + path + ": bogus: unknown key\nlookupctl: config file " + path + ": feed_size: want an integer, got string \"many\"\nlookupctl: see lookupctl --help\n"
	if code != ctl.ExitUsage || errw.String() != want {
		t.Errorf("bad file: exit %d, stderr %q, want %q", code, errw.String(), want)
	}
}

func TestREADMEFlagTable(t *testing.T) {
	fs, err := command.FlagSet(ctl.NewOptions(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	configtest.FlagTable(t, fs, configtest.Section(t, "../../README.md", "## Operators: lookupctl"))
}

// TestValidate_WordedAsValidator keeps ctl's Validate, which words its
// problems by hand because ctl imports nothing from lookup, in step with
// config.Validator, which words the daemons': the same problems, in the
// same order, read the same.
func TestValidate_WordedAsValidator(t *testing.T) {
	o := ctl.NewOptions()
	o.LookupdHTTPAddresses = []string{"127.0.0.1:4161"}
	o.Timeout, o.Interval, o.FeedSize = 0, -time.Second, 0
	o.HTTPAddress, o.DNSAddress, o.DNSZone = "no-port", "no-port", ""
	o.DNSMaxTCPConnections, o.DNSTCPIdleTimeout = -1, 0
	o.DNSMaxUDPSize, o.DNSUDPWorkers = 511, 4097

	var v config.Validator
	v.Positive("timeout", o.Timeout)
	v.Positive("interval", o.Interval)
	v.AtLeast("feed-size", o.FeedSize, 1)
	v.ListenAddress("http-address", o.HTTPAddress)
	v.ListenAddress("dns-address", o.DNSAddress)
	v.NotEmpty("dns-zone", o.DNSZone)
	v.AtLeast("dns-max-tcp-connections", o.DNSMaxTCPConnections, 0)
	v.Positive("dns-tcp-idle-timeout", o.DNSTCPIdleTimeout)
	v.InRange("dns-max-udp-size", o.DNSMaxUDPSize, 512, 65535)
	v.InRange("dns-udp-workers", o.DNSUDPWorkers, 1, 4096)

	got, want := o.Validate(), v.Err()
	if got == nil || want == nil || got.Error() != want.Error() {
		t.Errorf("ctl's Validate:\n%v\nconfig.Validator:\n%v", got, want)
	}
}
