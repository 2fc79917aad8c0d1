package netscale

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as every host of the smoke run.
func TestMain(m *testing.M) {
	if ran, code := RoleMain(os.Args[1:]); ran {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestTopology(t *testing.T) {
	topo := DefaultConfig().Topology
	if err := topo.Validate(); err != nil {
		t.Fatal(err)
	}
	hosts := topo.Hosts()
	if len(hosts) != 18 {
		t.Fatalf("%d hosts, want 10 + 5 + 3", len(hosts))
	}
	seen := map[netip.Addr]bool{}
	for _, h := range hosts {
		if !topo.Prefix.Contains(h.Addr) || seen[h.Addr] {
			t.Errorf("host %s: address %s outside %s or repeated", h.Name, h.Addr, topo.Prefix)
		}
		seen[h.Addr] = true
	}
	if got := topo.LookupdTCPAddrs()[9]; got != "10.200.1.10:4160" {
		t.Errorf("lookupd 9 TCP address %s", got)
	}

	keys := map[string]bool{}
	perTopic := map[string]int{}
	perHost := make([]int, topo.ProducerHosts)
	for p := range topo.Producers {
		k := topo.Key(p)
		if keys[k] {
			t.Fatalf("producer %d: key %s repeated", p, k)
		}
		keys[k] = true
		if id := topo.Identity(p); !strings.HasPrefix(k, id.BroadcastAddress+":") || id.BroadcastAddress != hosts[10+topo.HostOf(p)].Addr.String() {
			t.Fatalf("producer %d: key %s, identity %+v not on its host", p, k, id)
		}
		perHost[topo.HostOf(p)]++
		ts := topo.TopicsOf(p)
		if len(ts) != 10 || len(slices.Compact(slices.Sorted(slices.Values(ts)))) != 10 {
			t.Fatalf("producer %d topics %q: want 10 distinct", p, ts)
		}
		for _, tp := range ts {
			perTopic[tp]++
		}
	}
	for _, n := range perHost {
		if n != topo.Producers/topo.ProducerHosts {
			t.Errorf("producers per host %v: want even", perHost)
			break
		}
	}
	for tp, n := range perTopic {
		if n != topo.Share {
			t.Fatalf("topic %s has %d producers, want %d", tp, n, topo.Share)
		}
	}
	if got := topo.RegistrationsPerProducer(); got != 30 {
		t.Errorf("registrations per producer %d, want 30", got)
	}

	// The watched topics cover every probe, and few topics do it.
	watched := topo.WatchTopics()
	if got := topo.Carriers(watched, topo.Probe()); !slices.Equal(got, topo.Probe()) {
		t.Errorf("watched topics %q carry %d of %d probes", watched, len(got), len(topo.Probe()))
	}
	if len(watched) > topo.Probes/topo.Share+1 {
		t.Errorf("%d watched topics for %d probes at %d per topic", len(watched), topo.Probes, topo.Share)
	}
	if b, p := topo.Base(), topo.Probe(); len(b)+len(p) != topo.Producers || b[len(b)-1]+1 != p[0] {
		t.Errorf("base %d and probes %d do not split the producers", len(b), len(p))
	}
	for h := range topo.ProducerHosts {
		if n := len(topo.ProducersOf(h, topo.Probe())); n != topo.Probes/topo.ProducerHosts {
			t.Errorf("host %d has %d probes", h, n)
		}
	}
}

func TestTopology_Validate(t *testing.T) {
	good := SmokeConfig().Topology
	for _, tc := range []struct {
		name   string
		change func(*Topology)
		want   string
	}{
		{name: "no lookupds", change: func(t *Topology) { t.Lookupds = 0 }, want: "lookupds"},
		{name: "probes below hosts", change: func(t *Topology) { t.Probes = 1 }, want: "probes"},
		{name: "probes above producers", change: func(t *Topology) { t.Probes = t.Producers + 1 }, want: "probes"},
		{name: "prefix not /16", change: func(t *Topology) { t.Prefix = netip.MustParsePrefix("10.0.0.0/8") }, want: "prefix"},
		{name: "prefix IPv6", change: func(t *Topology) { t.Prefix = netip.MustParsePrefix("fd00::/16") }, want: "prefix"},
		{name: "no topics", change: func(t *Topology) { t.Topics = 0 }, want: "topics"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := good
			tc.change(&bad)
			if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error about %s", err, tc.want)
			}
		})
	}
	if err := good.Validate(); err != nil {
		t.Errorf("smoke topology: %v", err)
	}
}

func TestDelays(t *testing.T) {
	key := func(p int) string { return "p" + strconv.Itoa(p) }
	evs := []Event{
		{T: 5, Producer: "p1", Kind: "join"}, // before p1's start: ignored
		{T: 12, Producer: "p1", Kind: "leave"},
		{T: 15, Producer: "p1", Kind: "join"},
		{T: 30, Producer: "p1", Kind: "join"}, // not the first
		{T: 25, Producer: "p2", Kind: "join"},
		{T: 40, Producer: "p3", Kind: "join"}, // not asked for
	}
	d, ok := Delays(evs, "join", map[int]int64{1: 10, 2: 20}, key)
	slices.Sort(d)
	if !ok || !slices.Equal(d, []int64{5, 5}) {
		t.Errorf("Delays = %v, %v; want [5 5], true", d, ok)
	}
	if _, ok := Delays(evs, "leave", map[int]int64{1: 10, 2: 20}, key); ok {
		t.Error("Delays reported every producer left, but p2 never did")
	}
}

