package lookup

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/internal/tlssniff"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/tcpserver"
)

// newMetrics returns the /metrics handler: a Prometheus registry of this
// server's own (not the process-global one, so several servers can live in
// one process), read from the registry, TCP and DNS counters at scrape
// time.
func newMetrics(s *Server, hm *httpMetrics) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(hm.requests, hm.duration)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(newStatsCollector(s.db.Stats, s.tcp.Stats))
	// s.api does not exist yet: read it at scrape time (here and below).
	reg.MustRegister(newBlockingCollector(func() httpapi.BlockingStats { return s.api.BlockingStats() }))
	if s.dns != nil {
		reg.MustRegister(newDNSCollector(s.dns.Stats))
	}
	reg.MustRegister(newLimitCollector(s.tcp.Stats, func() httpapi.Stats { return s.api.Stats() }, s.sniffStats))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "lookupd", Name: "build_info", Help: "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": config.Version, "compat": CompatVersion},
	}, func() float64 { return 1 }))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// sniffStats returns the HTTPS listener's counters (zero without TLS).
func (s *Server) sniffStats() tlssniff.Stats {
	if s.sniff == nil {
		return tlssniff.Stats{}
	}
	return s.sniff.Stats()
}

// authHelp describes lookupd_auth_refused_total.
const authHelp = "Requests refused by --auth-file or --tcp-allow: unauthorized (HTTP 401, refused IDENTIFY) or forbidden (HTTP 403, REGISTER of a topic the token does not cover)."

// limitStats is one reading of the counters of refusals by the limits
// that hold with no configuration (see the README's threat model) and by
// the tokens; the blocking-query one is in newBlockingCollector.
type limitStats struct {
	tcp   tcpserver.Stats
	api   httpapi.Stats
	sniff tlssniff.Stats
}

// newLimitCollector reports the refusal counters, from one reading of
// each source per scrape.
func newLimitCollector(tcp func() tcpserver.Stats, api func() httpapi.Stats, sniff func() tlssniff.Stats) *snapshotCollector[limitStats] {
	c := &snapshotCollector[limitStats]{read: func() limitStats { return limitStats{tcp: tcp(), api: api(), sniff: sniff()} }}
	counter := prometheus.CounterValue
	c.add("tcp_connections_rejected_per_ip_total", "TCP connections refused by --max-tcp-clients-per-ip.", counter,
		func(s limitStats) int64 { return s.tcp.RejectedPerSource })
	c.add("tcp_handshake_timeouts_total", "TCP connections closed by --handshake-timeout.", counter,
		func(s limitStats) int64 { return s.tcp.HandshakeTimeouts })
	const createsHelp = "POST /topic/create and /channel/create refused by a limit."
	c.addLabeled("http_creates_refused_total", createsHelp, prometheus.Labels{"limit": "max-topics"}, counter,
		func(s limitStats) int64 { return int64(s.api.TopicsCapped) })
	c.addLabeled("http_creates_refused_total", createsHelp, prometheus.Labels{"limit": "max-channels-per-topic"}, counter,
		func(s limitStats) int64 { return int64(s.api.ChannelsCapped) })
	c.addLabeled("auth_refused_total", authHelp, prometheus.Labels{"port": "http", "reason": "unauthorized"}, counter,
		func(s limitStats) int64 { return int64(s.api.Unauthorized) })
	c.addLabeled("auth_refused_total", authHelp, prometheus.Labels{"port": "http", "reason": "forbidden"}, counter,
		func(s limitStats) int64 { return int64(s.api.Forbidden) })
	c.addLabeled("auth_refused_total", authHelp, prometheus.Labels{"port": "tcp", "reason": "unauthorized"}, counter,
		func(s limitStats) int64 { return s.tcp.Unauthorized })
	c.addLabeled("auth_refused_total", authHelp, prometheus.Labels{"port": "tcp", "reason": "forbidden"}, counter,
		func(s limitStats) int64 { return s.tcp.Forbidden })
	const tlsHelp = "TLS handshakes that failed (a missing or untrusted client certificate, a protocol error; on the V1 listener, deadlines are counted as handshake timeouts instead)."
	c.addLabeled("tls_handshake_errors_total", tlsHelp, prometheus.Labels{"port": "http"}, counter,
		func(s limitStats) int64 { return s.sniff.HandshakeErrors })
	c.addLabeled("tls_handshake_errors_total", tlsHelp, prometheus.Labels{"port": "tcp"}, counter,
		func(s limitStats) int64 { return s.tcp.TLSErrors })
	c.add("http_plaintext_refused_total", "Plaintext connections to the HTTPS listener (answered 403 TLS_REQUIRED).", counter,
		func(s limitStats) int64 { return s.sniff.Plaintext })
	return c
}

// snapshotCollector reports metrics that are all taken from one reading
// of S per scrape.
type snapshotCollector[S any] struct {
	read    func() S
	metrics []statMetric[S]
}

type statMetric[S any] struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(S) int64
}

func (c *snapshotCollector[S]) add(name, help string, kind prometheus.ValueType, value func(S) int64) {
	c.addLabeled(name, help, nil, kind, value)
}

