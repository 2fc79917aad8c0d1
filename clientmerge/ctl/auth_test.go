package ctl

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

const (
	readToken  = "read-token-0123456789"
	adminToken = "admin-token-0123456789"
)

// TestAuthTokenFile: against lookupds run with --auth-file and
// --auth-reads, lookupctl answers only with --auth-token-file, and the web
// view's actions need an admin token.
func TestAuthTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tokens := write("tokens.toml", "[[tokens]]\ntoken = \""+readToken+"\"\nrole = \"read\"\n\n[[tokens]]\ntoken = \""+adminToken+"\"\nrole = \"admin\"\n")
	c := &testCluster{t: t}
	for range 2 {
		o := lookuptest.Options(t)
		o.AuthFile, o.AuthReads, o.TCPAllow = tokens, true, []string{"127.0.0.0/8"}
		d := lookuptest.StartDaemon(t, o)
		c.ds = append(c.ds, d)
		c.addrs = append(c.addrs, d.HTTPAddr().String())
	}
	c.announceOn([]int{0, 1}, 4150, "p1", "orders")

	code, _, errs := c.run("topics")
	if code != ExitUnreachable || !strings.Contains(c.name(errs), "lookupctl: lookupd A unreachable: http status 401: UNAUTHORIZED") {
		t.Errorf("without a token: exit %d, stderr %q", code, errs)
	}
	readFile := write("read.token", readToken+"\n")
	code, out, errs := c.run("topics", "--auth-token-file", readFile)
	if code != ExitOK || errs != "" || !strings.Contains(out, "orders  2/2") {
		t.Errorf("with a read token: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, errs = c.run("topics", "--auth-token-file", filepath.Join(dir, "missing"))
	if code != ExitUsage || !strings.HasPrefix(errs, "lookupctl: --auth-token-file: ") {
		t.Errorf("missing token file: exit %d, stderr %q", code, errs)
	}

	// The web view: a read token sees the cluster but may not act; an
	// admin token may.
	for _, tc := range []struct {
		token string
		want  int
	}{{readToken, http.StatusBadGateway}, {adminToken, http.StatusOK}} {
		opts := NewOptions()
		opts.HTTPAddress, opts.EnableActions, opts.Interval = "127.0.0.1:0", true, time.Second
		cl, err := NewCluster(c.addrs, opts.Timeout, nil, clientmerge.WithBearerToken(tc.token))
		if err != nil {
			t.Fatal(err)
		}
		s := serveUI(t, cl, opts)
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"api/action/delete-topic?topic=gone", nil)
		req.Header.Set(actionHeader, "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("delete-topic with the %s: status %d, want %d", tc.token[:5], resp.StatusCode, tc.want)
		}
	}
}

// TestFlagSet_CoversOptions: ctl's own flag set (used to split flags from
// arguments, and without a Loader) has every flag-tagged option, with the
// same kind of value, so a new option cannot be silently misparsed.
func TestFlagSet_CoversOptions(t *testing.T) {
	fs := flagSet(NewOptions())
	typ := reflect.TypeFor[Options]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, ok := f.Tag.Lookup("flag")
		if !ok {
			continue
		}
		fl := fs.Lookup(name)
		if fl == nil {
			t.Errorf("option --%s is missing from flagSet", name)
			continue
		}
		if isBool(fl) != (f.Type.Kind() == reflect.Bool) {
			t.Errorf("--%s: bool flag %v, bool field %v", name, isBool(fl), f.Type.Kind() == reflect.Bool)
		}
	}
}
