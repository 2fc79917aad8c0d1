package lookup_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/wire"
)

// tlsOptions are lookuptest's options with TLS from certs, mTLS if
// clientCA, and a V1-over-TLS listener.
func tlsOptions(t *testing.T, certs *lookuptest.Certs, clientCA bool) *lookup.Options {
	t.Helper()
	o := lookuptest.Options(t)
	o.TLSCert, o.TLSKey = certs.ServerCert, certs.ServerKey
	if clientCA {
		o.TLSClientCA = certs.CAFile
	}
	o.TCPTLSAddress = "127.0.0.1:0"
	return o
}

// httpsClient returns a client with cfg that keeps one idle connection.
func httpsClient(t *testing.T, cfg *tls.Config) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func getBody(t *testing.T, c *http.Client, url string) (int, string, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// With --tls-cert, --http-address serves HTTPS only; a plaintext request
// gets nsqd's 403 TLS_REQUIRED naming the HTTPS port, and nothing else.
func TestTLS_HTTPSOnly(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	srv := lookuptest.Start(t, tlsOptions(t, certs, false))
	addr := srv.HTTPAddr().String()
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	p.Register("orders", "")

	code, body, err := getBody(t, httpsClient(t, &tls.Config{RootCAs: certs.Pool}), "https://"+addr+"/lookup?topic=orders")
	if err != nil || code != 200 || !strings.Contains(body, `"tcp_port":4150`) {
		t.Fatalf("https /lookup: %d %s %v", code, body, err)
	}
	for _, path := range []string{"/lookup?topic=orders", "/ping", "/topic/delete?topic=orders"} {
		code, body, err := getBody(t, &http.Client{Timeout: 5 * time.Second}, "http://"+addr+path)
		want := fmt.Sprintf(`{"message": "TLS_REQUIRED", "https_port": %d}`, srv.HTTPAddr().Port)
		if err != nil || code != http.StatusForbidden || body != want {
			t.Fatalf("plaintext %s: %d %q %v, want 403 %s", path, code, body, err, want)
		}
	}
	// Untrusted by the client: the handshake fails.
	if _, _, err := getBody(t, httpsClient(t, &tls.Config{}), "https://"+addr+"/ping"); err == nil {
		t.Fatal("a client without the CA accepted the certificate")
	}
	m := metricsWith(t, "https://"+addr, "", httpsClient(t, &tls.Config{RootCAs: certs.Pool}))
	if v := metricValue(m, "lookupd_http_plaintext_refused_total"); v != 3 {
		t.Errorf("plaintext refused %v, want 3", v)
	}
	if res, _ := srv.DB().Lookup("orders"); len(res.Producers) != 1 {
		t.Fatal("a plaintext POST reached the registry")
	}
}

// With --tls-client-ca both TLS listeners require a certificate signed by
// it.
func TestTLS_ClientCertificates(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	srv := lookuptest.Start(t, tlsOptions(t, certs, true))
	tlsAddr, _ := srv.TCPTLSAddr()
	for _, tc := range []struct {
		name string
		cert []tls.Certificate
		ok   bool
	}{{"no certificate", nil, false}, {"signed by another CA", []tls.Certificate{certs.Rogue}, false}, {"signed by the CA", []tls.Certificate{certs.Client}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: certs.Pool, Certificates: tc.cert}
			code, _, err := getBody(t, httpsClient(t, cfg), "https://"+srv.HTTPAddr().String()+"/ping")
			if (err == nil && code == 200) != tc.ok {
				t.Errorf("https: %d %v", code, err)
			}
			c, err := tls.Dial("tcp", tlsAddr.String(), cfg)
			if err == nil {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = c.Write([]byte(wire.MagicV1 + "PING\n"))
				if err == nil {
					var reply []byte
					reply, err = wire.ReadResponse(c, 64)
					if err == nil && string(reply) != "OK" {
						err = fmt.Errorf("reply %q", reply)
					}
				}
			}
			if (err == nil) != tc.ok {
				t.Errorf("v1 over tls: %v", err)
			}
		})
	}
}

func TestTLS_MinVersion(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	o := tlsOptions(t, certs, false)
	o.TLSMinVersion = "1.3"
	srv := lookuptest.Start(t, o)
	url := "https://" + srv.HTTPAddr().String() + "/ping"
	if _, _, err := getBody(t, httpsClient(t, &tls.Config{RootCAs: certs.Pool, MaxVersion: tls.VersionTLS12}), url); err == nil {
		t.Fatal("TLS 1.2 accepted with --tls-min-version 1.3")
	}
	if code, _, err := getBody(t, httpsClient(t, &tls.Config{RootCAs: certs.Pool}), url); err != nil || code != 200 {
		t.Fatalf("TLS 1.3: %d %v", code, err)
	}
}

