package tcpserver_test

import (
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
)

const (
	ordersToken = "orders-register-0123456789"
	anyToken    = "any-register-0123456789"
	readToken   = "read-only-0123456789"
)

func testTokens(t *testing.T) *auth.Store {
	t.Helper()
	tab, err := auth.Parse([]byte(`
[[tokens]]
token = "` + ordersToken + `"
role = "register"
topics = ["orders", "orders.*"]

[[tokens]]
token = "` + anyToken + `"
role = "register"

[[tokens]]
token = "` + readToken + `"
role = "read"
`))
	if err != nil {
		t.Fatal(err)
	}
	return auth.NewStatic(tab)
}

// identifyWith returns an IDENTIFY command whose body has token (if not
// empty) beside the producer's fields, as lookup/producer sends it.
func identifyWith(t *testing.T, token any) []byte {
	t.Helper()
	body := map[string]any{"broadcast_address": "10.0.0.1", "tcp_port": 4150, "http_port": 4151, "version": "1.3.0"}
	if token != nil {
		body["auth_token"] = token
	}
	js, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return identifyBytes(uint32(len(js)), js)
}

// reply reads one framed reply, or reports the connection closed.
func (p pipeClient) reply() string {
	p.t.Helper()
	b := make([]byte, 512)
	if _, err := io.ReadFull(p.c, b[:4]); err != nil {
		return "(closed)"
	}
	size := int(b[0])<<24 | int(b[1])<<16 | int(b[2])<<8 | int(b[3])
	if size > len(b) {
		p.t.Fatalf("reply of %d bytes", size)
	}
	if _, err := io.ReadFull(p.c, b[:size]); err != nil {
		return "(closed)"
	}
	return string(b[:size])
}

// Who may IDENTIFY and REGISTER when the server requires auth: producers
// from an allowed network without a token, any producer with a register
// token (limited to its topics); everyone else is refused with
// E_UNAUTHORIZED and closed, and nothing anyone registered is touched.
func TestConn_Auth(t *testing.T) {
	type step struct {
		send string // REGISTER topic, or "" for the IDENTIFY
		want string // reply prefix; "E_UNAUTHORIZED" ones must also close
	}
	tests := []struct {
		name  string
		from  string
		token any
		steps []step
	}{
		{name: "allowed network, no token", from: "127.0.0.1", steps: []step{{"", "{"}, {"payments", "OK"}, {"orders", "OK"}}},
		{name: "other network, no token", from: "192.0.2.7", steps: []step{{"", "E_UNAUTHORIZED IDENTIFY auth_token required: address not in --tcp-allow"}}},
		{name: "unknown token", from: "192.0.2.7", token: "nobody-0123456789abc", steps: []step{{"", "E_UNAUTHORIZED IDENTIFY auth_token not accepted"}}},
		{name: "unknown token from an allowed network", from: "127.0.0.1", token: "nobody-0123456789abc", steps: []step{{"", "E_UNAUTHORIZED IDENTIFY auth_token not accepted"}}},
		{name: "read token", from: "192.0.2.7", token: readToken, steps: []step{{"", "E_UNAUTHORIZED IDENTIFY auth_token has role read, not register"}}},
		{name: "token not a string", from: "192.0.2.7", token: 42, steps: []step{{"", "E_BAD_BODY IDENTIFY auth_token must be a string"}}},
		{name: "register token, any topic", from: "192.0.2.7", token: anyToken, steps: []step{{"", "{"}, {"payments", "OK"}}},
		{name: "orders token registers orders", from: "192.0.2.7", token: ordersToken, steps: []step{{"", "{"}, {"orders", "OK"}, {"orders.eu", "OK"}}},
		{name: "orders token tries payments", from: "192.0.2.7", token: ordersToken, steps: []step{{"", "{"}, {"orders", "OK"},
			{"payments", "E_UNAUTHORIZED REGISTER topic 'payments' not allowed by auth_token"}}},
		{name: "orders token from an allowed network is still limited", from: "127.0.0.1", token: ordersToken, steps: []step{{"", "{"},
			{"payments", "E_UNAUTHORIZED REGISTER topic 'payments' not allowed by auth_token"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := registry.New(registry.Options{})
				srv, l, stop := runPipeServerWith(t, db, tcpserver.Options{
					RequireAuth: true, Auth: testTokens(t), Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
				})
				defer stop()
				// A bystander registered payments before, from the allowed network.
				by, byID := l.registeredProducer(t)
				defer by.c.Close()
				by.send([]byte("REGISTER payments\n"))
				by.expect("OK")

				c := pipeClient{t: t, c: l.dialFrom(net.ParseIP(tc.from))}
				defer c.c.Close()
				c.send(nsq.MagicV1)
				refused := false
				for _, st := range tc.steps {
					if st.send == "" {
						c.send(identifyWith(t, tc.token))
					} else {
						c.send([]byte("REGISTER " + st.send + "\n"))
					}
					got := c.reply()
					if !strings.HasPrefix(got, st.want) {
						t.Fatalf("%q: reply %q, want %q", st.send, got, st.want)
					}
					if strings.HasPrefix(got, "E_") {
						refused = true
						if again := c.reply(); again != "(closed)" {
							t.Fatalf("still open after %q: %q", got, again)
						}
					}
				}
				synctest.Wait()
				// The bystander is untouched; the refused one holds nothing.
				res, _ := db.Lookup("payments")
				var ids []string
				for _, p := range res.Producers {
					ids = append(ids, p.ID)
				}
				st := srv.Stats()
				if refused {
					if len(ids) != 1 || ids[0] != byID {
						t.Fatalf("payments producers %v, want only the bystander %s", ids, byID)
					}
					if n := db.Stats().Producers; n != 1 {
						t.Fatalf("%d producers after a refusal, want the bystander only", n)
					}
					if st.Unauthorized+st.Forbidden != 1 && !strings.HasPrefix(tc.steps[len(tc.steps)-1].want, "E_BAD_BODY") {
						t.Errorf("stats %+v: want one refusal counted", st)
					}
				} else if st.Unauthorized+st.Forbidden != 0 {
					t.Errorf("stats %+v: refusals counted for an admitted producer", st)
				}
			})
		})
	}
}