// addLabeled is add for a metric with constant labels; several metrics
// may share a name with different label values.
func (c *snapshotCollector[S]) addLabeled(name, help string, labels prometheus.Labels, kind prometheus.ValueType, value func(S) int64) {
	desc := prometheus.NewDesc(prometheus.BuildFQName("lookupd", "", name), help, nil, labels)
	c.metrics = append(c.metrics, statMetric[S]{desc: desc, kind: kind, value: value})
}

// Describe implements prometheus.Collector.
func (c *snapshotCollector[S]) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector: one reading per scrape.
func (c *snapshotCollector[S]) Collect(ch chan<- prometheus.Metric) {
	st := c.read()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, float64(m.value(st)))
	}
}

// daemonStats is one reading of the registry and TCP counters. The
// registry's Stats walks its topics and producers, so a scrape reads it
// once and takes every gauge from that reading.
type daemonStats struct {
	db  registry.Stats
	tcp tcpserver.Stats
}

func newStatsCollector(db func() registry.Stats, tcp func() tcpserver.Stats) *snapshotCollector[daemonStats] {
	c := &snapshotCollector[daemonStats]{read: func() daemonStats { return daemonStats{db: db(), tcp: tcp()} }}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	c.add("producers", "Identified producers (one per TCP connection that sent IDENTIFY).", gauge,
		func(s daemonStats) int64 { return int64(s.db.Producers) })
	c.add("topics", "Topic registrations.", gauge,
		func(s daemonStats) int64 { return int64(s.db.Topics) })
	c.add("channels", "Channel registrations.", gauge,
		func(s daemonStats) int64 { return int64(s.db.Channels) })
	c.add("registrations", "Producer memberships of topics and channels.", gauge,
		func(s daemonStats) int64 { return int64(s.db.Registrations) })
	c.add("tcp_connections", "Open TCP connections.", gauge,
		func(s daemonStats) int64 { return s.tcp.Open })
	c.add("tcp_connections_accepted_total", "TCP connections accepted.", counter,
		func(s daemonStats) int64 { return s.tcp.Accepted })
	c.add("tcp_connections_rejected_total", "TCP connections refused by --max-tcp-clients.", counter,
		func(s daemonStats) int64 { return s.tcp.Rejected })
	c.add("tcp_commands_total", "V1 commands executed.", counter,
		func(s daemonStats) int64 { return s.tcp.Commands })
	c.add("tcp_errors_total", "V1 protocol errors sent to clients.", counter,
		func(s daemonStats) int64 { return s.tcp.Errors })
	c.add("tcp_idle_timeouts_total", "TCP connections closed by --client-idle-timeout.", counter,
		func(s daemonStats) int64 { return s.tcp.Timeouts })
	return c
}

func newBlockingCollector(read func() httpapi.BlockingStats) *snapshotCollector[httpapi.BlockingStats] {
	c := &snapshotCollector[httpapi.BlockingStats]{read: read}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	c.add("blocking_queries", "Blocking queries (?index=) held now.", gauge,
		func(s httpapi.BlockingStats) int64 { return int64(s.Waiting) })
	c.add("blocking_query_keys", "Distinct answers that blocking queries wait on.", gauge,
		func(s httpapi.BlockingStats) int64 { return int64(s.Keys) })
	c.add("blocking_queries_total", "Blocking queries held since start.", counter,
		func(s httpapi.BlockingStats) int64 { return int64(s.Total) })
	c.add("blocking_queries_woken_total", "Blocking queries woken by a change of their answer.", counter,
		func(s httpapi.BlockingStats) int64 { return int64(s.Woken) })
	c.add("blocking_queries_capped_total", "Blocking queries answered at once because --max-blocking-queries were held.", counter,
		func(s httpapi.BlockingStats) int64 { return int64(s.Capped) })
	c.add("blocking_queries_capped_per_ip_total", "Blocking queries answered at once because their address held --max-blocking-queries-per-ip.", counter,
		func(s httpapi.BlockingStats) int64 { return int64(s.CappedPerSource) })
	return c
}

