package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

const (
	readSecret  = "consumer-read-token-0123456789"
	adminSecret = "operator-admin-token-0123456789"
)

// startOursWithAuth starts our lookupd with a token file, --auth-reads,
// and loopback in --tcp-allow (nsqd cannot send a token).
func startOursWithAuth(t *testing.T) (*lookuptest.Daemon, lookupdNode) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.toml")
	err := os.WriteFile(path, []byte(`
[[tokens]]
token = "`+readSecret+`"
role = "read"

[[tokens]]
token = "`+adminSecret+`"
role = "admin"
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	o := lookuptest.Options(t)
	o.AuthFile, o.AuthReads, o.TCPAllow = path, true, []string{"127.0.0.0/8"}
	d := lookuptest.StartDaemon(t, o)
	return d, lookupdNode{tcp: d.TCPAddr().String(), http: d.HTTPAddr().String(), stop: d.Stop}
}

// unauthorized returns the lookupd's count of 401 answers, read with the
// admin token.
func unauthorized(t *testing.T, l lookupdNode) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+l.http+"/stats", nil)
	req.Header.Set("Authorization", "Bearer "+adminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var st struct {
		HTTP struct {
			Unauthorized int `json:"unauthorized"`
		} `json:"http"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &st) != nil {
		t.Fatalf("/stats: %d %s", resp.StatusCode, b)
	}
	return st.HTTP.Unauthorized
}

// go-nsq v1.1.0 consumers whose config sets AuthSecret send it as a bearer
// token on their lookupd queries: against a lookupd with --auth-reads they
// find nsqd and receive messages, unchanged; a consumer without it, or
// with a secret the lookupd does not know, is refused (401) and finds
// nothing. nsqd (no token, allowed by --tcp-allow) registers as usual.
func TestConsumer_AuthSecretWithAuthReads(t *testing.T) {
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	srv, l := startOursWithAuth(t)
	d := startNSQD(t, l)
	d.createTopic("events")
	lookuptest.WaitFor(t, waitTimeout, "nsqd registered events", func() bool {
		res, ok := srv.DB().Lookup("events")
		return ok && len(res.Producers) == 1
	})

	for _, tc := range []struct{ name, secret string }{{"no secret", ""}, {"unknown secret", "guess-0123456789abcdef"}} {
		t.Run(tc.name, func(t *testing.T) {
			before := unauthorized(t, l)
			cfg := nsq.NewConfig()
			cfg.AuthSecret = tc.secret
			c := startConsumerWith(t, cfg, "events", "denied", l)
			lookuptest.WaitFor(t, waitTimeout, "its lookupd queries refused", func() bool { return unauthorized(t, l) >= before+2 })
			if n := c.c.Stats().Connections; n != 0 {
				t.Fatalf("consumer refused by the lookupd connected to %d nsqd", n)
			}
			c.stop()
		})
	}

	cfg := nsq.NewConfig()
	cfg.AuthSecret = readSecret
	c := startConsumerWith(t, cfg, "events", "allowed", l)
	lookuptest.WaitFor(t, waitTimeout, "the subscription announced", func() bool {
		res, _ := srv.DB().Lookup("events")
		return len(res.Channels) == 1 && res.Channels[0] == "allowed"
	})
	publish(t, d, "events", "hello")
	c.expect("hello")
	c.stop()
}

// go-nsq v1.1.0 consumers reach a lookupd that serves HTTPS only with
// mTLS and --auth-reads through an https:// address, a TLS-configured
// lookupd client and their AuthSecret; nothing in go-nsq changes.
func TestConsumer_OverMutualTLS(t *testing.T) {
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
	certs := lookuptest.NewCerts(t)
	path := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(path, []byte("[[tokens]]\ntoken = \""+readSecret+"\"\nrole = \"read\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := lookuptest.Options(t)
	o.AuthFile, o.AuthReads, o.TCPAllow = path, true, []string{"127.0.0.0/8"}
	o.TLSCert, o.TLSKey, o.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CAFile
	srv := lookuptest.StartDaemon(t, o)
	l := lookupdNode{tcp: srv.TCPAddr().String(), http: srv.HTTPAddr().String(), stop: srv.Stop}
	d := startNSQD(t, l)
	d.createTopic("events")
	lookuptest.WaitFor(t, waitTimeout, "nsqd registered events", func() bool {
		res, ok := srv.DB().Lookup("events")
		return ok && len(res.Producers) == 1
	})
	cfg := nsq.NewConfig()
	cfg.AuthSecret = readSecret
	cfg.TlsConfig = certs.ClientTLS() // used here for the lookupd client only (see startConsumerWith)
	cfg.TlsV1 = false
	c := startConsumerWith(t, cfg, "events", "secure", l)
	lookuptest.WaitFor(t, waitTimeout, "the subscription announced", func() bool {
		res, _ := srv.DB().Lookup("events")
		return len(res.Channels) == 1 && res.Channels[0] == "secure"
	})
	publish(t, d, "events", "over tls")
	c.expect("over tls")
	c.stop()
}
