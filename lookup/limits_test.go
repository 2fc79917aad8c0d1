package lookup_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// metricsText returns the daemon's /metrics body.
func metricsText(t *testing.T, httpAddr string) string {
	t.Helper()
	code, body := lookuptest.Get(t, "http://"+httpAddr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	return string(body)
}

func expectMetric(t *testing.T, httpAddr string, lines ...string) {
	t.Helper()
	m := metricsText(t, httpAddr)
	for _, l := range lines {
		if !strings.Contains(m, l+"\n") {
			t.Errorf("/metrics lacks %q", l)
		}
	}
}

// The defaults of the limits that hold with no configuration: documented
// in the README's threat model, which explains each.
func TestOptions_LimitDefaults(t *testing.T) {
	o := lookup.NewOptions()
	if o.HandshakeTimeout != 10*time.Second || o.MaxTCPClientsPerIP != 64 || o.MaxTopics != 10000 ||
		o.MaxChannelsPerTopic != 100 || o.MaxBlockingQueriesPerIP != 1024 {
		t.Fatalf("defaults: handshake %s, per ip %d, topics %d, channels %d, blocking per ip %d",
			o.HandshakeTimeout, o.MaxTCPClientsPerIP, o.MaxTopics, o.MaxChannelsPerTopic, o.MaxBlockingQueriesPerIP)
	}
}

// Past --max-topics and --max-channels-per-topic, HTTP creates get 409
// with a clear code, a log line and a metric; what is registered stays,
// and producers' REGISTERs are never refused by the caps.
func TestLimits_CreateCaps(t *testing.T) {
	logs := &lookuptest.SyncBuffer{}
	o := lookuptest.Options(t)
	o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	o.MaxTopics, o.MaxChannelsPerTopic = 3, 2
	srv := lookuptest.Start(t, o)
	base := "http://" + srv.HTTPAddr().String()
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	if got := string(p.Register("orders", "c1")); got != "OK" {
		t.Fatalf("register: %q", got)
	}
	for _, u := range []string{"/topic/create?topic=a", "/topic/create?topic=b", "/channel/create?topic=a&channel=x", "/channel/create?topic=a&channel=y"} {
		if code, body := lookuptest.Post(t, base+u); code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", u, code, body)
		}
	}
	refused := []struct{ url, body string }{
		{"/topic/create?topic=c", `{"message":"TOO_MANY_TOPICS"}`},
		{"/channel/create?topic=c&channel=x", `{"message":"TOO_MANY_TOPICS"}`},
		{"/channel/create?topic=a&channel=z", `{"message":"TOO_MANY_CHANNELS"}`},
	}
	for _, r := range refused {
		code, body := lookuptest.Post(t, base+r.url)
		if code != http.StatusConflict || string(body) != r.body {
			t.Errorf("POST %s: %d %s, want 409 %s", r.url, code, body, r.body)
		}
	}
	// Creating what exists is not refused.
	if code, _ := lookuptest.Post(t, base+"/channel/create?topic=a&channel=x"); code != http.StatusOK {
		t.Errorf("re-create of an existing channel: %d", code)
	}
	var topics struct{ Topics []string }
	lookuptest.GetJSON(t, base+"/topics", &topics)
	if fmt.Sprint(topics.Topics) != "[a b orders]" {
		t.Fatalf("topics %v", topics.Topics)
	}
	// A producer past both caps.
	for _, reg := range [][2]string{{"payments", ""}, {"orders", "c2"}, {"orders", "c3"}} {
		if got := string(p.Register(reg[0], reg[1])); got != "OK" {
			t.Fatalf("REGISTER %v past the caps: %q", reg, got)
		}
	}
	if got := lookuptest.LookupProducers(t, srv.HTTPAddr().String(), "payments"); len(got) != 1 {
		t.Fatalf("payments producers %v", got)
	}
	expectMetric(t, srv.HTTPAddr().String(),
		`lookupd_http_creates_refused_total{limit="max-topics"} 2`,
		`lookupd_http_creates_refused_total{limit="max-channels-per-topic"} 1`)
	// One log line for the burst (the rest are counted in it later).
	if n := strings.Count(logs.String(), "create refused: limit reached"); n != 1 {
		t.Errorf("%d refusal log lines for a burst of 3, want 1:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "limit=--max-topics") {
		t.Errorf("the log line does not name the flag:\n%s", logs)
	}
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Over real sockets: one address holding --max-tcp-clients-per-ip silent
// connections does not keep a producer from another address out, and
// its connections are cut at the handshake timeout.
func TestLimits_PerIPAndHandshake(t *testing.T) {
	o := lookuptest.Options(t)
	o.MaxTCPClientsPerIP = 5
	o.HandshakeTimeout = 300 * time.Millisecond
	srv := lookuptest.Start(t, o)
	addr, httpAddr := srv.TCPAddr().String(), srv.HTTPAddr().String()
	for range 8 {
		dialFrom(t, "127.0.0.2", addr)
	}
	lookuptest.WaitFor(t, 5*time.Second, "3 refusals", func() bool {
		return strings.Contains(metricsText(t, httpAddr), "lookupd_tcp_connections_rejected_per_ip_total 3\n")
	})
	p := lookuptest.Dial(t, addr)
	p.Identify(lookuptest.ProducerInfo(4150))
	if got := string(p.Register("orders", "")); got != "OK" {
		t.Fatalf("register while another address is at its cap: %q", got)
	}
	lookuptest.WaitFor(t, 5*time.Second, "the silent connections cut", func() bool {
		return strings.Contains(metricsText(t, httpAddr), "lookupd_tcp_handshake_timeouts_total 5\n")
	})
	if got := string(p.Ping()); got != "OK" {
		t.Fatalf("identified producer cut by the handshake timeout: %q", got)
	}
	// The address's slots are free again.
	c := dialFrom(t, "127.0.0.2", addr)
	if _, err := c.Write([]byte("  V1PING\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(buf); err != nil || string(buf[4:n]) != "OK" {
		t.Fatalf("after the timeouts: %q %v", buf[:n], err)
	}
}

// Past --max-blocking-queries-per-ip an address's blocking queries are
// answered at once; another address still blocks.
func TestBlocking_CapPerIP(t *testing.T) {
	e := startBlocking(t, func(o *lookup.Options) { o.MaxBlockingQueriesPerIP = 2 })
	r := e.get("/topics")
	ch1 := e.block("/topics", r.index, 1)
	ch2 := e.block("/topics", r.index, 2)
	got := e.get(fmt.Sprintf("/topics?index=%d&wait=10m", r.index))
	if got.status != http.StatusOK || got.index != r.index {
		t.Fatalf("past the per-address cap: %d index %d", got.status, got.index)
	}
	other := *e
	tr := &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	other.hc = &http.Client{Transport: tr, Timeout: 20 * time.Second}
	ch3 := other.block("/topics", r.index, 3)
	if s := e.d.BlockingStats(); s.CappedPerSource != 1 || s.Capped != 0 {
		t.Fatalf("stats %+v, want 1 capped per source", s)
	}
	expectMetric(t, e.d.HTTPAddr().String(), "lookupd_blocking_queries_capped_per_ip_total 1")
	e.producer(4150, "a")
	for i, ch := range []<-chan reply{ch1, ch2, ch3} {
		e.recv(ch, fmt.Sprint("blocked ", i))
	}
	// Answered queries give their slots back.
	e.waitBlocked(0)
	r = e.get("/topics")
	ch1 = e.block("/topics", r.index, 1)
	ch2 = e.block("/topics", r.index, 2)
	e.producer(4151, "b")
	e.recv(ch1, "first after release")
	e.recv(ch2, "second after release")
}
