package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/julienschmidt/httprouter"
	"go.uber.org/goleak"

	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	inactive  = 60 * time.Second
	tombLife  = 30 * time.Second
	jsonType  = "application/json; charset=utf-8"
	nsqHeader = "X-NSQ-Content-Type"
	nsqValue  = "nsq; version=1.0"
)

type env struct {
	clk *fakeclock.Clock
	db  *registry.DB
	h   *httpapi.Handler
}

func newEnv(t testing.TB, extra func(*httprouter.Router)) *env {
	return newEnvLog(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})), extra)
}

func newEnvLog(log *slog.Logger, extra func(*httprouter.Router)) *env {
	clk := fakeclock.New()
	db := registry.New(registry.Options{InactiveTimeout: inactive, TombstoneLifetime: tombLife, Now: clk.Now})
	h := httpapi.New(db, httpapi.Options{Logger: log, Now: clk.Now, Extra: extra})
	return &env{clk: clk, db: db, h: h}
}

func (e *env) do(method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// producer identifies a producer "10.0.0.<n>" with tcp port 4150 and http
// port 4151, connected from 127.0.0.1:<1000+n>; it returns the connection id.
func (e *env) producer(t testing.TB, n int) string {
	t.Helper()
	id := "127.0.0.1:" + itoa(1000+n)
	err := e.db.Identify(id, wire.ProducerInfo{
		RemoteAddress:    id,
		Hostname:         "host" + itoa(n),
		BroadcastAddress: "10.0.0." + itoa(n),
		TCPPort:          4150,
		HTTPPort:         4151,
		Version:          "1.3.0",
	})
	if err != nil {
		t.Fatalf("identify %s: %v", id, err)
	}
	return id
}

func (e *env) register(t testing.TB, id, topic, channel string) {
	t.Helper()
	if _, err := e.db.Register(id, topic, channel); err != nil {
		t.Fatalf("register %s %s/%s: %v", id, topic, channel, err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// expectBody checks status, exact body and the V1 JSON headers.
func expectBody(t testing.TB, rec *httptest.ResponseRecorder, status int, body string) {
	t.Helper()
	if rec.Code != status || rec.Body.String() != body {
		t.Fatalf("got %d %s\nwant %d %s", rec.Code, rec.Body, status, body)
	}
	if got := rec.Header().Get(nsqHeader); got != nsqValue {
		t.Fatalf("%s = %q, want %q", nsqHeader, got, nsqValue)
	}
	if body != "" {
		if got := rec.Header().Get("Content-Type"); got != jsonType {
			t.Fatalf("Content-Type %q, want %q", got, jsonType)
		}
	}
}

func TestHandler_Ping(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.do("GET", "/ping")
	if rec.Code != 200 || rec.Body.String() != "OK" {
		t.Fatalf("ping: %d %q", rec.Code, rec.Body)
	}
	// nsqlookupd answers /ping as plain text, without the V1 header.
	if v := rec.Header().Values(nsqHeader); len(v) > 0 {
		t.Fatalf("/ping has %s", nsqHeader)
	}
	// Its Content-Type is sniffed by net/http on a real connection; see
	// TestHandler_MatchesNSQLookupd.
}

func TestHandler_EmptyRegistry(t *testing.T) {
	e := newEnv(t, nil)
	// Lists are [] and never null.
	expectBody(t, e.do("GET", "/topics"), 200, `{"topics":[]}`)
	expectBody(t, e.do("GET", "/nodes"), 200, `{"producers":[]}`)
	expectBody(t, e.do("GET", "/channels?topic=none"), 200, `{"channels":[]}`)
	expectBody(t, e.do("GET", "/debug"), 200, `{}`)
	expectBody(t, e.do("GET", "/info"), 200, `{"version":"1.3.0"}`)
	expectBody(t, e.do("GET", "/lookup?topic=none"), 404, `{"message":"TOPIC_NOT_FOUND"}`)

	// A created topic with no producers and no channels.
	expectBody(t, e.do("POST", "/topic/create?topic=empty"), 200, "")
	expectBody(t, e.do("GET", "/lookup?topic=empty"), 200, `{"channels":[],"producers":[]}`)
	expectBody(t, e.do("GET", "/channels?topic=empty"), 200, `{"channels":[]}`)
}

func TestHandler_Endpoints(t *testing.T) {
	e := newEnv(t, nil)
	a := e.producer(t, 1)
	e.clk.Advance(time.Second)
	b := e.producer(t, 2)
	e.register(t, a, "orders", "billing")
	e.register(t, b, "orders", "audit")
	e.register(t, a, "events", "")

	pa := `"remote_address":"127.0.0.1:1001","hostname":"host1","broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"`
	pb := `"remote_address":"127.0.0.1:1002","hostname":"host2","broadcast_address":"10.0.0.2","tcp_port":4150,"http_port":4151,"version":"1.3.0"`

	expectBody(t, e.do("GET", "/lookup?topic=orders"), 200,
		`{"channels":["audit","billing"],"producers":[{`+pa+`},{`+pb+`}]}`)
	expectBody(t, e.do("GET", "/lookup?topic=events"), 200, `{"channels":[],"producers":[{`+pa+`}]}`)
	expectBody(t, e.do("GET", "/topics"), 200, `{"topics":["events","orders"]}`)
	expectBody(t, e.do("GET", "/channels?topic=orders"), 200, `{"channels":["audit","billing"]}`)
	expectBody(t, e.do("GET", "/nodes"), 200,
		`{"producers":[{`+pa+`,"tombstones":[false,false],"topics":["events","orders"]},{`+pb+`,"tombstones":[false],"topics":["orders"]}]}`)

	// Tombstoning hides B from /lookup and flags it in /nodes.
	expectBody(t, e.do("POST", "/topic/tombstone?topic=orders&node=10.0.0.2:4151"), 200, "")
	expectBody(t, e.do("GET", "/lookup?topic=orders"), 200,
		`{"channels":["audit","billing"],"producers":[{`+pa+`}]}`)
	expectBody(t, e.do("GET", "/nodes"), 200,
		`{"producers":[{`+pa+`,"tombstones":[false,false],"topics":["events","orders"]},{`+pb+`,"tombstones":[true],"topics":["orders"]}]}`)

	// /debug: one entry per registration with producers, plus "client::".
	rec := e.do("GET", "/debug")
	if rec.Code != 200 || rec.Header().Get(nsqHeader) != nsqValue || rec.Header().Get("Content-Type") != jsonType {
		t.Fatalf("/debug: %d %v", rec.Code, rec.Header())
	}
	var dbg map[string][]map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &dbg); err != nil {
		t.Fatalf("/debug body %s: %v", rec.Body, err)
	}
	keys := make([]string, 0, len(dbg))
	ids := map[string][]string{}
	for k, ps := range dbg {
		keys = append(keys, k)
		for _, p := range ps {
			ids[k] = append(ids[k], p["id"].(string))
		}
		slices.Sort(ids[k])
	}
	slices.Sort(keys)
	wantKeys := []string{"channel:orders:audit", "channel:orders:billing", "client::", "topic:events:", "topic:orders:"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("/debug keys %v, want %v", keys, wantKeys)
	}
	if !slices.Equal(ids["topic:orders:"], []string{a, b}) || !slices.Equal(ids["channel:orders:audit"], []string{b}) {
		t.Fatalf("/debug ids %v", ids)
	}
	for _, p := range dbg["topic:orders:"] {
		wantTomb := p["id"] == b
		if p["tombstoned"] != wantTomb {
			t.Fatalf("/debug %v: tombstoned %v, want %v", p["id"], p["tombstoned"], wantTomb)
		}
		if p["id"] == a && p["last_update"] != float64(e.clk.Now().Add(-time.Second).UnixNano()) {
			t.Fatalf("/debug last_update %v", p["last_update"])
		}
	}
	wantFields := []string{"broadcast_address", "hostname", "http_port", "id", "last_update", "tcp_port", "tombstoned", "tombstoned_at", "version"}
	var gotFields []string
	for k := range dbg["client::"][0] {
		gotFields = append(gotFields, k)
	}
	slices.Sort(gotFields)
	if !slices.Equal(gotFields, wantFields) {
		t.Fatalf("/debug fields %v, want %v", gotFields, wantFields)
	}

	// Creating and deleting.
	expectBody(t, e.do("POST", "/channel/create?topic=fresh&channel=c1"), 200, "")
	expectBody(t, e.do("GET", "/lookup?topic=fresh"), 200, `{"channels":["c1"],"producers":[]}`)
	expectBody(t, e.do("POST", "/channel/delete?topic=fresh&channel=c1"), 200, "")
	expectBody(t, e.do("GET", "/channels?topic=fresh"), 200, `{"channels":[]}`)
	expectBody(t, e.do("POST", "/topic/delete?topic=orders"), 200, "")
	expectBody(t, e.do("GET", "/lookup?topic=orders"), 404, `{"message":"TOPIC_NOT_FOUND"}`)
	expectBody(t, e.do("GET", "/topics"), 200, `{"topics":["events","fresh"]}`)
	// Deleting what does not exist is not an error.
	expectBody(t, e.do("POST", "/topic/delete?topic=nothing"), 200, "")
}

func TestHandler_Errors(t *testing.T) {
	e := newEnv(t, nil)
	e.db.CreateChannel("t", "c")
	tests := []struct {
		method, target string
		status         int
		code           string
	}{
		{"GET", "/lookup", 400, "MISSING_ARG_TOPIC"},
		{"GET", "/lookup?topic=a;b", 400, "INVALID_REQUEST"},
		{"GET", "/lookup?topic=%zz", 400, "INVALID_REQUEST"},
		{"GET", "/lookup?topic=missing", 404, "TOPIC_NOT_FOUND"},
		{"GET", "/lookup?topic=", 404, "TOPIC_NOT_FOUND"},
		{"GET", "/channels", 400, "MISSING_ARG_TOPIC"},
		{"GET", "/channels?topic=%", 400, "INVALID_REQUEST"},
		{"POST", "/topic/create", 400, "MISSING_ARG_TOPIC"},
		{"POST", "/topic/create?topic=bad!name", 400, "INVALID_ARG_TOPIC"},
		{"POST", "/topic/create?topic=", 400, "INVALID_ARG_TOPIC"},
		{"POST", "/topic/create?topic=" + strings.Repeat("a", 65), 400, "INVALID_ARG_TOPIC"},
		{"POST", "/topic/delete", 400, "MISSING_ARG_TOPIC"},
		{"POST", "/channel/create?channel=c", 400, "MISSING_ARG_TOPIC"},
		{"POST", "/channel/create?topic=bad!", 400, "INVALID_ARG_TOPIC"},
		{"POST", "/channel/create?topic=t", 400, "MISSING_ARG_CHANNEL"},
		{"POST", "/channel/create?topic=t&channel=bad!", 400, "INVALID_ARG_CHANNEL"},
		{"POST", "/channel/delete?topic=t", 400, "MISSING_ARG_CHANNEL"},
		{"POST", "/channel/delete?topic=t&channel=bad!", 400, "INVALID_ARG_CHANNEL"},
		{"POST", "/channel/delete?topic=t&channel=other", 404, "CHANNEL_NOT_FOUND"},
		{"POST", "/channel/delete?topic=u&channel=c", 404, "CHANNEL_NOT_FOUND"},
		{"POST", "/topic/tombstone?node=n:1", 400, "MISSING_ARG_TOPIC"},
		{"POST", "/topic/tombstone?topic=t", 400, "MISSING_ARG_NODE"},
		{"POST", "/topic/create?%", 400, "INVALID_REQUEST"},
		{"GET", "/nope", 404, "NOT_FOUND"},
		{"GET", "/", 404, "NOT_FOUND"},
		{"POST", "/lookup?topic=t", 405, "METHOD_NOT_ALLOWED"},
		{"POST", "/ping", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/topic/create?topic=t", 405, "METHOD_NOT_ALLOWED"},
		{"DELETE", "/topics", 405, "METHOD_NOT_ALLOWED"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.target, func(t *testing.T) {
			v := e.db.Version()
			expectBody(t, e.do(tc.method, tc.target), tc.status, `{"message":"`+tc.code+`"}`)
			if e.db.Version() != v {
				t.Fatal("a failed request changed the registry")
			}
		})
	}
	// The first value of a repeated parameter wins, as in nsqlookupd.
	expectBody(t, e.do("GET", "/channels?topic=t&topic=u"), 200, `{"channels":["c"]}`)
	expectBody(t, e.do("GET", "/channels?topic=u&topic=t"), 200, `{"channels":[]}`)
}

func TestHandler_MethodNotAllowedSetsAllow(t *testing.T) {
	e := newEnv(t, nil)
	rec := e.do("POST", "/lookup")
	if got := rec.Header().Get("Allow"); !strings.Contains(got, "GET") {
		t.Fatalf("Allow %q, want GET listed", got)
	}
}

func TestHandler_PanicRecovery(t *testing.T) {
	var calls atomic.Int64
	e := newEnv(t, func(r *httprouter.Router) {
		r.GET("/boom", func(http.ResponseWriter, *http.Request, httprouter.Params) {
			calls.Add(1)
			panic("kaboom")
		})
	})
	e.db.CreateTopic("t")
	expectBody(t, e.do("GET", "/boom"), 500, `{"message":"INTERNAL_ERROR"}`)

	// Through a real server: the connection survives and so does serving.
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for range 3 {
		status, body, _ := get(t, client, srv.URL+"/boom")
		if status != 500 || body != `{"message":"INTERNAL_ERROR"}` {
			t.Fatalf("/boom: %d %s", status, body)
		}
		status, body, _ = get(t, client, srv.URL+"/lookup?topic=t")
		if status != 200 || body != `{"channels":[],"producers":[]}` {
			t.Fatalf("/lookup after a panic: %d %s", status, body)
		}
	}
	if n := calls.Load(); n != 4 {
		t.Fatalf("panicking route ran %d times, want 4", n)
	}
}

func get(t testing.TB, c *http.Client, url string) (int, string, http.Header) {
	t.Helper()
	return doReq(t, c, "GET", url)
}

func doReq(t testing.TB, c *http.Client, method, url string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}
