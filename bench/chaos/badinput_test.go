//go:build linux

package chaos

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// Limits the bad-input daemon runs with (defaults except where a case
// needs a small one).
const (
	badMaxRegistrations = 8
	badMaxTCPClients    = 2100
	badHalfOpen         = 2000 // per port
	badSlowConns        = 20   // per port
	badSlowFor          = 3    // seconds, one byte per second
)

// badResult is one row of the bad-input table.
type badResult struct {
	name, port, want, got string
	reply                 time.Duration // until the answer (or close)
	intact                bool
}

// TestBadInput sends every kind of bad input to both ports of a lookupd
// process, one case at a time, and checks that each gets its documented
// error (README "Compatibility", lookup/wire texts, the HTTP API table),
// that the daemon keeps serving, and that a producer registered before
// the case is untouched after it.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("opens thousands of connections; skipped with -short")
	}
	raiseNoFile(t, 4*badHalfOpen+4096)
	d := startLookupd(t, "lookupd-bad",
		fmt.Sprintf("--max-registrations-per-producer=%d", badMaxRegistrations),
		fmt.Sprintf("--max-tcp-clients=%d", badMaxTCPClients),
		// The half-open case holds its connections for as long as the
		// run takes, which may pass the default 10 s on a loaded machine.
		"--handshake-timeout=5m")
	keep, err := dialProducer(d.tcpAddr, 4150, "keep", "c")
	if err != nil {
		t.Fatal(err)
	}
	defer keep.c.Close()
	base := d.stats(t)
	var rows []badResult

	// TCP cases: the bytes sent, whether to half-close after them, and the
	// replies expected (the last one an error, after which the daemon
	// closes the connection unless open is set).
	magic := "  V1"
	ident := identifyBytes(t, map[string]any{"broadcast_address": "127.0.0.1", "hostname": "bad", "tcp_port": 4250, "http_port": 4251, "version": "1.3.0"})
	identBody := func(body string) string {
		return "IDENTIFY\n" + string(binary.BigEndian.AppendUint32(nil, uint32(len(body)))) + body
	}
	identSize := func(n uint32) string { return "IDENTIFY\n" + string(binary.BigEndian.AppendUint32(nil, n)) }
	rng := rand.New(rand.NewPCG(6, 6))
	garbage := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return string(b)
	}
	var capCmds, capWant []string
	capWant = append(capWant, "{identify}")
	for i := range badMaxRegistrations + 1 {
		capCmds = append(capCmds, fmt.Sprintf("REGISTER cap-%d\n", i))
		capWant = append(capWant, "OK")
	}
	capWant[len(capWant)-1] = "E_INVALID REGISTER too many registrations"
	capWant = append(capWant, "OK")
	tcpCases := []struct {
		name       string
		send       string
		closeWrite bool
		open       bool // the connection must stay open
		want       []string
		prefix     bool // the last reply need only start with its want
	}{
		{name: "bad magic", send: "  V2PING\n", want: []string{"E_BAD_PROTOCOL"}},
		{name: "binary garbage instead of magic", send: "\x00\xff\x13\x37" + garbage(60), want: []string{"E_BAD_PROTOCOL"}},
		{name: "empty command", send: magic + "\n", want: []string{"E_INVALID invalid command "}},
		{name: "unknown command", send: magic + "FOO bar\n", want: []string{"E_INVALID invalid command FOO"}},
		{name: "lower-case command", send: magic + "ping\n", want: []string{"E_INVALID invalid command ping"}},
		{name: "REGISTER before IDENTIFY", send: magic + "REGISTER t\n", want: []string{"E_INVALID client must IDENTIFY"}},
		{name: "UNREGISTER before IDENTIFY", send: magic + "UNREGISTER t\n", want: []string{"E_INVALID client must IDENTIFY"}},
		{name: "REGISTER without topic", send: magic + ident + "REGISTER\n", want: []string{"{identify}", "E_INVALID REGISTER insufficient number of params"}},
		{name: "REGISTER bad topic", send: magic + ident + "REGISTER a!b\n", want: []string{"{identify}", "E_BAD_TOPIC REGISTER topic name 'a!b' is not valid"}},
		{name: "REGISTER 65-byte topic", send: magic + ident + "REGISTER " + strings.Repeat("t", 65) + "\n", want: []string{"{identify}", "E_BAD_TOPIC REGISTER topic name '" + strings.Repeat("t", 65) + "' is not valid"}},
		{name: "REGISTER double space", send: magic + ident + "REGISTER  t\n", want: []string{"{identify}", "E_BAD_TOPIC REGISTER topic name '' is not valid"}},
		{name: "REGISTER bad channel", send: magic + ident + "REGISTER t c!\n", want: []string{"{identify}", "E_BAD_CHANNEL REGISTER channel name 'c!' is not valid"}},
		{name: "UNREGISTER bad topic", send: magic + ident + "UNREGISTER #ephemeral\n", want: []string{"{identify}", "E_BAD_TOPIC UNREGISTER topic name '#ephemeral' is not valid"}},
		{name: "good REGISTER then bad one", send: magic + ident + "REGISTER gone c\nREGISTER x y!\n", want: []string{"{identify}", "OK", "E_BAD_CHANNEL REGISTER channel name 'y!' is not valid"}},
		{name: "IDENTIFY twice", send: magic + ident + ident, want: []string{"{identify}", "E_INVALID cannot IDENTIFY again"}},
		{name: "IDENTIFY negative length", send: magic + identSize(0xffffffff), want: []string{"E_BAD_BODY IDENTIFY invalid body size -1"}},
		{name: "IDENTIFY length 2^31-1", send: magic + identSize(0x7fffffff), want: []string{"E_BAD_BODY IDENTIFY invalid body size 2147483647"}},
		{name: "IDENTIFY length above limit", send: magic + identSize(64*1024+1), want: []string{"E_BAD_BODY IDENTIFY invalid body size 65537"}},
		{name: "IDENTIFY truncated length", send: magic + "IDENTIFY\n\x00\x00", closeWrite: true, want: []string{"E_BAD_BODY IDENTIFY failed to read body size"}},
		{name: "IDENTIFY truncated body", send: magic + identSize(100) + `{"broadcast_address":`, closeWrite: true, want: []string{"E_BAD_BODY IDENTIFY failed to read body"}},
		{name: "IDENTIFY body not JSON", send: magic + identBody("not json"), want: []string{"E_BAD_BODY IDENTIFY failed to decode JSON body"}},
		{name: "IDENTIFY missing fields", send: magic + identBody(`{"broadcast_address":"x","tcp_port":1}`), want: []string{"E_BAD_BODY IDENTIFY missing fields"}},
		{name: "IDENTIFY port above 65535", send: magic + identBody(`{"broadcast_address":"x","tcp_port":70000,"http_port":1,"version":"1"}`), want: []string{"E_BAD_BODY IDENTIFY invalid port"}},
		{name: "IDENTIFY negative port", send: magic + identBody(`{"broadcast_address":"x","tcp_port":1,"http_port":-1,"version":"1"}`), want: []string{"E_BAD_BODY IDENTIFY invalid port"}},
		{name: "1 MiB line without newline", send: magic + strings.Repeat("A", 1<<20), want: []string{"E_INVALID command exceeds 4096 bytes"}},
		{name: "64 KiB binary garbage after magic", send: magic + garbage(64<<10), want: []string{"E_INVALID "}, prefix: true},
		{name: "registration cap (not fatal)", send: magic + ident + strings.Join(capCmds, "") + "PING\n", open: true, want: capWant},
	}
	for _, tc := range tcpCases {
		t0 := time.Now()
		replies, closed, err := tcpExchange(d.tcpAddr, tc.send, tc.closeWrite, len(tc.want), tc.open)
		took := time.Since(t0)
		shown := slices.Clone(replies)
		for i, r := range shown {
			if strings.HasPrefix(r, "{") {
				shown[i] = "{identify}"
			}
		}
		got := strings.Join(shown, " | ")
		if err != nil {
			got += " (" + err.Error() + ")"
		}
		ok := len(replies) == len(tc.want)
		for i := range replies {
			w := tc.want[i]
			switch {
			case !ok:
			case w == "{identify}":
				ok = strings.HasPrefix(replies[i], "{")
			case tc.prefix && i == len(replies)-1:
				ok = strings.HasPrefix(replies[i], w)
			default:
				ok = replies[i] == w
			}
		}
		if !tc.open && !closed {
			ok = false
			got += " (not closed)"
		}
		if tc.open && closed {
			ok = false
			got += " (closed)"
		}
		if !ok {
			t.Errorf("tcp %s: got %s, want %q", tc.name, clip(got), tc.want)
		}
		rows = append(rows, badResult{name: tc.name, port: "tcp", want: clip(strings.Join(tc.want, " | ")), got: clip(got), reply: took,
			intact: checkIntact(t, d, keep, base, "tcp "+tc.name)})
	}

	// HTTP cases, sent as raw bytes: the status and body expected.
	req := func(method, target string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: lookupd\r\nConnection: close\r\n\r\n"
	}
	manyParams := "/lookup?topic=keep" + strings.Repeat("&x=1", 10000)
	httpCases := []struct {
		name, send string
		status     int
		body       string
	}{
		{name: "lookup without topic", send: req("GET", "/lookup"), status: 400, body: `{"message":"MISSING_ARG_TOPIC"}`},
		{name: "lookup of unknown topic", send: req("GET", "/lookup?topic=nope"), status: 404, body: `{"message":"TOPIC_NOT_FOUND"}`},
		{name: "lookup with bad escape", send: req("GET", "/lookup?topic=%zz"), status: 400, body: `{"message":"INVALID_REQUEST"}`},
		{name: "lookup with semicolon", send: req("GET", "/lookup?topic=a;b"), status: 400, body: `{"message":"INVALID_REQUEST"}`},
		{name: "lookup with 10,001 params", send: req("GET", manyParams), status: 400, body: `{"message":"INVALID_REQUEST"}`},
		{name: "channels without topic", send: req("GET", "/channels"), status: 400, body: `{"message":"MISSING_ARG_TOPIC"}`},
		{name: "unknown path", send: req("GET", "/nope"), status: 404, body: `{"message":"NOT_FOUND"}`},
		{name: "wrong method", send: req("PUT", "/lookup?topic=keep"), status: 405, body: `{"message":"METHOD_NOT_ALLOWED"}`},
		{name: "create bad topic", send: req("POST", "/topic/create?topic=bad!"), status: 400, body: `{"message":"INVALID_ARG_TOPIC"}`},
		{name: "create without topic", send: req("POST", "/topic/create"), status: 400, body: `{"message":"MISSING_ARG_TOPIC"}`},
		{name: "channel without channel", send: req("POST", "/channel/create?topic=keep"), status: 400, body: `{"message":"MISSING_ARG_CHANNEL"}`},
		{name: "channel bad channel", send: req("POST", "/channel/create?topic=keep&channel=bad!"), status: 400, body: `{"message":"INVALID_ARG_CHANNEL"}`},
		{name: "delete missing channel", send: req("POST", "/channel/delete?topic=keep&channel=nope"), status: 404, body: `{"message":"CHANNEL_NOT_FOUND"}`},
		{name: "tombstone without node", send: req("POST", "/topic/tombstone?topic=keep"), status: 400, body: `{"message":"MISSING_ARG_NODE"}`},
		{name: "1 MiB request line", send: req("GET", "/lookup?topic="+strings.Repeat("a", 1<<20)), status: 431, body: "431 Request Header Fields Too Large"},
		{name: "100 KiB header", send: "GET /ping HTTP/1.1\r\nHost: lookupd\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n", status: 431, body: "431 Request Header Fields Too Large"},
		{name: "malformed request line", send: "GARBAGE\r\n\r\n", status: 400, body: "400 Bad Request"},
		{name: "HTTP/1.1 without Host", send: "GET /ping HTTP/1.1\r\n\r\n", status: 400, body: "400 Bad Request: missing required Host header"},
		{name: "binary garbage", send: "\x00\x01\x02\xff" + garbage(4096) + "\r\n\r\n", status: 400, body: "400 Bad Request"},
	}
	for _, tc := range httpCases {
		t0 := time.Now()
		status, body, err := httpExchange(d.httpAddr, tc.send)
		took := time.Since(t0)
		got := fmt.Sprintf("%d %s", status, body)
		if err != nil {
			got += " (" + err.Error() + ")"
		}
		if status != tc.status || body != tc.body {
			t.Errorf("http %s: got %s, want %d %s", tc.name, clip(got), tc.status, tc.body)
		}
		rows = append(rows, badResult{name: tc.name, port: "http", want: fmt.Sprintf("%d %s", tc.status, tc.body), got: clip(got), reply: took,
			intact: checkIntact(t, d, keep, base, "http "+tc.name)})
	}

	rows = append(rows, halfOpen(t, d, keep, base)...)
	rows = append(rows, slowConns(t, d, keep, base))

	var b strings.Builder
	fmt.Fprintf(&b, "bad input against a lookupd process (%d cases):\n", len(rows))
	fmt.Fprintf(&b, "  %-4s %-36s %-9s %-6s %s\n", "port", "case", "answer in", "intact", "answer")
	for _, r := range rows {
		fmt.Fprintf(&b, "  %-4s %-36s %9s %-6v %s\n", r.port, r.name, r.reply.Round(10*time.Microsecond), r.intact, r.got)
	}
	t.Log(b.String())
}

