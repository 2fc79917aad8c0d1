package lookup_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/wire"
)

// hardenedOptions are lookuptest's options with tight limits, so that each
// can be hit cheaply.
func hardenedOptions(t *testing.T) *lookup.Options {
	o := lookuptest.Options(t)
	o.MaxIdentifyBodySize = 1024
	o.MaxCommandLength = 256
	o.MaxTCPClients = 4
	o.MaxRegistrationsPerProducer = 4
	return o
}

type tcpStats struct {
	Producers int `json:"producers"`
	TCP       struct {
		Open     int64 `json:"open"`
		Rejected int64 `json:"rejected"`
		Errors   int64 `json:"errors"`
		Timeouts int64 `json:"idle_timeouts"`
	} `json:"tcp"`
}

func stats(t *testing.T, srv *lookup.Server) tcpStats {
	t.Helper()
	var s tcpStats
	lookuptest.GetJSON(t, "http://"+srv.HTTPAddr().String()+"/stats", &s)
	return s
}

// expectServing checks that the daemon answers HTTP and that the kept
// producer is still connected, registered and listed.
func expectServing(t *testing.T, srv *lookup.Server, keep *lookuptest.Conn) {
	t.Helper()
	if code, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/ping"); code != 200 || string(body) != "OK" {
		t.Fatalf("/ping: %d %q", code, body)
	}
	if got := string(keep.Ping()); got != "OK" {
		t.Fatalf("kept producer PING: %q", got)
	}
	got := lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "kept")
	if len(got) != 1 || got[0] != "127.0.0.1:5000" {
		t.Fatalf("kept producer's registration: %v", got)
	}
	var ch struct{ Channels []string }
	lookuptest.GetJSON(t, "http://"+srv.HTTPAddr().String()+"/channels?topic=kept", &ch)
	if len(ch.Channels) != 1 || ch.Channels[0] != "ch" {
		t.Fatalf("kept channel: %v", ch.Channels)
	}
}

