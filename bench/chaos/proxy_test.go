//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// echoServer accepts connections on 127.0.0.1:0 and echoes each; when a
// connection's client side ends (EOF), it reports on eof and closes. The
// cleanup closes everything and waits for every goroutine.
type echoServer struct {
	ln    net.Listener
	conns chan net.Conn
	eof   chan struct{}
}

func startEcho(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, conns: make(chan net.Conn, 16), eof: make(chan struct{}, 16)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			all = append(all, c)
			mu.Unlock()
			s.conns <- c
			wg.Go(func() {
				_, _ = io.Copy(c, c)
				s.eof <- struct{}{}
				c.Close()
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range all {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// startProxy starts an echo server and a proxy in front of it; the
// cleanup closes the proxy (again, if the test did).
func startProxy(t *testing.T) (*echoServer, *Proxy) {
	t.Helper()
	srv := startEcho(t)
	p, err := NewProxy(srv.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return srv, p
}

func dialProxy(t *testing.T, p *Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads it back within timeout.
func roundTrip(t *testing.T, c net.Conn, msg string, timeout time.Duration) error {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	return expectRead(c, msg, timeout)
}

func expectRead(c net.Conn, msg string, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return fmt.Errorf("read %q, want %q", buf, msg)
	}
	return nil
}

func TestProxy_Modes(t *testing.T) {
	_, p := startProxy(t)
	c := dialProxy(t, p)
	if err := roundTrip(t, c, "pass", 5*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}

	p.SetMode(Blackhole, 0)
	if err := roundTrip(t, c, "held", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole: read returned %v, want a timeout", err)
	}
	p.SetMode(Pass, 0)
	if err := expectRead(c, "held", 5*time.Second); err != nil {
		t.Fatalf("after healing: %v", err)
	}

	p.SetMode(Delay, 150*time.Millisecond)
	start := time.Now()
	if err := roundTrip(t, c, "slow", 5*time.Second); err != nil {
		t.Fatalf("delay: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delayed round trip took %s, want at least 2 x 150ms", d)
	}
	p.SetMode(Pass, 0)
	if p.Open() != 1 {
		t.Errorf("Open() = %d, want 1", p.Open())
	}
}

func TestProxy_BlackholeHoldsClose(t *testing.T) {
	srv, p := startProxy(t)
	c := dialProxy(t, p)
	if err := roundTrip(t, c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.SetMode(Blackhole, 0)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.eof:
		t.Fatal("the upstream saw the close through a blackhole")
	case <-time.After(200 * time.Millisecond):
	}
	p.SetMode(Pass, 0)
	select {
	case <-srv.eof:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream never saw the close after healing")
	}
	lookuptest.WaitFor(t, 5*time.Second, "the pipe to end", func() bool { return p.Open() == 0 })
}

func TestProxy_DropHidesCloseUntilUpstreamCloses(t *testing.T) {
	srv, p := startProxy(t)
	c := dialProxy(t, p)
	if err := roundTrip(t, c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	up := <-srv.conns
	p.SetMode(Drop, 0)
	c.Close()
	select {
	case <-srv.eof:
		t.Fatal("the upstream saw the close of a dead host")
	case <-time.After(200 * time.Millisecond):
	}
	if p.Open() != 1 {
		t.Fatalf("Open() = %d, want the dead connection held", p.Open())
	}
	up.Close() // what a lookupd's idle timeout does
	lookuptest.WaitFor(t, 5*time.Second, "the pipe to end", func() bool { return p.Open() == 0 })
}

func TestProxy_CloseEndsEverything(t *testing.T) {
	_, p := startProxy(t)
	p.SetMode(Blackhole, 0)
	c := dialProxy(t, p) // its upstream dial is held
	lookuptest.WaitFor(t, 5*time.Second, "the connection to be accepted", func() bool { return p.Open() == 1 })
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read from a closed proxy succeeded")
	}
	if p.Open() != 0 {
		t.Errorf("Open() = %d after Close", p.Open())
	}
}

// v1Stream is a producer's V1 stream: the magic, an IDENTIFY whose body
// holds a newline and the word REGISTER, registrations and a heartbeat.
func v1Stream() (in, lost string) {
	body := "{\"hostname\":\"REGISTER x\\n\"}"
	size := string([]byte{0, 0, 0, byte(len(body))})
	head := "  V1IDENTIFY\n" + size + body
	in = head + "REGISTER t1 c0\nREGISTER t2\nPING\nUNREGISTER t1 c0\n"
	lost = head + "PING\nPING\nPING\nUNREGISTER t1 c0\n"
	return in, lost
}

// The filter gives the same output however the stream is cut into reads.
func TestRegisterFilter(t *testing.T) {
	in, want := v1Stream()
	for cut := range len(in) + 1 {
		f := newRegisterFilter()
		got := string(f.rewrite([]byte(in[:cut]), false)) + string(f.rewrite([]byte(in[cut:]), true))
		if got != want {
			t.Fatalf("cut at %d: %q, want %q", cut, got, want)
		}
	}
	f := newRegisterFilter()
	var got []byte
	for i := range len(in) {
		got = append(got, f.rewrite([]byte{in[i]}, false)...)
	}
	if string(got) != want {
		t.Fatalf("byte by byte: %q, want %q", got, want)
	}
	// An incomplete last line is held, then released when the stream ends.
	f = newRegisterFilter()
	if got := string(f.rewrite([]byte("  V1REGIS"), false)); got != "  V1" {
		t.Errorf("incomplete line forwarded: %q", got)
	}
	if got := string(f.rewrite(nil, true)); got != "REGIS" {
		t.Errorf("at the end: %q, want the held REGIS", got)
	}
}

// Connections accepted once LoseRegistrations is on lose their REGISTER
// commands; those already open do not.
func TestProxy_LoseRegistrations(t *testing.T) {
	_, p := startProxy(t)
	in, lost := v1Stream()
	before := dialProxy(t, p)
	if err := roundTrip(t, before, "  V1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.LoseRegistrations(true)
	after := dialProxy(t, p)
	if _, err := after.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if err := expectRead(after, lost, 5*time.Second); err != nil {
		t.Fatalf("new connection: %v", err)
	}
	if err := roundTrip(t, before, in[4:], 5*time.Second); err != nil {
		t.Fatalf("connection opened before: %v", err)
	}
	p.LoseRegistrations(false)
	again := dialProxy(t, p)
	if err := roundTrip(t, again, in, 5*time.Second); err != nil {
		t.Fatalf("after LoseRegistrations(false): %v", err)
	}
}