// clip shortens s for reports.
func clip(s string) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > 110 {
		return s[:110] + fmt.Sprintf("...(%d bytes)", len(s))
	}
	return s
}

// identifyBytes returns IDENTIFY with a JSON body, as go-nsq encodes it.
func identifyBytes(t *testing.T, body map[string]any) string {
	t.Helper()
	cmd, err := nsq.Identify(body)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := cmd.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// tcpExchange sends payload on a new connection (writing concurrently with
// reading, since the daemon may answer and close before it has read it
// all), half-closes if asked, and reads up to n replies. Unless open is
// set it then waits for the daemon to close the connection. With open
// set, it closes the connection itself after n replies.
func tcpExchange(addr, payload string, closeWrite bool, n int, open bool) (replies []string, closed bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, payload); err == nil && closeWrite {
			_ = c.(*net.TCPConn).CloseWrite()
		}
	})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	for len(replies) < n {
		b, err := nsq.ReadResponse(r)
		if err != nil {
			return replies, false, err
		}
		replies = append(replies, string(b))
	}
	if open {
		return replies, false, nil
	}
	// The daemon must close now: EOF (or a reset, when it closed with
	// unread input) and no further reply.
	b, err := nsq.ReadResponse(r)
	switch {
	case err == nil:
		return append(replies, string(b)), false, errors.New("extra reply")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		return replies, true, nil
	}
	return replies, false, err
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && strings.Contains(op.Err.Error(), "connection reset")
}

