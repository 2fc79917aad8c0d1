package lookup_test

import (
	"encoding/json"
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
