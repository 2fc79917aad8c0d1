package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/config/configtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

func TestParseOptions(t *testing.T) {
	cfg := configtest.WriteFile(t, `
log_level = "debug"
tcp_address = "127.0.0.1:5160"
http_address = "127.0.0.1:5161"
inactive_producer_timeout = "90s"
max_tcp_clients = 7
max_blocking_queries = 9
dns_address = "127.0.0.1:5353"
dns_zone = "nsq.example."
dns_ttl = "2s"
dns_max_tcp_connections = 11
max_tcp_clients_per_ip = 3
handshake_timeout = "4s"
max_blocking_queries_per_ip = 5
max_topics = 11
max_channels_per_topic = 12
auth_file = "/etc/lookupd/tokens.toml"
auth_reads = true
tcp_allow = ["10.0.0.0/8", "192.0.2.7"]
tls_cert = "/etc/lookupd/cert.pem"
tls_key = "/etc/lookupd/key.pem"
tls_client_ca = "/etc/lookupd/ca.pem"
tls_min_version = "1.3"
tcp_tls_address = "0.0.0.0:4162"
`)
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, o *lookup.Options)
	}{
		{"defaults match nsqlookupd", nil, func(t *testing.T, o *lookup.Options) {
			if o.TCPAddress != "0.0.0.0:4160" || o.HTTPAddress != "0.0.0.0:4161" {
				t.Errorf("addresses %s %s", o.TCPAddress, o.HTTPAddress)
			}
			if o.InactiveProducerTimeout != 300*time.Second || o.TombstoneLifetime != 45*time.Second {
				t.Errorf("timeouts %s %s", o.InactiveProducerTimeout, o.TombstoneLifetime)
			}
			if o.IdleTimeout() != 600*time.Second {
				t.Errorf("idle timeout %s, want twice the inactive timeout", o.IdleTimeout())
			}
			if o.MaxBlockingQueries != 16384 {
				t.Errorf("max blocking queries %d, want 16384", o.MaxBlockingQueries)
			}
			if o.DNSAddress != "" || o.DNSZone != "lookupd." || o.DNSTTL != 5*time.Second || o.DNSMaxTCPConnections != 256 ||
				o.DNSMaxUDPSize != 1232 || o.DNSTCPIdleTimeout != 10*time.Second {
				t.Errorf("dns defaults %+v", o)
			}
			host, _ := os.Hostname()
			if o.BroadcastAddress != host {
				t.Errorf("broadcast address %q, want hostname %q", o.BroadcastAddress, host)
			}
		}},
		{"flags", []string{"--tcp-address=127.0.0.1:1", "--tombstone-lifetime=5s", "--log-level=warn"}, func(t *testing.T, o *lookup.Options) {
			if o.TCPAddress != "127.0.0.1:1" || o.TombstoneLifetime != 5*time.Second || o.LogLevel != config.LevelWarn {
				t.Errorf("got %+v", o)
			}
		}},
		{"config file", []string{"--config", cfg}, func(t *testing.T, o *lookup.Options) {
			if o.LogLevel != config.LevelDebug || o.TCPAddress != "127.0.0.1:5160" || o.InactiveProducerTimeout != 90*time.Second || o.MaxTCPClients != 7 || o.MaxBlockingQueries != 9 {
				t.Errorf("got %+v", o)
			}
			if o.IdleTimeout() != 180*time.Second {
				t.Errorf("idle timeout %s", o.IdleTimeout())
			}
			if o.DNSAddress != "127.0.0.1:5353" || o.DNSZone != "nsq.example." || o.DNSTTL != 2*time.Second || o.DNSMaxTCPConnections != 11 {
				t.Errorf("dns options %q %q %s %d", o.DNSAddress, o.DNSZone, o.DNSTTL, o.DNSMaxTCPConnections)
			}
			if o.MaxTCPClientsPerIP != 3 || o.HandshakeTimeout != 4*time.Second || o.MaxBlockingQueriesPerIP != 5 ||
				o.MaxTopics != 11 || o.MaxChannelsPerTopic != 12 {
				t.Errorf("limits from the file: %+v", o)
			}
			if o.AuthFile != "/etc/lookupd/tokens.toml" || !o.AuthReads || fmt.Sprint(o.TCPAllow) != "[10.0.0.0/8 192.0.2.7]" {
				t.Errorf("auth options from the file: %q %v %q", o.AuthFile, o.AuthReads, o.TCPAllow)
			}
			if o.TLSCert != "/etc/lookupd/cert.pem" || o.TLSKey != "/etc/lookupd/key.pem" || o.TLSClientCA != "/etc/lookupd/ca.pem" ||
				o.TLSMinVersion != "1.3" || o.TCPTLSAddress != "0.0.0.0:4162" {
				t.Errorf("tls options from the file: %+v", o)
			}
		}},
		{"dns flags", []string{"--dns-address=127.0.0.1:0", "--dns-zone=svc.example", "--dns-ttl=0s", "--dns-max-udp-size=4096", "--dns-tcp-idle-timeout=3s"}, func(t *testing.T, o *lookup.Options) {
			if o.DNSAddress != "127.0.0.1:0" || o.DNSZone != "svc.example" || o.DNSTTL != 0 || o.DNSMaxUDPSize != 4096 || o.DNSTCPIdleTimeout != 3*time.Second {
				t.Errorf("got %+v", o)
			}
		}},
		{"flag beats config file", []string{"--config", cfg, "--tcp-address=127.0.0.1:6160", "--inactive-producer-timeout=1m", "--max-blocking-queries=0"}, func(t *testing.T, o *lookup.Options) {
			if o.TCPAddress != "127.0.0.1:6160" || o.InactiveProducerTimeout != time.Minute || o.MaxBlockingQueries != 0 {
				t.Errorf("got %s %s %d", o.TCPAddress, o.InactiveProducerTimeout, o.MaxBlockingQueries)
			}
			if o.HTTPAddress != "127.0.0.1:5161" {
				t.Errorf("config value lost: %s", o.HTTPAddress)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseOptions(tt.args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, o)
		})
	}
}

