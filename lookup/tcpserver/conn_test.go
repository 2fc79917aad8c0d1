package tcpserver_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
	"github.com/lookupd/lookupd/lookup/wire"
)

func TestConn_Session(t *testing.T) {
	f := start(t, registry.Options{}, tcpserver.Options{})
	c := dial(t, f.addr)

	// PING before IDENTIFY is answered, as nsqlookupd does.
	c.mustOK(nsq.Ping())
	c.identify(4150)

	res, ok := f.db.Lookup("orders")
	if ok {
		t.Fatalf("topic exists before REGISTER: %+v", res)
	}
	c.mustOK(nsq.Register("orders", "billing"))
	res, ok = f.db.Lookup("orders")
	if !ok || len(res.Producers) != 1 || !slices.Equal(res.Channels, []string{"billing"}) {
		t.Fatalf("lookup after REGISTER: %+v %v", res, ok)
	}
	p := res.Producers[0]
	want := wire.ProducerInfo{
		RemoteAddress:    c.id(),
		Hostname:         "producer",
		BroadcastAddress: "10.0.0.1",
		TCPPort:          4150,
		HTTPPort:         4151,
		Version:          "1.3.0",
	}
	if p.ProducerInfo != want || p.ID != c.id() {
		t.Fatalf("producer %+v, want %+v with id %s", p, want, c.id())
	}

	// Registering again is accepted and changes nothing.
	c.mustOK(nsq.Register("orders", "billing"))
	// Lines may end in \r\n: the line is trimmed.
	if got := c.do(&nsq.Command{Name: []byte("REGISTER"), Params: [][]byte{[]byte("audit"), []byte("ch\r")}}); got != "OK" {
		t.Fatalf("REGISTER with CRLF: %q", got)
	}
	if n, _ := f.db.ProducerRegistrations(c.id()); n != 4 {
		t.Fatalf("registrations %d, want 4 (orders, billing, audit, ch)", n)
	}

	c.mustOK(nsq.UnRegister("orders", "billing"))
	res, _ = f.db.Lookup("orders")
	if len(res.Producers) != 1 || !slices.Equal(res.Channels, []string{"billing"}) {
		t.Fatalf("after UNREGISTER channel: %+v (channel stays listed, producer stays on topic)", res)
	}
	c.mustOK(nsq.UnRegister("orders", ""))
	res, ok = f.db.Lookup("orders")
	if !ok || len(res.Producers) != 0 {
		t.Fatalf("after UNREGISTER topic: %+v %v, want listed with no producers", res, ok)
	}
	// Unregistering what is not held is not an error.
	c.mustOK(nsq.UnRegister("never", "x"))

	before := f.srv.Stats()
	c.mustOK(nsq.Ping())
	if got := f.srv.Stats().Commands - before.Commands; got != 1 {
		t.Fatalf("commands counted for one PING: %d", got)
	}

	c.c.Close()
	waitFor(t, "producer removed on disconnect", f.producerGone(c.id()))
	if res, _ := f.db.Lookup("audit"); len(res.Producers) != 0 {
		t.Fatalf("audit still has producers after disconnect: %+v", res)
	}
	if st := f.srv.Stats(); st.Errors != 0 || st.Timeouts != 0 {
		t.Fatalf("stats %+v: no errors or timeouts expected", st)
	}
}

func TestConn_PingRefreshesLastSeen(t *testing.T) {
	clk := fakeclock.New()
	f := start(t, registry.Options{InactiveTimeout: time.Minute, Now: clk.Now}, tcpserver.Options{})
	c := dial(t, f.addr)
	c.identify(4150)
	c.mustOK(nsq.Register("orders", ""))

	clk.Advance(50 * time.Second)
	c.mustOK(nsq.Ping())
	clk.Advance(50 * time.Second) // 100 s after IDENTIFY, 50 s after PING
	if res, _ := f.db.Lookup("orders"); len(res.Producers) != 1 {
		t.Fatalf("producer hidden although it pinged 50 s ago: %+v", res)
	}
	clk.Advance(11 * time.Second)
	if res, _ := f.db.Lookup("orders"); len(res.Producers) != 0 {
		t.Fatalf("producer listed 61 s after its last PING: %+v", res)
	}
	c.mustOK(nsq.Ping())
	if res, _ := f.db.Lookup("orders"); len(res.Producers) != 1 {
		t.Fatalf("producer not back after PING: %+v", res)
	}
}

