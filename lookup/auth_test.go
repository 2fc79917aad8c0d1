package lookup_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Tokens of the tests' auth file.
const (
	tokAdmin    = "admin-token-0123456789"
	tokRead     = "read-token-0123456789"
	tokOrders   = "orders-register-0123456789"
	tokRegister = "any-register-0123456789"
)

const authFile = `
[[tokens]]
token = "` + tokAdmin + `"
role = "admin"

[[tokens]]
token = "` + tokRead + `"
role = "read"

[[tokens]]
token = "` + tokOrders + `"
role = "register"
topics = ["orders"]

[[tokens]]
token = "` + tokRegister + `"
role = "register"
`

// writeAuthFile writes content as a private token file and returns its path.
func writeAuthFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// request performs method url with an optional bearer token and returns
// status, body and the WWW-Authenticate header.
func request(t *testing.T, method, url, token string) (int, string, string) {
	t.Helper()
	return requestWith(t, nil, method, url, token)
}

// requestWith is request with the first client of hc, if any.
func requestWith(t *testing.T, hc []*http.Client, method, url, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	if len(hc) > 0 {
		c = hc[0]
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("WWW-Authenticate")
}

// HTTP with --auth-file: who may do what, with and without --auth-reads.
func TestAuth_HTTP(t *testing.T) {
	const (
		open   = "open"
		unauth = `401 {"message":"UNAUTHORIZED"}`
		forbid = `403 {"message":"FORBIDDEN"}`
	)
	type want map[string]string // token name -> open, unauth, forbid
	everyone := want{"none": open, "bad": open, "read": open, "admin": open, "register": open}
	adminOnly := want{"none": unauth, "bad": unauth, "read": forbid, "admin": open, "register": forbid}
	readers := want{"none": unauth, "bad": unauth, "read": open, "admin": open, "register": forbid}
	tokens := map[string]string{"none": "", "bad": "wrong-token-0123456789", "read": tokRead, "admin": tokAdmin, "register": tokRegister}
	cases := []struct {
		method, path       string
		plain, readsClosed want
	}{
		{"GET", "/ping", everyone, everyone},
		{"GET", "/lookup?topic=orders", everyone, readers},
		{"GET", "/topics", everyone, readers},
		{"GET", "/channels?topic=orders", everyone, readers},
		{"GET", "/nodes", everyone, readers},
		{"GET", "/info", everyone, readers},
		{"GET", "/debug", everyone, readers},
		{"GET", "/metrics", everyone, readers},
		{"GET", "/stats", everyone, readers},
		{"GET", "/debug/pprof/cmdline", adminOnly, adminOnly},
		{"POST", "/topic/create?topic=made", adminOnly, adminOnly},
		{"POST", "/channel/create?topic=made&channel=c", adminOnly, adminOnly},
		{"POST", "/channel/delete?topic=made&channel=c", adminOnly, adminOnly},
		{"POST", "/topic/tombstone?topic=orders&node=127.0.0.1:4151", adminOnly, adminOnly},
		{"POST", "/topic/delete?topic=made", adminOnly, adminOnly},
		{"PUT", "/topics", adminOnly, adminOnly},
	}
	for _, reads := range []bool{false, true} {
		name := "reads open"
		if reads {
			name = "auth-reads"
		}
		t.Run(name, func(t *testing.T) {
			o := lookuptest.Options(t)
			o.AuthFile = writeAuthFile(t, authFile)
			o.AuthReads = reads
			o.TCPAllow = []string{"127.0.0.0/8"}
			srv := lookuptest.Start(t, o)
			base := "http://" + srv.HTTPAddr().String()
			p := lookuptest.Dial(t, srv.TCPAddr().String())
			p.Identify(lookuptest.ProducerInfo(4150))
			if got := string(p.Register("orders", "c")); got != "OK" {
				t.Fatalf("register: %q", got)
			}
			for _, tc := range cases {
				w := tc.plain
				if reads {
					w = tc.readsClosed
				}
				for _, who := range []string{"none", "bad", "read", "register", "admin"} {
					code, body, challenge := request(t, tc.method, base+tc.path, tokens[who])
					got := open
					if code == 401 || code == 403 {
						got = fmt.Sprintf("%d %s", code, body)
					}
					if got != w[who] {
						t.Errorf("%s %s with %s token: %d %s, want %s", tc.method, tc.path, who, code, body, w[who])
					}
					if code == 401 && challenge != `Bearer realm="lookupd"` {
						t.Errorf("%s %s: 401 with WWW-Authenticate %q", tc.method, tc.path, challenge)
					}
				}
			}
			// The producer registered before is untouched by every refusal
			// (the admin's tombstone hid it from /lookup only).
			if got := string(p.Ping()); got != "OK" {
				t.Fatalf("producer PING: %q", got)
			}
			code, body, _ := request(t, "GET", base+"/stats", tokAdmin)
			if code != 200 || !strings.Contains(body, `"unauthorized":`) {
				t.Fatalf("/stats: %d %s", code, body)
			}
			m := metricsWith(t, base, tokAdmin)
			for _, name := range []string{`lookupd_auth_refused_total{port="http",reason="unauthorized"}`, `lookupd_auth_refused_total{port="http",reason="forbidden"}`} {
				if v := metricValue(m, name); v < 1 {
					t.Errorf("%s = %v, want at least 1", name, v)
				}
			}
		})
	}
}

// metricValue returns the value of the sample name (with its labels) in
// the exposition text m, or -1 if it is absent.
func metricValue(m, name string) float64 {
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// metricsWith returns /metrics fetched with token (if not empty) and hc
// (nil: a plain client).
func metricsWith(t *testing.T, base, token string, hc ...*http.Client) string {
	t.Helper()
	code, body, _ := requestWith(t, hc, "GET", base+"/metrics", token)
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	return body
}

// writeFileErr overwrites path with content.
func writeFileErr(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// TCP with --auth-file: lookup/producer sends its token in IDENTIFY; a
// token limited to "orders" that tries to REGISTER "payments" is refused
// with E_UNAUTHORIZED and its connection closed, and the producers that
// registered payments before keep it.
func TestAuth_ProducerToken(t *testing.T) {
	o := lookuptest.Options(t)
	o.AuthFile = writeAuthFile(t, authFile)
	o.TCPAllow = []string{"10.0.0.0/8"} // loopback is not in it: tokens are needed
	srv := lookuptest.Start(t, o)
	httpAddr := srv.HTTPAddr().String()

	payer := startProducer(t, srv, tokRegister, 4160, "payments")
	lookuptest.WaitFor(t, 5*time.Second, "payments registered", func() bool {
		return len(lookuptest.LookupProducers(t, httpAddr, "payments")) == 1
	})

	orders := startProducer(t, srv, tokOrders, 4150, "orders")
	lookuptest.WaitFor(t, 5*time.Second, "orders registered", func() bool {
		return len(lookuptest.LookupProducers(t, httpAddr, "orders")) == 1
	})
	if err := orders.Register("payments", ""); err != nil {
		t.Fatal(err)
	}
	lookuptest.WaitFor(t, 5*time.Second, "the refusal reported to the producer", func() bool {
		for _, st := range orders.Status() {
			if strings.Contains(st.LastError, "E_UNAUTHORIZED REGISTER topic 'payments' not allowed by auth_token") {
				return true
			}
		}
		return false
	})
	if got := lookuptest.LookupProducers(t, httpAddr, "payments"); len(got) != 1 || got[0] != "127.0.0.1:4160" {
		t.Fatalf("payments producers %v, want only the one with a token for it", got)
	}
	_ = payer

	// Without a token, from an address outside --tcp-allow: refused at IDENTIFY.
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	if got := string(p.Identify(lookuptest.ProducerInfo(4170))); got != "E_UNAUTHORIZED IDENTIFY auth_token required: address not in --tcp-allow" {
		t.Fatalf("IDENTIFY without a token: %q", got)
	}
	p.ExpectClosed()
	m := metricsText(t, httpAddr)
	for _, name := range []string{`lookupd_auth_refused_total{port="tcp",reason="forbidden"}`, `lookupd_auth_refused_total{port="tcp",reason="unauthorized"}`} {
		if v := metricValue(m, name); v < 1 {
			t.Errorf("%s = %v, want at least 1", name, v)
		}
	}
}

// startProducer runs a lookup/producer client with token that registers
// topic at srv, until the test ends.
func startProducer(t *testing.T, srv *lookup.Server, token string, port int, topic string) *producer.Client {
	t.Helper()
	c, err := producer.New(producer.Config{
		LookupdTCPAddresses: []string{srv.TCPAddr().String()},
		Identity:            wire.ProducerInfo{BroadcastAddress: "127.0.0.1", Hostname: "h", TCPPort: port, HTTPPort: port + 1},
		AuthToken:           token,
		HeartbeatInterval:   time.Second,
		BackoffMin:          10 * time.Millisecond,
		BackoffMax:          100 * time.Millisecond,
		Logger:              slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Register(topic, ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(t.Context()) })
	return c
}
