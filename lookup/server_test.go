package lookup_test

import (
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/wire"
)

func TestServer_RegisterLookupDisconnect(t *testing.T) {
	srv := lookuptest.Start(t, nil)
	base := "http://" + srv.HTTPAddr().String()

	p := lookuptest.Dial(t, srv.TCPAddr().String())
	reply := p.Identify(lookuptest.ProducerInfo(4150))
	var id map[string]any
	if err := json.Unmarshal(reply, &id); err != nil {
		t.Fatalf("identify reply %q: %v", reply, err)
	}
	if id["tcp_port"] != float64(srv.TCPAddr().Port) || id["http_port"] != float64(srv.HTTPAddr().Port) || id["version"] != "1.3.0" {
		t.Fatalf("identify reply %s", reply)
	}
	if got := string(p.Register("orders", "billing")); got != "OK" {
		t.Fatalf("register: %q", got)
	}
	if got := string(p.Ping()); got != "OK" {
		t.Fatalf("ping: %q", got)
	}
	code, body := lookuptest.Get(t, base+"/lookup?topic=orders")
	if code != http.StatusOK {
		t.Fatalf("lookup: %d %s", code, body)
	}
	want := `{"channels":["billing"],"producers":[{"remote_address":"` + p.Conn.LocalAddr().String() +
		`","hostname":"test-host","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}]}`
	if string(body) != want {
		t.Fatalf("lookup body\n got %s\nwant %s", body, want)
	}
	p.Close()
	lookuptest.WaitFor(t, 5*time.Second, "producer removed after disconnect", func() bool {
		return len(lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "orders")) == 0
	})
	// The topic and channel stay listed, as in nsqlookupd.
	_, body = lookuptest.Get(t, base+"/topics")
	if string(body) != `{"topics":["orders"]}` {
		t.Fatalf("topics: %s", body)
	}
}

// nsqlookupd v1.3.0 panics on an IDENTIFY whose body length is negative.
func TestServer_NegativeIdentifyLength(t *testing.T) {
	srv := lookuptest.Start(t, nil)
	keep := lookuptest.Dial(t, srv.TCPAddr().String())
	keep.Identify(lookuptest.ProducerInfo(5000))
	keep.Register("kept", "")

	p := lookuptest.DialRaw(t, srv.TCPAddr().String())
	p.Write([]byte("  V1IDENTIFY\n\xff\xff\xff\xff"))
	resp := string(p.Read())
	if !strings.HasPrefix(resp, string(wire.CodeBadBody)) {
		t.Fatalf("reply %q, want E_BAD_BODY", resp)
	}
	p.ExpectClosed()

	code, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/ping")
	if code != 200 || string(body) != "OK" {
		t.Fatalf("ping after attack: %d %q", code, body)
	}
	if got := lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "kept"); len(got) != 1 {
		t.Fatalf("existing registration lost: %v", got)
	}
}

