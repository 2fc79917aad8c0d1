package lookup

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newMetrics returns the /metrics handler: a Prometheus registry of this
// server's own (not the process-global one, so several servers can live in
// one process), read from the registry and TCP counters at scrape time.
func newMetrics(s *Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "lookupd", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "lookupd", Name: name, Help: help}, f))
	}
	gauge("producers", "Identified producers (one per TCP connection that sent IDENTIFY).", func() float64 { return float64(s.db.Stats().Peers) })
	gauge("topics", "Topic registrations.", func() float64 { return float64(s.db.Stats().Topics) })
	gauge("channels", "Channel registrations.", func() float64 { return float64(s.db.Stats().Channels) })
	gauge("registrations", "Producer memberships of topics and channels.", func() float64 { return float64(s.db.Stats().Registrations) })
	gauge("tcp_connections", "Open TCP connections.", func() float64 { return float64(s.tcp.Stats().Open) })
	counter("tcp_connections_accepted_total", "TCP connections accepted.", func() float64 { return float64(s.tcp.Stats().Accepted) })
	counter("tcp_connections_rejected_total", "TCP connections refused by --max-tcp-clients.", func() float64 { return float64(s.tcp.Stats().Rejected) })
	counter("tcp_commands_total", "V1 commands executed.", func() float64 { return float64(s.tcp.Stats().Commands) })
	counter("tcp_errors_total", "V1 protocol errors sent to clients.", func() float64 { return float64(s.tcp.Stats().Errors) })
	counter("tcp_idle_timeouts_total", "TCP connections closed by --client-idle-timeout.", func() float64 { return float64(s.tcp.Stats().Timeouts) })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "lookupd", Name: "build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "compat": CompatVersion},
	}, func() float64 { return 1 }))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// statsJSON is the body of GET /stats, this daemon's own endpoint.
type statsJSON struct {
	Version       string  `json:"version"`
	CompatVersion string  `json:"compat_version"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Producers     int     `json:"producers"`
	Topics        int     `json:"topics"`
	Channels      int     `json:"channels"`
	Registrations int     `json:"registrations"`
	TCP           struct {
		Open     int64 `json:"open"`
		Accepted int64 `json:"accepted"`
		Rejected int64 `json:"rejected"`
		Commands int64 `json:"commands"`
		Errors   int64 `json:"errors"`
		Timeouts int64 `json:"idle_timeouts"`
	} `json:"tcp"`
}

func (s *Server) writeStats(w http.ResponseWriter) {
	ds := s.db.Stats()
	ts := s.tcp.Stats()
	var out statsJSON
	out.Version = Version
	out.CompatVersion = CompatVersion
	out.UptimeSeconds = time.Since(s.started).Seconds()
	out.Producers, out.Topics, out.Channels, out.Registrations = ds.Peers, ds.Topics, ds.Channels, ds.Registrations
	out.TCP.Open, out.TCP.Accepted, out.TCP.Rejected = ts.Open, ts.Accepted, ts.Rejected
	out.TCP.Commands, out.TCP.Errors, out.TCP.Timeouts = ts.Commands, ts.Errors, ts.Timeouts
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
	w.Write(body)
}
