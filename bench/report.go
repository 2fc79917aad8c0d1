package bench

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Figure keys of Result.Figures.
const (
	FigConnectRate   = "connect_per_s"
	FigRegisterRate  = "register_per_s"
	FigRegisterCPU   = "register_cpu_us"
	FigLookupRate    = "lookup_per_s"
	FigLookupP50     = "lookup_p50_us"
	FigLookupP99     = "lookup_p99_us"
	FigLookupCPU     = "lookup_cpu_us"
	FigPingRate      = "ping_per_s"
	FigPingP50       = "ping_p50_us"
	FigPingP99       = "ping_p99_us"
	FigPingCPU       = "ping_cpu_us"
	FigLookupVsPing  = "lookup_vs_ping"
	FigTopicsFirst   = "topics_first_ms"
	FigTopicsMs      = "topics_ms"
	FigChannelsFirst = "channels_first_ms"
	FigChannelsMs    = "channels_ms"
	FigNodesFirst    = "nodes_first_ms"
	FigNodesMs       = "nodes_ms"
	FigHeartbeatRate = "heartbeat_per_s"
	FigHeartbeatCPU  = "heartbeat_cpu_us"
	FigStormMs       = "storm_ms"
	FigStormCPUMs    = "storm_cpu_ms"
	FigRSSStart      = "rss_start_mib"
	FigRSSFull       = "rss_full_mib"
	FigRSSPerConn    = "rss_per_conn_bytes"
	FigRSSPerReg     = "rss_per_registration_bytes"
)

// Metric describes one figure: how to label it, which direction is better,
// and the target (at the target scale) if there is one.
type Metric struct {
	Key          string
	Label        string
	Unit         string
	HigherBetter bool
	// Target is the minimum advantage of ours over nsqlookupd (see
	// Advantage); 0 means none. With TargetOwn it is instead the minimum
	// of ours's own figure.
	Target    float64
	TargetOwn bool
}

// Metrics lists every figure in table order.
var Metrics = []Metric{
	{Key: FigRegisterRate, Label: "REGISTER throughput", Unit: "cmd/s", HigherBetter: true, Target: 1.5},
	{Key: FigRegisterCPU, Label: "daemon CPU per REGISTER", Unit: "µs"},
	{Key: FigConnectRate, Label: "connect + IDENTIFY", Unit: "conn/s", HigherBetter: true},
	{Key: FigLookupRate, Label: "/lookup throughput", Unit: "req/s", HigherBetter: true, Target: 10},
	{Key: FigLookupP50, Label: "/lookup p50", Unit: "µs"},
	{Key: FigLookupP99, Label: "/lookup p99", Unit: "µs"},
	{Key: FigLookupCPU, Label: "daemon CPU per /lookup", Unit: "µs"},
	{Key: FigPingRate, Label: "/ping throughput (HTTP ceiling)", Unit: "req/s", HigherBetter: true},
	{Key: FigPingP50, Label: "/ping p50", Unit: "µs"},
	{Key: FigPingP99, Label: "/ping p99", Unit: "µs"},
	{Key: FigPingCPU, Label: "daemon CPU per /ping", Unit: "µs"},
	{Key: FigLookupVsPing, Label: "/lookup ÷ own /ping", Unit: "x", HigherBetter: true, Target: 0.7, TargetOwn: true},
	{Key: FigTopicsMs, Label: "/topics latency (median)", Unit: "ms", Target: 5},
	{Key: FigTopicsFirst, Label: "/topics latency (first call)", Unit: "ms"},
	{Key: FigChannelsMs, Label: "/channels latency (median)", Unit: "ms", Target: 5},
	{Key: FigChannelsFirst, Label: "/channels latency (first call)", Unit: "ms"},
	{Key: FigNodesMs, Label: "/nodes latency (median)", Unit: "ms", Target: 100},
	{Key: FigNodesFirst, Label: "/nodes latency (first call)", Unit: "ms"},
	{Key: FigHeartbeatRate, Label: "heartbeat PING throughput", Unit: "ping/s", HigherBetter: true, Target: 1},
	{Key: FigHeartbeatCPU, Label: "daemon CPU per PING", Unit: "µs"},
	{Key: FigStormMs, Label: "disconnect storm: /nodes empty after", Unit: "ms", Target: 20},
	{Key: FigStormCPUMs, Label: "disconnect storm: daemon CPU", Unit: "ms", Target: 20},
	{Key: FigRSSStart, Label: "RSS after start", Unit: "MiB"},
	{Key: FigRSSFull, Label: "RSS with everything registered", Unit: "MiB"},
	{Key: FigRSSPerConn, Label: "RSS per idle identified connection", Unit: "bytes", Target: 1},
	{Key: FigRSSPerReg, Label: "RSS per registration", Unit: "bytes", Target: 1},
}