func TestParseOptions_Errors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		cfg  string
		want string
	}{
		{"unknown key", nil, `tcp_adress = "x:1"`, `tcp_adress: unknown key`},
		{"integer duration", nil, `tombstone_lifetime = 45`, `tombstone_lifetime: want a duration string such as "45s", got integer 45`},
		{"bad duration", nil, `tombstone_lifetime = "soon"`, `tombstone_lifetime: want a duration such as "30s"`},
		{"string for int", nil, `max_tcp_clients = "many"`, `max_tcp_clients: want an integer, got string "many"`},
		{"bad log level in file", nil, `log_level = "loud"`, `log_level: invalid log level "loud"`},
		{"bad log level flag", []string{"--log-level=loud"}, "", `invalid value "loud" for flag -log-level: invalid log level`},
		{"bad address", []string{"--tcp-address=nonsense"}, "", `--tcp-address: want host:port, got "nonsense"`},
		{"negative timeout", []string{"--inactive-producer-timeout=-1s"}, "", "--inactive-producer-timeout: must be positive, got -1s"},
		{"idle shorter than inactive", []string{"--client-idle-timeout=1s"}, "", "--client-idle-timeout: 1s is shorter than --inactive-producer-timeout 5m0s"},
		{"bad dns zone", []string{"--dns-zone=a..b"}, "", `--dns-zone: zone "a..b" is not a valid domain name`},
		{"bad dns address", []string{"--dns-address=nonsense"}, "", `--dns-address: want host:port, got "nonsense"`},
		{"negative dns ttl", []string{"--dns-ttl=-1s"}, "", "--dns-ttl: must be in 0s..24h, got -1s"},
		{"small dns udp size", nil, `dns_max_udp_size = 100`, "--dns-max-udp-size: must be in 512..65535, got 100"},
		{"auth reads without a file", []string{"--auth-reads"}, "", "--auth-reads: needs --auth-file"},
		{"tls cert without key", []string{"--tls-cert=c.pem"}, "", "--tls-cert: and --tls-key go together"},
		{"client ca without cert", []string{"--tls-client-ca=ca.pem"}, "", "--tls-client-ca: needs --tls-cert"},
		{"bad tls version", []string{"--tls-min-version=1.1"}, "", `--tls-min-version: want 1.2 or 1.3, got "1.1"`},
		{"tcp tls without cert", []string{"--tcp-tls-address=127.0.0.1:4162"}, "", "--tcp-tls-address: needs --tls-cert"},
		{"bad tcp allow", []string{"--tcp-allow=10.0.0.0/8", "--tcp-allow=nets"}, "", `--tcp-allow: want a CIDR such as 10.0.0.0/8 or an address, got "nets"`},
		{"tcp allow not an array", nil, `tcp_allow = "10.0.0.0/8"`, `tcp_allow: want an array of strings`},
		{"bad toml", nil, `tcp_address = `, "config file "},
		{"stray argument", []string{"extra"}, "", "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.cfg != "" {
				args = append([]string{"--config", configtest.WriteFile(t, tt.cfg)}, args...)
			}
			_, err := parseOptions(args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestParseOptions_VersionAndHelp(t *testing.T) {
	if _, err := parseOptions([]string{"--version"}, io.Discard); !errors.Is(err, config.ErrVersion) {
		t.Errorf("--version: %v", err)
	}
	if _, err := parseOptions([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	var out bytes.Buffer
	if code := run([]string{"--version"}, &out, io.Discard); code != 0 || out.String() != command.VersionLine()+"\n" ||
		!strings.HasPrefix(out.String(), "lookupd v"+config.Version+" (nsqlookupd 1.3.0 compatible, built w/go") {
		t.Errorf("run --version: code %d, out %q", code, out.String())
	}
	if code := run([]string{"--log-level=loud"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("bad flag exit code %d, want 2", code)
	}
}

// The README's flags table lists every flag with its default.
func TestREADMEFlagTable(t *testing.T) {
	fs, err := command.FlagSet(lookup.NewOptions(), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	configtest.FlagTable(t, fs, configtest.Section(t, "../../README.md", "## Running lookupd"))
}

// buildBinary builds lookupd into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "lookupd")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// daemonProc is a lookupd process started by startBinary.
type daemonProc struct {
	cmd  *exec.Cmd
	logs *lookuptest.SyncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's error, set before done is closed
}

// startBinary starts bin on loopback with args and waits for its start
// line. The test's cleanup kills it if it is still running.
func startBinary(t *testing.T, bin string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{logs: &lookuptest.SyncBuffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin, append([]string{"--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1"}, args...)...)
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			d.cmd.Process.Kill()
			<-d.done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.logs.String(), "lookupd started") {
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start; logs:\n%s", d.logs.String())
		}
		select {
		case <-d.done:
			t.Fatalf("daemon exited early: %v\n%s", d.err, d.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return d
}

// field returns the value of key=value in the daemon's start line.
func (d *daemonProc) field(key string) string {
	for _, f := range strings.Fields(d.logs.String()) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// TestMain_SignalShutdown builds the binary, starts it on loopback, and
// checks that SIGTERM and SIGINT make it exit 0.
func TestMain_SignalShutdown(t *testing.T) {
	bin := buildBinary(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := startBinary(t, bin)
			if err := d.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			select {
			case <-d.done:
				if d.err != nil {
					t.Fatalf("exit after %s: %v\n%s", sig, d.err, d.logs.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("no exit within 15s of %s", sig)
			}
			if !strings.Contains(d.logs.String(), "lookupd stopped") {
				t.Errorf("missing shutdown log:\n%s", d.logs.String())
			}
		})
	}
}

// A listener that cannot bind is reported once, as "lookupd: ERR" on
// stderr (the shape producerd uses), with the address named once.
func TestRun_StartFailed(t *testing.T) {
	taken := lookuptest.SilentListener(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"--tcp-address", taken, "--http-address", "127.0.0.1:0"}, &stdout, &stderr)
	want := "lookupd: tcp listener: listen tcp " + taken + ": bind: address already in use\n"
	if code != 1 || stderr.String() != want || stdout.Len() != 0 {
		t.Fatalf("exit %d, stderr %q, stdout %q; want 1, %q", code, stderr.String(), stdout.String(), want)
	}
}

// SIGHUP re-reads --auth-file: a new token works and the old one stops
// working; a bad file is logged and the tokens in use stay. Tokens never
// reach the log.
func TestMain_SIGHUPReloadsAuthFile(t *testing.T) {
	bin := buildBinary(t)
	const oldTok, newTok = "old-admin-token-0123456789", "new-admin-token-0123456789"
	path := filepath.Join(t.TempDir(), "tokens.toml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[[tokens]]\ntoken = \"" + oldTok + "\"\nrole = \"admin\"\n")
	d := startBinary(t, bin, "--auth-file="+path)
	url := "http://" + d.field("http_address") + "/topic/create?topic=t"
	post := func(tok string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	hup := func(wantLog string, n int) {
		t.Helper()
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		lookuptest.WaitFor(t, 10*time.Second, wantLog, func() bool { return strings.Count(d.logs.String(), wantLog) >= n })
	}
	if code := post(oldTok); code != http.StatusOK {
		t.Fatalf("old token before reload: %d", code)
	}
	write("[[tokens]]\ntoken = \"" + newTok + "\"\nrole = \"admin\"\n")
	hup("msg=reloaded", 1)
	if code := post(oldTok); code != http.StatusUnauthorized {
		t.Fatalf("old token after reload: %d, want 401", code)
	}
	if code := post(newTok); code != http.StatusOK {
		t.Fatalf("new token after reload: %d", code)
	}
	write("[[tokens]]\ntoken = \"" + oldTok + "\"\nrole = \"root\"\n")
	hup("reload failed", 1)
	if !strings.Contains(d.logs.String(), `unknown role \"root\"`) {
		t.Errorf("the log does not say why the reload failed:\n%s", d.logs.String())
	}
	if code := post(newTok); code != http.StatusOK {
		t.Fatalf("tokens in use dropped by a bad file: %d", code)
	}
	if strings.Contains(d.logs.String(), oldTok) || strings.Contains(d.logs.String(), newTok) {
		t.Fatalf("a token reached the log:\n%s", d.logs.String())
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-d.done
	if d.err != nil {
		t.Fatalf("exit: %v", d.err)
	}
}

// The README's worked example of a lookupd config with tokens and TLS
// loads: every key is a flag, every value valid.
func TestREADMEWorkedExample(t *testing.T) {
	section := configtest.Section(t, "../../README.md", "### Worked example: tokens and TLS for three lookupds")
	_, rest, ok := strings.Cut(section, "# lookupd.toml (worked example)\n")
	body, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("no lookupd.toml block in the worked example")
	}
	o, err := parseOptions([]string{"--config", configtest.WriteFile(t, body)}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.TLSClientCA == "" || !o.AuthReads || o.TCPTLSAddress == "" || len(o.TCPAllow) != 1 {
		t.Fatalf("worked example options: %+v", o)
	}
}
