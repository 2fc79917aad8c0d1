package lookuptest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Daemon is a running in-process lookupd.
type Daemon struct {
	*lookup.Server
	cancel context.CancelFunc
	done   chan error
	t      testing.TB
}

// Options returns lookup.NewOptions bound to 127.0.0.1:0 with a logger that
// writes to the test's output at warn level and above.
func Options(t testing.TB) *lookup.Options {
	o := lookup.NewOptions()
	o.TCPAddress = "127.0.0.1:0"
	o.HTTPAddress = "127.0.0.1:0"
	o.BroadcastAddress = "127.0.0.1"
	o.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	return o
}

// Start runs a lookupd with opts (Options(t) if nil) until the test ends;
// the cleanup stops it, waits for Run to return and fails the test if Run
// returned an error.
func Start(t testing.TB, opts *lookup.Options) *lookup.Server {
	t.Helper()
	return StartDaemon(t, opts).Server
}

// StartDaemon is Start returning a Daemon that can also be stopped early.
func StartDaemon(t testing.TB, opts *lookup.Options) *Daemon {
	t.Helper()
	if opts == nil {
		opts = Options(t)
	}
	srv, err := lookup.New(opts)
	if err != nil {
		t.Fatalf("start lookupd: %v", err)
	}
	return run(t, srv)
}

// run runs srv until the test ends.
func run(t testing.TB, srv *lookup.Server) *Daemon {
	ctx, cancel := context.WithCancel(context.Background())
	d := &Daemon{Server: srv, cancel: cancel, done: make(chan error, 1), t: t}
	go func() { d.done <- srv.Run(ctx) }()
	t.Cleanup(d.Stop)
	return d
}

// Stop shuts the daemon down and waits for Run to return. It is safe to
// call more than once.
func (d *Daemon) Stop() {
	d.cancel()
	if err, ok := <-d.done; ok {
		close(d.done)
		if err != nil {
			d.t.Errorf("lookupd Run: %v", err)
		}
	}
}

// HTTPURL returns "http://host:port" of the daemon's HTTP listener.
func (d *Daemon) HTTPURL() string { return "http://" + d.HTTPAddr().String() }

// WaitFor polls cond every few milliseconds until it returns true or
// timeout passes, then fails the test with msg. Call it from the test
// goroutine only.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	if _, err := Poll(timeout, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}); err != nil {
		t.Fatalf("timed out after %s waiting for %s", timeout, msg)
	}
}

var errNotYet = errors.New("condition not met")

// Poll calls cond every 5 ms until it returns nil or timeout has passed
// (cond runs once more at the deadline), and returns how long that took
// and cond's last error, nil if cond held. It blocks for at most about
// timeout plus one call of cond, and never fails the test, so any
// goroutine may call it.
func Poll(timeout time.Duration, cond func() error) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return time.Since(start), err
		}
		<-tick.C
	}
}

// Get performs an HTTP GET and returns the status and body.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	return Do(t, http.MethodGet, url)
}

// Post performs an HTTP POST with an empty body and returns the status and
// body.
func Post(t testing.TB, url string) (int, []byte) {
	t.Helper()
	return Do(t, http.MethodPost, url)
}

// Do performs an HTTP request with method and an empty body, and returns
// the status and body (at most 64 MiB). It fails the test if the request
// cannot be made; call it from the test goroutine.
func Do(t testing.TB, method, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, body
}

// GetJSON performs a GET, requires status 200 and decodes the body into v.
func GetJSON(t testing.TB, url string, v any) {
	t.Helper()
	code, body := Get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d, body %s", url, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: decode %s: %v", url, body, err)
	}
}

