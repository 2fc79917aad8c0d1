package netscale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
)

// Config is one run: the topology, the timings given to lookupds and
// producers, and the bounds of every phase. Every wait is bounded by
// PhaseTimeout; the run stops by itself.
type Config struct {
	Topology Topology `json:"topology"`

	// Producers' heartbeat and resync intervals, and the bound on each
	// dial, write and wait for a reply (lookup/producer's DialTimeout,
	// WriteTimeout and ReadTimeout).
	Heartbeat time.Duration `json:"heartbeat"`
	Resync    time.Duration `json:"resync"`
	IOTimeout time.Duration `json:"io_timeout"`
	// Lookupds' --inactive-producer-timeout and --client-idle-timeout.
	InactiveTimeout time.Duration `json:"inactive_timeout"`
	IdleTimeout     time.Duration `json:"idle_timeout"`

	// StartRate: producers started per second on each producer host.
	StartRate int `json:"start_rate"`
	// Settle: pause before each memory reading and before windows.
	Settle time.Duration `json:"settle"`
	// RestWindow and HeartbeatWindow: how long CPU is measured with no
	// producers, and with every base producer only heartbeating.
	RestWindow      time.Duration `json:"rest_window"`
	HeartbeatWindow time.Duration `json:"heartbeat_window"`
	// LatencyCalls merged lookups are timed for each fan-out in Fanouts
	// (numbers of lookupds asked).
	LatencyCalls int   `json:"latency_calls"`
	Fanouts      []int `json:"fanouts"`
	// WatchInterval is the consumers' clientmerge.Watch interval (the
	// longest wait of a blocking query; the poll interval of a lookupd
	// without them), and ConsumerTimeout their per-call timeout.
	WatchInterval   time.Duration `json:"watch_interval"`
	ConsumerTimeout time.Duration `json:"consumer_timeout"`
	// CutHold is how long the producer host's link stays down.
	CutHold time.Duration `json:"cut_hold"`
	// PhaseTimeout bounds every wait for a condition.
	PhaseTimeout time.Duration `json:"phase_timeout"`
	// Tolerance is the fraction of connections, producers and
	// registrations that may be missing when a wait for "all of them"
	// ends: on an overloaded machine a few connections are always
	// reconnecting after a heartbeat went unanswered. The figures use the
	// counts the lookupds report, not the planned ones.
	Tolerance float64 `json:"tolerance"`

	// Self is the binary re-executed for every host (os.Executable); it
	// must call RoleMain first thing.
	Self string `json:"-"`
	// LogDir receives one log file per host process.
	LogDir string `json:"-"`
	// Log receives progress lines.
	Log *slog.Logger `json:"-"`
}

// DefaultConfig is the many-host run of make scale: 10 lookupd hosts, 5
// producer hosts with 10,000 producers in all (100 of them probes), each
// with 10 topics of 2 channels, 3 consumer hosts.
func DefaultConfig() Config {
	return Config{
		Topology: Topology{
			Lookupds: 10, ProducerHosts: 5, ConsumerHosts: 3,
			Producers: 10000, Topics: 10, Channels: 2, Share: 10, Probes: 100,
			Prefix: mustPrefix("10.200.0.0/16"),
		},
		Heartbeat:       20 * time.Second,
		Resync:          time.Hour,
		IOTimeout:       30 * time.Second,
		InactiveTimeout: 45 * time.Second,
		IdleTimeout:     90 * time.Second,
		StartRate:       100,
		Settle:          3 * time.Second,
		RestWindow:      10 * time.Second,
		HeartbeatWindow: 40 * time.Second,
		LatencyCalls:    300,
		Fanouts:         []int{1, 2, 5, 10},
		WatchInterval:   10 * time.Second,
		ConsumerTimeout: 5 * time.Second,
		CutHold:         100 * time.Second,
		PhaseTimeout:    8 * time.Minute,
		Tolerance:       0.01,
	}
}

