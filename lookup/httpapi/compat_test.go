package httpapi_test

import (
	"io"
	"net"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// rawExchange sends one HTTP/1.1 request on a fresh connection and returns
// the raw response: the status line, the header lines as sent (names in
// their wire spelling) in sorted order without Date, and the body.
func rawExchange(t *testing.T, addr, method, target string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req := method + " " + target + " HTTP/1.1\r\nHost: lookupd\r\nConnection: close\r\n"
	if method == "POST" {
		req += "Content-Length: 0\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatalf("write request: %v", err)
	}
	raw, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: read response: %v", method, target, err)
	}
	head, body, ok := strings.Cut(string(raw), "\r\n\r\n")
	if !ok {
		t.Fatalf("%s %s: malformed response %q", method, target, raw)
	}
	lines := strings.Split(head, "\r\n")
	hdrs := slices.DeleteFunc(lines[1:], func(l string) bool { return strings.HasPrefix(l, "Date: ") })
	slices.Sort(hdrs) // order carries no meaning; spelling and values do
	return lines[0] + "\n" + strings.Join(hdrs, "\n") + "\n\n" + body
}

// cutIndex removes the X-Lookupd-Index line from a rawExchange result and
// returns its value ("" if absent).
func cutIndex(raw string) (string, string) {
	head, body, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(head, "\n")
	var index string
	lines = slices.DeleteFunc(lines, func(l string) bool {
		v, ok := strings.CutPrefix(l, httpapi.HeaderIndex+": ")
		if ok {
			index = v
		}
		return ok
	})
	return strings.Join(lines, "\n") + "\n\n" + body, index
}

// TestHandler_MatchesNSQLookupd replays one request sequence against the
// real nsqlookupd and against our handler and requires byte-identical
// responses (status line, header names and values as sent, body), Date
// aside, and X-Lookupd-Index, which ours adds to every answer of /lookup,
// /channels, /topics and /nodes and to nothing else. State is built through the HTTP API only, so both sides hold the
// same registrations.
func TestHandler_MatchesNSQLookupd(t *testing.T) {
	ref := nsqref.Start(t, nil).HTTPAddr
	e := newEnv(t, nil)
	ours := httptest.NewServer(e.h)
	defer ours.Close()
	oursAddr := strings.TrimPrefix(ours.URL, "http://")

	steps := []struct{ method, target string }{
		{"GET", "/ping"},
		{"GET", "/info"},
		{"GET", "/topics"},
		{"GET", "/nodes"},
		{"GET", "/debug"},
		{"GET", "/lookup"},
		{"GET", "/lookup?topic=orders"},
		{"GET", "/lookup?topic=a;b"},
		{"GET", "/channels"},
		{"GET", "/channels?topic=orders"},
		{"POST", "/topic/create?topic=orders"},
		{"POST", "/topic/create?topic=bad!"},
		{"POST", "/topic/create"},
		{"GET", "/topics"},
		{"GET", "/lookup?topic=orders"},
		{"GET", "/debug"},
		{"POST", "/channel/create?topic=orders&channel=billing"},
		{"POST", "/channel/create?topic=orders"},
		{"POST", "/channel/create?topic=orders&channel=bad!"},
		{"GET", "/channels?topic=orders"},
		{"GET", "/lookup?topic=orders"},
		{"POST", "/channel/delete?topic=orders&channel=nope"},
		{"POST", "/topic/tombstone?topic=orders&node=10.0.0.1:4151"},
		{"POST", "/topic/tombstone?topic=orders"},
		{"POST", "/channel/delete?topic=orders&channel=billing"},
		{"GET", "/channels?topic=orders"},
		{"POST", "/topic/delete?topic=orders"},
		{"POST", "/topic/delete?topic=orders"},
		{"GET", "/lookup?topic=orders"},
		{"GET", "/topics"},
		{"GET", "/nope"},
		{"POST", "/lookup?topic=orders"},
		{"GET", "/topic/create?topic=orders"},
		{"PUT", "/ping"},
		{"GET", "/topics?%"},
		{"GET", "/nodes?a;b"},
		{"GET", "/info?%zz"},
		{"GET", "/debug?%"},
		{"GET", "/ping?%"},
		{"GET", "/ping/"},
		{"POST", "/topic/create/?topic=x"},
	}
	for _, s := range steps {
		want := rawExchange(t, ref, s.method, s.target)
		got, index := cutIndex(rawExchange(t, oursAddr, s.method, s.target))
		if got != want {
			t.Errorf("%s %s\nnsqlookupd:\n%s\nours:\n%s", s.method, s.target, want, got)
		}
		path, _, _ := strings.Cut(s.target, "?")
		status := strings.Fields(got)[1]
		read := s.method == "GET" && slices.Contains([]string{"/lookup", "/channels", "/topics", "/nodes"}, path) &&
			(status == "200" || status == "404")
		if n, err := strconv.ParseUint(index, 10, 64); read && (err != nil || n == 0) {
			t.Errorf("%s %s: %s %q, want a positive integer", s.method, s.target, httpapi.HeaderIndex, index)
		} else if !read && index != "" {
			t.Errorf("%s %s: %s %q on a response that is not an answer", s.method, s.target, httpapi.HeaderIndex, index)
		}
	}
}
