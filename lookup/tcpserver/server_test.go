package tcpserver_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"
	"go.uber.org/goleak"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
	"github.com/lookupd/lookupd/lookup/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testIdentity is what every test server says about itself; identityJSON is
// its exact encoding in the IDENTIFY reply.
var testIdentity = tcpserver.LookupdInfo{
	BroadcastAddress: "lookupd.test",
	Hostname:         "lookupd-host",
	HTTPPort:         4161,
	TCPPort:          4160,
	Version:          "1.3.0",
}

const identityJSON = `{"broadcast_address":"lookupd.test","hostname":"lookupd-host","http_port":4161,"tcp_port":4160,"version":"1.3.0"}`

// waitTimeout bounds every wait on an asynchronous effect.
const waitTimeout = 5 * time.Second

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", waitTimeout, what)
		}
		<-tick.C
	}
}

// countingListener counts the Write calls the server makes on the
// connections it accepts, to observe reply batching.
type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: &l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// fixture is a tcpserver.Server serving a real loopback listener from a
// goroutine the fixture owns.
type fixture struct {
	db   *registry.DB
	srv  *tcpserver.Server
	ln   *countingListener
	addr string

	done     chan error
	stopOnce sync.Once
	serveErr error
}

func start(t *testing.T, dbOpts registry.Options, opts tcpserver.Options) *fixture {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	opts.Identity = testIdentity
	db := registry.New(dbOpts)
	srv, err := tcpserver.New(db, opts)
	if err != nil {
		t.Fatalf("tcpserver.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f := &fixture{db: db, srv: srv, ln: &countingListener{Listener: ln}, addr: ln.Addr().String(), done: make(chan error, 1)}
	go func() { f.done <- srv.Serve(f.ln) }()
	t.Cleanup(func() {
		if err := f.stop(); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return f
}

// stop closes the server and the listener and waits for Serve to return.
// It is idempotent.
func (f *fixture) stop() error {
	f.stopOnce.Do(func() {
		f.srv.Close()
		f.ln.Close()
		select {
		case f.serveErr = <-f.done:
		case <-time.After(waitTimeout):
			f.serveErr = errors.New("serve did not return")
		}
	})
	return f.serveErr
}

// producerGone reports whether the registry no longer knows the connection id.
func (f *fixture) producerGone(id string) func() bool {
	return func() bool {
		_, ok := f.db.ProducerRegistrations(id)
		return !ok
	}
}

// client is a raw V1 client driven from the test goroutine.
type client struct {
	t *testing.T
	c *net.TCPConn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c.(*net.TCPConn), r: bufio.NewReader(c)}
}

// dial connects and sends the V1 magic.
func dial(t *testing.T, addr string) *client {
	t.Helper()
	c := dialRaw(t, addr)
	c.write(nsq.MagicV1)
	return c
}

// id is the registry id the server gives this connection.
func (c *client) id() string { return c.c.LocalAddr().String() }

func (c *client) write(b []byte) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) tryRead() ([]byte, error) {
	c.c.SetReadDeadline(time.Now().Add(waitTimeout))
	return wire.ReadResponse(c.r, 1<<20)
}

func (c *client) read() string {
	c.t.Helper()
	b, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	return string(b)
}

// do sends a go-nsq command and returns the response.
func (c *client) do(cmd *nsq.Command) string {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(waitTimeout))
	if _, err := cmd.WriteTo(c.c); err != nil {
		c.t.Fatalf("write %s: %v", cmd, err)
	}
	return c.read()
}

// identify sends a go-nsq IDENTIFY for a producer on tcpPort and requires
// the server's identity in reply.
func (c *client) identify(tcpPort int) {
	c.t.Helper()
	cmd, err := nsq.Identify(map[string]any{
		"broadcast_address": "10.0.0.1",
		"hostname":          "producer",
		"tcp_port":          tcpPort,
		"http_port":         tcpPort + 1,
		"version":           "1.3.0",
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if got := c.do(cmd); got != identityJSON {
		c.t.Fatalf("IDENTIFY reply %q, want %q", got, identityJSON)
	}
}

func (c *client) mustOK(cmd *nsq.Command) {
	c.t.Helper()
	if got := c.do(cmd); got != "OK" {
		c.t.Fatalf("%s: reply %q, want OK", cmd, got)
	}
}

// expectClosed reads until the server closes the connection; it fails if
// the connection is still open after waitTimeout.
func (c *client) expectClosed() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(waitTimeout))
	n, err := io.Copy(io.Discard, io.LimitReader(c.r, 1<<20))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("connection still open after %s (read %d bytes)", waitTimeout, n)
	}
	if err == nil && n == 1<<20 {
		c.t.Fatalf("connection still streaming data")
	}
}

