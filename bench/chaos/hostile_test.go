//go:build linux

package chaos

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestHostile runs the hostile cases of the README's threat model against
// lookupd processes, each bounded in count and time and on loopback only:
// thousands of silent sockets from one address while a producer from
// another registers; a flood of unauthorised creates; TLS handshakes that
// stall. The short form (go test) is a tenth of the long one (make chaos,
// -chaos.long), and shortens the timeouts it waits out.
func TestHostile(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections; skipped with -short")
	}
	t.Run("silent sockets from one address", hostileSilentSockets)
	t.Run("unauthorised create flood", hostileCreateFlood)
	t.Run("hung TLS handshakes", hostileHungTLS)
}

// hostileStats is the part of /stats these cases read.
type hostileStats struct {
	Topics int `json:"topics"`
	TCP    struct {
		Open              int64 `json:"open"`
		Accepted          int64 `json:"accepted"`
		RejectedPerIP     int64 `json:"rejected_per_ip"`
		HandshakeTimeouts int64 `json:"handshake_timeouts"`
	} `json:"tcp"`
	HTTP struct {
		Unauthorized int64 `json:"unauthorized"`
		Forbidden    int64 `json:"forbidden"`
		TopicsCapped int64 `json:"creates_refused_max_topics"`
	} `json:"http"`
}

func (d *daemon) hostileStats(t *testing.T, hc *http.Client, base string) hostileStats {
	t.Helper()
	resp, err := hc.Get(base + "/stats")
	if err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s hostileStats
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &s) != nil {
		t.Fatalf("GET /stats: %d %s", resp.StatusCode, body)
	}
	return s
}

func (d *daemon) rss(t *testing.T) int64 {
	t.Helper()
	st, err := d.proc.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return st.RSS
}

// hostileSilentSockets: 20,000 (short: 2,000) sockets from 127.0.0.2,
// held open at once and never sending a byte, do not stop a producer from
// 127.0.0.1: past --max-tcp-clients-per-ip (64) they are closed at
// accept, and the 64 admitted are cut at --handshake-timeout. The sockets
// are held by helper processes (this test binary again, running
// TestHostileHelper), 5,000 each, so that no process needs more
// descriptors than a container's RLIMIT_NOFILE allows.
func hostileSilentSockets(t *testing.T) {
	n, hs := 2000, 2*time.Second
	if long() {
		n, hs = 20000, 10*time.Second // the default
	}
	d := startLookupd(t, "lookupd-silent", "--handshake-timeout="+hs.String())
	base := "http://" + d.httpAddr
	rss0 := d.rss(t)

	t0 := time.Now()
	const perHelper = 5000
	var waits []func()
	for i := 0; i < n; i += perHelper {
		waits = append(waits, holdSilent(t, d.tcpAddr, "127.0.0.2", min(perHelper, n-i)))
	}
	for _, wait := range waits {
		wait()
	}
	opened := time.Since(t0)

	// A producer from 127.0.0.1 connects, identifies and registers.
	t1 := time.Now()
	pc, err := dialProducerFrom(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, d.tcpAddr, 4150, "orders", "c")
	if err != nil {
		t.Fatalf("producer from 127.0.0.1 while %d silent sockets are held: %v", n, err)
	}
	defer pc.c.Close()
	served := time.Since(t1)
	var s hostileStats
	defer func() {
		if t.Failed() {
			t.Logf("last /stats: %+v", s)
		}
	}()
	// Every silent socket was either admitted (at most 64 at a time; those
	// cut by the handshake timeout make room for more while the others
	// are still being opened) or refused at accept.
	lookuptest.WaitFor(t, 30*time.Second, "every silent socket admitted or refused", func() bool {
		s = d.hostileStats(t, d.http, base)
		return s.TCP.Accepted-1+s.TCP.RejectedPerIP == int64(n)
	})
	if s.TCP.Open > 65 {
		t.Errorf("open connections %d, more than 64 silent ones and the producer", s.TCP.Open)
	}
	admitted := s.TCP.Accepted - 1
	lookuptest.WaitFor(t, hs+30*time.Second, "the admitted silent sockets cut", func() bool {
		s = d.hostileStats(t, d.http, base)
		return s.TCP.HandshakeTimeouts == admitted && s.TCP.Open == 1
	})
	code, body, err := d.get(t.Context(), "/lookup?topic=orders")
	if err != nil || code != 200 || !strings.Contains(string(body), `"tcp_port":4150`) {
		t.Fatalf("producer's registration after the attack: %d %s %v", code, body, err)
	}
	t.Logf("%d silent sockets from 127.0.0.2 held at once (opened in %s): %d refused at accept, %d admitted (64 at a time) and cut after %s; producer from 127.0.0.1 identified and registered in %s; lookupd RSS %d -> %d KiB",
		n, opened.Round(time.Millisecond), s.TCP.RejectedPerIP, admitted, hs, served.Round(time.Microsecond), rss0>>10, d.rss(t)>>10)
}

