package cmtest

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Lookupd is one running lookupd, whichever implementation.
type Lookupd struct {
	TCPAddr  string
	HTTPAddr string
	// Stop shuts it down; calling it again does nothing.
	Stop func()
}

// Impl is a lookupd implementation the scenarios run against.
type Impl struct {
	Name  string
	Start func(t *testing.T) *Lookupd
}

// Impls lists the implementations every scenario runs against: the real
// nsqlookupd v1.3.0 and ours, both in-process on 127.0.0.1:0.
func Impls() []Impl {
	return []Impl{
		{Name: "nsqlookupd", Start: StartNSQLookupd},
		{Name: "lookupd", Start: StartOurs},
	}
}

// StartNSQLookupd starts the real nsqlookupd v1.3.0 in-process until the
// test ends.
func StartNSQLookupd(t *testing.T) *Lookupd {
	t.Helper()
	d := nsqref.Start(t, nil)
	return &Lookupd{TCPAddr: d.TCPAddr, HTTPAddr: d.HTTPAddr, Stop: d.Stop}
}

// StartOurs starts our lookupd in-process (lookup/lookuptest) until the
// test ends.
func StartOurs(t *testing.T) *Lookupd {
	t.Helper()
	d := lookuptest.StartDaemon(t, nil)
	return &Lookupd{TCPAddr: d.TCPAddr().String(), HTTPAddr: d.HTTPAddr().String(), Stop: d.Stop}
}

// StartN starts n lookupds of one implementation.
func StartN(t *testing.T, im Impl, n int) []*Lookupd {
	t.Helper()
	out := make([]*Lookupd, n)
	for i := range out {
		out[i] = im.Start(t)
	}
	return out
}

// HTTPAddrs returns the lookupds' HTTP addresses.
func HTTPAddrs(ls []*Lookupd) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.HTTPAddr
	}
	return out
}

// Producer is a fake producer: one scripted V1 connection to one lookupd.
// Its methods fail the test; call them from the test goroutine.
type Producer struct {
	t    *testing.T
	conn *lookuptest.Conn
}

// Announce connects to a lookupd's TCP address, sends the magic and
// IDENTIFY (broadcast address host, the given TCP port, HTTP port
// tcpPort+1000), and registers each entry ("topic", or "topic/channel" to
// register a channel). It returns once every command has been answered,
// so the registrations are visible over HTTP.
func Announce(t *testing.T, lookupdTCP, host string, tcpPort int, regs ...string) *Producer {
	t.Helper()
	p := &Producer{t: t, conn: lookuptest.Dial(t, lookupdTCP)}
	resp := p.conn.Identify(wire.ProducerInfo{
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
		p.Register(r)
	}
	return p
}

func splitReg(reg string) (topic, channel string) {
	topic, channel, _ = strings.Cut(reg, "/")
	return topic, channel
}

// Register registers "topic" or "topic/channel" and waits for the OK.
func (p *Producer) Register(reg string) {
	p.t.Helper()
	if resp := p.conn.Register(splitReg(reg)); string(resp) != "OK" {
		p.t.Fatalf("REGISTER %s: %q", reg, resp)
	}
}

// Unregister unregisters "topic" or "topic/channel" and waits for the OK.
func (p *Producer) Unregister(reg string) {
	p.t.Helper()
	if resp := p.conn.Unregister(splitReg(reg)); string(resp) != "OK" {
		p.t.Fatalf("UNREGISTER %s: %q", reg, resp)
	}
}

// Front is an HTTP server on 127.0.0.1 that counts the requests it
// serves: a fake lookupd, or a reverse proxy in front of a real one.
// Closing Srv makes the lookupd unreachable for the consumer (connection
// refused), idle connections included.
type Front struct {
	Srv   *httptest.Server
	Count atomic.Int64
}

// ServeCounting starts a Front serving h until the test ends.
func ServeCounting(t *testing.T, h http.HandlerFunc) *Front {
	f := &Front{}
	f.Srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Count.Add(1)
		h(w, r)
	}))
	t.Cleanup(f.Srv.Close)
	return f
}

// NewFront starts a counting reverse proxy to the lookupd at target.
func NewFront(t *testing.T, target string) *Front {
	t.Helper()
	u, err := url.Parse("http://" + target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)
	return ServeCounting(t, proxy.ServeHTTP)
}

// Addr returns the Front's host:port.
func (f *Front) Addr() string { return strings.TrimPrefix(f.Srv.URL, "http://") }

// Fronts puts a counting Front before each lookupd.
func Fronts(t *testing.T, ls []*Lookupd) []*Front {
	out := make([]*Front, len(ls))
	for i, l := range ls {
		out[i] = NewFront(t, l.HTTPAddr)
	}
	return out
}

// FrontAddrs returns the Fronts' addresses.
func FrontAddrs(fs []*Front) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Addr()
	}
	return out
}

// ClosedAddr returns a loopback address on which nothing listens.
func ClosedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// FakeLookupd serves a handler on 127.0.0.1 and counts requests.
func FakeLookupd(t *testing.T, h http.HandlerFunc) (addr string, count *atomic.Int64) {
	t.Helper()
	f := ServeCounting(t, h)
	return f.Addr(), &f.Count
}

// RespondV1 writes body as nsqlookupd does: JSON, status, and the
// X-NSQ-Content-Type header.
func RespondV1(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// ProducersJSON renders a /lookup body with the given channels and
// "host:port" producers (HTTP port port+1000), as lookupd marshals it.
func ProducersJSON(t testing.TB, channels []string, addrs ...string) string {
	t.Helper()
	body := struct {
		Channels  []string            `json:"channels"`
		Producers []wire.ProducerInfo `json:"producers"`
	}{Channels: append([]string{}, channels...), Producers: []wire.ProducerInfo{}}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			t.Fatal(err)
		}
		body.Producers = append(body.Producers, wire.ProducerInfo{
			BroadcastAddress: host, TCPPort: p, HTTPPort: p + 1000, Hostname: host, Version: "1.3.0",
		})
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// HTTPPost posts to a lookupd or nsqd HTTP endpoint and fails on non-2xx.
func HTTPPost(t *testing.T, rawURL string, body string) {
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

// Logger logs to the test's output, debug level and up.
func Logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