// httpExchange sends raw bytes on a new connection (concurrently with
// reading) and returns the status and body of the reply.
func httpExchange(addr, raw string) (int, string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.WriteString(c, raw)
	})
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body), err
}

// checkIntact verifies that the daemon still serves and that the producer
// registered before the case is untouched: its PING is answered, /lookup
// lists exactly it with its channel, and /stats is back to the baseline
// (the case's own connection cleaned up; a negative base.TCP.Open skips
// the count of open connections). It reports through t and returns
// whether all held.
func checkIntact(t *testing.T, d *daemon, keep *producerConn, base stats, what string) bool {
	t.Helper()
	_ = keep.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := keep.c.Write([]byte("PING\n")); err != nil {
		t.Errorf("after %s: PING from the registered producer: %v", what, err)
		return false
	}
	if b, err := nsq.ReadResponse(keep.r); err != nil || string(b) != "OK" {
		t.Errorf("after %s: PING answered %q, %v", what, b, err)
		return false
	}
	code, body, err := d.get(t.Context(), "/lookup?topic=keep")
	var a lookupAnswer
	if err == nil && code == http.StatusOK {
		a, err = decodeLookup(body)
	}
	if err != nil || code != http.StatusOK || !slices.Equal(sortedKeys(a.channels), []string{"c"}) ||
		!slices.Equal(sortedKeys(a.producers), []string{"127.0.0.1:4150"}) {
		t.Errorf("after %s: /lookup?topic=keep = %d %s %v", what, code, body, err)
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := d.stats(t)
		if s.Producers == base.Producers && s.Registrations == base.Registrations && (base.TCP.Open < 0 || s.TCP.Open == base.TCP.Open) {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("after %s: /stats shows %d producers, %d registrations, %d open connections; before: %d, %d, %d",
				what, s.Producers, s.Registrations, s.TCP.Open, base.Producers, base.Registrations, base.TCP.Open)
			return false
		}
		_ = proc.Sleep(t.Context(), 10*time.Millisecond)
	}
}