// SmokeConfig is the small run of make test: 2 lookupd hosts, 2 producer
// hosts with 24 producers (8 probes), one consumer, short timeouts.
func SmokeConfig() Config {
	c := DefaultConfig()
	c.Topology = Topology{
		Lookupds: 2, ProducerHosts: 2, ConsumerHosts: 1,
		Producers: 24, Topics: 10, Channels: 2, Share: 10, Probes: 8,
		// A prefix of its own, so that a smoke run (go test) beside a full
		// one does not reuse its addresses.
		Prefix: mustPrefix("10.201.0.0/16"),
	}
	c.Heartbeat, c.InactiveTimeout, c.IdleTimeout = 300*time.Millisecond, 1500*time.Millisecond, 3*time.Second
	c.IOTimeout = 5 * time.Second
	c.StartRate = 0
	c.Settle, c.RestWindow, c.HeartbeatWindow = 200*time.Millisecond, 500*time.Millisecond, time.Second
	c.LatencyCalls, c.Fanouts = 20, []int{1, 2}
	c.WatchInterval, c.ConsumerTimeout = 2*time.Second, 2*time.Second
	c.CutHold = 4 * time.Second
	c.PhaseTimeout = 45 * time.Second
	c.Tolerance = 0
	return c
}

// Validate checks the config.
func (c Config) Validate() error {
	if err := c.Topology.Validate(); err != nil {
		return err
	}
	for _, d := range []time.Duration{c.Heartbeat, c.Resync, c.IOTimeout, c.InactiveTimeout, c.IdleTimeout,
		c.RestWindow, c.HeartbeatWindow, c.WatchInterval, c.ConsumerTimeout, c.CutHold, c.PhaseTimeout} {
		if d <= 0 {
			return fmt.Errorf("durations must be positive: %+v", c)
		}
	}
	switch {
	case c.Heartbeat >= c.InactiveTimeout:
		return fmt.Errorf("heartbeat %s must be below the inactive timeout %s", c.Heartbeat, c.InactiveTimeout)
	case c.CutHold <= c.InactiveTimeout:
		return fmt.Errorf("cut hold %s must exceed the inactive timeout %s, or consumers never stop seeing the host", c.CutHold, c.InactiveTimeout)
	case c.LatencyCalls < 1 || len(c.Fanouts) == 0:
		return fmt.Errorf("latency calls %d, fanouts %v", c.LatencyCalls, c.Fanouts)
	case c.Self == "" || c.LogDir == "":
		return errors.New("config: Self and LogDir are required")
	}
	for _, k := range c.Fanouts {
		if k < 1 || k > c.Topology.Lookupds {
			return fmt.Errorf("fanout %d: want 1..%d", k, c.Topology.Lookupds)
		}
	}
	return nil
}

// host is one running host process.
type host struct {
	Host
	p    *proc.Process
	sock string
	ctl  *http.Client
}

// cluster is the running run.
type cluster struct {
	cfg       Config
	net       *Net
	log       *slog.Logger
	lookupds  []*host
	producers []*host
	consumers []*host
}

// Run makes the network, starts every host, runs the phases and tears
// everything down (processes first, then the namespaces), also on error.
// It returns the report of what was measured, nil if a phase failed; when
// only tearing down fails it returns the report and the error.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	raiseFileLimit()
	start := time.Now()
	rep = newReport(cfg)
	t := cfg.Topology
	nw, err := NewNet(ctx, t.Hosts())
	if err != nil {
		return nil, err
	}
	cl := &cluster{cfg: cfg, net: nw, log: log}
	defer func() {
		if err != nil {
			rep = nil
		} else {
			rep.WallSeconds = time.Since(start).Seconds()
			rep.LoadAvgEnd = proc.LoadAverage()
		}
		// A report whose phases all ran is kept even if tearing down
		// fails; the error still says so.
		if terr := errors.Join(cl.stop(), nw.Close()); terr != nil {
			err = errors.Join(err, fmt.Errorf("tear down: %w", terr))
		}
	}()
	log.Info("network made", "hosts", len(t.Hosts()), "prefix", t.Prefix)
	if err := cl.startHosts(ctx); err != nil {
		return nil, err
	}
	for _, phase := range []struct {
		name string
		run  func(context.Context, *Report) error
	}{
		{"rest", cl.rest},
		{"connect", cl.connect},
		{"register", cl.register},
		{"heartbeat", cl.heartbeats},
		{"latency", cl.latency},
		{"join", cl.join},
		{"cut", cl.cut},
		{"leave", cl.leave},
	} {
		log.Info("phase", "name", phase.name)
		if err := phase.run(ctx, rep); err != nil {
			return nil, fmt.Errorf("phase %s: %w", phase.name, err)
		}
	}
	return rep, nil
}

