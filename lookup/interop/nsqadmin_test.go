package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nsqio/nsq/nsqadmin"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// startNSQAdmin runs nsqadmin v1.3.0 in-process against the lookupd at
// httpAddr, with its --http-client-tls-* options from certs (a client
// certificate only if withCert), until the test ends. It returns its
// base URL.
func startNSQAdmin(t *testing.T, httpAddr string, certs *lookuptest.Certs, withCert bool) string {
	t.Helper()
	o := nsqadmin.NewOptions()
	o.HTTPAddress = "127.0.0.1:0"
	o.NSQLookupdHTTPAddresses = []string{httpAddr}
	o.HTTPClientTLSRootCAFile = certs.CAFile
	if withCert {
		o.HTTPClientTLSCert, o.HTTPClientTLSKey = certs.ClientCert, certs.ClientKey
	}
	o.Logger = nsqref.TestLogger(t, "[nsqadmin] ")
	o.LogLevel = 3 // warn
	a, err := nsqadmin.New(o)
	if err != nil {
		t.Fatalf("nsqadmin: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Main() }()
	t.Cleanup(func() {
		a.Exit()
		<-done
	})
	return "http://" + a.RealHTTPAddr().String()
}

// adminDo performs method path on nsqadmin and returns status and body.
func adminDo(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// nsqadmin v1.3.0 with its --http-client-tls-* flags works against a
// lookupd that serves HTTPS only with mTLS: it asks over http, gets 403
// TLS_REQUIRED with the port (as from nsqd) and asks again over https
// with its client certificate, for reads and for actions. Without a
// client certificate it gets nothing.
func TestNSQAdmin_MutualTLS(t *testing.T) {
	certs := lookuptest.NewCerts(t)
	o := lookuptest.Options(t)
	o.TLSCert, o.TLSKey, o.TLSClientCA = certs.ServerCert, certs.ServerKey, certs.CAFile
	srv := lookuptest.Start(t, o)
	httpAddr := srv.HTTPAddr().String()
	p := lookuptest.Dial(t, srv.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	p.Register("orders", "billing")
	if _, err := srv.DB().CreateTopic("scratch"); err != nil {
		t.Fatal(err)
	}

	admin := startNSQAdmin(t, httpAddr, certs, true)
	code, body := adminDo(t, "GET", admin+"/api/topics")
	var topics struct {
		Topics  []string `json:"topics"`
		Message string   `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &topics); code != 200 || err != nil || !slices.Equal(topics.Topics, []string{"orders", "scratch"}) {
		t.Fatalf("nsqadmin /api/topics: %d %s", code, body)
	}
	code, body = adminDo(t, "GET", admin+"/api/nodes")
	if code != 200 || !strings.Contains(body, `"tcp_port":4150`) || !strings.Contains(body, `"orders"`) {
		t.Fatalf("nsqadmin /api/nodes: %d %s", code, body)
	}
	// An action: nsqadmin POSTs /topic/delete to the lookupd, over mTLS.
	code, body = adminDo(t, "DELETE", admin+"/api/topics/scratch")
	if code != 200 {
		t.Fatalf("nsqadmin delete scratch: %d %s", code, body)
	}
	if got, _ := srv.DB().Topics(); !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("topics after nsqadmin's delete: %v", got)
	}

	noCert := startNSQAdmin(t, httpAddr, certs, false)
	code, body = adminDo(t, "GET", noCert+"/api/topics")
	if code == 200 || !strings.Contains(body, "UPSTREAM_ERROR") {
		t.Fatalf("nsqadmin without a client certificate: %d %s, want an upstream error", code, body)
	}

	// The detour was taken: nsqadmin's plaintext requests were refused
	// with TLS_REQUIRED, then it asked over https.
	tr := &http.Transport{TLSClientConfig: certs.ClientTLS()}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(m), "lookupd_http_plaintext_refused_total ") || strings.Contains(string(m), "lookupd_http_plaintext_refused_total 0\n") {
		t.Errorf("no plaintext request counted:\n%s", m)
	}
}
