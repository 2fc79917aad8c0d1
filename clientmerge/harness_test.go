package clientmerge

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/wire"
	"github.com/nsqio/nsq/nsqlookupd"
)

// testLookupd is one running lookupd, whichever implementation.
type testLookupd struct {
	TCPAddr  string
	HTTPAddr string
	// stop shuts it down; calling it again does nothing.
	stop func()
}

// impl is a lookupd implementation the scenarios run against.
type impl struct {
	name  string
	start func(t *testing.T) *testLookupd
}

// impls lists the implementations available: the real nsqlookupd v1.3.0
// always, ours when lookup/lookuptest is built in (see ours_test.go).
func impls() []impl {
	out := []impl{{name: "nsqlookupd", start: startNSQLookupd}}
	if startOurs != nil {
		out = append(out, impl{name: "lookupd", start: startOurs})
	}
	return out
}

// startOurs is set by ours_test.go once our server exists.
var startOurs func(t *testing.T) *testLookupd

// nopLogger satisfies the Output(int, string) error logger interface of
// nsqd, nsqlookupd and go-nsq and drops everything.
type nopLogger struct{}

func (nopLogger) Output(int, string) error { return nil }

func startNSQLookupd(t *testing.T) *testLookupd {
	t.Helper()
	opts := nsqlookupd.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	opts.Logger = nopLogger{}
	l, err := nsqlookupd.New(opts)
	if err != nil {
		t.Fatalf("nsqlookupd.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- l.Main() }()
	stop := sync.OnceFunc(func() {
		l.Exit()
		<-done
	})
	t.Cleanup(stop)
	return &testLookupd{TCPAddr: l.RealTCPAddr().String(), HTTPAddr: l.RealHTTPAddr().String(), stop: stop}
}

// startN starts n lookupds of one implementation.
func startN(t *testing.T, im impl, n int) []*testLookupd {
	t.Helper()
	out := make([]*testLookupd, n)
	for i := range out {
		out[i] = im.start(t)
	}
	return out
}

func httpAddrs(ls []*testLookupd) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.HTTPAddr
	}
	return out
}

// producer is a fake producer: one raw V1 connection to one lookupd,
// identified with the given broadcast address and ports.
type producer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// announce connects to a lookupd's TCP address, sends the magic and
// IDENTIFY, and registers each topic (a "topic/channel" entry registers a
// channel). It returns once every command has been answered, so the
// registrations are visible over HTTP.
func announce(t *testing.T, lookupdTCP, host string, tcpPort int, regs ...string) *producer {
	t.Helper()
	conn, err := net.DialTimeout("tcp", lookupdTCP, 5*time.Second)
	if err != nil {
		t.Fatalf("dial lookupd %s: %v", lookupdTCP, err)
	}
	p := &producer{t: t, conn: conn, r: bufio.NewReader(conn)}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte(wire.MagicV1)); err != nil {
		t.Fatalf("write magic: %v", err)
	}
	cmd, err := wire.EncodeIdentify(wire.PeerInfo{
		Hostname: "producer-" + host, BroadcastAddress: host,
		TCPPort: tcpPort, HTTPPort: tcpPort + 1000, Version: "1.3.0",
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := p.roundTrip(cmd)
	var info struct {
		TCPPort int `json:"tcp_port"`
	}
	if err := json.Unmarshal(resp, &info); err != nil || info.TCPPort == 0 {
		t.Fatalf("identify reply %q: %v", resp, err)
	}
	for _, r := range regs {
		p.register(r)
	}
	return p
}

func splitReg(reg string) (topic, channel string) {
	topic, channel, _ = strings.Cut(reg, "/")
	return topic, channel
}

func (p *producer) register(reg string) {
	p.t.Helper()
	topic, channel := splitReg(reg)
	if resp := p.roundTrip(wire.EncodeRegister(topic, channel)); string(resp) != "OK" {
		p.t.Fatalf("REGISTER %s: %q", reg, resp)
	}
}

func (p *producer) unregister(reg string) {
	p.t.Helper()
	topic, channel := splitReg(reg)
	if resp := p.roundTrip(wire.EncodeUnregister(topic, channel)); string(resp) != "OK" {
		p.t.Fatalf("UNREGISTER %s: %q", reg, resp)
	}
}

func (p *producer) roundTrip(cmd []byte) []byte {
	p.t.Helper()
	if err := p.conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.conn.Write(cmd); err != nil {
		p.t.Fatalf("write %q: %v", cmd, err)
	}
	resp, err := wire.ReadResponse(p.r, wire.DefaultMaxResponseSize)
	if err != nil {
		p.t.Fatalf("read reply to %q: %v", cmd, err)
	}
	return resp
}

// front is an HTTP reverse proxy in front of a lookupd that counts the
// requests it forwards. Closing it makes the lookupd unreachable for the
// client (connection refused), idle connections included.
type front struct {
	srv   *httptest.Server
	count atomic.Int64
}

func newFront(t *testing.T, target string) *front {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	f := &front{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.count.Add(1)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *front) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// fronts puts a counting front before each lookupd.
func fronts(t *testing.T, ls []*testLookupd) []*front {
	out := make([]*front, len(ls))
	for i, l := range ls {
		out[i] = newFront(t, l.HTTPAddr)
	}
	return out
}

func frontAddrs(fs []*front) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.addr()
	}
	return out
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// hangingAddr returns the address of a listener that accepts connections
// and never writes a byte. Everything is closed in cleanup.
func hangingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// fakeLookupd serves a handler on 127.0.0.1 and counts requests.
func fakeLookupd(t *testing.T, h http.HandlerFunc) (addr string, count *atomic.Int64) {
	t.Helper()
	count = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), count
}

// respondV1 writes body as nsqlookupd does: JSON, status, and the
// X-NSQ-Content-Type header.
func respondV1(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// producersJSON renders a /lookup body with the given "host:port" producers.
func producersJSON(t testing.TB, channels []string, addrs ...string) string {
	t.Helper()
	var body lookupBody
	body.Channels = append([]string{}, channels...)
	body.Producers = []PeerInfo{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		var p int
		fmt.Sscan(port, &p)
		body.Producers = append(body.Producers, PeerInfo{
			BroadcastAddress: host, TCPPort: p, HTTPPort: p + 1000, Hostname: host, Version: "1.3.0",
		})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// httpPost posts to a lookupd or nsqd HTTP endpoint and fails on non-2xx.
func httpPost(t *testing.T, rawURL string, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		t.Fatalf("POST %s: %s %s", rawURL, resp.Status, b)
	}
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newClient builds a Client for the tests, failing the test on error.
func newClient(t *testing.T, addrs []string, opts ...Option) *Client {
	t.Helper()
	c, err := New(addrs, append([]Option{WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