// Each attack nsqlookupd v1.3.0 is open to gets an error or a closed
// connection from us, and leaves the daemon and other producers alone.
// This extends TestServer_NegativeIdentifyLength (the plain -1 length) with
// the other lengths, over-long lines and floods, under tight limits.
func TestHardening_AttacksLeaveDaemonServing(t *testing.T) {
	srv := lookuptest.Start(t, hardenedOptions(t))
	tcpAddr := srv.TCPAddr().String()
	keep := lookuptest.Dial(t, tcpAddr)
	keep.Identify(lookuptest.ProducerInfo(5000))
	if got := string(keep.Register("kept", "ch")); got != "OK" {
		t.Fatalf("register kept: %q", got)
	}

	fatal := []struct {
		name string
		send []byte
		want string
	}{
		{"most negative identify length", []byte("  V1IDENTIFY\n\x80\x00\x00\x00"), "E_BAD_BODY IDENTIFY invalid body size -2147483648"},
		{"identify length just over the cap", []byte("  V1IDENTIFY\n\x00\x00\x04\x01"), "E_BAD_BODY IDENTIFY invalid body size 1025"},
		{"2 GiB identify length", []byte("  V1IDENTIFY\n\x7f\xff\xff\xff"), "E_BAD_BODY IDENTIFY invalid body size 2147483647"},
		{"hostile second identify", nil, ""},
		{"command line over the cap", append([]byte("  V1"), bytes.Repeat([]byte("R"), 256)...), "E_INVALID command exceeds 256 bytes"},
	}
	for _, tc := range fatal {
		t.Run(tc.name, func(t *testing.T) {
			p := lookuptest.DialRaw(t, tcpAddr)
			if tc.send == nil {
				// An identified producer with registrations sends a second,
				// hostile IDENTIFY: it loses its own registrations only.
				p.Write([]byte(wire.MagicV1))
				p.Identify(lookuptest.ProducerInfo(6000))
				p.Register("victim", "")
				if got := lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "victim"); len(got) != 1 {
					t.Fatalf("victim not registered: %v", got)
				}
				// The length word is not read, so it is not sent: unread
				// input would turn the close into a reset racing the reply.
				tc.send = []byte("IDENTIFY\n")
				tc.want = "E_INVALID cannot IDENTIFY again"
			}
			p.Write(tc.send)
			if got := string(p.Read()); got != tc.want {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			p.ExpectClosed()
			expectServing(t, srv, keep)
		})
	}
	lookuptest.WaitFor(t, 5*time.Second, "the hostile producer's registration removed", func() bool {
		return len(lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "victim")) == 0
	})

	t.Run("a megabyte without a newline", func(t *testing.T) {
		p := lookuptest.Dial(t, tcpAddr)
		var wg sync.WaitGroup
		wg.Go(func() {
			p.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			p.Conn.Write(bytes.Repeat([]byte("x"), 1<<20)) // fails once the server hangs up
		})
		// The reply can be lost to the reset caused by unread input; the
		// close is what matters, and it comes long before any timeout.
		if resp, err := p.TryRead(); err == nil && string(resp) != "E_INVALID command exceeds 256 bytes" {
			t.Errorf("reply %q", resp)
		}
		p.ExpectClosed()
		p.Close()
		wg.Wait()
		expectServing(t, srv, keep)
	})

	t.Run("registration flood", func(t *testing.T) {
		p := lookuptest.Dial(t, tcpAddr)
		p.Identify(lookuptest.ProducerInfo(7000))
		for i, topic := range []string{"f1", "f2", "f3", "f4", "f5", "f6"} {
			got := string(p.Register(topic, ""))
			want := "OK"
			if i >= 4 {
				want = "E_INVALID REGISTER too many registrations"
			}
			if got != want {
				t.Fatalf("REGISTER %s: %q, want %q", topic, got, want)
			}
		}
		// Not fatal: the producer keeps its connection and registrations.
		if got := string(p.Ping()); got != "OK" {
			t.Fatalf("PING after the cap: %q", got)
		}
		if got := lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "f4"); len(got) != 1 {
			t.Fatalf("f4 producers %v", got)
		}
		if code, _ := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/lookup?topic=f5"); code != http.StatusNotFound {
			t.Fatalf("refused topic f5: status %d, want 404", code)
		}
		p.Close()
		expectServing(t, srv, keep)
	})

	t.Run("connection flood", func(t *testing.T) {
		lookuptest.WaitFor(t, 5*time.Second, "only the kept connection open", func() bool { return stats(t, srv).TCP.Open == 1 })
		before := stats(t, srv).TCP.Rejected
		for range 3 { // up to MaxTCPClients with keep
			p := lookuptest.Dial(t, tcpAddr)
			if got := string(p.Ping()); got != "OK" {
				t.Fatalf("PING within the cap: %q", got)
			}
		}
		extra := lookuptest.DialRaw(t, tcpAddr)
		extra.ExpectClosed()
		lookuptest.WaitFor(t, 5*time.Second, "the refusal counted", func() bool { return stats(t, srv).TCP.Rejected == before+1 })
		expectServing(t, srv, keep)
	})

	if s := stats(t, srv); s.TCP.Errors < int64(len(fatal)+2) {
		t.Fatalf("errors counted %d, want at least %d", s.TCP.Errors, len(fatal)+2)
	}
}

// A producer whose host vanishes without closing the connection is
// dropped after the idle timeout, registrations and all.
func TestHardening_IdleProducerRemoved(t *testing.T) {
	o := lookuptest.Options(t)
	o.InactiveProducerTimeout = 100 * time.Millisecond // idle timeout: twice that
	srv := lookuptest.Start(t, o)
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(5000))
	p.Register("ghost", "ch")
	if s := stats(t, srv); s.Producers != 1 {
		t.Fatalf("producers %d, want 1", s.Producers)
	}
	lookuptest.WaitFor(t, 5*time.Second, "the silent producer removed", func() bool { return stats(t, srv).Producers == 0 })
	p.ExpectClosed()
	lookuptest.WaitFor(t, 5*time.Second, "one idle timeout counted, nothing open", func() bool {
		s := stats(t, srv)
		return s.TCP.Timeouts == 1 && s.TCP.Open == 0
	})
	var nodes struct{ Producers []any }
	lookuptest.GetJSON(t, "http://"+srv.HTTPAddr().String()+"/nodes", &nodes)
	if len(nodes.Producers) != 0 {
		t.Fatalf("/nodes lists a ghost: %v", nodes.Producers)
	}
}

