package lookuptest

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

func dialListener(t *testing.T, l *Listener) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", l.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func TestListener_HandlerThenClose(t *testing.T) {
	l := Listen(t, func(c net.Conn) { io.WriteString(c, "hi") })
	c := dialListener(t, l)
	b, err := io.ReadAll(c) // ends when the listener closes it after the handler
	if err != nil || string(b) != "hi" {
		t.Fatalf("read %q, %v; want \"hi\" then EOF", b, err)
	}
}

func TestListener_CloseEndsHeldConnectionsAndWaits(t *testing.T) {
	var returned atomic.Bool
	l := Listen(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // until Close closes c
		returned.Store(true)
	})
	silent := Listen(t, nil)
	c1, c2 := dialListener(t, l), dialListener(t, silent)

	// The silent one holds the connection without answering.
	c2.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c2.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("silent listener: read error %v, want a timeout", err)
	}
	WaitFor(t, 5*time.Second, "connection accepted", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return len(l.conns) == 1
	})

	l.Close()
	if !returned.Load() {
		t.Fatal("Close returned before the handler")
	}
	silent.Close()
	silent.Close() // idempotent
	for i, c := range []net.Conn{c1, c2} {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection %d: read error %v after Close, want it closed", i, err)
		}
	}
	if _, err := net.DialTimeout("tcp", l.Addr(), time.Second); err == nil {
		t.Error("still accepting after Close")
	}
}

func TestPoll(t *testing.T) {
	n := 0
	took, err := Poll(5*time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil || n != 3 || took <= 0 {
		t.Fatalf("Poll = %s, %v after %d calls; want nil after 3", took, err, n)
	}
	want := errors.New("never")
	if _, err := Poll(20*time.Millisecond, func() error { return want }); err != want {
		t.Fatalf("Poll timeout error = %v, want the condition's last error", err)
	}
}
