package producerd_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/producer/producertest"
	"github.com/lookupd/lookupd/lookup/producerd"
)

func TestAdmin(t *testing.T) {
	ds := producertest.StartN(t, producertest.StartNSQ, 1)
	c := startClient(t, producertest.TCPAddrs(ds), 24160, false)
	srv := httptest.NewServer(producerd.NewAdmin(c, nil, testLogger(t)))
	defer srv.Close()

	if code, body := lookuptest.Do(t, "GET", srv.URL+"/ping"); code != 200 || string(body) != "OK" {
		t.Fatalf("ping = %d %q", code, body)
	}
	code, body := lookuptest.Do(t, "POST", srv.URL+"/register?topic=t&channel=ch")
	if code != 200 {
		t.Fatalf("register = %d %s", code, body)
	}
	var st producerd.State
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.Registrations, []producer.Registration{{Topic: "t", Channel: "ch"}}) || st.Identity.TCPPort != 24160 || st.Health != nil {
		t.Fatalf("state after register = %+v", st)
	}
	producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, "127.0.0.1", 24160, "t", "ch"))
	if code, body := lookuptest.Do(t, "POST", srv.URL+"/register?topic=u"); code != 200 {
		t.Fatalf("register u = %d %s", code, body)
	}
	producertest.Eventually(t, 3*time.Second, producertest.Registered(ds, "127.0.0.1", 24160, "u"))

	code, body = lookuptest.Do(t, "GET", srv.URL+"/state")
	if code != 200 {
		t.Fatalf("state = %d %s", code, body)
	}
	st = producerd.State{}
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Lookupds) != 1 || !st.Lookupds[0].Connected || st.Lookupds[0].Address != ds[0].TCPAddr || len(st.Registrations) != 2 {
		t.Fatalf("state = %s", body)
	}

	if code, body := lookuptest.Do(t, "POST", srv.URL+"/unregister?topic=t"); code != 200 {
		t.Fatalf("unregister = %d %s", code, body)
	}
	producertest.Eventually(t, 3*time.Second, producertest.Unregistered(ds, "127.0.0.1", 24160, "t"))
	if got := c.State(); !slices.Equal(got, []producer.Registration{{Topic: "u"}}) {
		t.Fatalf("client state = %v", got)
	}

	errCases := []struct {
		method, path string
		status       int
		message      string
	}{
		{"POST", "/register", 400, "MISSING_ARG_TOPIC"},
		{"POST", "/register?topic=bad%20name", 400, "INVALID_ARG_TOPIC"},
		{"POST", "/register?topic=t&channel=" + strings.Repeat("c", 65), 400, "INVALID_ARG_CHANNEL"},
		{"POST", "/unregister?topic=t&channel=a/b", 400, "INVALID_ARG_CHANNEL"},
		{"GET", "/register?topic=t", 405, "METHOD_NOT_ALLOWED"},
		{"GET", "/nope", 404, "NOT_FOUND"},
	}
	for _, ec := range errCases {
		code, body := lookuptest.Do(t, ec.method, srv.URL+ec.path)
		var msg struct{ Message string }
		_ = json.Unmarshal(body, &msg)
		if code != ec.status || msg.Message != ec.message {
			t.Errorf("%s %s = %d %s, want %d %s", ec.method, ec.path, code, body, ec.status, ec.message)
		}
	}
	if got := c.State(); !slices.Equal(got, []producer.Registration{{Topic: "u"}}) {
		t.Fatalf("bad requests changed state: %v", got)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := lookuptest.Do(t, "POST", srv.URL+"/register?topic=v"); code != 503 || !strings.Contains(string(body), "SHUTTING_DOWN") {
		t.Fatalf("register after close = %d %s", code, body)
	}
}
