package lookup

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
)

// newMetrics returns the /metrics handler: a Prometheus registry of this
// server's own (not the process-global one, so several servers can live in
// one process), read from the registry and TCP counters at scrape time.
func newMetrics(s *Server) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newStatsCollector(s.db.Stats, s.tcp.Stats))
	// s.api does not exist yet: read it at scrape time.
	reg.MustRegister(newBlockingCollector(func() httpapi.BlockingStats { return s.api.BlockingStats() }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "lookupd", Name: "build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": Version, "compat": CompatVersion},
	}, func() float64 { return 1 }))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// statsCollector reports the registry and TCP counters. Each scrape reads
// the registry's Stats, which walks its topics and producers, once and
// takes every gauge from that one reading.
type statsCollector struct {
	db      func() registry.Stats
	tcp     func() tcpserver.Stats
	metrics []statMetric
}

type statMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(registry.Stats, tcpserver.Stats) int64
}

func newStatsCollector(db func() registry.Stats, tcp func() tcpserver.Stats) *statsCollector {
	c := &statsCollector{db: db, tcp: tcp}
	add := func(name, help string, kind prometheus.ValueType, value func(registry.Stats, tcpserver.Stats) int64) {
		desc := prometheus.NewDesc(prometheus.BuildFQName("lookupd", "", name), help, nil, nil)
		c.metrics = append(c.metrics, statMetric{desc: desc, kind: kind, value: value})
	}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	add("producers", "Identified producers (one per TCP connection that sent IDENTIFY).", gauge,
		func(d registry.Stats, _ tcpserver.Stats) int64 { return int64(d.Peers) })
	add("topics", "Topic registrations.", gauge,
		func(d registry.Stats, _ tcpserver.Stats) int64 { return int64(d.Topics) })
	add("channels", "Channel registrations.", gauge,
		func(d registry.Stats, _ tcpserver.Stats) int64 { return int64(d.Channels) })
	add("registrations", "Producer memberships of topics and channels.", gauge,
		func(d registry.Stats, _ tcpserver.Stats) int64 { return int64(d.Registrations) })
	add("tcp_connections", "Open TCP connections.", gauge,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Open })
	add("tcp_connections_accepted_total", "TCP connections accepted.", counter,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Accepted })
	add("tcp_connections_rejected_total", "TCP connections refused by --max-tcp-clients.", counter,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Rejected })
	add("tcp_commands_total", "V1 commands executed.", counter,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Commands })
	add("tcp_errors_total", "V1 protocol errors sent to clients.", counter,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Errors })
	add("tcp_idle_timeouts_total", "TCP connections closed by --client-idle-timeout.", counter,
		func(_ registry.Stats, t tcpserver.Stats) int64 { return t.Timeouts })
	return c
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector: one registry walk per scrape.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	d, t := c.db(), c.tcp()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(d, t)))
	}
}

// blockingCollector reports the blocking-query counters, read once per
// scrape.
type blockingCollector struct {
	stats                               func() httpapi.BlockingStats
	waiting, keys, total, woken, capped *prometheus.Desc
}

func newBlockingCollector(stats func() httpapi.BlockingStats) *blockingCollector {
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("lookupd", "", name), help, nil, nil)
	}
	return &blockingCollector{
		stats:   stats,
		waiting: desc("blocking_queries", "Blocking queries (?index=) held now."),
		keys:    desc("blocking_query_keys", "Distinct answers that blocking queries wait on."),
		total:   desc("blocking_queries_total", "Blocking queries held since start."),
		woken:   desc("blocking_queries_woken_total", "Blocking queries woken by a change of their answer."),
		capped:  desc("blocking_queries_capped_total", "Blocking queries answered at once because --max-blocking-queries were held."),
	}
}

// Describe implements prometheus.Collector.
func (c *blockingCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.waiting, c.keys, c.total, c.woken, c.capped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *blockingCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	ch <- prometheus.MustNewConstMetric(c.waiting, gauge, float64(s.Waiting))
	ch <- prometheus.MustNewConstMetric(c.keys, gauge, float64(s.Keys))
	ch <- prometheus.MustNewConstMetric(c.total, counter, float64(s.Total))
	ch <- prometheus.MustNewConstMetric(c.woken, counter, float64(s.Woken))
	ch <- prometheus.MustNewConstMetric(c.capped, counter, float64(s.Capped))
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
	Blocking struct {
		Waiting int    `json:"waiting"`
		Keys    int    `json:"keys"`
		Total   uint64 `json:"total"`
		Woken   uint64 `json:"woken"`
		Capped  uint64 `json:"capped"`
	} `json:"blocking"`
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
	bs := s.api.BlockingStats()
	out.Blocking.Waiting, out.Blocking.Keys, out.Blocking.Total, out.Blocking.Woken, out.Blocking.Capped = bs.Waiting, bs.Keys, bs.Total, bs.Woken, bs.Capped
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
	w.Write(body)
}