// TestConn_Errors checks every error reply text and that each error closes
// the connection and removes what the connection had registered.
func TestConn_Errors(t *testing.T) {
	const maxBody = 256
	const maxLine = 256
	body := func(s string) []byte { return identifyBytes(uint32(len(s)), []byte(s)) }
	long := strings.Repeat("a", 65)
	tests := []struct {
		name      string
		noMagic   bool
		identify  bool
		send      []byte
		halfClose bool // close our write side so the server sees EOF
		want      string
	}{
		{name: "bad magic", noMagic: true, send: []byte("  V2PING\n"), want: "E_BAD_PROTOCOL"},
		{name: "http on the tcp port", noMagic: true, send: []byte("GET / HTTP/1.1\r\n\r\n"), want: "E_BAD_PROTOCOL"},
		{name: "unknown command", send: []byte("FOO bar\n"), want: "E_INVALID invalid command FOO"},
		{name: "lowercase command", send: []byte("ping\n"), want: "E_INVALID invalid command ping"},
		{name: "empty line", send: []byte("\n"), want: "E_INVALID invalid command "},
		{name: "register before identify", send: []byte("REGISTER t\n"), want: "E_INVALID client must IDENTIFY"},
		{name: "unregister before identify", send: []byte("UNREGISTER t\n"), want: "E_INVALID client must IDENTIFY"},
		{name: "register without params", identify: true, send: []byte("REGISTER\n"), want: "E_INVALID REGISTER insufficient number of params"},
		{name: "register trailing space", identify: true, send: []byte("REGISTER \n"), want: "E_INVALID REGISTER insufficient number of params"},
		{name: "unregister without params", identify: true, send: []byte("UNREGISTER\n"), want: "E_INVALID UNREGISTER insufficient number of params"},
		{name: "register empty topic", identify: true, send: []byte("REGISTER  t\n"), want: "E_BAD_TOPIC REGISTER topic name '' is not valid"},
		{name: "register bad topic", identify: true, send: []byte("REGISTER bad!topic\n"), want: "E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid"},
		{name: "register long topic", identify: true, send: []byte("REGISTER " + long + "\n"), want: "E_BAD_TOPIC REGISTER topic name '" + long + "' is not valid"},
		{name: "register bad channel", identify: true, send: []byte("REGISTER t bad!ch\n"), want: "E_BAD_CHANNEL REGISTER channel name 'bad!ch' is not valid"},
		{name: "unregister bad topic", identify: true, send: []byte("UNREGISTER bad!topic\n"), want: "E_BAD_TOPIC UNREGISTER topic name 'bad!topic' is not valid"},
		{name: "unregister bad channel", identify: true, send: []byte("UNREGISTER t bad!ch\n"), want: "E_BAD_CHANNEL UNREGISTER channel name 'bad!ch' is not valid"},
		{name: "identify twice", identify: true, send: []byte("IDENTIFY\n"), want: "E_INVALID cannot IDENTIFY again"},
		{name: "identify bad json", send: body("{"), want: "E_BAD_BODY IDENTIFY failed to decode JSON body"},
		{name: "identify missing fields", send: body(`{"broadcast_address":"h","tcp_port":1}`), want: "E_BAD_BODY IDENTIFY missing fields"},
		{name: "identify invalid port", send: body(`{"broadcast_address":"h","tcp_port":70000,"http_port":1,"version":"1"}`), want: "E_BAD_BODY IDENTIFY invalid port"},
		{name: "identify negative port", send: body(`{"broadcast_address":"h","tcp_port":1,"http_port":-5,"version":"1"}`), want: "E_BAD_BODY IDENTIFY invalid port"},
		{name: "identify body over the cap", send: identifyBytes(maxBody+1, nil), want: "E_BAD_BODY IDENTIFY invalid body size 257"},
		{name: "identify negative size", send: identifyBytes(0xffffffff, nil), want: "E_BAD_BODY IDENTIFY invalid body size -1"},
		{name: "identify most negative size", send: identifyBytes(0x80000000, nil), want: "E_BAD_BODY IDENTIFY invalid body size -2147483648"},
		{name: "identify huge size", send: identifyBytes(0x7fffffff, nil), want: "E_BAD_BODY IDENTIFY invalid body size 2147483647"},
		{name: "identify truncated size", send: []byte("IDENTIFY\n\x00\x00"), halfClose: true, want: "E_BAD_BODY IDENTIFY failed to read body size"},
		{name: "identify truncated body", send: identifyBytes(40, []byte(`{"broad`)), halfClose: true, want: "E_BAD_BODY IDENTIFY failed to read body"},
		{name: "line too long", send: bytes.Repeat([]byte("A"), maxLine), want: fmt.Sprintf("E_INVALID command exceeds %d bytes", maxLine)},
		{name: "line too long after identify", identify: true, send: bytes.Repeat([]byte("A"), maxLine), want: fmt.Sprintf("E_INVALID command exceeds %d bytes", maxLine)},
	}
	f := start(t, registry.Options{}, tcpserver.Options{MaxIdentifySize: maxBody, MaxLineLength: maxLine})
	keep := dial(t, f.addr)
	keep.identify(4000)
	keep.mustOK(nsq.Register("kept", "ch"))

	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *client
			if tc.noMagic {
				c = dialRaw(t, f.addr)
			} else {
				c = dial(t, f.addr)
			}
			if tc.identify {
				c.identify(5000 + i)
				c.mustOK(nsq.Register("mine", "ch"))
			}
			c.write(tc.send)
			if tc.halfClose {
				if err := c.c.CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.read(); got != tc.want {
				t.Fatalf("reply %q, want %q", got, tc.want)
			}
			c.expectClosed()
			waitFor(t, "producer removed after a fatal error", f.producerGone(c.id()))
		})
	}
	if got := f.srv.Stats().Errors; got != int64(len(tests)) {
		t.Fatalf("errors counted %d, want %d", got, len(tests))
	}
	// Nobody else's registrations were touched, and the server still serves.
	keep.mustOK(nsq.Ping())
	if res, _ := f.db.Lookup("kept"); len(res.Producers) != 1 {
		t.Fatalf("kept producer lost: %+v", res)
	}
	if res, _ := f.db.Lookup("mine"); len(res.Producers) != 0 {
		t.Fatalf("producers of failed connections left behind: %+v", res)
	}
}

