package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lookupd/lookupd/lookup/auth"
	"github.com/lookupd/lookupd/lookup/registry"
)

func TestParseFast(t *testing.T) {
	const h = "Host: x\r\n"
	tests := []struct {
		name, head string
		ok, close  bool
		kind       kind
		query      string
	}{
		{name: "lookup", head: "GET /lookup?topic=a&index=3 HTTP/1.1\r\n" + h + "\r\n", ok: true, kind: kindLookup, query: "topic=a&index=3"},
		{name: "topics without query", head: "GET /topics HTTP/1.1\r\n" + h + "\r\n", ok: true, kind: kindTopics},
		{name: "nodes, go client headers", head: "GET /nodes?index=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: Go-http-client/1.1\r\nAccept: application/vnd.nsq; version=1.0\r\nAccept-Encoding: gzip\r\n\r\n", ok: true, kind: kindNodes, query: "index=1"},
		{name: "channels, connection close", head: "GET /channels?topic=a HTTP/1.1\r\n" + h + "Connection: close\r\n\r\n", ok: true, close: true, kind: kindChannels, query: "topic=a"},
		{name: "keep-alive and zero length", head: "GET /topics HTTP/1.1\r\n" + h + "connection: Keep-Alive\r\nContent-Length: 0\r\n\r\n", ok: true, kind: kindTopics},
		{name: "other path", head: "GET /ping HTTP/1.1\r\n" + h + "\r\n"},
		{name: "trailing slash", head: "GET /lookup/?topic=a HTTP/1.1\r\n" + h + "\r\n"},
		{name: "post", head: "POST /lookup?topic=a HTTP/1.1\r\n" + h + "\r\n"},
		{name: "http/1.0", head: "GET /topics HTTP/1.0\r\n" + h + "\r\n"},
		{name: "no host", head: "GET /topics HTTP/1.1\r\n\r\n"},
		{name: "two hosts", head: "GET /topics HTTP/1.1\r\n" + h + h + "\r\n"},
		{name: "body", head: "GET /topics HTTP/1.1\r\n" + h + "Content-Length: 3\r\n\r\n"},
		{name: "chunked", head: "GET /topics HTTP/1.1\r\n" + h + "Transfer-Encoding: chunked\r\n\r\n"},
		{name: "expect", head: "GET /topics HTTP/1.1\r\n" + h + "Expect: 100-continue\r\n\r\n"},
		{name: "upgrade", head: "GET /topics HTTP/1.1\r\n" + h + "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n"},
		{name: "folded header", head: "GET /topics HTTP/1.1\r\n" + h + "X-A: 1\r\n 2\r\n\r\n"},
		{name: "header without colon", head: "GET /topics HTTP/1.1\r\n" + h + "junk\r\n\r\n"},
		{name: "space in name", head: "GET /topics HTTP/1.1\r\n" + h + "X A: 1\r\n\r\n"},
		{name: "absolute form", head: "GET http://x/topics HTTP/1.1\r\n" + h + "\r\n"},
		{name: "fragment", head: "GET /topics#x HTTP/1.1\r\n" + h + "\r\n"},
		{name: "extra space", head: "GET  /topics HTTP/1.1\r\n" + h + "\r\n"},
		{name: "control byte in target", head: "GET /topics?\x01 HTTP/1.1\r\n" + h + "\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head, complete := requestHead([]byte(tc.head))
			if !complete || string(head) != tc.head {
				t.Fatalf("requestHead: %q complete=%v", head, complete)
			}
			r, ok := parseFast(head)
			if ok != tc.ok {
				t.Fatalf("parseFast ok=%v, want %v", ok, tc.ok)
			}
			if ok && (r.kind != tc.kind || r.rawQuery != tc.query || r.close != tc.close) {
				t.Fatalf("parseFast = %+v", r)
			}
		})
	}
}