// halfOpen opens badHalfOpen connections on each port that never finish
// their first message, checks that the daemon serves normally meanwhile,
// that the TCP connection cap refuses the excess at once, and that
// everything is released when they close.
func halfOpen(t *testing.T, d *daemon, keep *producerConn, base stats) []badResult {
	t.Helper()
	partial := []string{"", " ", "  V", "  V1", "  V1PIN", "  V1IDENTIFY\n\x00\x00"}
	httpPartial := []string{"", "GET", "GET /lookup?topic=keep HTTP/1.1\r\n", "GET /ping HTTP/1.1\r\nHost: x\r\n"}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Each connection comes from an address of its own (proc.HostAddr),
	// so that the global caps are what is tested here, not
	// --max-tcp-clients-per-ip.
	host := 100000
	open := func(addr, first string) error {
		host++
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: proc.HostAddr(host)}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return err
		}
		conns = append(conns, c)
		if first != "" {
			_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			_, err = io.WriteString(c, first)
		}
		return err
	}
	t0 := time.Now()
	for i := range badHalfOpen {
		if err := open(d.tcpAddr, partial[i%len(partial)]); err != nil {
			t.Fatalf("half-open tcp %d: %v", i, err)
		}
		if err := open(d.httpAddr, httpPartial[i%len(httpPartial)]); err != nil {
			t.Fatalf("half-open http %d: %v", i, err)
		}
	}
	opened := time.Since(t0)
	var s stats
	lookuptest.WaitFor(t, 10*time.Second, "every half-open tcp connection to be accepted", func() bool {
		s = d.stats(t)
		return s.TCP.Open == base.TCP.Open+badHalfOpen
	})
	// While they hang: a lookup, the registered producer, a new producer.
	t1 := time.Now()
	ok := checkIntact(t, d, keep, stats{Producers: base.Producers, Registrations: base.Registrations, TCP: s.TCP}, "opening half-open connections")
	np, err := dialProducer(d.tcpAddr, 4350, "keep", "c")
	if err != nil {
		t.Errorf("new producer while %d connections hang: %v", badHalfOpen, err)
		ok = false
	} else {
		np.c.Close()
	}
	served := time.Since(t1)
	rows := []badResult{{
		name: fmt.Sprintf("%d half-open conns per port", badHalfOpen), port: "both",
		want: "held open; others served",
		got:  fmt.Sprintf("opened in %s; lookup+PING+new producer served in %s", opened.Round(time.Millisecond), served.Round(time.Millisecond)),
	}}

	// Past --max-tcp-clients the excess is closed at once.
	lookuptest.WaitFor(t, 5*time.Second, "the new producer's connection to close", func() bool { return d.stats(t).TCP.Open == base.TCP.Open+badHalfOpen })
	before := d.stats(t)
	extra := badMaxTCPClients - int(before.TCP.Open) + 50
	t2 := time.Now()
	for range extra {
		if err := open(d.tcpAddr, ""); err != nil {
			t.Fatalf("extra connection: %v", err)
		}
	}
	var after stats
	lookuptest.WaitFor(t, 10*time.Second, "the connection cap to refuse the excess", func() bool {
		after = d.stats(t)
		return after.TCP.Rejected-before.TCP.Rejected >= 50 && after.TCP.Open == badMaxTCPClients
	})
	rejected := after.TCP.Rejected - before.TCP.Rejected
	got := fmt.Sprintf("open %d (cap %d), %d of %d refused, in %s", after.TCP.Open, badMaxTCPClients, rejected, extra, time.Since(t2).Round(time.Millisecond))
	if rejected != 50 {
		t.Errorf("cap: %s, want 50 refused", got)
	}
	rows = append(rows, badResult{name: "connections past --max-tcp-clients", port: "tcp", want: "closed at once", got: got})

	t3 := time.Now()
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	rows[0].intact = ok && checkIntact(t, d, keep, base, "closing half-open connections")
	rows[1].intact = rows[0].intact
	rows[1].reply = time.Since(t3)
	return rows
}