func TestConn_IdentifyBodyCap(t *testing.T) {
	const maxBody = 256
	f := start(t, registry.Options{}, tcpserver.Options{MaxIdentifySize: maxBody})
	js := []byte(`{"broadcast_address":"10.0.0.1","hostname":"h","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`)

	t.Run("exactly at the cap", func(t *testing.T) {
		body := append(slices.Clone(js), bytes.Repeat([]byte(" "), maxBody-len(js))...)
		c := dial(t, f.addr)
		c.write(identifyBytes(uint32(len(body)), body))
		if got := c.read(); got != identityJSON {
			t.Fatalf("reply %q, want the identity", got)
		}
		if _, ok := f.db.ProducerRegistrations(c.id()); !ok {
			t.Fatal("producer not identified")
		}
		c.mustOK(nsq.Ping())
	})
	t.Run("one byte over", func(t *testing.T) {
		c := dial(t, f.addr)
		c.write(identifyBytes(maxBody+1, nil))
		if got, want := c.read(), "E_BAD_BODY IDENTIFY invalid body size 257"; got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
		c.expectClosed()
	})
	t.Run("empty body", func(t *testing.T) {
		c := dial(t, f.addr)
		c.write(identifyBytes(0, nil))
		if got, want := c.read(), "E_BAD_BODY IDENTIFY failed to decode JSON body"; got != want {
			t.Fatalf("reply %q, want %q", got, want)
		}
		c.expectClosed()
	})
}