// startHosts starts every host's process in its namespace and waits until
// each serves.
func (cl *cluster) startHosts(ctx context.Context) error {
	t := cl.cfg.Topology
	for _, h := range t.Hosts() {
		hh := &host{Host: h}
		var args []string
		switch h.Kind {
		case KindLookupd:
			args = []string{
				"--tcp-address=" + net.JoinHostPort(h.Addr.String(), strconv.Itoa(LookupdTCPPort)),
				"--http-address=" + net.JoinHostPort(h.Addr.String(), strconv.Itoa(LookupdHTTPPort)),
				"--broadcast-address=" + h.Addr.String(),
				"--inactive-producer-timeout=" + cl.cfg.InactiveTimeout.String(),
				"--client-idle-timeout=" + cl.cfg.IdleTimeout.String(),
				"--max-tcp-clients=0",
				"--max-tcp-clients-per-ip=0", // a producer host is thousands of producers on one address
				"--log-level=warn",
			}
			cl.lookupds = append(cl.lookupds, hh)
		case KindProducer, KindConsumer:
			hh.sock = filepath.Join(cl.cfg.LogDir, h.Name+".sock")
			rc := RoleConfig{Topology: t, Host: h.Index, Heartbeat: cl.cfg.Heartbeat, Resync: cl.cfg.Resync,
				IOTimeout: cl.cfg.IOTimeout, Timeout: cl.cfg.ConsumerTimeout}
			var err error
			if args, err = roleArgs(hh.sock, rc); err != nil {
				return err
			}
			hh.ctl = unixClient(hh.sock)
			if h.Kind == KindProducer {
				cl.producers = append(cl.producers, hh)
			} else {
				cl.consumers = append(cl.consumers, hh)
			}
		}
		argv := cl.net.Command(h, append([]string{cl.cfg.Self}, args...)...)
		p, err := proc.Start(proc.Options{
			Name: h.Name, Path: argv[0], Args: argv[1:],
			Env: []string{RoleEnv + "=" + string(h.Kind)},
			Log: filepath.Join(cl.cfg.LogDir, h.Name+".log"),
		})
		if err != nil {
			return err
		}
		hh.p = p
	}
	wctx, cancel := context.WithTimeout(ctx, cl.cfg.PhaseTimeout)
	defer cancel()
	for _, h := range cl.all() {
		if _, err := h.p.WaitLine(wctx, ReadyLine); err != nil {
			return err
		}
	}
	return nil
}

func (cl *cluster) all() []*host {
	return append(append(append([]*host(nil), cl.lookupds...), cl.producers...), cl.consumers...)
}

