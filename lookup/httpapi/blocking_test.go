package httpapi_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/registry"
)

// indexOf returns a response's X-Lookupd-Index.
func indexOf(t testing.TB, h http.Header) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(h.Get(httpapi.HeaderIndex), 10, 64)
	if err != nil || n == 0 {
		t.Fatalf("%s %q: want a positive integer", httpapi.HeaderIndex, h.Get(httpapi.HeaderIndex))
	}
	return n
}

// Without Start, a query naming the current index is answered at once.
func TestHandler_BlockingNeedsStart(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.do("GET", "/topics")
	idx := indexOf(t, rec.Header())
	rec = e.do("GET", fmt.Sprintf("/topics?index=%d&wait=10m", idx))
	expectBody(t, rec, 200, `{"topics":[]}`)
	if got := indexOf(t, rec.Header()); got != idx {
		t.Fatalf("index %d, want %d", got, idx)
	}
}

// newBlockingServer serves a handler without Handback over a real HTTP
// server with short read and write timeouts: blocked queries then wait
// inside the handler, on the real clock.
func newBlockingServer(t *testing.T) (*registry.DB, *httpapi.Handler, string) {
	t.Helper()
	var h *httpapi.Handler
	db := registry.New(registry.Options{OnChange: func(c registry.Change) { h.Changed(c) }})
	h = httpapi.New(db, httpapi.Options{Logger: discardLogger(), MaxBlockingQueries: 10})
	stop := h.Start()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 50*time.Millisecond, 50*time.Millisecond
	srv.Start()
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	return db, h, srv.URL
}

func TestHandler_BlockingInHandler(t *testing.T) {
	db, h, url := newBlockingServer(t)
	c := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (uint64, string) {
		resp, err := c.Get(url + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		n, _ := strconv.ParseUint(resp.Header.Get(httpapi.HeaderIndex), 10, 64)
		return n, string(b)
	}

	// The wait outlives the server's 50 ms read and write timeouts.
	idx, _ := get("/topics")
	begin := time.Now()
	got, body := get(fmt.Sprintf("/topics?index=%d&wait=300ms", idx))
	if el := time.Since(begin); el < 300*time.Millisecond || got != idx || body != `{"topics":[]}` {
		t.Fatalf("after %s: index %d (want %d) %s", el, got, idx, body)
	}

	// A change wakes it.
	type result struct {
		index uint64
		body  string
	}
	ch := make(chan result, 1)
	go func() {
		i, b := get(fmt.Sprintf("/topics?index=%d&wait=10m", idx))
		ch <- result{i, b}
	}()
	lookuptest.WaitFor(t, 5*time.Second, "a blocked query", func() bool { return h.BlockingStats().Waiting == 1 })
	db.CreateTopic("t")
	select {
	case r := <-ch:
		if r.index == idx || r.body != `{"topics":["t"]}` {
			t.Fatalf("woke with index %d %s", r.index, r.body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by the change")
	}
}

// A Listener's Accept returns handed-back connections as well as new
// ones, and refuses handbacks once closed.
func TestListener_Handback(t *testing.T) {
	tcp, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	l := httpapi.NewListener(tcp)
	accepted := make(chan net.Conn)
	done := make(chan error, 1)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				done <- err
				return
			}
			accepted <- c
		}
	}()
	next := func(what string) net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not accepted", what)
			return nil
		}
	}
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := next("new connection")
	// Accept is blocked on the listener now (or about to be): a handback
	// must interrupt it, repeatedly.
	for i := range 3 {
		if !l.Handback(server) {
			t.Fatal("handback refused while open")
		}
		if got := next(fmt.Sprintf("handback %d", i)); got != server {
			t.Fatalf("handback %d: accepted %v, want the handed-back connection", i, got)
		}
	}
	c2, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	next("new connection after handbacks").Close()

	l.Close()
	if l.Handback(server) {
		t.Fatal("handback accepted after Close")
	}
	server.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Accept returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Accept still blocked after Close")
	}
}