// slowConns sends a valid request one byte per second on badSlowConns
// connections per port for badSlowFor seconds, then the rest at once, and
// checks each is answered and that the daemon served others meanwhile.
func slowConns(t *testing.T, d *daemon, keep *producerConn, base stats) badResult {
	t.Helper()
	type slow struct {
		addr, msg string
		http      bool
	}
	var all []slow
	for range badSlowConns {
		all = append(all, slow{addr: d.tcpAddr, msg: "  V1PING\n"}, slow{addr: d.httpAddr, msg: "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", http: true})
	}
	results := make(chan error, len(all))
	t0 := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, s := range all {
		wg.Go(func() { results <- slowExchange(s.addr, s.msg, s.http) })
	}
	// Meanwhile the daemon serves others: measure the slowest check.
	var worst time.Duration
	var errs []error
	checks := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	ok := true
	for answered := 0; answered < len(all); {
		select {
		case err := <-results:
			answered++
			if err != nil {
				errs = append(errs, err)
			}
			continue
		case <-tick.C:
		}
		c0 := time.Now()
		during := base
		during.TCP.Open = -1 // the slow connections come and go
		ok = checkIntact(t, d, keep, during, "slow connections") && ok
		worst = max(worst, time.Since(c0))
		checks++
	}
	took := time.Since(t0)
	failed := len(errs)
	for _, err := range errs {
		t.Errorf("slow connection: %v", err)
	}
	ok = checkIntact(t, d, keep, base, "slow connections") && ok
	return badResult{
		name: fmt.Sprintf("%d slow conns per port, 1 byte/s for %ds", badSlowConns, badSlowFor), port: "both",
		want:  "each answered; others served",
		got:   fmt.Sprintf("%d of %d answered; %d checks meanwhile, slowest %s", len(all)-failed, len(all), checks, worst.Round(time.Millisecond)),
		reply: took, intact: ok,
	}
}

// slowExchange writes the first badSlowFor+1 bytes of msg one per second,
// then the rest, and expects "OK" (a V1 PING reply, or /ping's body).
func slowExchange(addr, msg string, isHTTP bool) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(badSlowFor*time.Second + 10*time.Second))
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := range badSlowFor + 1 {
		if i > 0 {
			<-tick.C // pacing the trickle, not synchronisation
		}
		if _, err := c.Write([]byte{msg[i]}); err != nil {
			return fmt.Errorf("byte %d: %w", i, err)
		}
	}
	if _, err := io.WriteString(c, msg[badSlowFor+1:]); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	if isHTTP {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "OK" {
			return fmt.Errorf("GET /ping answered %d %q", resp.StatusCode, body)
		}
		return nil
	}
	b, err := nsq.ReadResponse(r)
	if err != nil || string(b) != "OK" {
		return fmt.Errorf("PING answered %q, %v", b, err)
	}
	return nil
}