// MetricByKey returns the metric with key k.
func MetricByKey(k string) (Metric, bool) {
	i := slices.IndexFunc(Metrics, func(m Metric) bool { return m.Key == k })
	if i < 0 {
		return Metric{}, false
	}
	return Metrics[i], true
}

// Advantage returns how many times better ours is than theirs for m:
// ours/theirs when higher is better, theirs/ours when lower is better, so
// above 1 always means ours is better. ok is false when the ratio is
// undefined (a zero or negative figure).
func (m Metric) Advantage(ours, theirs float64) (float64, bool) {
	if ours <= 0 || theirs <= 0 {
		return 0, false
	}
	if m.HigherBetter {
		return ours / theirs, true
	}
	return theirs / ours, true
}

// Median returns the median of xs (mean of the middle two for an even
// count); NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// medians returns, per figure key, the median over runs that have it.
func medians(runs []*Result) map[string]float64 {
	vals := map[string][]float64{}
	for _, r := range runs {
		for k, v := range r.Figures {
			vals[k] = append(vals[k], v)
		}
	}
	out := make(map[string]float64, len(vals))
	for k, v := range vals {
		out[k] = Median(v)
	}
	return out
}

// DaemonSummary is every run of one daemon and the median of each figure.
type DaemonSummary struct {
	Daemon  Kind               `json:"daemon"`
	Median  map[string]float64 `json:"median"`
	Runs    []*Result          `json:"runs"`
	Seconds float64            `json:"seconds"` // total wall time of its runs
}

// Comparison is one figure of a paired run.
type Comparison struct {
	Key       string   `json:"key"`
	Label     string   `json:"label"`
	Unit      string   `json:"unit"`
	Ours      float64  `json:"ours"`
	Theirs    *float64 `json:"nsqlookupd,omitempty"`
	Advantage *float64 `json:"advantage,omitempty"` // >1: ours better
	Target    string   `json:"target,omitempty"`
	Met       *bool    `json:"met,omitempty"`
}

// Report is the outcome of a paired or scaling run, encoded as JSON by
// the command.
type Report struct {
	Mode        string        `json:"mode"` // "pair", "single" or "scale"
	Started     time.Time     `json:"started"`
	Seconds     float64       `json:"seconds"`
	Command     string        `json:"command"`
	Machine     string        `json:"machine"`
	Orientation string        `json:"orientation"`
	Layout      string        `json:"layout_scheme"`
	Scales      []ScaleReport `json:"scales"`
}

// ScaleReport is one configuration's summaries and comparisons.
type ScaleReport struct {
	Name        string          `json:"name"`
	Config      Config          `json:"config"`
	Layout      string          `json:"layout"`
	Daemons     []DaemonSummary `json:"daemons"`
	Comparisons []Comparison    `json:"comparisons"`
}

// OrientationNote explains the advantage column.
const OrientationNote = "advantage = ours/nsqlookupd for throughput and theirs/ours for latency, time, CPU and memory, so > 1 always means ours is better"

// LayoutScheme describes the topic layout.
const LayoutScheme = "producer p carries topics (p*step + i) mod pool for i < T, step = max(1, T/share), pool = max(P*step, T): overlapping windows, about `share` producers per topic; every topic of a producer gets channels bench-channel-0..C-1"

