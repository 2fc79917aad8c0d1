package ctl

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// lookupctl's credential flags: against lookupds that serve HTTPS only
// with mTLS and --auth-reads, it answers with --tls-ca-file, --tls-cert,
// --tls-key and --auth-token-file, and fails without the token.
func TestMain_TLSAndToken(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	dir := t.TempDir()
	const tok = "lookupctl-read-0123456789"
	tokens, tokFile := filepath.Join(dir, "tokens.toml"), filepath.Join(dir, "token")
	if err := os.WriteFile(tokens, []byte("[[tokens]]\ntoken = \""+tok+"\"\nrole = \"read\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for range 2 {
		o := lookuptest.Options(t)
		o.TLSCert, o.TLSKey, o.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CAFile
		o.AuthFile, o.AuthReads, o.TCPAllow = tokens, true, []string{"127.0.0.0/8"}
		srv := lookuptest.Start(t, o)
		p := lookuptest.Dial(t, srv.TCPAddr().String())
		p.Identify(lookuptest.ProducerInfo(4150))
		p.Register("orders", "")
		addrs = append(addrs, "--lookupd-http-address=https://"+srv.HTTPAddr().String())
	}
	creds := []string{"--tls-ca-file=" + certs.CAFile, "--tls-cert=" + certs.ClientCert, "--tls-key=" + certs.ClientKey}
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := Main(t.Context(), append(append([]string{}, addrs...), args...), nil, &out, &errw)
		return code, out.String(), errw.String()
	}
	code, out, errs := run(append(creds, "--auth-token-file="+tokFile, "topics")...)
	if code != ExitOK || !strings.Contains(out, "orders") || !strings.Contains(out, "2/2") {
		t.Fatalf("topics with credentials: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = run(append(creds, "topics")...)
	if code == ExitOK || !strings.Contains(out+errs, "401") {
		t.Fatalf("topics without the token: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = run("--tls-cert="+certs.ClientCert, "topics")
	if code != ExitUsage || !strings.Contains(errs, "tls client certificate and key go together") {
		t.Fatalf("a certificate without its key: exit %d %s", code, errs)
	}
}
