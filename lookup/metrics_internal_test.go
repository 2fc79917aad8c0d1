package lookup

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/internal/tlssniff"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
	"github.com/lookupd/lookupd/lookup/wire"
)

// A scrape walks the registry once, however many gauges come from it, and
// every gauge reports that one reading.
func TestStatsCollector_OneRegistryWalkPerScrape(t *testing.T) {
	db := registry.New(registry.Options{})
	for _, id := range []string{"p1", "p2"} {
		if err := db.Identify(id, wire.ProducerInfo{BroadcastAddress: "host-" + id, TCPPort: 4150, HTTPPort: 4151, Version: "1.3.0"}); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"billing", "audit"} {
			if _, err := db.Register(id, "orders", ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.Register("p1", "payments", ""); err != nil {
		t.Fatal(err)
	}
	walks, tcpReads := 0, 0
	tcp := tcpserver.Stats{Open: 2, Accepted: 7, Rejected: 1, Commands: 40, Errors: 3, Timeouts: 2}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatsCollector(
		func() registry.Stats { walks++; return db.Stats() },
		func() tcpserver.Stats { tcpReads++; return tcp },
	))

	want := db.Stats()
	wantValues := map[string]float64{
		"lookupd_producers":                      float64(want.Producers),
		"lookupd_topics":                         float64(want.Topics),
		"lookupd_channels":                       float64(want.Channels),
		"lookupd_registrations":                  float64(want.Registrations),
		"lookupd_tcp_connections":                2,
		"lookupd_tcp_connections_accepted_total": 7,
		"lookupd_tcp_connections_rejected_total": 1,
		"lookupd_tcp_commands_total":             40,
		"lookupd_tcp_errors_total":               3,
		"lookupd_tcp_idle_timeouts_total":        2,
	}
	if want.Producers != 2 || want.Topics != 2 || want.Channels != 2 || want.Registrations != 7 {
		t.Fatalf("registry Stats = %+v, want 2 producers, 2 topics, 2 channels, 7 registrations (topic memberships count)", want)
	}
	for scrape := 1; scrape <= 3; scrape++ {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if walks != scrape || tcpReads != scrape {
			t.Fatalf("after %d scrapes: %d registry walks and %d TCP reads, want %d of each", scrape, walks, tcpReads, scrape)
		}
		got := make(map[string]float64)
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				switch {
				case m.GetGauge() != nil:
					got[mf.GetName()] = m.GetGauge().GetValue()
				case m.GetCounter() != nil:
					got[mf.GetName()] = m.GetCounter().GetValue()
				}
			}
		}
		if len(got) != len(wantValues) {
			t.Fatalf("scrape %d: %d metrics %v, want %d", scrape, len(got), got, len(wantValues))
		}
		for name, v := range wantValues {
			if got[name] != v {
				t.Errorf("scrape %d: %s = %v, want %v", scrape, name, got[name], v)
			}
		}
	}
}

// The refusal counters of one scrape come from one reading of the TCP
// and HTTP counters, each under its own labels.
func TestLimitCollector_OneReadingPerScrape(t *testing.T) {
	tcpReads, apiReads := 0, 0
	tcp := tcpserver.Stats{RejectedPerSource: 3, HandshakeTimeouts: 5, Unauthorized: 7, Forbidden: 11, TLSErrors: 29}
	api := httpapi.Stats{TopicsCapped: 13, ChannelsCapped: 17, Unauthorized: 19, Forbidden: 23}
	sniff := tlssniff.Stats{HandshakeErrors: 31, Plaintext: 37}
	reg := prometheus.NewRegistry()
	reg.MustRegister(newLimitCollector(
		func() tcpserver.Stats { tcpReads++; return tcp },
		func() httpapi.Stats { apiReads++; return api },
		func() tlssniff.Stats { return sniff },
	))
	want := map[string]float64{
		"lookupd_tcp_connections_rejected_per_ip_total":                      3,
		"lookupd_tcp_handshake_timeouts_total":                               5,
		`lookupd_auth_refused_total{port="tcp",reason="unauthorized"}`:       7,
		`lookupd_auth_refused_total{port="tcp",reason="forbidden"}`:          11,
		`lookupd_http_creates_refused_total{limit="max-topics"}`:             13,
		`lookupd_http_creates_refused_total{limit="max-channels-per-topic"}`: 17,
		`lookupd_auth_refused_total{port="http",reason="unauthorized"}`:      19,
		`lookupd_auth_refused_total{port="http",reason="forbidden"}`:         23,
		`lookupd_tls_handshake_errors_total{port="tcp"}`:                     29,
		`lookupd_tls_handshake_errors_total{port="http"}`:                    31,
		"lookupd_http_plaintext_refused_total":                               37,
	}
	for scrape := 1; scrape <= 2; scrape++ {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		if tcpReads != scrape || apiReads != scrape {
			t.Fatalf("after %d scrapes: %d TCP and %d HTTP reads, want %d of each", scrape, tcpReads, apiReads, scrape)
		}
		got := make(map[string]float64)
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				if lps := m.GetLabel(); len(lps) > 0 {
					var parts []string
					for _, lp := range lps {
						parts = append(parts, lp.GetName()+`="`+lp.GetValue()+`"`)
					}
					name += "{" + strings.Join(parts, ",") + "}"
				}
				got[name] = m.GetCounter().GetValue()
			}
		}
		if len(got) != len(want) {
			t.Fatalf("scrape %d: %v, want %v", scrape, got, want)
		}
		for name, v := range want {
			if got[name] != v {
				t.Errorf("scrape %d: %s = %v, want %v", scrape, name, got[name], v)
			}
		}
	}
}
