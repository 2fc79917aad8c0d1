package netscale

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/config"
)

// Report is what a run measured. Durations in distributions are in
// milliseconds, CPU in seconds, memory in bytes.
type Report struct {
	Started     time.Time `json:"started"`
	Machine     string    `json:"machine"`
	Version     string    `json:"version"`
	LoadAvg     string    `json:"load_avg_start"` // /proc/loadavg's 1, 5, 15 min at the start
	LoadAvgEnd  string    `json:"load_avg_end"`
	WallSeconds float64   `json:"wall_seconds"`
	Config      Config    `json:"config"`

	Lookupds []LookupdFigures `json:"lookupds"`
	// Producer hosts' RSS empty, connected and registered, and CPU
	// (cores) while heartbeating.
	ProducerRSSEmpty      []int64   `json:"producer_rss_empty"`
	ProducerRSSConnected  []int64   `json:"producer_rss_connected"`
	ProducerRSSRegistered []int64   `json:"producer_rss_registered"`
	ProducerCPUHeartbeat  []float64 `json:"producer_cpu_heartbeat"`

	ConnectSeconds  float64 `json:"connect_seconds"`  // every base producer connected to every lookupd
	RegisterSeconds float64 `json:"register_seconds"` // every registration on every lookupd

	Latency       []LatencyFigures `json:"latency"`
	WatchedTopics int              `json:"watched_topics"`
	Join          Dist             `json:"join"`  // probe started -> in a consumer's merged view
	Leave         Dist             `json:"leave"` // probe closed -> gone from a consumer's merged view
	Cut           CutFigures       `json:"cut"`
}

// LookupdFigures are one lookupd's readings.
type LookupdFigures struct {
	Name          string  `json:"name"`
	RSSEmpty      int64   `json:"rss_empty"`      // no producers
	RSSConnected  int64   `json:"rss_connected"`  // every base producer identified, nothing registered
	RSSRegistered int64   `json:"rss_registered"` // and every registration made
	CPURest       float64 `json:"cpu_rest"`       // cores, no producers
	CPUHeartbeat  float64 `json:"cpu_heartbeat"`  // cores, base producers heartbeating
	CPURegister   float64 `json:"cpu_register"`   // seconds spent in the register phase
	// Producers and Registrations are what the lookupd's /stats said at
	// the RSSConnected and RSSRegistered readings.
	Producers     int `json:"producers"`
	Registrations int `json:"registrations"`
}

// LatencyFigures are merged lookups over the first Lookupds lookupds.
type LatencyFigures struct {
	Lookupds   int     `json:"lookupds"`
	Calls      int     `json:"calls"`
	Producers  int     `json:"producers"` // in the merged answer
	Dist       Dist    `json:"latency"`
	ClientCPU  float64 `json:"client_cpu"`  // consumer CPU seconds per merged call
	LookupdCPU float64 `json:"lookupd_cpu"` // lookupd CPU seconds per /lookup request (heartbeat load subtracted)
}

// CutFigures describe one producer host cut off and healed.
type CutFigures struct {
	Host      string `json:"host"`
	Producers int    `json:"producers"` // on the host
	Observed  int    `json:"observed"`  // of those, carrying a watched topic
	// Gone: link down -> a consumer stops seeing the producer (per
	// consumer and observed producer).
	Gone Dist `json:"gone"`
	// ConnectionsClosed: link down -> every lookupd dropped the host's
	// connections (seconds); ConnectionsClosedWait is how much of that the
	// run waited after Gone.
	ConnectionsClosed     float64 `json:"connections_closed"`
	ConnectionsClosedWait float64 `json:"connections_closed_wait"`
	HeldSeconds           float64 `json:"held_seconds"`
	// Back: link up -> a consumer sees the producer again.
	Back Dist `json:"back"`
	// AllBack: link up -> every lookupd holds every registration again (s).
	AllBack float64 `json:"all_back"`
}

// Dist summarises samples in milliseconds.
type Dist struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// distribution summarises nanosecond samples (nearest-rank percentiles).
func distribution(ns []int64) Dist {
	if len(ns) == 0 {
		return Dist{}
	}
	s := slices.Clone(ns)
	slices.Sort(s)
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	rank := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[max(i, 0)])
	}
	var sum float64
	for _, v := range s {
		sum += ms(v)
	}
	return Dist{N: len(s), P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), Max: ms(s[len(s)-1]), Mean: sum / float64(len(s))}
}