// Environment of TestHostileHelper.
const (
	envSilentAddr = "CHAOS_SILENT_ADDR" // host:port to connect to
	envSilentFrom = "CHAOS_SILENT_FROM" // source address
	envSilentN    = "CHAOS_SILENT_N"    // sockets to open
)

// holdSilent starts a helper process that opens n sockets from src to
// addr and holds them, silent, until the test ends. The returned function
// returns once they are all open.
func holdSilent(t *testing.T, addr, src string, n int) (wait func()) {
	t.Helper()
	p, err := proc.Start(proc.Options{
		Name: "silent-socket helper",
		Path: os.Args[0],
		Args: []string{"-test.run=^TestHostileHelper$"},
		Env:  []string{envSilentAddr + "=" + addr, envSilentFrom + "=" + src, fmt.Sprintf("%s=%d", envSilentN, n)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The helper closes its sockets and exits at the end of its stdin
	// (or dies of the SIGTERM that comes with it); Stop kills it after 30 s.
	t.Cleanup(func() { _ = p.Stop(30 * time.Second) })
	return func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		if _, err := p.WaitLine(ctx, "ready "); err != nil {
			t.Fatalf("silent-socket helper did not open its sockets: %v", err)
		}
	}
}

// TestHostileHelper is not a test: holdSilent runs this binary with it
// and the environment above to hold silent sockets in a process of their
// own. It prints "ready N" once the N sockets are open, holds them until
// stdin closes, and exits.
func TestHostileHelper(t *testing.T) {
	addr := os.Getenv(envSilentAddr)
	if addr == "" {
		t.Skip("a helper process of TestHostile")
	}
	var n int
	fmt.Sscan(os.Getenv(envSilentN), &n)
	raiseNoFile(t, uint64(n+256))
	dialer := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(os.Getenv(envSilentFrom))}}
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := dialer.Dial("tcp", addr)
		if err != nil {
			fmt.Printf("failed after %d: %v\n", len(conns), err)
			return
		}
		conns = append(conns, c)
	}
	fmt.Printf("ready %d\n", len(conns))
	io.Copy(io.Discard, os.Stdin)
}