func TestRequestHead(t *testing.T) {
	for _, tc := range []struct {
		in, head string
		complete bool
		bare     bool
	}{
		{in: "", head: ""},
		{in: "GET / HTTP/1.1\r\nHost: x\r\n", head: "GET / HTTP/1.1\r\nHost: x\r\n"},
		{in: "GET / HTTP/1.1\r\n\r\nGET /next", head: "GET / HTTP/1.1\r\n\r\n", complete: true},
		{in: "GET / HTTP/1.1\nHost: x\n\n", bare: true},
		{in: "\n", bare: true},
	} {
		head, complete := requestHead([]byte(tc.in))
		if tc.bare {
			if head != nil || complete {
				t.Errorf("requestHead(%q) = %q, %v; want nil for a bare LF", tc.in, head, complete)
			}
			continue
		}
		if string(head) != tc.head || complete != tc.complete {
			t.Errorf("requestHead(%q) = %q, %v; want %q, %v", tc.in, head, complete, tc.head, tc.complete)
		}
	}
}

// BenchmarkParseFast_GoClient parses the head a go-nsq or clientmerge
// watcher sends for each blocking query on a kept connection.
func BenchmarkParseFast_GoClient(b *testing.B) {
	head := []byte("GET /nodes?index=1&wait=1m0s HTTP/1.1\r\nHost: 127.0.0.1:4161\r\nUser-Agent: Go-http-client/1.1\r\nAccept: application/vnd.nsq; version=1.0\r\nAccept-Encoding: gzip\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseFast(head); !ok {
			b.Fatal("not taken")
		}
	}
}

// TestPermitsFast: the fast path lets through exactly the reads that
// authorize lets through, for each kind of token and header.
func TestPermitsFast(t *testing.T) {
	const file = `
[[tokens]]
token = "admin-0123456789abcdef"
role = "admin"

[[tokens]]
token = "read-0123456789abcdef"
role = "read"

[[tokens]]
token = "register-0123456789abcdef"
role = "register"
`
	tab, err := auth.Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	for _, reads := range []bool{true, false} {
		h := New(registry.New(registry.Options{}), Options{
			Auth: auth.NewStatic(tab), AuthReads: reads, Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
		})
		for _, tc := range []struct {
			authorization string
			want          bool // with AuthReads
		}{
			{authorization: "", want: false},
			{authorization: "Bearer read-0123456789abcdef", want: true},
			{authorization: "bearer  read-0123456789abcdef ", want: true},
			{authorization: "Bearer admin-0123456789abcdef", want: true},
			{authorization: "Bearer register-0123456789abcdef", want: false},
			{authorization: "Bearer unknown-0123456789abcdef", want: false},
			{authorization: "Basic read-0123456789abcdef", want: false},
		} {
			for _, path := range []string{"/lookup", "/nodes"} {
				req := httptest.NewRequest(http.MethodGet, path, nil)
				if tc.authorization != "" {
					req.Header.Set("Authorization", tc.authorization)
				}
				got := h.permitsFast(fastReq{path: path, authorization: tc.authorization})
				if want := h.authorize(req) == nil; got != want || got != (tc.want || !reads) {
					t.Errorf("reads=%v %s %q: permitsFast %v, authorize lets through %v, want %v",
						reads, path, tc.authorization, got, want, tc.want || !reads)
				}
			}
		}
	}
}

// BenchmarkPermitsFast checks the read token of each request a watcher
// sends on a kept connection to a lookupd run with --auth-reads.
func BenchmarkPermitsFast(b *testing.B) {
	const tok = "read-0123456789abcdef"
	tab, err := auth.Parse([]byte("[[tokens]]\ntoken = \"" + tok + "\"\nrole = \"read\"\n"))
	if err != nil {
		b.Fatal(err)
	}
	h := New(registry.New(registry.Options{}), Options{
		Auth: auth.NewStatic(tab), AuthReads: true, Logger: slog.New(slog.DiscardHandler),
	})
	r := fastReq{kind: kindNodes, path: "/nodes", rawQuery: "index=1", authorization: "Bearer " + tok}
	b.ReportAllocs()
	for b.Loop() {
		if !h.permitsFast(r) {
			b.Fatal("refused")
		}
	}
}