// Without RequireAuth an auth_token in IDENTIFY is ignored, whatever it
// is, as nsqlookupd ignores unknown fields.
func TestConn_AuthOffIgnoresToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := registry.New(registry.Options{})
		_, l, stop := runPipeServerWith(t, db, tcpserver.Options{})
		defer stop()
		c := pipeClient{t: t, c: l.dialFrom(net.ParseIP("192.0.2.7"))}
		defer c.c.Close()
		c.send(nsq.MagicV1)
		c.send(identifyWith(t, 42))
		c.expect(identityJSON)
		c.send([]byte("REGISTER payments\n"))
		c.expect("OK")
	})
}

// --tcp-allow matches a producer's own address, not the /64 that
// per-source limits count IPv6 addresses under: a /128 (or any prefix
// longer than /64) admits that host and no other, and an IPv4-mapped
// address counts as IPv4.
func TestConn_AuthAllowHost(t *testing.T) {
	tests := []struct {
		name, allow, from, want string
	}{
		{name: "ipv6 host", allow: "2001:db8::1/128", from: "2001:db8::1", want: "{"},
		{name: "ipv6 neighbour in the same /64", allow: "2001:db8::1/128", from: "2001:db8::2", want: "E_UNAUTHORIZED"},
		{name: "ipv6 /96", allow: "2001:db8::ab:0/112", from: "2001:db8::ab:7", want: "{"},
		{name: "ipv4-mapped", allow: "192.0.2.7/32", from: "::ffff:192.0.2.7", want: "{"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				db := registry.New(registry.Options{})
				_, l, stop := runPipeServerWith(t, db, tcpserver.Options{
					RequireAuth: true, Auth: testTokens(t), Allow: []netip.Prefix{netip.MustParsePrefix(tc.allow)},
				})
				defer stop()
				c := pipeClient{t: t, c: l.dialFrom(net.ParseIP(tc.from))}
				defer c.c.Close()
				c.send(nsq.MagicV1)
				c.send(identifyWith(t, nil))
				if got := c.reply(); !strings.HasPrefix(got, tc.want) {
					t.Fatalf("IDENTIFY from %s with --tcp-allow %s: reply %q, want %q", tc.from, tc.allow, got, tc.want)
				}
			})
		})
	}
}