// A client that starts a request header and stalls is disconnected after
// the read timeout.
func TestHardening_HTTPSlowHeader(t *testing.T) {
	const timeout = 300 * time.Millisecond
	o := lookuptest.Options(t)
	o.HTTPReadTimeout = timeout
	srv := lookuptest.Start(t, o)

	begin := time.Now()
	c, err := net.DialTimeout("tcp", srv.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET /ping HTTP/1.1\r\nHost: lookupd\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a stalled request header kept its connection for 5 s (read %d bytes)", n)
	}
	if d := time.Since(begin); d < timeout {
		t.Fatalf("disconnected after %s, before the %s timeout", d, timeout)
	}
	if code, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/ping"); code != 200 || string(body) != "OK" {
		t.Fatalf("/ping after a stalled client: %d %q", code, body)
	}
}

func TestHardening_HTTPOversizedHeader(t *testing.T) {
	o := lookuptest.Options(t)
	o.HTTPMaxHeaderBytes = 1024
	srv := lookuptest.Start(t, o)

	c, err := net.DialTimeout("tcp", srv.HTTPAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// Past the limit and net/http's 4 KiB of slack, small enough to be
	// written before the server answers.
	req := "GET /ping HTTP/1.1\r\nHost: lookupd\r\nX-Big: " + strings.Repeat("b", 16<<10) + "\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	// A header within the limit is served.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	r, err := http.NewRequest("GET", "http://"+srv.HTTPAddr().String()+"/ping", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("X-Small", strings.Repeat("s", 512))
	ok, err := hc.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	ok.Body.Close()
	if ok.StatusCode != 200 {
		t.Fatalf("small header: status %d", ok.StatusCode)
	}
}

// Run returns nil well within ShutdownTimeout although TCP producers and
// an idle keep-alive HTTP client are connected, closes all of them, and
// leaves no goroutine behind.
func TestHardening_GracefulShutdown(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	o := lookuptest.Options(t)
	o.ShutdownTimeout = 5 * time.Second
	d := lookuptest.StartDaemon(t, o)
	tcpAddr, httpAddr := d.TCPAddr().String(), d.HTTPAddr().String()

	var conns []*lookuptest.Conn
	for i := range 3 {
		p := lookuptest.Dial(t, tcpAddr)
		p.Identify(lookuptest.ProducerInfo(5000 + 10*i))
		p.Register("orders", "ch")
		conns = append(conns, p)
	}
	silent := lookuptest.DialRaw(t, tcpAddr) // never says anything

	// An idle keep-alive connection, seen from the wire.
	ka, err := net.DialTimeout("tcp", httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ka.Close()
	ka.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(ka, "GET /topics HTTP/1.1\r\nHost: lookupd\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	kr := bufio.NewReader(ka)
	resp, err := http.ReadResponse(kr, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close || string(body) != `{"topics":["orders"]}` {
		t.Fatalf("keep-alive request: %d close=%v %s", resp.StatusCode, resp.Close, body)
	}
	// And a pooled connection of a Go client.
	tr := &http.Transport{}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	r, err := hc.Get("http://" + httpAddr + "/nodes")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()

	begin := time.Now()
	d.Stop() // fails the test if Run returns an error
	if el := time.Since(begin); el >= o.ShutdownTimeout {
		t.Fatalf("Run took %s to return, not less than ShutdownTimeout %s", el, o.ShutdownTimeout)
	}
	for _, p := range append(conns, silent) {
		p.ExpectClosed()
	}
	if b, err := kr.ReadByte(); err == nil {
		t.Fatalf("keep-alive connection still open after shutdown (read %q)", b)
	}
	if _, err := net.DialTimeout("tcp", tcpAddr, time.Second); err == nil {
		t.Fatal("TCP listener still accepting after shutdown")
	}
	tr.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}