func TestConn_LineLimit(t *testing.T) {
	const maxLine = 256
	f := start(t, registry.Options{}, tcpserver.Options{MaxLineLength: maxLine})

	// A line of exactly maxLine bytes, newline included, is accepted.
	c := dial(t, f.addr)
	line := append([]byte("PING"), bytes.Repeat([]byte(" "), maxLine-5)...)
	line = append(line, '\n')
	if len(line) != maxLine {
		t.Fatalf("test line is %d bytes", len(line))
	}
	c.write(line)
	if got := c.read(); got != "OK" {
		t.Fatalf("line of %d bytes: %q, want OK", maxLine, got)
	}
	// One more byte is refused.
	line = append(bytes.Repeat([]byte(" "), 1), line...)
	c.write(line[:maxLine])
	if got, want := c.read(), "E_INVALID command exceeds 256 bytes"; got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
	c.expectClosed()
}

// A client streaming a megabyte without a newline is cut off at the line
// limit, long before the idle timeout, and nobody else notices.
func TestConn_HugeLineWithoutNewline(t *testing.T) {
	const maxLine = 256
	f := start(t, registry.Options{}, tcpserver.Options{MaxLineLength: maxLine, IdleTimeout: time.Minute})
	keep := dial(t, f.addr)
	keep.identify(4000)
	keep.mustOK(nsq.Register("kept", ""))

	c := dial(t, f.addr)
	c.identify(5000)
	c.mustOK(nsq.Register("attacker", ""))

	var wg sync.WaitGroup
	var written int
	var writeErr error
	wg.Go(func() {
		c.c.SetWriteDeadline(time.Now().Add(waitTimeout))
		written, writeErr = c.c.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	begin := time.Now()
	// The reply may be lost to a reset, since the server closes with
	// unread input; the close itself is what matters.
	if resp, err := c.tryRead(); err == nil && string(resp) != "E_INVALID command exceeds 256 bytes" {
		t.Errorf("reply %q, want E_INVALID command exceeds 256 bytes", resp)
	}
	c.expectClosed()
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("closed after %s, which is the idle timeout, not the line limit", d)
	}
	c.c.Close()
	wg.Wait()
	if ne, ok := errors.AsType[net.Error](writeErr); ok && ne.Timeout() {
		t.Errorf("writer timed out after %d bytes: the server stopped reading without closing", written)
	}
	waitFor(t, "attacker removed", f.producerGone(c.id()))
	if res, _ := f.db.Lookup("attacker"); len(res.Producers) != 0 {
		t.Fatalf("attacker's registration left: %+v", res)
	}

	keep.mustOK(nsq.Ping())
	if res, _ := f.db.Lookup("kept"); len(res.Producers) != 1 {
		t.Fatalf("kept registration lost: %+v", res)
	}
	fresh := dial(t, f.addr)
	fresh.mustOK(nsq.Ping())
}

// Pipelined commands are answered in order, and replies that are ready
// together go out in few writes.
func TestConn_PipelinedRepliesInOrderAndBatched(t *testing.T) {
	f := start(t, registry.Options{MaxRegistrationsPerProducer: 30}, tcpserver.Options{})
	c := dialRaw(t, f.addr)

	idCmd, err := nsq.Identify(map[string]any{"broadcast_address": "10.0.0.1", "hostname": "h", "tcp_port": 4150, "http_port": 4151, "version": "1.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.Write(nsq.MagicV1)
	idCmd.WriteTo(&buf)
	want := []string{identityJSON}
	for i := range 30 {
		nsq.Register(fmt.Sprintf("t%02d", i), "").WriteTo(&buf)
		want = append(want, "OK")
	}
	const tooMany = "E_INVALID REGISTER too many registrations"
	nsq.Register("t30", "").WriteTo(&buf)
	want = append(want, tooMany)
	nsq.Register("t31", "").WriteTo(&buf)
	want = append(want, tooMany)
	nsq.UnRegister("t00", "").WriteTo(&buf)
	want = append(want, "OK")
	nsq.Register("t30", "").WriteTo(&buf)
	want = append(want, "OK")
	nsq.Ping().WriteTo(&buf)
	want = append(want, "OK")
	if buf.Len() >= wire.DefaultMaxLineLength {
		t.Fatalf("pipeline of %d bytes does not fit one read buffer", buf.Len())
	}

	before := f.ln.writes.Load()
	c.write(buf.Bytes())
	for i, w := range want {
		if got := c.read(); got != w {
			t.Fatalf("reply %d: %q, want %q", i, got, w)
		}
	}
	// One write per non-fatal error (they flush at once) plus the final
	// one; allow a little slack for reads split by the kernel.
	writes := f.ln.writes.Load() - before
	if writes > 6 {
		t.Fatalf("%d replies took %d writes, want them batched", len(want), writes)
	}
	if n, _ := f.db.ProducerRegistrations(c.id()); n != 30 {
		t.Fatalf("registrations %d, want 30", n)
	}
	if _, ok := f.db.Lookup("t31"); ok {
		t.Fatal("refused t31 registered")
	}
}

// A reply is sent even when the next command has only partly arrived: the
// server must not hold replies back waiting for the rest of a line.
func TestConn_ReplyNotHeldForPartialLine(t *testing.T) {
	f := start(t, registry.Options{}, tcpserver.Options{IdleTimeout: time.Minute})
	c := dial(t, f.addr)
	c.write([]byte("PING\nPI"))
	if got := c.read(); got != "OK" {
		t.Fatalf("first PING: %q", got)
	}
	c.write([]byte("NG\n"))
	if got := c.read(); got != "OK" {
		t.Fatalf("second PING: %q", got)
	}
}

func TestConn_IdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	f := start(t, registry.Options{}, tcpserver.Options{IdleTimeout: idle})

	silent := dialRaw(t, f.addr) // never sends the magic
	c := dial(t, f.addr)
	c.identify(4150)
	begin := time.Now()
	c.mustOK(nsq.Register("orders", "ch"))

	waitFor(t, "idle producer removed", f.producerGone(c.id()))
	if d := time.Since(begin); d < idle {
		t.Fatalf("removed after %s, before the idle timeout %s", d, idle)
	}
	c.expectClosed()
	silent.expectClosed()
	if res, _ := f.db.Lookup("orders"); len(res.Producers) != 0 {
		t.Fatalf("idle producer still listed: %+v", res)
	}
	waitFor(t, "two idle timeouts counted, nothing open", func() bool {
		st := f.srv.Stats()
		return st.Timeouts == 2 && st.Open == 0
	})
}

// A producer that keeps pinging outlives one that stays silent for the
// idle timeout.
func TestConn_PingKeepsConnectionAlive(t *testing.T) {
	// Under a fake clock, so a starved machine cannot make the pinging
	// connection miss its idle deadline: time moves only when every
	// goroutine in the bubble is blocked.
	synctest.Test(t, func(t *testing.T) {
		const idle = 200 * time.Millisecond
		db := registry.New(registry.Options{InactiveTimeout: time.Hour})
		l, stop := runPipeServer(t, db, tcpserver.Options{IdleTimeout: idle})
		defer stop()
		active, activeID := l.registeredProducer(t)
		defer active.c.Close()
		silent, silentID := l.registeredProducer(t)
		defer silent.c.Close()

		known := func(id string) bool { _, ok := db.ProducerRegistrations(id); return ok }
		// The active one pings every idle/4 for twice the idle timeout;
		// the silent one says nothing.
		for i := range 8 {
			advance(idle / 4)
			if !known(activeID) {
				t.Fatalf("pinging producer removed after %s", time.Duration(i+1)*idle/4)
			}
			active.send([]byte("PING\n"))
			active.expect("OK")
		}
		if known(silentID) {
			t.Fatalf("silent producer still registered after %s", 2*idle)
		}
		if _, err := silent.c.Read(make([]byte, 1)); err == nil {
			t.Fatal("silent connection still open after the idle timeout")
		}
		active.send([]byte("PING\n"))
		active.expect("OK")
		if !known(activeID) {
			t.Fatal("pinging producer removed")
		}
	})
}

// pipeListener hands out in-memory connections made by dial; under
// synctest their deadlines run on the bubble's fake clock.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	port  int
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4160} }