func newReport(cfg Config) *Report {
	r := &Report{
		Started: time.Now().UTC(),
		Machine: fmt.Sprintf("%d CPUs, %s/%s, %s", runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version()),
		Version: config.Version,
		LoadAvg: proc.LoadAverage(),
		Config:  cfg,
	}
	for i := range cfg.Topology.Lookupds {
		r.Lookupds = append(r.Lookupds, LookupdFigures{Name: fmt.Sprintf("l%d", i)})
	}
	return r
}

// Model is the capacity model derived from a report: unit costs, then
// what they predict at a larger size.
type Model struct {
	Base                 int     `json:"base_producers"` // producers present during the readings
	RegsPerProducer      int     `json:"registrations_per_producer"`
	RSSEmpty             float64 `json:"rss_empty"`          // bytes, median lookupd
	BytesPerProducer     float64 `json:"bytes_per_producer"` // an identified connection, no registrations
	BytesPerRegistration float64 `json:"bytes_per_registration"`
	CPUPerRegister       float64 `json:"cpu_per_register"`           // seconds
	CPUPerHeartbeat      float64 `json:"cpu_per_heartbeat"`          // seconds, lookupd side
	ProducerCPUPerPing   float64 `json:"producer_cpu_per_heartbeat"` // seconds, producer side, per lookupd
	CPUPerLookup         float64 `json:"cpu_per_lookup"`             // seconds, lookupd side, per /lookup request
	ClientCPUPerLookupd  float64 `json:"client_cpu_per_lookupd"`     // seconds per merged call per lookupd asked (slope)
	ClientCPUBase        float64 `json:"client_cpu_base"`            // seconds per merged call, intercept

	// Extrapolated to Producers producers and Registrations registrations
	// on one lookupd, with nsqd's heartbeat (15 s) and the peer resync
	// interval (60 s).
	Producers      int     `json:"producers"`
	Registrations  int     `json:"registrations"`
	RSS            float64 `json:"rss"`              // bytes
	HeartbeatCores float64 `json:"heartbeat_cores"`  // at 15 s
	ResyncCores    float64 `json:"resync_cores"`     // at 60 s
	RestartSeconds float64 `json:"restart_seconds"`  // CPU to take back every registration after a restart
	LookupsPerCore float64 `json:"lookups_per_core"` // /lookup requests one core serves
	MaxProducers   int     `json:"max_producers"`    // largest deployment one lookupd of this machine's size serves
	MaxProducersBy string  `json:"max_producers_by"` // the limit that sets it
}

// Budget is what one lookupd may use in the model: a machine like this
// one (2 cores, 24 GiB), half of its memory, a quarter core of steady
// heartbeat and resync load, and every registration taken back within one
// heartbeat interval on one core after a restart.
var Budget = struct {
	Memory        float64
	SteadyCores   float64
	RestartWithin time.Duration
}{Memory: 12 << 30, SteadyCores: 0.25, RestartWithin: 15 * time.Second}

// NewModel derives the unit costs from rep and extrapolates them to
// producers and registrations.
func NewModel(rep *Report, producers, registrations int) Model {
	t := rep.Config.Topology
	base := t.Producers - t.Probes
	m := Model{Base: base, RegsPerProducer: t.RegistrationsPerProducer(), Producers: producers, Registrations: registrations}
	pingsPerSec := float64(base) / rep.Config.Heartbeat.Seconds()
	var empty, perProducer, perReg, perRegister, perPing []float64
	for _, l := range rep.Lookupds {
		producers, regs := float64(l.Producers), float64(l.Registrations)
		if producers == 0 || regs == 0 { // a report from before these were kept
			producers, regs = float64(base), float64(base*m.RegsPerProducer)
		}
		empty = append(empty, float64(l.RSSEmpty))
		perProducer = append(perProducer, float64(l.RSSConnected-l.RSSEmpty)/producers)
		perReg = append(perReg, float64(l.RSSRegistered-l.RSSConnected)/regs)
		perRegister = append(perRegister, l.CPURegister/regs)
		perPing = append(perPing, (l.CPUHeartbeat-l.CPURest)/(producers/rep.Config.Heartbeat.Seconds()))
	}
	m.RSSEmpty, m.BytesPerProducer, m.BytesPerRegistration = median(empty), median(perProducer), median(perReg)
	m.CPUPerRegister, m.CPUPerHeartbeat = median(perRegister), median(perPing)
	var prodCPU float64
	for _, c := range rep.ProducerCPUHeartbeat {
		prodCPU += c
	}
	m.ProducerCPUPerPing = prodCPU / (pingsPerSec * float64(t.Lookupds))
	if n := len(rep.Latency); n > 0 {
		var lk []float64
		for _, l := range rep.Latency {
			lk = append(lk, l.LookupdCPU)
		}
		m.CPUPerLookup = median(lk)
		m.ClientCPUBase, m.ClientCPUPerLookupd = fit(rep.Latency)
	}

	const heartbeat, resync = 15.0, 60.0
	m.RSS = m.RSSEmpty + float64(producers)*m.BytesPerProducer + float64(registrations)*m.BytesPerRegistration
	m.HeartbeatCores = float64(producers) / heartbeat * m.CPUPerHeartbeat
	m.ResyncCores = float64(registrations) / resync * m.CPUPerRegister
	m.RestartSeconds = float64(registrations) * m.CPUPerRegister
	if m.CPUPerLookup > 0 {
		m.LookupsPerCore = 1 / m.CPUPerLookup
	}

	// The largest producer count, at this run's registrations per
	// producer, within each budget.
	rpp := float64(m.RegsPerProducer)
	limits := []struct {
		by string
		n  float64
	}{
		{fmt.Sprintf("memory (%.0f GiB)", Budget.Memory/(1<<30)), (Budget.Memory - m.RSSEmpty) / (m.BytesPerProducer + rpp*m.BytesPerRegistration)},
		{fmt.Sprintf("steady CPU (%.2f core for 15 s heartbeats and 60 s resyncs)", Budget.SteadyCores), Budget.SteadyCores / (m.CPUPerHeartbeat/heartbeat + rpp*m.CPUPerRegister/resync)},
		{fmt.Sprintf("re-registration after a restart within %s on one core", Budget.RestartWithin), Budget.RestartWithin.Seconds() / (rpp * m.CPUPerRegister)},
	}
	m.MaxProducers = math.MaxInt
	for _, l := range limits {
		if n := int(l.n); n > 0 && n < m.MaxProducers {
			m.MaxProducers, m.MaxProducersBy = n, l.by
		}
	}
	return m
}