func newDNSCollector(read func() dnsserver.Stats) *snapshotCollector[dnsserver.Stats] {
	c := &snapshotCollector[dnsserver.Stats]{read: read}
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	c.add("dns_udp_queries_total", "DNS queries answered over UDP.", counter,
		func(s dnsserver.Stats) int64 { return s.UDPQueries })
	c.add("dns_tcp_queries_total", "DNS queries answered over TCP.", counter,
		func(s dnsserver.Stats) int64 { return s.TCPQueries })
	c.add("dns_dropped_total", "DNS packets dropped unanswered (malformed, or not a query).", counter,
		func(s dnsserver.Stats) int64 { return s.Dropped })
	c.add("dns_truncated_total", "DNS answers sent with the TC bit.", counter,
		func(s dnsserver.Stats) int64 { return s.Truncated })
	c.add("dns_nxdomain_total", "DNS NXDOMAIN answers.", counter,
		func(s dnsserver.Stats) int64 { return s.NXDomain })
	c.add("dns_refused_total", "DNS REFUSED answers (a name outside --dns-zone).", counter,
		func(s dnsserver.Stats) int64 { return s.Refused })
	c.add("dns_servfail_total", "DNS SERVFAIL answers.", counter,
		func(s dnsserver.Stats) int64 { return s.SourceErrors })
	c.add("dns_tcp_connections", "Open DNS TCP connections.", gauge,
		func(s dnsserver.Stats) int64 { return s.TCPOpen })
	c.add("dns_tcp_connections_rejected_total", "DNS TCP connections refused by --dns-max-tcp-connections.", counter,
		func(s dnsserver.Stats) int64 { return s.TCPRejected })
	return c
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
		// Refusals by the limits of the threat model.
		RejectedPerIP     int64 `json:"rejected_per_ip"`
		HandshakeTimeouts int64 `json:"handshake_timeouts"`
		Unauthorized      int64 `json:"unauthorized"`
		Forbidden         int64 `json:"forbidden"`
	} `json:"tcp"`
	HTTP struct {
		TopicsCapped   uint64 `json:"creates_refused_max_topics"`
		ChannelsCapped uint64 `json:"creates_refused_max_channels_per_topic"`
		Unauthorized   uint64 `json:"unauthorized"`
		Forbidden      uint64 `json:"forbidden"`
	} `json:"http"`
	Blocking struct {
		Waiting int    `json:"waiting"`
		Keys    int    `json:"keys"`
		Total   uint64 `json:"total"`
		Woken   uint64 `json:"woken"`
		Capped  uint64 `json:"capped"`
		// CappedPerIP counts refusals by --max-blocking-queries-per-ip.
		CappedPerIP uint64 `json:"capped_per_ip"`
	} `json:"blocking"`
	// DNS is present when --dns-address is set.
	DNS *dnsserver.Stats `json:"dns,omitempty"`
}

func (s *Server) writeStats(w http.ResponseWriter) {
	ds := s.db.Stats()
	ts := s.tcp.Stats()
	var out statsJSON
	out.Version = config.Version
	out.CompatVersion = CompatVersion
	out.UptimeSeconds = time.Since(s.started).Seconds()
	out.Producers, out.Topics, out.Channels, out.Registrations = ds.Producers, ds.Topics, ds.Channels, ds.Registrations
	out.TCP.Open, out.TCP.Accepted, out.TCP.Rejected = ts.Open, ts.Accepted, ts.Rejected
	out.TCP.Commands, out.TCP.Errors, out.TCP.Timeouts = ts.Commands, ts.Errors, ts.Timeouts
	out.TCP.RejectedPerIP, out.TCP.HandshakeTimeouts = ts.RejectedPerSource, ts.HandshakeTimeouts
	hs := s.api.Stats()
	out.HTTP.TopicsCapped, out.HTTP.ChannelsCapped = hs.TopicsCapped, hs.ChannelsCapped
	out.HTTP.Unauthorized, out.HTTP.Forbidden = hs.Unauthorized, hs.Forbidden
	out.TCP.Unauthorized, out.TCP.Forbidden = ts.Unauthorized, ts.Forbidden
	bs := s.api.BlockingStats()
	out.Blocking.Waiting, out.Blocking.Keys, out.Blocking.Total, out.Blocking.Woken, out.Blocking.Capped = bs.Waiting, bs.Keys, bs.Total, bs.Woken, bs.Capped
	out.Blocking.CappedPerIP = bs.CappedPerSource
	if s.dns != nil {
		st := s.dns.Stats()
		out.DNS = &st
	}
	body, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
	w.Write(body)
}

// httpMetrics counts and times HTTP requests per route and status.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// series holds the children of requests and duration for each
	// routeStatus seen, so that a request finds both with one lookup. It
	// has one entry per series the vectors hold: routes are the router's
	// (or "unmatched") and statuses those the server writes.
	series sync.Map // routeStatus -> *httpSeries
}

type routeStatus struct {
	route  string
	status int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// httpDurationBuckets span a cached answer (0.1 ms) to a blocking query
// that waited long (5 min).
var httpDurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

func newHTTPMetrics() *httpMetrics {
	labels := []string{"route", "status"}
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "lookupd", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route (\"unmatched\" for paths no route serves) and status.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "lookupd", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time from receiving an HTTP request to having answered it (for a blocking query, the wait included), by route and status.",
			Buckets: httpDurationBuckets,
		}, labels),
	}
}

// observe records one request; it is httpapi.Options.Observe.
func (m *httpMetrics) observe(r httpapi.Request) {
	k := routeStatus{route: r.Route, status: r.Status}
	v, ok := m.series.Load(k)
	if !ok {
		status := strconv.Itoa(r.Status)
		v, _ = m.series.LoadOrStore(k, &httpSeries{
			requests: m.requests.WithLabelValues(r.Route, status),
			duration: m.duration.WithLabelValues(r.Route, status),
		})
	}
	hs := v.(*httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(r.Duration.Seconds())
}
