package clientmerge

import (
	"crypto/tls"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

const (
	testReadToken  = "clientmerge-read-0123456789"
	testAdminToken = "clientmerge-admin-0123456789"
)

// startAuthLookupd runs our lookupd with --auth-file (a read and an admin
// token) and --auth-reads, with one producer of "orders".
func startAuthLookupd(t *testing.T) *lookuptest.Daemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens.toml")
	content := "[[tokens]]\ntoken = \"" + testReadToken + "\"\nrole = \"read\"\n" +
		"[[tokens]]\ntoken = \"" + testAdminToken + "\"\nrole = \"admin\"\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	o := lookuptest.Options(t)
	o.AuthFile, o.AuthReads, o.TCPAllow = path, true, []string{"127.0.0.0/8"}
	d := lookuptest.StartDaemon(t, o)
	cmtest.Announce(t, d.TCPAddr().String(), "10.0.0.1", 4150, "orders")
	return d
}

// WithBearerToken: reads of a lookupd with --auth-reads succeed with a
// read token and fail (401, as a StatusError) without one; Do sends the
// token on the request it is given.
func TestClient_BearerToken(t *testing.T) {
	d := startAuthLookupd(t)
	addrs := []string{d.HTTPAddr().String()}

	res, err := newClient(t, addrs, WithBearerToken(testReadToken)).Lookup(t.Context(), "orders")
	if err != nil || len(res.Producers) != 1 {
		t.Fatalf("Lookup with a read token: %+v, %v", res, err)
	}

	_, err = newClient(t, addrs, WithSnapshots(false)).Lookup(t.Context(), "orders")
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized || se.Message != "UNAUTHORIZED" {
		t.Fatalf("Lookup without a token: %v, want a 401 UNAUTHORIZED StatusError", err)
	}

	for _, tc := range []struct {
		token string
		want  int
	}{{testReadToken, http.StatusForbidden}, {testAdminToken, http.StatusOK}} {
		c := newClient(t, addrs, WithBearerToken(tc.token))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+addrs[0]+"/topic/create?topic=made", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("POST with the %s token: %d, want %d", tc.token[:16], resp.StatusCode, tc.want)
		}
	}

	if _, err := New(addrs, WithBearerToken("")); err == nil {
		t.Error("New accepted an empty token")
	}
	if _, err := New(addrs, WithTLSConfig(nil)); err == nil {
		t.Error("New accepted a nil TLS config")
	}
	if _, err := New(addrs, WithTLSConfig(&tls.Config{}), WithHTTPClient(http.DefaultClient)); err == nil {
		t.Error("New accepted WithTLSConfig with WithHTTPClient")
	}
}

// WithTLSConfig: an https:// lookupd with mTLS and --auth-reads answers a
// Client with the CA, a client certificate and a read token; a Client
// without the TLS configuration fails its handshake.
func TestClient_TLS(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	path := filepath.Join(t.TempDir(), "tokens.toml")
	if err := os.WriteFile(path, []byte("[[tokens]]\ntoken = \""+testReadToken+"\"\nrole = \"read\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := lookuptest.Options(t)
	o.AuthFile, o.AuthReads, o.TCPAllow = path, true, []string{"127.0.0.0/8"}
	o.TLSCert, o.TLSKey, o.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CAFile
	d := lookuptest.StartDaemon(t, o)
	cmtest.Announce(t, d.TCPAddr().String(), "10.0.0.1", 4150, "orders")
	addrs := []string{"https://" + d.HTTPAddr().String()}

	c := newClient(t, addrs, WithTLSConfig(certs.ClientTLS()), WithBearerToken(testReadToken))
	res, err := c.Lookup(t.Context(), "orders")
	if err != nil || len(res.Producers) != 1 {
		t.Fatalf("Lookup over mTLS: %+v, %v", res, err)
	}
	if _, err := newClient(t, addrs, WithSnapshots(false), WithBearerToken(testReadToken)).Lookup(t.Context(), "orders"); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Lookup without the CA: %v, want a certificate error", err)
	}
}