// dial returns the client end of a new connection; the server end reports
// a distinct remote address so that connections get distinct ids.
func (l *pipeListener) dial() (net.Conn, string) {
	srv, cli := net.Pipe()
	l.port++
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000 + l.port}
	l.conns <- addrConn{Conn: srv, remote: addr}
	return cli, addr.String()
}

type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

var _ net.Listener = (*pipeListener)(nil)

// pipeClient drives a pipe connection in a synctest bubble.
type pipeClient struct {
	t *testing.T
	c net.Conn
}

func (p pipeClient) send(b []byte) {
	p.t.Helper()
	if _, err := p.c.Write(b); err != nil {
		p.t.Fatalf("write %q: %v", b, err)
	}
}

func (p pipeClient) expect(want string) {
	p.t.Helper()
	got, err := wire.ReadResponse(p.c, 1<<20)
	if err != nil || string(got) != want {
		p.t.Fatalf("reply %q (%v), want %q", got, err, want)
	}
}

// registeredProducer dials l, identifies and registers topic "orders",
// returning the client and its registry id.
func (l *pipeListener) registeredProducer(t *testing.T) (pipeClient, string) {
	t.Helper()
	conn, id := l.dial()
	c := pipeClient{t: t, c: conn}
	c.send(nsq.MagicV1)
	js := `{"broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`
	c.send(identifyBytes(uint32(len(js)), []byte(js)))
	c.expect(identityJSON)
	c.send([]byte("REGISTER orders\n"))
	c.expect("OK")
	return c, id
}