// identifyBytes frames body as an IDENTIFY command with the given length
// word.
func identifyBytes(length uint32, body []byte) []byte {
	b := []byte("IDENTIFY\n")
	b = binary.BigEndian.AppendUint32(b, length)
	return append(b, body...)
}

func TestServer_CloseClosesConnectionsAndServeWaits(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	f := start(t, registry.Options{}, tcpserver.Options{})

	var clients []*client
	for i := range 3 {
		c := dial(t, f.addr)
		c.identify(5000 + i)
		c.mustOK(nsq.Register(fmt.Sprintf("topic%d", i), "ch"))
		clients = append(clients, c)
	}
	silent := dialRaw(t, f.addr) // connected, never sent the magic
	waitFor(t, "four open connections", func() bool { return f.srv.Stats().Open == 4 })

	f.srv.Close()
	for _, c := range append(clients, silent) {
		c.expectClosed()
	}
	// The listener is still open, but a closed server refuses newcomers.
	late := dialRaw(t, f.addr)
	late.write(nsq.MagicV1)
	late.expectClosed()

	f.ln.Close()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("Serve returned %v, want nil", err)
		}
		f.stopOnce.Do(func() {}) // already stopped; make cleanup a no-op
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after Close and listener close")
	}
	// Serve returned only after every handler removed its producer.
	if st := f.db.Stats(); st.Producers != 0 || st.Registrations != 0 {
		t.Fatalf("registry after Serve returned: %+v, want no producers", st)
	}
	if open := f.srv.Stats().Open; open != 0 {
		t.Fatalf("open connections after Serve returned: %d", open)
	}
}

func TestServer_MaxConnections(t *testing.T) {
	f := start(t, registry.Options{}, tcpserver.Options{MaxConnections: 2})
	a := dial(t, f.addr)
	a.mustOK(nsq.Ping())
	b := dial(t, f.addr)
	b.mustOK(nsq.Ping())

	extra := dialRaw(t, f.addr)
	extra.c.Write(nsq.MagicV1) // may fail if the close already arrived
	extra.expectClosed()
	waitFor(t, "rejected count 1", func() bool { return f.srv.Stats().Rejected == 1 })

	// The refusal touched neither existing connection.
	a.mustOK(nsq.Ping())
	b.mustOK(nsq.Ping())

	// A freed slot is usable again.
	b.c.Close()
	waitFor(t, "one open connection", func() bool { return f.srv.Stats().Open == 1 })
	c := dial(t, f.addr)
	c.mustOK(nsq.Ping())

	st := f.srv.Stats()
	if st.Accepted != 3 || st.Rejected != 1 || st.Open != 2 {
		t.Fatalf("stats %+v, want accepted 3, rejected 1, open 2", st)
	}
}

func TestServer_MaxRegistrationsPerProducerIsNotFatal(t *testing.T) {
	f := start(t, registry.Options{MaxRegistrationsPerProducer: 3}, tcpserver.Options{})
	c := dial(t, f.addr)
	c.identify(5000)
	c.mustOK(nsq.Register("t1", "c1")) // topic + channel: 2
	c.mustOK(nsq.Register("t2", ""))   // 3

	const tooMany = "E_INVALID REGISTER too many registrations"
	if got := c.do(nsq.Register("t3", "")); got != tooMany {
		t.Fatalf("REGISTER over the cap: %q, want %q", got, tooMany)
	}
	if got := c.do(nsq.Register("t1", "c2")); got != tooMany {
		t.Fatalf("REGISTER channel over the cap: %q, want %q", got, tooMany)
	}
	// The connection and everything it holds survive.
	c.mustOK(nsq.Ping())
	c.mustOK(nsq.Register("t1", "c1")) // already held: not new, allowed
	if n, ok := f.db.ProducerRegistrations(c.id()); !ok || n != 3 {
		t.Fatalf("registrations %d (known %v), want 3", n, ok)
	}
	if res, ok := f.db.Lookup("t1"); !ok || len(res.Producers) != 1 {
		t.Fatalf("lookup t1: %+v %v", res, ok)
	}
	if _, ok := f.db.Lookup("t3"); ok {
		t.Fatal("refused topic t3 was registered")
	}
	// Freeing a slot makes room again.
	c.mustOK(nsq.UnRegister("t2", ""))
	c.mustOK(nsq.Register("t3", ""))
	if res, ok := f.db.Lookup("t3"); !ok || len(res.Producers) != 1 {
		t.Fatalf("lookup t3 after freeing a slot: %+v %v", res, ok)
	}
	if got := f.srv.Stats().Errors; got != 2 {
		t.Fatalf("errors counted %d, want 2", got)
	}
}

