package auth_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lookupd/lookupd/lookup/auth"
)

const (
	adminTok    = "admin-0123456789abcdef"
	readTok     = "read-0123456789abcdef"
	ordersTok   = "orders-0123456789abcdef"
	anyTopicTok = "anytopic-0123456789abcdef"
)

const goodFile = `
[[tokens]]
token = "` + adminTok + `"
role = "admin"

[[tokens]]
token = "` + readTok + `"
role = "read"

[[tokens]]
token = "` + ordersTok + `"
role = "register"
topics = ["orders", "billing.*", "orders#ephemeral"]

[[tokens]]
token = "` + anyTopicTok + `"
role = "register"
`

func mustParse(t *testing.T, s string) *auth.Table {
	t.Helper()
	tab, err := auth.Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tab
}

func TestTable_Authenticate(t *testing.T) {
	tab := mustParse(t, goodFile)
	if tab.Len() != 4 {
		t.Fatalf("Len = %d, want 4", tab.Len())
	}
	tests := []struct {
		name               string
		token              string
		ok                 bool
		role               auth.Role
		index              int
		read, admin        bool
		orders, payments   bool
		billingEU, billing bool
	}{
		{name: "admin", token: adminTok, ok: true, role: auth.RoleAdmin, index: 0, read: true, admin: true},
		{name: "read", token: readTok, ok: true, role: auth.RoleRead, index: 1, read: true},
		{name: "register limited", token: ordersTok, ok: true, role: auth.RoleRegister, index: 2, orders: true, billingEU: true},
		{name: "register any topic", token: anyTopicTok, ok: true, role: auth.RoleRegister, index: 3, orders: true, payments: true, billingEU: true, billing: true},
		{name: "unknown", token: "nobody-0123456789abcdef"},
		{name: "prefix of a token", token: adminTok[:len(adminTok)-1]},
		{name: "token plus a byte", token: adminTok + "x"},
		{name: "empty", token: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, ok := tab.Authenticate(tc.token)
			if ok != tc.ok || g.Role != tc.role {
				t.Fatalf("Authenticate = %+v, %v; want role %q, %v", g, ok, tc.role, tc.ok)
			}
			if ok && g.Index != tc.index {
				t.Errorf("Index = %d, want %d", g.Index, tc.index)
			}
			if g.CanRead() != tc.read || g.CanAdmin() != tc.admin {
				t.Errorf("CanRead %v CanAdmin %v, want %v %v", g.CanRead(), g.CanAdmin(), tc.read, tc.admin)
			}
			for topic, want := range map[string]bool{"orders": tc.orders, "payments": tc.payments, "billing.eu": tc.billingEU, "billing": tc.billing} {
				if got := g.CanRegister(topic); got != want {
					t.Errorf("CanRegister(%q) = %v, want %v", topic, got, want)
				}
			}
			if strings.Contains(g.Label(), tc.token) && tc.token != "" {
				t.Errorf("Label %q contains the token", g.Label())
			}
		})
	}
}

func TestGrant_CanRegisterEphemeral(t *testing.T) {
	g, _ := mustParse(t, goodFile).Authenticate(ordersTok)
	// The glob is matched against the whole name: "orders" alone does not
	// cover "orders#ephemeral", the file lists it separately.
	if !g.CanRegister("orders#ephemeral") {
		t.Error("orders#ephemeral refused although listed")
	}
	if g.CanRegister("payments#ephemeral") {
		t.Error("payments#ephemeral allowed")
	}
}

func TestParse_Errors(t *testing.T) {
	const secret = "s3cret-value-never-shown"
	tests := []struct {
		name string
		file string
		want []string // substrings of the error
	}{
		{name: "unknown role", file: "[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"root\"\n", want: []string{`tokens[0]: unknown role "root"`}},
		{name: "missing role", file: "[[tokens]]\ntoken = \"" + secret + "\"\n", want: []string{"tokens[0]: role is missing"}},
		{name: "missing token", file: "[[tokens]]\nrole = \"read\"\n", want: []string{"tokens[0]: token is missing"}},
		{name: "short token", file: "[[tokens]]\ntoken = \"short\"\nrole = \"read\"\n", want: []string{"tokens[0]: token is shorter than 16"}},
		{name: "white space", file: "[[tokens]]\ntoken = \" " + secret + "\"\nrole = \"read\"\n", want: []string{"tokens[0]: token has leading or trailing white space"}},
		{name: "topics on admin", file: "[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"admin\"\ntopics = [\"a\"]\n", want: []string{`tokens[0]: topics apply only to role register, not "admin"`}},
		{name: "bad glob", file: "[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"register\"\ntopics = [\"[a\"]\n", want: []string{`tokens[0]: topic glob "[a" is not valid`}},
		{name: "duplicate", file: "[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"read\"\n[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"admin\"\n", want: []string{"tokens[1]: same token as tokens[0]"}},
		{name: "unknown key", file: "[[tokens]]\ntoken = \"" + secret + "\"\nrole = \"register\"\ntopic = [\"orders\"]\n", want: []string{"unknown key tokens.topic"}},
		{name: "every problem at once", file: "[[tokens]]\nrole = \"x\"\n[[tokens]]\ntoken = \"short\"\nrole = \"read\"\n", want: []string{"tokens[0]: unknown role", "tokens[0]: token is missing", "tokens[1]: token is shorter"}},
		{name: "unquoted token", file: "[[tokens]]\ntoken = " + secret + "\nrole = \"read\"\n", want: []string{"invalid TOML at line 2 (key tokens.token)"}},
		{name: "syntax elsewhere", file: "[[tokens]]\nrole = \"read\n", want: []string{"invalid TOML at line 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auth.Parse([]byte(tc.file))
			if err == nil {
				t.Fatal("Parse accepted the file")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the token: %q", err)
			}
		})
	}
}

