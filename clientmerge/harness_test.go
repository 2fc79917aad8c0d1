package clientmerge

import (
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
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/wire"
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

// impls lists the implementations every scenario runs against: the real
// nsqlookupd v1.3.0 and ours, both in-process on 127.0.0.1:0.
func impls() []impl {
	return []impl{
		{name: "nsqlookupd", start: startNSQLookupd},
		{name: "lookupd", start: startOurs},
	}
}

// startNSQLookupd starts the real nsqlookupd v1.3.0 in-process.
func startNSQLookupd(t *testing.T) *testLookupd {
	t.Helper()
	d := nsqref.Start(t, nil)
	return &testLookupd{TCPAddr: d.TCPAddr, HTTPAddr: d.HTTPAddr, stop: d.Stop}
}

// startOurs starts our lookupd in-process (lookup/lookuptest).
func startOurs(t *testing.T) *testLookupd {
	t.Helper()
	d := lookuptest.StartDaemon(t, nil)
	return &testLookupd{TCPAddr: d.TCPAddr().String(), HTTPAddr: d.HTTPAddr().String(), stop: d.Stop}
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

// producer is a fake producer: one scripted V1 connection to one lookupd,
// identified with the given broadcast address and ports.
type producer struct {
	t    *testing.T
	conn *lookuptest.Peer
}

// announce connects to a lookupd's TCP address, sends the magic and
// IDENTIFY, and registers each topic (a "topic/channel" entry registers a
// channel). It returns once every command has been answered, so the
// registrations are visible over HTTP.
func announce(t *testing.T, lookupdTCP, host string, tcpPort int, regs ...string) *producer {
	t.Helper()
	p := &producer{t: t, conn: lookuptest.Dial(t, lookupdTCP)}
	resp := p.conn.Identify(wire.PeerInfo{
		Hostname: "producer-" + host, BroadcastAddress: host,
		TCPPort: tcpPort, HTTPPort: tcpPort + 1000, Version: "1.3.0",
	})
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
	if resp := p.conn.Register(splitReg(reg)); string(resp) != "OK" {
		p.t.Fatalf("REGISTER %s: %q", reg, resp)
	}
}

func (p *producer) unregister(reg string) {
	p.t.Helper()
	if resp := p.conn.Unregister(splitReg(reg)); string(resp) != "OK" {
		p.t.Fatalf("UNREGISTER %s: %q", reg, resp)
	}
}

// front is an HTTP server on 127.0.0.1 that counts the requests it
// serves: a fake lookupd, or a reverse proxy in front of a real one.
// Closing it makes the lookupd unreachable for the client (connection
// refused), idle connections included.
type front struct {
	srv   *httptest.Server
	count atomic.Int64
}

// serveCounting starts a front serving h until the test ends.
func serveCounting(t *testing.T, h http.HandlerFunc) *front {
	f := &front{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.count.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// newFront starts a counting reverse proxy to the lookupd at target.
func newFront(t *testing.T, target string) *front {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = slog.NewLogLogger(slog.NewTextHandler(io.Discard, nil), slog.LevelError)
	return serveCounting(t, proxy.ServeHTTP)
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

// fakeLookupd serves a handler on 127.0.0.1 and counts requests.
func fakeLookupd(t *testing.T, h http.HandlerFunc) (addr string, count *atomic.Int64) {
	t.Helper()
	f := serveCounting(t, h)
	return f.addr(), &f.count
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
	body.Producers = []ProducerInfo{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		var p int
		fmt.Sscan(port, &p)
		body.Producers = append(body.Producers, ProducerInfo{
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