// fakeListener returns the queued accept errors, then net.ErrClosed.
type fakeListener struct {
	mu   sync.Mutex
	errs []error
}

func (l *fakeListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return nil, net.ErrClosed
	}
	err := l.errs[0]
	l.errs = l.errs[1:]
	return nil, err
}
func (l *fakeListener) Close() error   { return nil }
func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

var _ net.Listener = (*fakeListener)(nil)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "accept timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestServer_ServeAcceptErrors(t *testing.T) {
	newServer := func() *tcpserver.Server {
		s, err := tcpserver.New(registry.New(registry.Options{}), tcpserver.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	t.Run("closed listener is a clean stop", func(t *testing.T) {
		if err := newServer().Serve(&fakeListener{}); err != nil {
			t.Fatalf("Serve: %v, want nil", err)
		}
	})
	t.Run("temporary errors are retried", func(t *testing.T) {
		l := &fakeListener{errs: []error{timeoutErr{}, timeoutErr{}}}
		if err := newServer().Serve(l); err != nil {
			t.Fatalf("Serve: %v, want nil after retries", err)
		}
	})
	t.Run("other errors end Serve", func(t *testing.T) {
		boom := errors.New("boom")
		err := newServer().Serve(&fakeListener{errs: []error{boom}})
		if !errors.Is(err, boom) {
			t.Fatalf("Serve: %v, want an error wrapping %v", err, boom)
		}
	})
}

func TestNew_Defaults(t *testing.T) {
	// Zero options are valid; the defaults bound lines at the wire default.
	f := start(t, registry.Options{}, tcpserver.Options{})
	c := dial(t, f.addr)
	line := make([]byte, wire.DefaultMaxLineLength)
	for i := range line {
		line[i] = 'A'
	}
	c.write(line)
	want := fmt.Sprintf("E_INVALID command exceeds %d bytes", wire.DefaultMaxLineLength)
	if got := c.read(); got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
	c.expectClosed()
}

// hookListener hands out connections whose first Close runs onClose.
type hookListener struct {
	net.Listener
	onClose func()
}

func (l *hookListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &hookConn{Conn: c, onClose: l.onClose}, nil
}

type hookConn struct {
	net.Conn
	onClose func()
	once    sync.Once
}

func (c *hookConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// Close does not hold the server's lock while it closes connections: while
// one connection's Close is stuck, Stats (and so /metrics) still answers.
func TestServer_CloseReleasesLockBeforeClosingConnections(t *testing.T) {
	srv, err := tcpserver.New(registry.New(registry.Options{}), tcpserver.Options{Identity: testIdentity, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closing, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	hl := &hookListener{Listener: ln, onClose: func() {
		close(closing)
		<-release
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(hl) }()
	closed := make(chan struct{})
	t.Cleanup(func() {
		unblock()
		<-closed
		ln.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	c := dialRaw(t, ln.Addr().String())
	c.write([]byte(nsq.MagicV1))
	waitFor(t, "the connection to be tracked", func() bool { return srv.Stats().Open == 1 })

	go func() {
		defer close(closed)
		srv.Close()
	}()
	select {
	case <-closing:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not close the connection")
	}
	stats := make(chan tcpserver.Stats, 1)
	go func() { stats <- srv.Stats() }()
	select {
	case st := <-stats:
		if st.Open != 1 {
			t.Errorf("Stats during Close: %d open, want 1 (not yet untracked)", st.Open)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Stats blocked while Close was closing a connection: Close holds the server lock")
	}
	unblock()
	waitFor(t, "the connection to be untracked", func() bool { return srv.Stats().Open == 0 })
}