// hostileCreateFlood: with --auth-file, a flood of POST /topic/create
// with made-up names and no token (and then a read token) is refused
// (401, 403) and leaves the registry and RSS as they were; without
// --auth-file, --max-topics bounds what the same flood creates.
func hostileCreateFlood(t *testing.T) {
	n, dur := 5000, 5*time.Second
	if long() {
		n, dur = 200000, 60*time.Second
	}
	const admin, read = "flood-admin-token-0123456789", "flood-read-token-0123456789"
	tokens := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(tokens, []byte("[[tokens]]\ntoken = \""+admin+"\"\nrole = \"admin\"\n[[tokens]]\ntoken = \""+read+"\"\nrole = \"read\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startLookupd(t, "lookupd-flood", "--auth-file="+tokens, "--tcp-allow=127.0.0.0/8")
	base := "http://" + d.httpAddr
	pc, err := dialProducer(d.tcpAddr, 4150, "orders", "c")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.c.Close()
	// Warm up the paths a refusal takes, so that RSS reflects the flood.
	flood(t, d.http, base, "warm", "", 200, dur)
	before, rss0 := d.hostileStats(t, d.http, base), d.rss(t)

	for _, who := range []struct{ token, want string }{{"", "401"}, {read, "403"}} {
		sent, statuses, took := flood(t, d.http, base, "flood", who.token, n, dur)
		if statuses[who.want] != sent {
			t.Fatalf("flood (token: %v): %v of %d, want all %s", who.token != "", statuses, sent, who.want)
		}
		t.Logf("%d unauthorised creates (token: %v) in %s: %v", sent, who.token != "", took.Round(time.Millisecond), statuses)
	}
	after, rss1 := d.hostileStats(t, d.http, base), d.rss(t)
	if after.Topics != before.Topics {
		t.Errorf("topics %d -> %d after the flood", before.Topics, after.Topics)
	}
	code, body, err := d.get(t.Context(), "/lookup?topic=orders")
	if err != nil || code != 200 || !strings.Contains(string(body), `"tcp_port":4150`) {
		t.Fatalf("producer's registration after the flood: %d %s %v", code, body, err)
	}
	// RSS moves with the Go heap's own rhythm; a registry that grew by a
	// topic per request would add well over this (about 300 bytes each).
	const slack = 24 << 20
	if rss1-rss0 > slack {
		t.Errorf("RSS grew %d KiB during the flood (from %d KiB), more than %d KiB", (rss1-rss0)>>10, rss0>>10, slack>>10)
	}
	t.Logf("registry %d topics before and after; RSS %d -> %d KiB", before.Topics, rss0>>10, rss1>>10)

	// No tokens: the cap bounds the flood instead.
	open := startLookupd(t, "lookupd-flood-open", "--max-topics=1000")
	obase := "http://" + open.httpAddr
	sent, statuses, _ := flood(t, open.http, obase, "flood", "", min(n, 3000), dur)
	s := open.hostileStats(t, open.http, obase)
	if s.Topics != 1000 || statuses["409"] != sent-1000 {
		t.Errorf("open flood of %d: %d topics, statuses %v; want 1000 created, the rest 409", sent, s.Topics, statuses)
	}
	t.Logf("without --auth-file, %d creates: %d topics (--max-topics=1000), statuses %v", sent, s.Topics, statuses)
}

// flood sends up to n POST /topic/create with names prefix-i from 32
// goroutines, for at most dur, and returns how many were sent, a count
// per status and the time taken.
func flood(t *testing.T, hc *http.Client, base, prefix, token string, n int, dur time.Duration) (int, map[string]int, time.Duration) {
	t.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	statuses := map[string]int{}
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || time.Since(t0) > dur {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/topic/create?topic=%s-%d", base, prefix, i), nil)
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				key := "error"
				if resp, err := hc.Do(req); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = fmt.Sprint(resp.StatusCode)
				}
				mu.Lock()
				statuses[key]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sent := 0
	for _, c := range statuses {
		sent += c
	}
	return sent, statuses, time.Since(t0)
}

// hostileHungTLS: clients that open a TLS handshake and stall are cut
// by --handshake-timeout on the V1 TLS listener and by the header timeout
// on HTTPS, while a real client is served meanwhile.
func hostileHungTLS(t *testing.T) {
	k, hs, hdr := 50, time.Second, 2*time.Second
	if long() {
		k, hs, hdr = 500, 10*time.Second, 10*time.Second // the defaults
	}
	certs := lookuptest.NewCerts(t)
	d := startLookupd(t, "lookupd-tls", "--tls-cert="+certs.ServerCert, "--tls-key="+certs.ServerKey,
		"--tcp-tls-address=127.0.0.1:0", "--handshake-timeout="+hs.String(), "--http-read-timeout="+hdr.String(),
		fmt.Sprintf("--max-tcp-clients-per-ip=%d", k+8))
	tlsAddr := logField(d.startLine, "tcp_tls_address")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: certs.Pool}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	base := "https://" + d.httpAddr

	for _, port := range []struct {
		name, addr string
		limit      time.Duration
	}{{"v1 tls", tlsAddr, hs}, {"https", d.httpAddr, hdr}} {
		t.Run(port.name, func(t *testing.T) {
			type cut struct {
				after time.Duration
				err   error
			}
			cuts := make(chan cut, k)
			for range k {
				c, err := net.Dial("tcp", port.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				start := time.Now()
				go func() {
					// A ClientHello record header announcing 512 bytes, then
					// nothing more.
					c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00})
					c.SetReadDeadline(time.Now().Add(port.limit + 30*time.Second))
					_, err := io.Copy(io.Discard, c)
					if err == nil || isReset(err) {
						err = nil // closed by the server
					}
					cuts <- cut{after: time.Since(start), err: err}
				}()
			}
			// Meanwhile a real client is served.
			t0 := time.Now()
			resp, err := hc.Get(base + "/ping")
			if err != nil {
				t.Fatalf("https /ping while %d handshakes hang: %v", k, err)
			}
			resp.Body.Close()
			served := time.Since(t0)
			var slowest time.Duration
			for range k {
				c := <-cuts
				if c.err != nil {
					t.Fatalf("a stalled handshake was not cut: %v after %s", c.err, c.after)
				}
				if c.after < port.limit-100*time.Millisecond {
					t.Errorf("a stalled handshake was cut after %s, before the %s limit", c.after, port.limit)
				}
				slowest = max(slowest, c.after)
			}
			t.Logf("%d stalled handshakes cut within %s (limit %s); a real client served in %s meanwhile",
				k, slowest.Round(time.Millisecond), port.limit, served.Round(time.Microsecond))
		})
	}
	if s := d.hostileStats(t, hc, base); s.TCP.HandshakeTimeouts != int64(k) {
		t.Errorf("handshake timeouts %d, want %d (the V1 ones)", s.TCP.HandshakeTimeouts, k)
	}
}