// stop ends every process: consumers, lookupds, then producers (whose
// clients then have nobody to unregister from and close at once).
func (cl *cluster) stop() error {
	var errs []error
	for _, group := range [][]*host{cl.consumers, cl.lookupds, cl.producers} {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, h := range group {
			if h.p == nil {
				continue
			}
			wg.Go(func() {
				if err := h.p.Stop(90 * time.Second); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%w; last output:\n%s", err, h.p.Tail(10)))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	for _, h := range cl.all() {
		if h.p != nil {
			if a := h.p.Alarms(); len(a) > 0 {
				errs = append(errs, fmt.Errorf("%s: %s", h.Name, strings.Join(a, "\n")))
			}
		}
	}
	return errors.Join(errs...)
}

// unixClient is an HTTP client whose every request goes to the unix socket
// at path.
func unixClient(path string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Minute, // /start at a bounded rate can take minutes
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}

// call sends one control request to h and decodes the reply into out.
func (h *host) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+h.Name+path, body)
	if err != nil {
		return err
	}
	resp, err := h.ctl.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", h.Name, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", h.Name, method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s %s: %s: %s", h.Name, method, path, resp.Status, trimErr(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// onEach runs fn for every host of hs at once and joins the errors.
func onEach(hs []*host, fn func(i int, h *host) error) error {
	errs := make([]error, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() { errs[i] = fn(i, h) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitFor polls cond every interval until it holds, fails, or timeout
// passes, and returns how long it took.
func waitFor(ctx context.Context, timeout, interval time.Duration, what string, cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return time.Since(start), fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("%s: not after %s", what, timeout)
		}
		if err := proc.Sleep(ctx, interval); err != nil {
			return time.Since(start), err
		}
	}
}

// cpu returns the CPU time used so far by each host of hs.
func cpu(hs []*host) ([]time.Duration, error) {
	out := make([]time.Duration, len(hs))
	for i, h := range hs {
		st, err := h.p.Stats()
		if err != nil {
			return nil, err
		}
		out[i] = st.CPU
	}
	return out, nil
}

// rss returns the resident set size of each host of hs.
func rss(hs []*host) ([]int64, error) {
	out := make([]int64, len(hs))
	for i, h := range hs {
		st, err := h.p.Stats()
		if err != nil {
			return nil, err
		}
		out[i] = st.RSS
	}
	return out, nil
}

// window measures the CPU each host of hs uses during d.
func window(ctx context.Context, hs []*host, d time.Duration) ([]time.Duration, error) {
	before, err := cpu(hs)
	if err != nil {
		return nil, err
	}
	if err := proc.Sleep(ctx, d); err != nil {
		return nil, err
	}
	after, err := cpu(hs)
	if err != nil {
		return nil, err
	}
	for i := range after {
		after[i] -= before[i]
	}
	return after, nil
}

// counts asks consumer 0 for every lookupd's /stats counts.
func (cl *cluster) counts(ctx context.Context) (LookupdCounts, error) {
	var c LookupdCounts
	err := cl.consumers[0].call(ctx, http.MethodGet, "/counts", nil, &c)
	return c, err
}

// waitCounts waits until every lookupd reports want producers and
// registrations, give or take Tolerance, and returns the counts it saw
// last.
func (cl *cluster) waitCounts(ctx context.Context, what string, producers, registrations int) (LookupdCounts, time.Duration, error) {
	var last LookupdCounts
	near := func(got, want int) bool {
		return math.Abs(float64(got-want)) <= cl.cfg.Tolerance*float64(want)
	}
	d, err := waitFor(ctx, cl.cfg.PhaseTimeout, 250*time.Millisecond, what, func() (bool, error) {
		c, err := cl.counts(ctx)
		if err != nil {
			return false, err
		}
		last = c
		for i := range c.Producers {
			if !near(c.Producers[i], producers) || !near(c.Registrations[i], registrations) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		err = fmt.Errorf("%w (want %d producers, %d registrations on each lookupd, tolerance %g; last: %+v)", err, producers, registrations, cl.cfg.Tolerance, last)
	}
	return last, d, err
}

// rest measures the lookupds with no producer at all.
func (cl *cluster) rest(ctx context.Context, rep *Report) error {
	if err := proc.Sleep(ctx, cl.cfg.Settle); err != nil {
		return err
	}
	w, err := window(ctx, cl.lookupds, cl.cfg.RestWindow)
	if err != nil {
		return err
	}
	r, err := rss(cl.lookupds)
	if err != nil {
		return err
	}
	for i := range cl.lookupds {
		rep.Lookupds[i].RSSEmpty = r[i]
		rep.Lookupds[i].CPURest = perSecond(w[i], cl.cfg.RestWindow)
	}
	rep.ProducerRSSEmpty, err = rss(cl.producers)
	return err
}

// connect starts every base producer without registrations and waits
// until all their connections are identified.
func (cl *cluster) connect(ctx context.Context, rep *Report) error {
	t := cl.cfg.Topology
	base := t.Base()
	start := time.Now()
	if err := onEach(cl.producers, func(i int, h *host) error {
		return h.call(ctx, http.MethodPost, "/start", IDs{IDs: t.ProducersOf(i, base), Rate: cl.cfg.StartRate}, &Times{})
	}); err != nil {
		return err
	}
	want := len(base) * t.Lookupds
	var last ProducerStatus
	polls := 0
	if _, err := waitFor(ctx, cl.cfg.PhaseTimeout, time.Second, "every base producer connected", func() (bool, error) {
		var err error
		last, err = cl.connected(ctx)
		if polls++; polls%10 == 0 {
			cl.log.Info("connecting", "identified", last.Connected, "want", want, "clients", last.Clients)
		}
		return float64(last.Connected) >= (1-cl.cfg.Tolerance)*float64(want), err
	}); err != nil {
		return fmt.Errorf("%w: %d of %d connections identified; last errors of the others: %v", err, last.Connected, want, last.Errors)
	}
	rep.ConnectSeconds = time.Since(start).Seconds()
	counts, _, err := cl.waitCounts(ctx, "lookupds list every base producer", len(base), 0)
	if err != nil {
		return err
	}
	r, err := cl.settledRSS(ctx)
	if err != nil {
		return err
	}
	for i := range cl.lookupds {
		rep.Lookupds[i].RSSConnected = r[i]
		rep.Lookupds[i].Producers = counts.Producers[i]
	}
	rep.ProducerRSSConnected = r[len(cl.lookupds):]
	return nil
}

// settledRSS waits Settle, then reads the RSS of the lookupds followed by
// that of the producer hosts.
func (cl *cluster) settledRSS(ctx context.Context) ([]int64, error) {
	if err := proc.Sleep(ctx, cl.cfg.Settle); err != nil {
		return nil, err
	}
	return rss(append(append([]*host(nil), cl.lookupds...), cl.producers...))
}

// connected sums the producer hosts' status.
func (cl *cluster) connected(ctx context.Context) (ProducerStatus, error) {
	var mu sync.Mutex
	var sum ProducerStatus
	err := onEach(cl.producers, func(_ int, h *host) error {
		var st ProducerStatus
		if err := h.call(ctx, http.MethodGet, "/status", nil, &st); err != nil {
			return err
		}
		mu.Lock()
		sum.Clients += st.Clients
		sum.Links += st.Links
		sum.Connected += st.Connected
		sum.Registrations += st.Registrations
		if sum.Errors == nil {
			sum.Errors = map[string]int{}
		}
		for e, n := range st.Errors {
			sum.Errors[e] += n
		}
		mu.Unlock()
		return nil
	})
	return sum, err
}

// register has every base producer register its topics and channels and
// waits until every lookupd holds them all.
func (cl *cluster) register(ctx context.Context, rep *Report) error {
	t := cl.cfg.Topology
	base := t.Base()
	before, err := cpu(cl.lookupds)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := onEach(cl.producers, func(i int, h *host) error {
		return h.call(ctx, http.MethodPost, "/register", IDs{IDs: t.ProducersOf(i, base)}, &Times{})
	}); err != nil {
		return err
	}
	counts, _, err := cl.waitCounts(ctx, "every registration on every lookupd", len(base), len(base)*t.RegistrationsPerProducer())
	if err != nil {
		return err
	}
	rep.RegisterSeconds = time.Since(start).Seconds()
	after, err := cpu(cl.lookupds)
	if err != nil {
		return err
	}
	r, err := cl.settledRSS(ctx)
	if err != nil {
		return err
	}
	for i := range cl.lookupds {
		rep.Lookupds[i].RSSRegistered = r[i]
		rep.Lookupds[i].CPURegister = (after[i] - before[i]).Seconds()
		rep.Lookupds[i].Registrations = counts.Registrations[i]
	}
	rep.ProducerRSSRegistered = r[len(cl.lookupds):]
	return nil
}

// heartbeats measures lookupds and producer hosts while the base
// producers only heartbeat.
func (cl *cluster) heartbeats(ctx context.Context, rep *Report) error {
	if err := proc.Sleep(ctx, cl.cfg.Settle); err != nil {
		return err
	}
	hs := append(append([]*host(nil), cl.lookupds...), cl.producers...)
	w, err := window(ctx, hs, cl.cfg.HeartbeatWindow)
	if err != nil {
		return err
	}
	for i := range cl.lookupds {
		rep.Lookupds[i].CPUHeartbeat = perSecond(w[i], cl.cfg.HeartbeatWindow)
	}
	for i := range cl.producers {
		rep.ProducerCPUHeartbeat = append(rep.ProducerCPUHeartbeat, perSecond(w[len(cl.lookupds)+i], cl.cfg.HeartbeatWindow))
	}
	return nil
}

// latency times merged lookups from consumer 0 over 1..N lookupds.
func (cl *cluster) latency(ctx context.Context, rep *Report) error {
	t := cl.cfg.Topology
	topic := t.TopicsOf(0)[t.Topics-1] // carried by ~Share base producers
	c := cl.consumers[0]
	for _, k := range cl.cfg.Fanouts {
		before, err := cpu(append([]*host{c}, cl.lookupds...))
		if err != nil {
			return err
		}
		start := time.Now()
		var res LatencyResult
		if err := c.call(ctx, http.MethodPost, "/latency", LatencyRequest{Topic: topic, Lookupds: k, Calls: cl.cfg.LatencyCalls}, &res); err != nil {
			return err
		}
		wall := time.Since(start)
		after, err := cpu(append([]*host{c}, cl.lookupds...))
		if err != nil {
			return err
		}
		if res.Errors > 0 {
			return fmt.Errorf("%d of %d merged lookups over %d lookupds failed", res.Errors, len(res.Latencies), k)
		}
		var lookupdCPU float64
		for i := range k {
			lookupdCPU += (after[1+i] - before[1+i]).Seconds() - rep.Lookupds[i].CPUHeartbeat*wall.Seconds()
		}
		rep.Latency = append(rep.Latency, LatencyFigures{
			Lookupds:   k,
			Calls:      len(res.Latencies),
			Producers:  res.Producers,
			Dist:       distribution(res.Latencies),
			ClientCPU:  (after[0] - before[0]).Seconds() / float64(len(res.Latencies)),
			LookupdCPU: lookupdCPU / float64(len(res.Latencies)*k),
		})
	}
	return nil
}

// events returns every consumer's events.
func (cl *cluster) events(ctx context.Context) ([][]Event, error) {
	out := make([][]Event, len(cl.consumers))
	err := onEach(cl.consumers, func(i int, h *host) error {
		return h.call(ctx, http.MethodGet, "/events", nil, &out[i])
	})
	return out, err
}

// waitEvents waits until every consumer has an event of kind for every
// producer in since (producer id -> Unix ns) at or after its time, and
// returns the delays, one per consumer and producer.
func (cl *cluster) waitEvents(ctx context.Context, what, kind string, since map[int]int64) ([]int64, error) {
	t := cl.cfg.Topology
	var delays []int64
	_, err := waitFor(ctx, cl.cfg.PhaseTimeout, 250*time.Millisecond, what, func() (bool, error) {
		evs, err := cl.events(ctx)
		if err != nil {
			return false, err
		}
		delays = delays[:0]
		for _, ev := range evs {
			d, ok := Delays(ev, kind, since, t.Key)
			if !ok {
				return false, nil
			}
			delays = append(delays, d...)
		}
		return true, nil
	})
	return delays, err
}

// join starts the watchers, waits until they see every base producer of
// the watched topics, then starts the probes and times their arrival.
func (cl *cluster) join(ctx context.Context, rep *Report) error {
	t := cl.cfg.Topology
	watched := t.WatchTopics()
	rep.WatchedTopics = len(watched)
	now := time.Now().UnixNano()
	visible := map[int]int64{}
	for _, p := range t.Carriers(watched, t.Base()) {
		visible[p] = now
	}
	if err := onEach(cl.consumers, func(_ int, h *host) error {
		return h.call(ctx, http.MethodPost, "/watch", WatchRequest{Topics: watched, Interval: cl.cfg.WatchInterval}, nil)
	}); err != nil {
		return err
	}
	if _, err := cl.waitEvents(ctx, "consumers see the watched topics' base producers", "join", visible); err != nil {
		return err
	}
	started, err := cl.probes(ctx, "/start")
	if err != nil {
		return err
	}
	d, err := cl.waitEvents(ctx, "consumers see every probe join", "join", started)
	if err != nil {
		return err
	}
	rep.Join = distribution(d)
	return nil
}

// cut takes the last producer host's link down, times how long consumers
// keep seeing its producers and how long lookupds keep their connections,
// heals it after CutHold and times their return.
func (cl *cluster) cut(ctx context.Context, rep *Report) error {
	t := cl.cfg.Topology
	h := cl.producers[len(cl.producers)-1]
	all := append(t.Base(), t.Probe()...)
	onHost := t.ProducersOf(h.Index, all)
	watched := t.ProducersOf(h.Index, t.Carriers(t.WatchTopics(), all))
	total := len(all)
	rep.Cut = CutFigures{Host: h.Name, Producers: len(onHost), Observed: len(watched)}

	cutAt := time.Now()
	if err := cl.net.Cut(ctx, h.Host); err != nil {
		return err
	}
	since := map[int]int64{}
	for _, p := range watched {
		since[p] = cutAt.UnixNano()
	}
	gone, err := cl.waitEvents(ctx, "consumers stop seeing the cut host", "leave", since)
	if err != nil {
		return err
	}
	rep.Cut.Gone = distribution(gone)
	_, d, err := cl.waitCounts(ctx, "lookupds close the cut host's connections", total-len(onHost), (total-len(onHost))*t.RegistrationsPerProducer())
	if err != nil {
		return err
	}
	rep.Cut.ConnectionsClosed = time.Since(cutAt).Seconds()
	rep.Cut.ConnectionsClosedWait = d.Seconds()
	if hold := cl.cfg.CutHold - time.Since(cutAt); hold > 0 {
		if err := proc.Sleep(ctx, hold); err != nil {
			return err
		}
	}
	rep.Cut.HeldSeconds = time.Since(cutAt).Seconds()
	healAt := time.Now()
	if err := cl.net.Heal(ctx, h.Host); err != nil {
		return err
	}
	for p := range since {
		since[p] = healAt.UnixNano()
	}
	back, err := cl.waitEvents(ctx, "consumers see the healed host again", "join", since)
	if err != nil {
		return err
	}
	rep.Cut.Back = distribution(back)
	if _, _, err := cl.waitCounts(ctx, "every registration back on every lookupd", total, total*t.RegistrationsPerProducer()); err != nil {
		return err
	}
	rep.Cut.AllBack = time.Since(healAt).Seconds()
	return nil
}

// leave stops the probes (each unregisters and disconnects) and times
// their departure from the consumers' views.
func (cl *cluster) leave(ctx context.Context, rep *Report) error {
	stopped, err := cl.probes(ctx, "/stop")
	if err != nil {
		return err
	}
	d, err := cl.waitEvents(ctx, "consumers see every probe leave", "leave", stopped)
	if err != nil {
		return err
	}
	rep.Leave = distribution(d)
	return onEach(cl.consumers, func(_ int, h *host) error {
		return h.call(ctx, http.MethodPost, "/unwatch", nil, nil)
	})
}

// probes sends path (/start, with registrations, or /stop) for the probes
// to every producer host and returns when each probe was started or
// stopped.
func (cl *cluster) probes(ctx context.Context, path string) (map[int]int64, error) {
	t := cl.cfg.Topology
	at := map[int]int64{}
	var mu sync.Mutex
	err := onEach(cl.producers, func(i int, h *host) error {
		var tm Times
		if err := h.call(ctx, http.MethodPost, path, IDs{IDs: t.ProducersOf(i, t.Probe()), Register: true}, &tm); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for p, ns := range tm.At {
			at[p] = ns
		}
		return nil
	})
	return at, err
}

// Delays returns, for every producer in since, how long after its time
// the first event of kind for it came in evs (ns); ok is false if one has
// none yet. key names a producer as the events do.
func Delays(evs []Event, kind string, since map[int]int64, key func(int) string) (d []int64, ok bool) {
	first := map[string]int64{}
	byKey := make(map[string]int64, len(since))
	for p, at := range since {
		byKey[key(p)] = at
	}
	for _, e := range evs {
		at, want := byKey[e.Producer]
		if !want || e.Kind != kind || e.T < at {
			continue
		}
		if _, seen := first[e.Producer]; !seen {
			first[e.Producer] = e.T
		}
	}
	if len(first) < len(byKey) {
		return nil, false
	}
	d = make([]int64, 0, len(first))
	for k, at := range byKey {
		d = append(d, first[k]-at)
	}
	return d, true
}

// raiseFileLimit raises this process's open-file limit (inherited by the
// hosts) to the system's ceiling: a producer host holds one connection
// per producer and lookupd.
func raiseFileLimit() {
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			setFileLimit(n)
		}
	}
}

func perSecond(d, over time.Duration) float64 { return d.Seconds() / over.Seconds() }