// /metrics reports the registry and TCP figures of this server.
func TestServer_Metrics(t *testing.T) {
	srv := lookuptest.Start(t, nil)
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	if got := string(p.Register("orders", "billing")); got != "OK" {
		t.Fatalf("register: %q", got)
	}
	code, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	for _, line := range []string{
		"lookupd_producers 1",
		"lookupd_topics 1",
		"lookupd_channels 1",
		"lookupd_registrations 2",
		"lookupd_tcp_connections 1",
		"lookupd_tcp_connections_accepted_total 1",
		"lookupd_tcp_commands_total 2",
		`lookupd_build_info{compat="` + lookup.CompatVersion + `",version="` + config.Version + `"} 1`,
	} {
		if !strings.Contains("\n"+string(body), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// TestServer_AccessLogAndHTTPMetrics: one info line and one observation
// per request, blocked queries (hijacked, answered later) included, with
// routes as metric labels and no label per unknown path.
func TestServer_AccessLogAndHTTPMetrics(t *testing.T) {
	var logs lookuptest.SyncBuffer
	opts := lookuptest.Options(t)
	opts.Logger = slog.New(config.NewTextHandler(&logs, slog.LevelInfo))
	srv := lookuptest.Start(t, opts)
	base := "http://" + srv.HTTPAddr().String()
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	p.Register("orders", "")

	lookuptest.Get(t, base+"/ping")
	lookuptest.Get(t, base+"/nope/1")
	lookuptest.Get(t, base+"/nope/2")
	lookuptest.Post(t, base+"/lookup?topic=orders")
	resp, err := http.Get(base + "/lookup?topic=orders")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A blocking query, woken by a registration.
	blocked := make(chan int, 1)
	go func() {
		r, err := http.Get(base + "/lookup?topic=orders&wait=30s&index=" + resp.Header.Get("X-Lookupd-Index"))
		if err != nil {
			blocked <- 0
			return
		}
		r.Body.Close()
		blocked <- r.StatusCode
	}()
	lookuptest.WaitFor(t, 10*time.Second, "the query to block", func() bool { return srv.BlockingStats().Waiting == 1 })
	p.Register("orders", "billing")
	if code := <-blocked; code != http.StatusOK {
		t.Fatalf("blocked query: %d", code)
	}

	wantLines := []string{
		`msg=request component=http method=GET path=/ping status=200 duration=`,
		`msg=request component=http method=GET path=/nope/1 status=404 duration=`,
		`msg=request component=http method=GET path=/nope/2 status=404 duration=`,
		`msg=request component=http method=POST path=/lookup query="topic=orders" status=405 duration=`,
		`msg=request component=http method=GET path=/lookup query="topic=orders" status=200 duration=`,
		`msg=request component=http method=GET path=/lookup query="topic=orders&wait=30s&index=`,
	}
	var got []string
	lookuptest.WaitFor(t, 5*time.Second, "six request lines", func() bool {
		got = nil
		for line := range strings.SplitSeq(logs.String(), "\n") {
			if strings.Contains(line, "msg=request") {
				got = append(got, line)
			}
		}
		return len(got) >= len(wantLines)
	})
	if len(got) != len(wantLines) {
		t.Fatalf("request lines:\n%s", strings.Join(got, "\n"))
	}
	for i, w := range wantLines {
		if !strings.Contains(got[i], w) || !strings.Contains(got[i], " remote_addr=127.0.0.1:") {
			t.Errorf("line %d: %s\nwant %s…", i, got[i], w)
		}
	}
	if !strings.Contains(got[5], " status=200 ") {
		t.Errorf("blocked query line: %s", got[5])
	}

	_, body := lookuptest.Get(t, base+"/metrics")
	for _, line := range []string{
		`lookupd_http_requests_total{route="/lookup",status="200"} 2`,
		`lookupd_http_requests_total{route="/lookup",status="405"} 1`,
		`lookupd_http_requests_total{route="/ping",status="200"} 1`,
		`lookupd_http_requests_total{route="unmatched",status="404"} 2`,
		`lookupd_http_request_duration_seconds_count{route="/lookup",status="200"} 2`,
		`lookupd_http_request_duration_seconds_bucket{route="/lookup",status="200",le="300"} 2`,
		`lookupd_blocking_queries 0`,
	} {
		if !strings.Contains("\n"+string(body), "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	if strings.Contains(string(body), "/nope") {
		t.Error("/metrics has a label per unknown path")
	}
}

func TestServer_AccessLogOff(t *testing.T) {
	var logs lookuptest.SyncBuffer
	opts := lookuptest.Options(t)
	opts.Logger = slog.New(config.NewTextHandler(&logs, slog.LevelDebug))
	opts.HTTPAccessLog = false
	srv := lookuptest.Start(t, opts)
	lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/ping")
	_, body := lookuptest.Get(t, "http://"+srv.HTTPAddr().String()+"/metrics")
	if strings.Contains(logs.String(), "msg=request") {
		t.Errorf("access log written although off:\n%s", logs.String())
	}
	if !strings.Contains(string(body), `lookupd_http_requests_total{route="/ping",status="200"} 1`) {
		t.Error("metrics depend on the access log")
	}
}

// TestServer_ListenErrorSaysItOnce: a taken port is reported once, not
// as "listen tcp A: listen tcp A: bind: …".
func TestServer_ListenErrorSaysItOnce(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct{ name, want string }{{"tcp", "tcp listener: "}, {"http", "http listener: "}} {
		opts := lookuptest.Options(t)
		if tc.name == "tcp" {
			opts.TCPAddress = taken.Addr().String()
		} else {
			opts.HTTPAddress = taken.Addr().String()
		}
		_, err := lookup.New(opts)
		want := tc.want + "listen tcp " + taken.Addr().String() + ": bind: address already in use"
		if err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %q", tc.name, err, want)
		}
	}
}