// fit is the least-squares line of client CPU per merged call against
// the number of lookupds asked.
func fit(ls []LatencyFigures) (intercept, slope float64) {
	n := float64(len(ls))
	var sx, sy, sxx, sxy float64
	for _, l := range ls {
		x, y := float64(l.Lookupds), l.ClientCPU
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	if d := n*sxx - sx*sx; d != 0 {
		slope = (n*sxy - sx*sy) / d
	}
	return (sy - slope*sx) / n, slope
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Markdown writes the report and the model for producers and
// registrations per lookupd as Markdown.
func (r *Report) Markdown(w io.Writer, producers, registrations int) {
	c, t := r.Config, r.Config.Topology
	m := NewModel(r, producers, registrations)
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	mib := func(b float64) string { return fmt.Sprintf("%.1f", b/(1<<20)) }
	us := func(s float64) string { return fmt.Sprintf("%.1f", s*1e6) }
	p("## netscale run, %s", r.Started.Format(time.RFC3339))
	p("")
	p("Machine: %s; lookupd %s. Load average (1, 5, 15 min) %s at the start, %s at the end. Wall time %.0f s.",
		r.Machine, r.Version, r.LoadAvg, r.LoadAvgEnd, r.WallSeconds)
	p("")
	p("Topology: %d lookupd hosts, %d producer hosts with %d producers (%d held back as probes), each with %d topics of %d channels (%d registrations; about %d producers per topic), %d consumer hosts. Heartbeat %s, resync %s; lookupd --inactive-producer-timeout=%s --client-idle-timeout=%s; consumers watch with clientmerge.Watch (blocking queries, each wait at most %s).",
		t.Lookupds, t.ProducerHosts, t.Producers, t.Probes, t.Topics, t.Channels, t.RegistrationsPerProducer(), t.Share, t.ConsumerHosts,
		c.Heartbeat, c.Resync, c.InactiveTimeout, c.IdleTimeout, c.WatchInterval)
	p("")
	p("### Per lookupd (%d base producers, %d registrations each)", m.Base, m.Base*m.RegsPerProducer)
	p("")
	p("| lookupd | RSS empty MiB | RSS connected MiB | RSS registered MiB | CPU at rest (cores) | CPU under heartbeats (cores) | CPU in register phase (s) |")
	p("|---|--:|--:|--:|--:|--:|--:|")
	for _, l := range r.Lookupds {
		p("| %s | %s | %s | %s | %.4f | %.4f | %.2f |", l.Name, mib(float64(l.RSSEmpty)), mib(float64(l.RSSConnected)), mib(float64(l.RSSRegistered)), l.CPURest, l.CPUHeartbeat, l.CPURegister)
	}
	p("")
	p("Every base producer connected to every lookupd in %.1f s; every registration on every lookupd %.1f s after the producers were asked to register.", r.ConnectSeconds, r.RegisterSeconds)
	var prodRSS, prodCPU float64
	for i := range r.ProducerRSSRegistered {
		prodRSS += float64(r.ProducerRSSRegistered[i] - r.ProducerRSSEmpty[i])
	}
	for _, v := range r.ProducerCPUHeartbeat {
		prodCPU += v
	}
	p("Producer hosts: %.1f KiB RSS per producer (%d connections each); %.3f cores in all under heartbeats.",
		prodRSS/float64(m.Base)/1024, t.Lookupds, prodCPU)
	p("")
	p("### Merged /lookup (consumer c0, %d producers in the answer)", r.latencyProducers())
	p("")
	p("| lookupds asked | calls | p50 ms | p90 ms | p99 ms | max ms | consumer CPU per call µs | lookupd CPU per request µs |")
	p("|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, l := range r.Latency {
		p("| %d | %d | %.2f | %.2f | %.2f | %.2f | %s | %s |", l.Lookupds, l.Calls, l.Dist.P50, l.Dist.P90, l.Dist.P99, l.Dist.Max, us(l.ClientCPU), us(l.LookupdCPU))
	}
	p("")
	p("### Convergence (clientmerge.Watch with blocking queries, wait ≤ %s, on %d topics; per consumer and producer)", c.WatchInterval, r.WatchedTopics)
	p("")
	p("| event | samples | p50 ms | p90 ms | p99 ms | max ms |")
	p("|---|--:|--:|--:|--:|--:|")
	row := func(name string, d Dist) {
		p("| %s | %d | %.0f | %.0f | %.0f | %.0f |", name, d.N, d.P50, d.P90, d.P99, d.Max)
	}
	row("join: producer started → in the merged view", r.Join)
	row("leave: producer closed → gone from the merged view", r.Leave)
	row(fmt.Sprintf("cut: %s's link down → gone", r.Cut.Host), r.Cut.Gone)
	row(fmt.Sprintf("heal: %s's link up → back", r.Cut.Host), r.Cut.Back)
	p("")
	p("Cut-off of %s (%d producers, %d of them on watched topics): consumers stopped seeing them %.1f–%.1f s after the link went down; every lookupd had closed their connections after %.1f s; the link stayed down %.1f s. After it came back, consumers saw them again within %.1f s, and every lookupd held every registration again after %.1f s.",
		r.Cut.Host, r.Cut.Producers, r.Cut.Observed, r.Cut.Gone.P50/1000, r.Cut.Gone.Max/1000, r.Cut.ConnectionsClosed, r.Cut.HeldSeconds, r.Cut.Back.Max/1000, r.Cut.AllBack)
	p("")
	p("### Capacity model")
	p("")
	p("| unit cost | value |")
	p("|---|--:|")
	p("| lookupd RSS, empty | %s MiB |", mib(m.RSSEmpty))
	p("| bytes per producer (identified connection) | %.0f |", m.BytesPerProducer)
	p("| bytes per registration | %.0f |", m.BytesPerRegistration)
	p("| lookupd CPU per REGISTER | %s µs |", us(m.CPUPerRegister))
	p("| lookupd CPU per heartbeat (PING) | %s µs |", us(m.CPUPerHeartbeat))
	p("| producer CPU per heartbeat, per lookupd | %s µs |", us(m.ProducerCPUPerPing))
	p("| lookupd CPU per /lookup request | %s µs |", us(m.CPUPerLookup))
	p("| consumer CPU per merged call | %s µs + %s µs per lookupd asked |", us(m.ClientCPUBase), us(m.ClientCPUPerLookupd))
	p("")
	p("Extrapolated to %d producers and %d registrations on one lookupd (15 s heartbeats, 60 s resyncs): RSS %.2f GiB; %.3f cores for heartbeats, %.3f for resyncs; %.1f CPU-seconds to take every registration back after a restart; one core serves %.0f /lookup requests per second. The largest deployment one lookupd of this machine's size serves, at %d registrations per producer: %d producers, set by %s.",
		m.Producers, m.Registrations, m.RSS/(1<<30), m.HeartbeatCores, m.ResyncCores, m.RestartSeconds, m.LookupsPerCore, m.RegsPerProducer, m.MaxProducers, m.MaxProducersBy)
	if t.Producers < smallRun {
		p("")
		p("**Not a capacity figure:** these unit costs come from %d producers, too few for the fixed costs of a process to fade (a smoke run checks the phases, not the costs); extrapolate from a full `make scale`.", t.Producers)
	}
}

// smallRun is the number of producers below which the report warns that
// its capacity model means nothing.
const smallRun = 1000

func (r *Report) latencyProducers() int {
	if len(r.Latency) == 0 {
		return 0
	}
	return r.Latency[len(r.Latency)-1].Producers
}
