package producerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer/producertest"
	"github.com/lookupd/lookupd/lookup/producerd"
)

// producerd with --auth-token-file sends its token to a lookupd run with
// --auth-file, which lets it register the topics its token covers only.
func TestDaemon_AuthTokenFile(t *testing.T) {
	const tok = "orders-register-0123456789"
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.toml")
	if err := os.WriteFile(tokens, []byte("[[tokens]]\ntoken = \""+tok+"\"\nrole = \"register\"\ntopics = [\"orders\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lo := lookuptest.Options(t)
	lo.AuthFile = tokens // and no --tcp-allow: a token is the only way in
	srv := lookuptest.Start(t, lo)
	ds := []*producertest.Daemon{{Kind: "lookupd", TCPAddr: srv.TCPAddr().String(), HTTPAddr: srv.HTTPAddr().String()}}

	const port = 24190
	o := daemonOptions(t, ds, port, "orders/c")
	o.AuthTokenFile = tokFile
	d, err := producerd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	producertest.Eventually(t, 5*time.Second, producertest.Registered(ds, "127.0.0.1", port, "orders", "c"))

	// Without the token file the same daemon is refused at IDENTIFY.
	o2 := daemonOptions(t, ds, port+10, "orders")
	d2, err := producerd.New(o2)
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d2)
	waitState(t, d2, "E_UNAUTHORIZED IDENTIFY auth_token required")

	// A bad token file stops New, without showing its content.
	if err := os.WriteFile(tokFile, []byte("two words\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := producerd.New(o); err == nil || !strings.Contains(err.Error(), "token file") || strings.Contains(err.Error(), "two") {
		t.Fatalf("New with a bad token file: %v", err)
	}
}

// producerd with --tls and a client certificate registers with a lookupd's
// V1-over-TLS listener under mTLS; without its certificate it is refused.
func TestDaemon_TLS(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	lo := lookuptest.Options(t)
	lo.TLSCert, lo.TLSKey, lo.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CAFile
	lo.TCPTLSAddress = "127.0.0.1:0"
	srv := lookuptest.Start(t, lo)
	tlsAddr, _ := srv.TCPTLSAddr()
	ds := []*producertest.Daemon{{Kind: "lookupd", TCPAddr: tlsAddr.String(), HTTPAddr: srv.HTTPAddr().String()}}

	const port = 24210
	o := daemonOptions(t, ds, port, "orders/c")
	o.TLS, o.TLSCAFile, o.TLSCert, o.TLSKey = true, certs.CAFile, certs.ClientCert, certs.ClientKey
	d, err := producerd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	lookuptest.WaitFor(t, 5*time.Second, "orders registered over TLS", func() bool {
		res, _ := srv.DB().Lookup("orders")
		return len(res.Producers) == 1 && len(res.Channels) == 1
	})

	o2 := daemonOptions(t, ds, port+10, "orders")
	o2.TLS, o2.TLSCAFile = true, certs.CAFile // no client certificate
	d2, err := producerd.New(o2)
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d2)
	waitState(t, d2, "certificate")
	if res, _ := srv.DB().Lookup("orders"); len(res.Producers) != 1 {
		t.Fatalf("producers %+v, want the one with a certificate only", res.Producers)
	}

	bad := daemonOptions(t, ds, port, "orders")
	bad.TLSCAFile = certs.CAFile // without --tls
	if _, err := producerd.New(bad); err == nil || !strings.Contains(err.Error(), "--tls: must be set") {
		t.Fatalf("TLS files without --tls: %v", err)
	}
}

// waitState waits until the daemon's /state mentions want (an error of a
// lookupd connection).
func waitState(t *testing.T, d *producerd.Daemon, want string) {
	t.Helper()
	lookuptest.WaitFor(t, 5*time.Second, want+" in /state", func() bool {
		_, body := lookuptest.Do(t, "GET", "http://"+d.AdminAddr().String()+"/state")
		return strings.Contains(string(body), want)
	})
}
