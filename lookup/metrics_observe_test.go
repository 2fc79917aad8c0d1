package lookup

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookupd/lookupd/lookup/httpapi"
)

// BenchmarkHTTPMetrics_Observe is the metrics work every answered HTTP
// request does.
func BenchmarkHTTPMetrics_Observe(b *testing.B) {
	m := newHTTPMetrics()
	r := httpapi.Request{Method: "GET", Route: "/lookup", Status: 200, Duration: 150 * time.Microsecond}
	b.ReportAllocs()
	for b.Loop() {
		m.observe(r)
	}
}

// Every observed request counts in its own (route, status) series of
// both vectors, the first of a series as the later ones.
func TestHTTPMetrics_Observe(t *testing.T) {
	m := newHTTPMetrics()
	for _, r := range []httpapi.Request{
		{Route: "/lookup", Status: 200, Duration: time.Millisecond},
		{Route: "/lookup", Status: 200, Duration: 2 * time.Millisecond},
		{Route: "/lookup", Status: 404, Duration: time.Millisecond},
		{Route: "unmatched", Status: 404, Duration: time.Millisecond},
	} {
		m.observe(r)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.requests, m.duration)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	type series struct {
		count uint64
		sum   float64
	}
	got := map[string]series{} // family route status -> value
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			k := mf.GetName()
			for _, l := range mt.GetLabel() {
				k += " " + l.GetValue()
			}
			if h := mt.GetHistogram(); h != nil {
				got[k] = series{count: h.GetSampleCount(), sum: h.GetSampleSum()}
			} else {
				got[k] = series{count: uint64(mt.GetCounter().GetValue())}
			}
		}
	}
	const req, dur = "lookupd_http_requests_total", "lookupd_http_request_duration_seconds"
	want := map[string]uint64{
		req + " /lookup 200": 2, req + " /lookup 404": 1, req + " unmatched 404": 1,
		dur + " /lookup 200": 2, dur + " /lookup 404": 1, dur + " unmatched 404": 1,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want those of %v", got, want)
	}
	for k, n := range want {
		if got[k].count != n {
			t.Errorf("%s = %d, want %d", k, got[k].count, n)
		}
	}
	if s := got[dur+" /lookup 200"].sum; s < 0.0029 || s > 0.0031 {
		t.Errorf("duration /lookup 200 sums to %v, want 0.003", s)
	}
}