func TestParse_EmptyFileRefusesAll(t *testing.T) {
	tab := mustParse(t, "")
	if _, ok := tab.Authenticate(adminTok); ok {
		t.Fatal("empty table accepted a token")
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		header string
		tok    string
		ok     bool
	}{
		{header: "Bearer abc", tok: "abc", ok: true},
		{header: "bearer abc", tok: "abc", ok: true},
		{header: "BEARER  abc ", tok: "abc", ok: true},
		{header: "Basic YWJjOmRlZg==", ok: false},
		{header: "Bearer", ok: false},
		{header: "Bearer ", ok: false},
		{header: "", ok: false},
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.header != "" {
			h.Set("Authorization", tc.header)
		}
		tok, ok := auth.BearerToken(h)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.tok, tc.ok)
		}
	}
}

func writeFile(t *testing.T, path, s string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile keeps an existing file's mode
		t.Fatal(err)
	}
}

func TestStore_ReloadKeepsOldOnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.toml")
	writeFile(t, path, goodFile, 0o600)
	var logs bytes.Buffer
	s, err := auth.Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authenticate(adminTok); !ok {
		t.Fatal("admin token refused after Open")
	}

	writeFile(t, path, "[[tokens]]\ntoken = \"new-admin-0123456789\"\nrole = \"superuser\"\n", 0o600)
	err = s.Reload()
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), `unknown role "superuser"`) {
		t.Fatalf("Reload of a bad file: %v", err)
	}
	if _, ok := s.Authenticate(adminTok); !ok {
		t.Fatal("a bad reload dropped the old tokens")
	}

	writeFile(t, path, "[[tokens]]\ntoken = \"new-admin-0123456789\"\nrole = \"admin\"\n", 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authenticate(adminTok); ok {
		t.Fatal("old token still accepted after a good reload")
	}
	if g, ok := s.Authenticate("new-admin-0123456789"); !ok || !g.CanAdmin() {
		t.Fatalf("new token: %+v %v", g, ok)
	}

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Fatal("Reload of a missing file succeeded")
	}
	if _, ok := s.Authenticate("new-admin-0123456789"); !ok {
		t.Fatal("a missing file dropped the tokens")
	}
	for _, tok := range []string{adminTok, readTok, ordersTok, "new-admin-0123456789"} {
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("log shows a token: %s", logs.String())
		}
	}
}

func TestLoadFile_WarnsWhenReadableByOthers(t *testing.T) {
	dir := t.TempDir()
	private := filepath.Join(dir, "private.toml")
	shared := filepath.Join(dir, "shared.toml")
	writeFile(t, private, goodFile, 0o600)
	writeFile(t, shared, goodFile, 0o644)
	if _, warn, err := auth.LoadFile(private); err != nil || warn != "" {
		t.Fatalf("mode 600: warn %q, err %v", warn, err)
	}
	if _, warn, err := auth.LoadFile(shared); err != nil || !strings.Contains(warn, "chmod 600") {
		t.Fatalf("mode 644: warn %q, err %v", warn, err)
	}
	if _, _, err := auth.LoadFile(dir); err == nil {
		t.Fatal("a directory loaded")
	}
}

func TestStore_ConcurrentReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.toml")
	writeFile(t, path, goodFile, 0o600)
	s, err := auth.Open(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1)
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if _, ok := s.Authenticate(adminTok); !ok {
					select {
					case errs <- "admin token refused during reloads":
					default:
					}
					return
				}
			}
		})
	}
	for range 20 {
		if err := s.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	if e, ok := <-errs; ok {
		t.Fatal(e)
	}
}

func TestStore_Nil(t *testing.T) {
	var s *auth.Store
	if _, ok := s.Authenticate(adminTok); ok || s.Len() != 0 {
		t.Fatal("nil Store accepted a token")
	}
}