// advance moves the synctest bubble's fake clock forward by d and waits
// until every goroutine in the bubble is blocked again. Sleeping inside a
// bubble takes no real time: this is how the deadline tests step time.
func advance(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// runPipeServer serves l in the bubble and returns a stop func that closes
// everything and waits for Serve.
func runPipeServer(t *testing.T, db *registry.DB, opts tcpserver.Options) (*pipeListener, func()) {
	_, l, stop := runPipeServerWith(t, db, opts)
	return l, stop
}

// Under a fake clock: the idle deadline restarts with every command, and
// fires exactly IdleTimeout after the last one.
func TestConn_IdleDeadlineExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 10 * time.Minute
		db := registry.New(registry.Options{InactiveTimeout: time.Hour})
		l, stop := runPipeServer(t, db, tcpserver.Options{IdleTimeout: idle})
		defer stop()
		c, id := l.registeredProducer(t)
		defer c.c.Close()

		known := func() bool { _, ok := db.ProducerRegistrations(id); return ok }
		// Five PINGs 9 minutes apart keep it for 45 minutes.
		for range 5 {
			advance(idle - time.Minute)
			if !known() {
				t.Fatalf("producer removed although it pinged within %s", idle)
			}
			c.send([]byte("PING\n"))
			c.expect("OK")
		}
		advance(idle - time.Nanosecond)
		if !known() {
			t.Fatal("producer removed before the idle timeout")
		}
		advance(time.Nanosecond)
		if known() {
			t.Fatal("producer still registered at the idle timeout")
		}
		if _, err := c.c.Read(make([]byte, 1)); err == nil {
			t.Fatal("connection still open after the idle timeout")
		}
	})
}

// Under a fake clock: a client that stops reading its replies is cut off
// after the write timeout and its registrations are removed.
func TestConn_WriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const wt = 10 * time.Second
		db := registry.New(registry.Options{})
		l, stop := runPipeServer(t, db, tcpserver.Options{WriteTimeout: wt})
		defer stop()
		c, id := l.registeredProducer(t)
		defer c.c.Close()

		c.send([]byte("PING\n")) // and never read the reply
		advance(wt - time.Nanosecond)
		if _, ok := db.ProducerRegistrations(id); !ok {
			t.Fatal("producer removed before the write timeout")
		}
		advance(time.Nanosecond)
		if _, ok := db.ProducerRegistrations(id); ok {
			t.Fatal("producer still registered after the write timeout")
		}
	})
}
