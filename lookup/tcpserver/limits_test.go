package tcpserver_test

import (
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
)

// dialFrom is dial with a chosen source IP.
func (l *pipeListener) dialFrom(ip net.IP) net.Conn {
	srv, cli := net.Pipe()
	l.port++
	l.conns <- addrConn{Conn: srv, remote: &net.TCPAddr{IP: ip, Port: 40000 + l.port}}
	return cli
}

// closedByServer reports whether the server has closed c: a read returns
// an error other than the bubble's fake deadline.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	_ = c.SetReadDeadline(time.Time{})
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// Under a fake clock: a connection that has not identified by the
// handshake timeout is closed, whatever it sent (nothing, the magic, or
// PINGs, which nsqlookupd answers without IDENTIFY); one that identified
// in time is held to the idle timeout only.
func TestConn_HandshakeTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hs = 10 * time.Second
		db := registry.New(registry.Options{InactiveTimeout: time.Hour})
		srv, l, stop := runPipeServerWith(t, db, tcpserver.Options{HandshakeTimeout: hs, IdleTimeout: time.Hour})
		defer stop()

		silent := pipeClient{t: t, c: l.dialFrom(net.IPv4(127, 0, 0, 2))}
		defer silent.c.Close()
		magicOnly := pipeClient{t: t, c: l.dialFrom(net.IPv4(127, 0, 0, 2))}
		defer magicOnly.c.Close()
		magicOnly.send(nsq.MagicV1)
		pinger := pipeClient{t: t, c: l.dialFrom(net.IPv4(127, 0, 0, 2))}
		defer pinger.c.Close()
		pinger.send(nsq.MagicV1)
		late, _ := l.dial() // identifies just before the deadline
		lateC := pipeClient{t: t, c: late}
		defer late.Close()
		lateC.send(nsq.MagicV1)

		for range 9 {
			advance(time.Second)
			pinger.send([]byte("PING\n"))
			pinger.expect("OK")
		}
		advance(hs - 9*time.Second - time.Millisecond)
		js := `{"broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`
		lateC.send(identifyBytes(uint32(len(js)), []byte(js)))
		lateC.expect(identityJSON)
		if got := srv.Stats().HandshakeTimeouts; got != 0 {
			t.Fatalf("%d handshake timeouts before the deadline", got)
		}
		advance(time.Millisecond)
		for name, c := range map[string]net.Conn{"silent": silent.c, "magic only": magicOnly.c, "pinging": pinger.c} {
			if !closedByServer(c) {
				t.Errorf("%s connection still open at the handshake timeout", name)
			}
		}
		if got := srv.Stats().HandshakeTimeouts; got != 3 {
			t.Errorf("HandshakeTimeouts = %d, want 3", got)
		}
		advance(time.Minute)
		lateC.send([]byte("REGISTER orders\n"))
		lateC.expect("OK")
		if res, _ := db.Lookup("orders"); len(res.Producers) != 1 {
			t.Fatalf("identified producer lost: %+v", res)
		}
		if got := srv.Stats().Timeouts; got != 0 {
			t.Errorf("handshake timeouts counted as idle timeouts: %d", got)
		}
	})
}

// Under a fake clock: an IDENTIFY whose body trickles in past the
// handshake deadline is cut there too.
func TestConn_HandshakeTimeoutSlowIdentify(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hs = 10 * time.Second
		db := registry.New(registry.Options{})
		srv, l, stop := runPipeServerWith(t, db, tcpserver.Options{HandshakeTimeout: hs})
		defer stop()
		conn, _ := l.dial()
		c := pipeClient{t: t, c: conn}
		defer conn.Close()
		c.send(nsq.MagicV1)
		c.send([]byte("IDENTIFY\n\x00\x00\x01\x00{")) // 256 bytes announced, 1 sent
		advance(hs)
		// The server answers E_BAD_BODY and closes; a pipe delivers the
		// reply only when read.
		if _, err := conn.Read(make([]byte, 64)); err != nil {
			t.Fatalf("no reply before close: %v", err)
		}
		synctest.Wait()
		if !closedByServer(conn) {
			t.Fatal("slow IDENTIFY still open after the handshake timeout")
		}
		if got := srv.Stats().HandshakeTimeouts; got != 1 {
			t.Errorf("HandshakeTimeouts = %d, want 1", got)
		}
	})
}

// One source cannot hold more than MaxConnectionsPerSource connections;
// others are unaffected, and a closed connection frees its slot.
func TestServer_MaxConnectionsPerSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := registry.New(registry.Options{})
		srv, l, stop := runPipeServerWith(t, db, tcpserver.Options{MaxConnectionsPerSource: 2})
		defer stop()
		attacker := net.IPv4(127, 0, 0, 2)
		a1, a2 := l.dialFrom(attacker), l.dialFrom(attacker)
		defer a1.Close()
		defer a2.Close()
		a3 := l.dialFrom(attacker)
		defer a3.Close()
		synctest.Wait()
		if !closedByServer(a3) {
			t.Fatal("third connection from one source admitted")
		}
		if closedByServer(a1) || closedByServer(a2) {
			t.Fatal("admitted connections closed")
		}
		// A producer from another address gets in and registers.
		p, _ := l.registeredProducer(t)
		defer p.c.Close()
		// IPv6: one /64 is one source.
		v6a, v6b := l.dialFrom(net.ParseIP("2001:db8::1")), l.dialFrom(net.ParseIP("2001:db8::2"))
		defer v6a.Close()
		defer v6b.Close()
		v6c := l.dialFrom(net.ParseIP("2001:db8::3"))
		defer v6c.Close()
		synctest.Wait()
		if !closedByServer(v6c) {
			t.Fatal("third connection from one IPv6 /64 admitted")
		}
		a1.Close()
		synctest.Wait()
		a4 := l.dialFrom(attacker)
		defer a4.Close()
		synctest.Wait()
		if closedByServer(a4) {
			t.Fatal("slot not freed by a closed connection")
		}
		st := srv.Stats()
		if st.RejectedPerSource != 2 || st.Rejected != 0 {
			t.Errorf("RejectedPerSource %d Rejected %d, want 2 and 0", st.RejectedPerSource, st.Rejected)
		}
		if st.Open != 5 { // a2, a4, the producer and two from the /64
			t.Errorf("Open = %d, want 5", st.Open)
		}
	})
}

// runPipeServerWith is runPipeServer that also returns the Server.
func runPipeServerWith(t *testing.T, db *registry.DB, opts tcpserver.Options) (*tcpserver.Server, *pipeListener, func()) {
	t.Helper()
	opts.Identity = testIdentity
	opts.Logger = testLogger(t)
	srv, err := tcpserver.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	l := newPipeListener()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	return srv, l, func() {
		srv.Close()
		l.Close()
		<-done
	}
}
