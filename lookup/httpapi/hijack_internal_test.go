package httpapi

import "testing"

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