// NewScaleReport builds the summaries (medians over runs) and comparisons
// for one configuration. runs may hold one or both daemons.
func NewScaleReport(name string, cfg Config, runs []*Result) ScaleReport {
	sr := ScaleReport{Name: name, Config: cfg, Layout: cfg.Layout().String()}
	byKind := map[Kind][]*Result{}
	for _, r := range runs {
		byKind[r.Daemon] = append(byKind[r.Daemon], r)
	}
	for _, k := range []Kind{Ours, NSQ} {
		rs := byKind[k]
		if len(rs) == 0 {
			continue
		}
		ds := DaemonSummary{Daemon: k, Median: medians(rs), Runs: rs}
		for _, r := range rs {
			ds.Seconds += r.Seconds
		}
		sr.Daemons = append(sr.Daemons, ds)
	}
	ours, theirs := sr.median(Ours), sr.median(NSQ)
	if ours == nil {
		return sr
	}
	for _, m := range Metrics {
		o, ok := ours[m.Key]
		if !ok {
			continue
		}
		c := Comparison{Key: m.Key, Label: m.Label, Unit: m.Unit, Ours: o}
		var adv float64
		haveAdv := false
		if t, ok := theirs[m.Key]; ok && theirs != nil {
			c.Theirs = &t
			if a, ok := m.Advantage(o, t); ok {
				adv, haveAdv = a, true
				c.Advantage = &a
			}
		}
		if m.Target > 0 && cfg.IsTargetScale() {
			switch {
			case m.TargetOwn:
				c.Target = fmt.Sprintf("ours ≥ %g", m.Target)
				met := o >= m.Target
				c.Met = &met
			case m.HigherBetter:
				c.Target = fmt.Sprintf("≥ %g× theirs", m.Target)
			default:
				c.Target = fmt.Sprintf("≥ %g× lower", m.Target)
			}
			if m.Key == FigRSSPerConn || m.Key == FigRSSPerReg {
				c.Target = "≤ 1× theirs"
			}
			if !m.TargetOwn && haveAdv {
				met := adv >= m.Target
				c.Met = &met
			}
		}
		sr.Comparisons = append(sr.Comparisons, c)
	}
	return sr
}

func (sr ScaleReport) median(k Kind) map[string]float64 {
	for _, d := range sr.Daemons {
		if d.Daemon == k {
			return d.Median
		}
	}
	return nil
}

// fmtNum prints a figure with a sensible number of digits.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "–"
	case a >= 100:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func fmtAdv(a float64) string {
	switch {
	case a >= 100:
		return fmt.Sprintf("%s×", groupThousands(fmt.Sprintf("%.0f", a)))
	case a >= 10:
		return fmt.Sprintf("%.1f×", a)
	default:
		return fmt.Sprintf("%.2f×", a)
	}
}

// Markdown renders the comparison table of one configuration.
func (sr ScaleReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** — %s; %d HTTP clients, %s per timed phase, REGISTER pipeline %d, seed %d.",
		sr.Name, sr.Layout, sr.Config.Clients, sr.Config.Duration, sr.Config.Pipeline, sr.Config.Seed)
	for _, d := range sr.Daemons {
		fmt.Fprintf(&b, " %s: %d run(s), %.0f s.", d.Daemon, len(d.Runs), d.Seconds)
	}
	b.WriteString("\n\n")
	hasTheirs := sr.median(NSQ) != nil
	targets := sr.Config.IsTargetScale()
	switch {
	case hasTheirs && targets:
		b.WriteString("| figure | unit | ours | nsqlookupd | advantage (>1 = ours better) | target | met |\n")
		b.WriteString("|---|---|--:|--:|--:|---|:-:|\n")
	case hasTheirs:
		b.WriteString("| figure | unit | ours | nsqlookupd | advantage (>1 = ours better) |\n")
		b.WriteString("|---|---|--:|--:|--:|\n")
	default:
		b.WriteString("| figure | unit | ours |\n|---|---|--:|\n")
	}
	for _, c := range sr.Comparisons {
		if !hasTheirs {
			fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Label, c.Unit, fmtNum(c.Ours))
			continue
		}
		theirs, adv, met := "–", "–", ""
		if c.Theirs != nil {
			theirs = fmtNum(*c.Theirs)
		}
		if c.Advantage != nil {
			adv = fmtAdv(*c.Advantage)
		}
		if c.Met != nil {
			met = map[bool]string{true: "yes", false: "**no**"}[*c.Met]
		}
		if !targets {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", c.Label, c.Unit, fmtNum(c.Ours), theirs, adv)
			continue
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", c.Label, c.Unit, fmtNum(c.Ours), theirs, adv, c.Target, met)
	}
	return b.String()
}