// lookup/producer registers over the V1 TLS listener, with a token too;
// a plaintext V1 client there gets nothing; a client that starts a
// handshake and stalls is cut at --handshake-timeout.
func TestTLS_V1Listener(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	o := tlsOptions(t, certs, true)
	o.AuthFile = writeAuthFile(t, authFile)
	o.HandshakeTimeout = 300 * time.Millisecond
	srv := lookuptest.Start(t, o)
	tlsAddr, _ := srv.TCPTLSAddr()

	c, err := producer.New(producer.Config{
		LookupdTCPAddresses: []string{tlsAddr.String()},
		Identity:            wire.ProducerInfo{BroadcastAddress: "127.0.0.1", Hostname: "h", TCPPort: 4150, HTTPPort: 4151},
		TLSConfig:           certs.ClientTLS(),
		AuthToken:           tokOrders,
		HeartbeatInterval:   time.Second,
		Logger:              slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Register("orders", "c")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	lookuptest.WaitFor(t, 5*time.Second, "orders registered over TLS", func() bool {
		res, _ := srv.DB().Lookup("orders")
		return len(res.Producers) == 1 && len(res.Channels) == 1
	})

	plain := lookuptest.DialRaw(t, tlsAddr.String())
	plain.Write([]byte(wire.MagicV1 + "PING\n"))
	plain.ExpectClosed()

	stall, err := net.Dial("tcp", tlsAddr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	stall.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40}) // a ClientHello's record header, no body
	stall.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(stall); err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("stalled handshake: %v after %s, want the server to close", err, time.Since(start))
	}
	lookuptest.WaitFor(t, 5*time.Second, "the stalled handshake counted", func() bool {
		var st struct {
			TCP struct {
				HandshakeTimeouts int `json:"handshake_timeouts"`
			} `json:"tcp"`
		}
		_, body, _ := getBody(t, httpsClient(t, certs.ClientTLS()), "https://"+srv.HTTPAddr().String()+"/stats")
		return json.Unmarshal([]byte(body), &st) == nil && st.TCP.HandshakeTimeouts >= 1
	})
}

// Blocking queries over HTTPS: the hijacked connection is answered and
// handed back to the server, and the next request on it is served.
func TestTLS_BlockingKeepAlive(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	srv := lookuptest.Start(t, tlsOptions(t, certs, true))
	hc := httpsClient(t, certs.ClientTLS())
	base := "https://" + srv.HTTPAddr().String()
	get := func(path string) (string, uint64, bool) {
		t.Helper()
		var reused bool
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var idx uint64
		fmt.Sscan(resp.Header.Get("X-Lookupd-Index"), &idx)
		return string(b), idx, reused
	}
	_, idx, _ := get("/topics")
	done := make(chan string, 1)
	go func() {
		body, _, _ := get(fmt.Sprintf("/topics?index=%d&wait=30s", idx))
		done <- body
	}()
	lookuptest.WaitFor(t, 5*time.Second, "the query blocked", func() bool { return srv.BlockingStats().Waiting == 1 })
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	p.Register("orders", "")
	select {
	case body := <-done:
		if !strings.Contains(body, "orders") {
			t.Fatalf("woken with %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("blocking query over TLS not answered")
	}
	if body, _, reused := get("/topics"); !reused || !strings.Contains(body, "orders") {
		t.Fatalf("next request: reused=%v %s", reused, body)
	}
}

// SIGHUP's Reload picks up a renewed certificate for the next handshakes;
// a broken file keeps the one in use.
func TestTLS_ReloadCertificate(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	srv := lookuptest.Start(t, tlsOptions(t, certs, false))
	served := func() []byte {
		t.Helper()
		c, err := tls.Dial("tcp", srv.HTTPAddr().String(), &tls.Config{RootCAs: certs.Pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	first := served()
	renewed := certs.RenewServer(t)
	if !bytes.Equal(served(), first) {
		t.Fatal("certificate changed before Reload")
	}
	if err := srv.Reload(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(served(), renewed.Certificate[0]) {
		t.Fatal("Reload did not serve the renewed certificate")
	}
	if err := writeFileErr(certs.ServerKey, "not a key"); err != nil {
		t.Fatal(err)
	}
	err := srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "keeping the previous certificate") {
		t.Fatalf("Reload of a broken key: %v", err)
	}
	if !bytes.Equal(served(), renewed.Certificate[0]) {
		t.Fatal("a broken reload changed the certificate served")
	}
}

// A taken --tcp-tls-address fails New with one clear error, and the
// listeners New had bound already are released.
func TestTLS_V1ListenerTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	// Addresses known to be free: bound, then released at once.
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	opts := tlsOptions(t, lookuptest.NewCerts(t), false)
	opts.TCPAddress, opts.HTTPAddress, opts.TCPTLSAddress = free(), free(), taken.Addr().String()
	_, err = lookup.New(opts)
	want := "tcp tls listener: listen tcp " + taken.Addr().String() + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
	for _, addr := range []string{opts.TCPAddress, opts.HTTPAddress} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s still bound after New failed: %v", addr, err)
			continue
		}
		ln.Close()
	}
}
