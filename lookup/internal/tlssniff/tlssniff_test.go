package tlssniff_test

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/internal/tlssniff"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// serve accepts one connection on l, reads one line under deadline d and
// reports what it was, then echoes the line back.
type result struct {
	line      string
	plaintext bool
	tls       bool
	err       error
}

func serveOne(t *testing.T, l *tlssniff.Listener, d time.Duration) <-chan result {
	t.Helper()
	out := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			out <- result{err: err}
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(d))
		line, err := bufio.NewReader(c).ReadString('\n')
		sc := tlssniff.Find(wrapped{c})
		_, isTLS := sc.ConnectionState()
		r := result{line: line, plaintext: sc.Plaintext(), tls: isTLS, err: err}
		if err == nil {
			_, r.err = c.Write([]byte(line))
		}
		out <- r
	}()
	return out
}

// wrapped is a connection wrapper with Unwrap, as a handed-back hijacked
// connection is.
type wrapped struct{ net.Conn }

func (w wrapped) Unwrap() net.Conn { return w.Conn }

func listen(t *testing.T, cfg *tls.Config) *tlssniff.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := tlssniff.NewListener(ln.(*net.TCPListener), cfg)
	t.Cleanup(func() { l.Close() })
	return l
}

// dial opens a plain TCP connection to l, closed when the test ends.
func dial(t *testing.T, l *tlssniff.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestListener(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	cfg := &tls.Config{Certificates: []tls.Certificate{certs.Server}, ClientCAs: certs.Pool, ClientAuth: tls.VerifyClientCertIfGiven}

	t.Run("tls client", func(t *testing.T) {
		l := listen(t, cfg)
		res := serveOne(t, l, 5*time.Second)
		c, err := tls.Dial("tcp", l.Addr().String(), certs.ClientTLS())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello\n"))
		echo, err := bufio.NewReader(c).ReadString('\n')
		r := <-res
		if r.err != nil || r.line != "hello\n" || !r.tls || r.plaintext || echo != "hello\n" || err != nil {
			t.Fatalf("server %+v, client echo %q %v", r, echo, err)
		}
	})

	t.Run("plaintext client", func(t *testing.T) {
		l := listen(t, cfg)
		res := serveOne(t, l, 5*time.Second)
		c := dial(t, l)
		c.Write([]byte("GET / HTTP/1.1\n"))
		echo, err := bufio.NewReader(c).ReadString('\n')
		r := <-res
		if r.err != nil || r.line != "GET / HTTP/1.1\n" || r.tls || !r.plaintext || echo != r.line || err != nil {
			t.Fatalf("server %+v, client echo %q %v", r, echo, err)
		}
		if s := l.Stats(); s.Plaintext != 1 || s.HandshakeErrors != 0 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("silent client", func(t *testing.T) {
		l := listen(t, cfg)
		res := serveOne(t, l, 200*time.Millisecond)
		dial(t, l)
		if r := <-res; !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("silent client: %+v, want the read deadline", r)
		}
	})

	t.Run("handshake that stalls", func(t *testing.T) {
		l := listen(t, cfg)
		res := serveOne(t, l, 200*time.Millisecond)
		c := dial(t, l)
		c.Write([]byte{0x16, 0x03, 0x01}) // a record header, then nothing
		r := <-res
		if !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("stalled handshake: %+v, want the read deadline", r)
		}
		if s := l.Stats(); s.HandshakeErrors != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("client certificate required", func(t *testing.T) {
		strict := cfg.Clone()
		strict.ClientAuth = tls.RequireAndVerifyClientCert
		for _, tc := range []struct {
			name string
			cert []tls.Certificate
			ok   bool
		}{{"none", nil, false}, {"other CA", []tls.Certificate{certs.Rogue}, false}, {"ours", []tls.Certificate{certs.Client}, true}} {
			t.Run(tc.name, func(t *testing.T) {
				l := listen(t, strict)
				res := serveOne(t, l, 5*time.Second)
				c, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: certs.Pool, Certificates: tc.cert})
				if err == nil {
					c.Write([]byte("x\n"))
					defer c.Close()
				}
				r := <-res
				if (r.err == nil) != tc.ok {
					t.Fatalf("server %+v", r)
				}
			})
		}
	})
}