// ScalingKeys are the per-operation figures the scaling table shows.
var ScalingKeys = []string{
	FigRegisterRate, FigRegisterCPU, FigLookupRate, FigLookupCPU, FigLookupP99, FigPingRate,
	FigTopicsMs, FigChannelsMs, FigNodesMs, FigHeartbeatRate, FigHeartbeatCPU,
	FigStormMs, FigStormCPUMs, FigRSSPerConn, FigRSSPerReg,
}

// derivedFig is a figure computed from a run's medians and configuration.
type derivedFig struct {
	label, unit string
	value       func(m map[string]float64, c Config) (float64, bool)
}

func per(key string, scale float64, by func(Config) float64) func(map[string]float64, Config) (float64, bool) {
	return func(m map[string]float64, c Config) (float64, bool) {
		v, ok := m[key]
		if !ok || m == nil {
			return 0, false
		}
		return v * scale / by(c), true
	}
}

func one(Config) float64 { return 1 }

func registrations(c Config) float64 { return float64(c.Layout().Registrations()) }

func producers(c Config) float64 { return float64(c.Producers) }

func topics(c Config) float64 { return float64(c.Layout().UsedTopics()) }

var derived = []derivedFig{
	{"disconnect storm CPU per registration", "µs", per(FigStormCPUMs, 1e3, registrations)},
	{"disconnect storm CPU per producer", "µs", per(FigStormCPUMs, 1e3, producers)},
	{"/nodes first call per listed producer", "µs", per(FigNodesFirst, 1e3, producers)},
	{"/topics first call per listed topic", "µs", per(FigTopicsFirst, 1e3, topics)},
}

var growth = []derivedFig{
	{"daemon CPU per REGISTER", "", per(FigRegisterCPU, 1, one)},
	{"daemon CPU per /lookup", "", per(FigLookupCPU, 1, one)},
	{"daemon CPU per PING", "", per(FigHeartbeatCPU, 1, one)},
	{"/channels latency (median)", "", per(FigChannelsMs, 1, one)},
	derived[0], derived[1], derived[2], derived[3],
}

// ScalingMarkdown renders one table with a column per scale and daemon.
func ScalingMarkdown(scales []ScaleReport) string {
	var b strings.Builder
	type col struct {
		sr   ScaleReport
		kind Kind
	}
	var cols []col
	for _, sr := range scales {
		for _, d := range sr.Daemons {
			cols = append(cols, col{sr, d.Daemon})
		}
	}
	b.WriteString("| figure | unit |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s %s |", c.sr.Name, c.kind)
	}
	b.WriteString("\n|---|---|")
	for range cols {
		b.WriteString("--:|")
	}
	b.WriteString("\n")
	for _, k := range ScalingKeys {
		m, _ := MetricByKey(k)
		fmt.Fprintf(&b, "| %s | %s |", m.Label, m.Unit)
		for _, c := range cols {
			v, ok := c.sr.median(c.kind)[k]
			if !ok {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s |", fmtNum(v))
		}
		b.WriteString("\n")
	}
	for _, d := range derived {
		fmt.Fprintf(&b, "| %s | %s |", d.label, d.unit)
		for _, c := range cols {
			v, ok := d.value(c.sr.median(c.kind), c.sr.Config)
			if !ok {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s |", fmtNum(v))
		}
		b.WriteString("\n")
	}
	if len(scales) >= 2 {
		first, second := scales[0], scales[1]
		fmt.Fprintf(&b, "\nCost per operation at %s divided by the cost at %s (1 = flat; %.0f = growing with the number of producers):\n\n",
			second.Name, first.Name, float64(second.Config.Producers)/float64(first.Config.Producers))
		b.WriteString("| cost per operation | ours | nsqlookupd |\n|---|--:|--:|\n")
		for _, d := range growth {
			fmt.Fprintf(&b, "| %s |", d.label)
			for _, k := range []Kind{Ours, NSQ} {
				a, okA := d.value(first.median(k), first.Config)
				z, okZ := d.value(second.median(k), second.Config)
				if !okA || !okZ || a <= 0 {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(&b, " %s |", fmtAdv(z/a))
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}