// LookupProducers returns "broadcast_address:tcp_port" of every producer
// /lookup lists for topic on the lookupd at httpAddr, or nil on 404.
func LookupProducers(t testing.TB, httpAddr, topic string) []string {
	t.Helper()
	code, body := Get(t, "http://"+httpAddr+"/lookup?topic="+topic)
	if code == http.StatusNotFound {
		return nil
	}
	var out struct {
		Producers []struct {
			BroadcastAddress string `json:"broadcast_address"`
			TCPPort          int    `json:"tcp_port"`
		} `json:"producers"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
		t.Fatalf("lookup %s on %s: status %d body %s", topic, httpAddr, code, body)
	}
	res := make([]string, 0, len(out.Producers))
	for _, p := range out.Producers {
		res = append(res, fmt.Sprintf("%s:%d", p.BroadcastAddress, p.TCPPort))
	}
	return res
}

// Conn is a scripted V1 connection, the producer end, for tests. Its methods fail the test on I/O
// errors, so call them from the test goroutine only.
type Conn struct {
	t    testing.TB
	Conn net.Conn
	r    *bufio.Reader
}

// Dial connects to a lookupd TCP address and sends the V1 magic.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	c := DialRaw(t, addr)
	c.Write([]byte(wire.MagicV1))
	return c
}

// DialRaw connects without sending anything.
func DialRaw(t testing.TB, addr string) *Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Conn{t: t, Conn: c, r: bufio.NewReader(c)}
}

// Write sends raw bytes.
func (c *Conn) Write(b []byte) {
	c.t.Helper()
	c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// Read reads one framed response.
func (c *Conn) Read() []byte {
	c.t.Helper()
	resp, err := c.TryRead()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return resp
}

// TryRead reads one framed response, returning errors instead of failing.
func (c *Conn) TryRead() ([]byte, error) {
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	return wire.ReadResponse(c.r, 1<<20)
}

// Command sends raw command bytes and returns the response.
func (c *Conn) Command(b []byte) []byte {
	c.t.Helper()
	c.Write(b)
	return c.Read()
}

// Identify sends IDENTIFY with info and returns the reply.
func (c *Conn) Identify(info wire.ProducerInfo) []byte {
	c.t.Helper()
	b, err := wire.EncodeIdentify(info)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Command(b)
}

// Register sends REGISTER and returns the reply.
func (c *Conn) Register(topic, channel string) []byte {
	c.t.Helper()
	return c.Command(wire.EncodeRegister(topic, channel))
}

// Unregister sends UNREGISTER and returns the reply.
func (c *Conn) Unregister(topic, channel string) []byte {
	c.t.Helper()
	return c.Command(wire.EncodeUnregister(topic, channel))
}

// Ping sends PING and returns the reply.
func (c *Conn) Ping() []byte {
	c.t.Helper()
	return c.Command(wire.EncodePing())
}

// ExpectClosed waits until the server closes the connection.
func (c *Conn) ExpectClosed() {
	c.t.Helper()
	c.Conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err := c.r.Read(b[:])
	if err == nil {
		c.t.Fatalf("expected closed connection, read a byte")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatalf("expected closed connection, still open")
	}
}

// Close closes the connection.
func (c *Conn) Close() { c.Conn.Close() }

// ProducerInfo returns an IDENTIFY body for a fake producer on 127.0.0.1 with
// the given TCP port (HTTP port is tcp+1).
func ProducerInfo(tcpPort int) wire.ProducerInfo {
	return wire.ProducerInfo{
		BroadcastAddress: "127.0.0.1",
		Hostname:         "test-host",
		TCPPort:          tcpPort,
		HTTPPort:         tcpPort + 1,
		Version:          "1.3.0",
	}
}

// StartSamePorts runs one lookupd on each of hosts (loopback addresses
// such as "127.0.0.2"), all on the same TCP port and the same HTTP port,
// as lookupds behind one DNS name are. configure, if not nil, adjusts each
// one's options (Options(t) with the host's addresses). It fails the test
// if no common free ports turn up in a few tries.
func StartSamePorts(t testing.TB, hosts []string, configure func(*lookup.Options)) []*Daemon {
	t.Helper()
	for range 20 {
		var srvs []*lookup.Server
		tcpPort, httpPort := "0", "0"
		for _, h := range hosts {
			o := Options(t)
			o.TCPAddress, o.HTTPAddress, o.BroadcastAddress = net.JoinHostPort(h, tcpPort), net.JoinHostPort(h, httpPort), h
			if configure != nil {
				configure(o)
			}
			srv, err := lookup.New(o)
			if err != nil {
				break // a port taken on this host: try other ports
			}
			srvs = append(srvs, srv)
			tcpPort, httpPort = fmt.Sprint(srv.TCPAddr().Port), fmt.Sprint(srv.HTTPAddr().Port)
		}
		if len(srvs) < len(hosts) {
			for _, s := range srvs {
				s.Close()
			}
			continue
		}
		out := make([]*Daemon, len(srvs))
		for i, srv := range srvs {
			out[i] = run(t, srv)
		}
		return out
	}
	t.Fatalf("no common free ports on %v", hosts)
	return nil
}