func TestDistribution(t *testing.T) {
	var ns []int64
	for i := 100; i >= 1; i-- {
		ns = append(ns, int64(i)*1e6)
	}
	d := distribution(ns)
	if d.N != 100 || d.P50 != 50 || d.P90 != 90 || d.P99 != 99 || d.Max != 100 || d.Mean != 50.5 {
		t.Errorf("distribution of 1..100 ms = %+v", d)
	}
	if got := distribution(nil); got != (Dist{}) {
		t.Errorf("distribution(nil) = %+v", got)
	}
}

// TestNewModel: unit costs come out of a report with known readings.
func TestNewModel(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Topology.Producers, cfg.Topology.Probes = 1100, 100 // 1,000 base producers, 30 registrations each
	cfg.Heartbeat = 5 * time.Second                         // 200 PINGs per second per lookupd
	rep := &Report{Config: cfg, ProducerCPUHeartbeat: []float64{0.1, 0.1}}
	for range 3 {
		rep.Lookupds = append(rep.Lookupds, LookupdFigures{
			RSSEmpty: 10 << 20, RSSConnected: 10<<20 + 1000*10000, RSSRegistered: 10<<20 + 1000*10000 + 30000*200,
			CPURest: 0.001, CPUHeartbeat: 0.003, CPURegister: 0.09,
		})
	}
	rep.Latency = []LatencyFigures{{Lookupds: 1, ClientCPU: 30e-6, LookupdCPU: 20e-6}, {Lookupds: 3, ClientCPU: 50e-6, LookupdCPU: 20e-6}}
	m := NewModel(rep, 100000, 1000000)
	near := func(name string, got, want float64) {
		t.Helper()
		if d := got - want; d > want*1e-9 || d < -want*1e-9 {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	near("BytesPerProducer", m.BytesPerProducer, 10000)
	near("BytesPerRegistration", m.BytesPerRegistration, 200)
	near("CPUPerRegister", m.CPUPerRegister, 3e-6)
	near("CPUPerHeartbeat", m.CPUPerHeartbeat, 10e-6)
	near("ProducerCPUPerPing", m.ProducerCPUPerPing, 0.2/(200*10))
	near("CPUPerLookup", m.CPUPerLookup, 20e-6)
	near("ClientCPUPerLookupd", m.ClientCPUPerLookupd, 10e-6)
	near("ClientCPUBase", m.ClientCPUBase, 20e-6)
	near("RSS", m.RSS, 10<<20+100000*10000+1000000*200)
	near("HeartbeatCores", m.HeartbeatCores, 100000.0/15*10e-6)
	near("ResyncCores", m.ResyncCores, 1000000.0/60*3e-6)
	near("RestartSeconds", m.RestartSeconds, 3)
	// Per producer: 16,000 bytes; 10e-6/15 + 30*3e-6/60 = 2.1667e-6 cores;
	// 90 µs to re-register. Memory allows ~804k, CPU ~115k, restart ~166k.
	if want := 115384; m.MaxProducers != want || !strings.HasPrefix(m.MaxProducersBy, "steady CPU") {
		t.Errorf("MaxProducers = %d by %q, want %d by steady CPU", m.MaxProducers, m.MaxProducersBy, want)
	}
}

// TestSmoke runs the small netns topology (2 lookupd hosts, 2 producer
// hosts, 1 consumer host) through every phase. It needs root and
// iproute2, and skips otherwise.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the netns smoke run takes about half a minute")
	}
	cfg := SmokeConfig()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Self, cfg.LogDir = self, t.TempDir()
	cfg.Log = slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("smoke run skipped: %v", err)
	}
	if err != nil {
		t.Fatalf("run: %v\nhost logs: %s", err, logs(cfg.LogDir))
	}
	t.Logf("smoke run took %s", time.Since(start).Round(time.Millisecond))
	var md strings.Builder
	rep.Markdown(&md, 1000, 10000)
	t.Log("\n" + md.String())

	topo := cfg.Topology
	probes := topo.Probes * topo.ConsumerHosts
	if rep.Join.N != probes || rep.Leave.N != probes {
		t.Errorf("join samples %d, leave samples %d; want %d each", rep.Join.N, rep.Leave.N, probes)
	}
	if c := rep.Cut; c.Observed == 0 || c.Gone.N != c.Observed*topo.ConsumerHosts || c.Back.N != c.Gone.N {
		t.Errorf("cut: %d observed, %d gone, %d back", c.Observed, c.Gone.N, c.Back.N)
	}
	// Nobody disappears before the inactive timeout can have passed since
	// its last heartbeat.
	if min := (cfg.InactiveTimeout - cfg.Heartbeat).Seconds() * 1000; rep.Cut.Gone.Max < min {
		t.Errorf("cut producers gone after at most %.0f ms, before the inactive timeout allows (%.0f ms)", rep.Cut.Gone.Max, min)
	}
	for _, l := range rep.Latency {
		if l.Producers != topo.Share || l.Calls != cfg.LatencyCalls {
			t.Errorf("merged lookup over %d lookupds: %d producers in %d calls, want %d in %d", l.Lookupds, l.Producers, l.Calls, topo.Share, cfg.LatencyCalls)
		}
	}
	for _, l := range rep.Lookupds {
		if l.RSSEmpty <= 0 || l.RSSRegistered <= 0 {
			t.Errorf("lookupd %s: RSS readings %+v", l.Name, l)
		}
	}
	// Run removed every namespace it made.
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), fmt.Sprintf("%s%d-", NamePrefix, os.Getpid())) {
			t.Errorf("namespace %s left behind", e.Name())
		}
	}
}

// logs returns the tails of the host logs in dir.
func logs(dir string) string {
	files, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".log") {
			continue
		}
		data, _ := os.ReadFile(dir + "/" + f.Name())
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "--- %s\n%s\n", f.Name(), strings.Join(lines[max(0, len(lines)-10):], "\n"))
	}
	return b.String()
}
