package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/wire"
)

// ConvergeConfig sets the scale of the convergence benchmark (Converge).
type ConvergeConfig struct {
	// Lookupds is how many lookupd processes the watchers ask (3).
	Lookupds int
	// Watchers is how many clientmerge.Watch loops follow the topic, each
	// with its own Client (1,000). 0 skips the convergence phases.
	Watchers int
	// Events is how many producer joins and leaves are measured,
	// alternating, one every EventInterval (60, every 500 ms).
	Events        int
	EventInterval time.Duration
	// Warm is how many producers are registered before measuring (8);
	// leaves take the oldest live producer.
	Warm int
	// WatchInterval is the interval of the watchers on our lookupds (60 s,
	// go-nsq's default poll interval; the blocking wait is the smaller of
	// it and clientmerge.DefaultBlockingWait).
	WatchInterval time.Duration
	// PollInterval is the interval of the same watchers polling
	// nsqlookupd (1 s). 0 skips the nsqlookupd phase.
	PollInterval time.Duration
	// GoNSQInterval is go-nsq's default LookupdPollInterval, reported as
	// arithmetic beside the measured polling (60 s).
	GoNSQInterval time.Duration
	// Settle bounds the wait, after the last event, for every watcher to
	// have seen every event (10 s, plus PollInterval when polling).
	Settle time.Duration
	// FloorEvents is how many events the floor phase measures: the same
	// fan-out as bare TCP exchanges of the same sizes in this process
	// (20). 0 skips it.
	FloorEvents int
	// MemWaiters is how many blocking queries one lookupd holds for the
	// memory reading (10,000, each on a topic of its own). 0 skips the
	// memory and isolation phases.
	MemWaiters int
	// IsoOthers are the numbers of blocking queries held on other topics
	// while one topic changes IsoChanges times (1,000 and 10,000; each
	// must be at most MemWaiters), IsoRounds times each, alternating.
	IsoOthers  []int
	IsoChanges int
	IsoRounds  int
	// DaemonLogLevel is the log level of the daemons ("warn").
	DaemonLogLevel string
	// Timeout bounds the whole run (15 min).
	Timeout time.Duration
}

// DefaultConvergeConfig returns the target scale.
func DefaultConvergeConfig() ConvergeConfig {
	return ConvergeConfig{
		Lookupds:       3,
		Watchers:       1000,
		Events:         60,
		EventInterval:  500 * time.Millisecond,
		Warm:           8,
		WatchInterval:  60 * time.Second,
		PollInterval:   time.Second,
		GoNSQInterval:  60 * time.Second,
		Settle:         10 * time.Second,
		FloorEvents:    20,
		MemWaiters:     10000,
		IsoOthers:      []int{1000, 10000},
		IsoChanges:     2000,
		IsoRounds:      2,
		DaemonLogLevel: "warn",
		Timeout:        15 * time.Minute,
	}
}

// Validate checks the configuration.
func (c ConvergeConfig) Validate() error {
	var errs []error
	if c.Watchers < 0 || c.Watchers > 0 && (c.Lookupds < 1 || c.Events < 2 || c.Warm < 1) {
		errs = append(errs, errors.New("lookupds and warm must be positive, watchers not negative and events at least 2"))
	}
	if c.EventInterval <= 0 || c.WatchInterval <= 0 || c.Settle <= 0 || c.Timeout <= 0 || c.PollInterval < 0 {
		errs = append(errs, errors.New("intervals, settle and timeout must be positive"))
	}
	if c.FloorEvents < 0 {
		errs = append(errs, errors.New("floor events must not be negative"))
	}
	for _, n := range c.IsoOthers {
		if c.MemWaiters > 0 && (n < 0 || n > c.MemWaiters) {
			errs = append(errs, fmt.Errorf("isolation: %d other waiters, more than the %d of the memory phase", n, c.MemWaiters))
		}
	}
	if c.MemWaiters > 0 && len(c.IsoOthers) > 0 && (c.IsoChanges < 1 || c.IsoRounds < 1) {
		errs = append(errs, errors.New("isolation changes and rounds must be positive"))
	}
	return errors.Join(errs...)
}

// convergeTopic is the topic the watchers follow.
const convergeTopic = "converge"

// Converge runs the convergence benchmark: the watchers against
// cfg.Lookupds of our lookupds (blocking queries), then against as many
// nsqlookupd v1.3.0 (polling every PollInterval), then one lookupd's
// memory per blocked query and the CPU of a change beside many waiters
// on other topics. Every daemon is a child process started through l.
func Converge(ctx context.Context, l Launcher, cfg ConvergeConfig, log io.Writer) (*ConvergeReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	RaiseFileLimit(log)
	rep := &ConvergeReport{Config: cfg, Machine: Machine(), LoadBefore: proc.LoadAverage()}
	begin := time.Now()
	logf := func(format string, args ...any) { fmt.Fprintf(log, format+"\n", args...) }

	if cfg.Watchers > 0 {
		logf("converge: %d watchers on %d of our lookupds, %d events every %s", cfg.Watchers, cfg.Lookupds, cfg.Events, cfg.EventInterval)
		ours, err := convergePhase(ctx, l, Ours, cfg, cfg.WatchInterval, logf)
		if err != nil {
			return nil, fmt.Errorf("ours: %w", err)
		}
		rep.Ours = &ours
	}
	if cfg.Watchers > 0 && cfg.FloorEvents > 0 {
		logf("converge: floor: the same fan-out as bare TCP exchanges, %d events", cfg.FloorEvents)
		floor, err := floorPhase(ctx, cfg, logf)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		rep.Floor = floor
	}
	if cfg.Watchers > 0 && cfg.PollInterval > 0 {
		logf("converge: the same watchers polling %d nsqlookupd every %s", cfg.Lookupds, cfg.PollInterval)
		theirs, err := convergePhase(ctx, l, NSQ, cfg, cfg.PollInterval, logf)
		if err != nil {
			return nil, fmt.Errorf("nsqlookupd: %w", err)
		}
		rep.Polling = &theirs
	}
	if cfg.MemWaiters > 0 {
		logf("converge: %d blocked queries on one lookupd", cfg.MemWaiters)
		if err := blockedPhase(ctx, l, cfg, rep, logf); err != nil {
			return nil, fmt.Errorf("blocked queries: %w", err)
		}
	}
	rep.WallSeconds = time.Since(begin).Seconds()
	rep.LoadAfter = proc.LoadAverage()
	return rep, nil
}

// Latencies summarises one kind of event over every watcher.
type Latencies struct {
	Samples int     `json:"samples"`
	P50Ms   float64 `json:"p50_ms"`
	P99Ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

func summarise(ds []time.Duration) Latencies {
	if len(ds) == 0 {
		return Latencies{}
	}
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latencies{Samples: len(ds), P50Ms: ms(quantile(ds, 0.50)), P99Ms: ms(quantile(ds, 0.99)), MaxMs: ms(ds[len(ds)-1])}
}

// quantile returns the q-quantile of sorted ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(ds))+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

// PhaseResult is one run of the watchers against one kind of lookupd.
type PhaseResult struct {
	Kind     Kind      `json:"kind"`
	Interval float64   `json:"interval_seconds"`
	Joins    Latencies `json:"joins"`
	Leaves   Latencies `json:"leaves"`
	// Missed counts watcher-event pairs never observed within Settle.
	Missed int `json:"missed"`
	// LookupdCPUPerEventMs is the CPU time of all the lookupd processes
	// from the first event to the last observation, divided by the events;
	// LookupdCPUPercent the same time over that wall time.
	LookupdCPUPerEventMs float64 `json:"lookupd_cpu_per_event_ms"`
	LookupdCPUPercent    float64 `json:"lookupd_cpu_percent"`
	// WatchersCPUPerEventMs is the load generator's own CPU (watchers and
	// producers) per event.
	WatchersCPUPerEventMs float64 `json:"watchers_cpu_per_event_ms"`
	Seconds               float64 `json:"seconds"`
}

// recorder collects, for every watcher and event, the time from the event
// to the watcher's callback.
type recorder struct {
	mu       sync.Mutex
	events   map[string]*convEvent // by producer TCP address
	joins    []time.Duration
	leaves   []time.Duration
	seen     int // measured observations
	warmSeen int
}

type convEvent struct {
	joinAt, leaveAt time.Time
	warm            bool
}

func (r *recorder) joinAt(addr string, at time.Time, warm bool) {
	r.mu.Lock()
	r.events[addr] = &convEvent{joinAt: at, warm: warm}
	r.mu.Unlock()
}

func (r *recorder) leaveAt(addr string, at time.Time) {
	r.mu.Lock()
	r.events[addr].leaveAt = at
	r.mu.Unlock()
}

func (r *recorder) observe(added, removed []string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range added {
		e := r.events[a]
		switch {
		case e == nil:
		case e.warm:
			r.warmSeen++
		default:
			r.joins = append(r.joins, at.Sub(e.joinAt))
			r.seen++
		}
	}
	for _, a := range removed {
		if e := r.events[a]; e != nil && !e.leaveAt.IsZero() {
			r.leaves = append(r.leaves, at.Sub(e.leaveAt))
			r.seen++
		}
	}
}

func (r *recorder) counts() (seen, warm int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen, r.warmSeen
}

// convWatcher is one watcher's state, owned by its callback.
type convWatcher struct {
	rec   *recorder
	prev  map[string]struct{}
	first *atomic.Int64
}

func (w *convWatcher) callback(r *clientmerge.LookupResult) {
	now := time.Now()
	cur := make(map[string]struct{}, len(r.Producers))
	var added, removed []string
	for i := range r.Producers {
		a := r.Producers[i].TCPAddr()
		cur[a] = struct{}{}
		if _, ok := w.prev[a]; !ok {
			added = append(added, a)
		}
	}
	for a := range w.prev {
		if _, ok := cur[a]; !ok {
			removed = append(removed, a)
		}
	}
	if w.prev == nil {
		w.first.Add(1)
	}
	w.prev = cur
	w.rec.observe(added, removed, now)
}

// watcherHTTP is the HTTP client of watcher i: its connections come
// from simulated host i's address (proc.HostAddr), as the consumers the
// watchers stand for would come from hosts of their own, so that
// lookupd's per-address caps count each as one client. Otherwise it is
// what clientmerge's own client is for Watch.
func watcherHTTP(i int) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: proc.HostAddr(i)}
	return &http.Client{Transport: &http.Transport{
		DialContext: d.DialContext, IdleConnTimeout: 90 * time.Second, MaxIdleConnsPerHost: 16,
	}}
}

// launchN starts n daemons of one kind; the caller stops them.
func launchN(ctx context.Context, l Launcher, kind Kind, n int) ([]*Process, error) {
	var ps []*Process
	for range n {
		p, err := l.Launch(ctx, kind)
		if err != nil {
			stopAll(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// stopAll stops every process of ps, each within stopTimeout, ignoring
// how they ended.
func stopAll(ps []*Process) {
	for _, p := range ps {
		_ = p.Stop(stopTimeout)
	}
}

// selfCPU is the load generator's own CPU time.
func selfCPU() time.Duration {
	st, err := proc.ReadStats(os.Getpid())
	if err != nil {
		return 0
	}
	return st.CPU
}

// waitUntil polls cond every 10 ms until it holds, ctx ends or timeout
// passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	return proc.WaitUntil(ctx, timeout, 10*time.Millisecond, what, cond)
}

// convProducer is one producer of the convergence phases: a
// lookup/producer Client connected to every lookupd.
type convProducer struct {
	c    *producer.Client
	addr string
}

func newConvProducer(ctx context.Context, lookupds []string, port int) (*convProducer, error) {
	c, err := producer.New(producer.Config{
		LookupdTCPAddresses: lookupds,
		Identity:            wire.ProducerInfo{Hostname: "converge-producer", BroadcastAddress: "127.0.0.1", TCPPort: port, HTTPPort: port + 1, Version: "1.3.0"},
		Logger:              slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	p := &convProducer{c: c, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	err = waitUntil(ctx, 10*time.Second, "producer connected to every lookupd", func() bool {
		for _, s := range c.Status() {
			if !s.Connected {
				return false
			}
		}
		return true
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

func (p *convProducer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.c.Close(ctx)
}

// convergePhase runs the watchers against cfg.Lookupds daemons of kind
// and measures every event's arrival at every watcher.
func convergePhase(ctx context.Context, l Launcher, kind Kind, cfg ConvergeConfig, interval time.Duration, logf func(string, ...any)) (PhaseResult, error) {
	res := PhaseResult{Kind: kind, Interval: interval.Seconds()}
	ps, err := launchN(ctx, l, kind, cfg.Lookupds)
	if err != nil {
		return res, err
	}
	defer stopAll(ps)
	var tcp, httpAddrs []string
	for _, p := range ps {
		tcp = append(tcp, p.TCPAddr)
		httpAddrs = append(httpAddrs, p.HTTPAddr)
	}

	// The watchers stand for as many consumer processes, each with a
	// small heap; in one process they make one large heap, whose
	// collections would cost the generator far more CPU than the
	// consumers would spend. Collect less often while they run.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	logf("  [%s] lookupds at %v", kind, httpAddrs)
	rec := &recorder{events: make(map[string]*convEvent)}
	var first atomic.Int64
	wctx, stopWatchers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clients []*clientmerge.Client
	defer func() {
		stopWatchers()
		wg.Wait()
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	for i := range cfg.Watchers {
		c, err := clientmerge.New(httpAddrs, clientmerge.WithLogger(slog.New(slog.DiscardHandler)),
			clientmerge.WithTimeout(5*time.Second), clientmerge.WithHTTPClient(watcherHTTP(i)))
		if err != nil {
			return res, err
		}
		clients = append(clients, c)
		w := &convWatcher{rec: rec, first: &first}
		wg.Go(func() { _ = clientmerge.Watch(wctx, c, clientmerge.LookupQuery(convergeTopic), interval, w.callback) })
	}
	if err := waitUntil(ctx, 60*time.Second, "every watcher's first answer", func() bool { return first.Load() == int64(cfg.Watchers) }); err != nil {
		return res, err
	}

	// Producers: Warm registered first, then alternately a new one joins
	// and the oldest live one leaves.
	port := 20000
	var live []*convProducer
	defer func() {
		for _, p := range live {
			p.close()
		}
	}()
	join := func(warm bool) error {
		p, err := newConvProducer(ctx, tcp, port)
		if err != nil {
			return err
		}
		port += 2
		live = append(live, p)
		rec.joinAt(p.addr, time.Now(), warm)
		return p.c.Register(convergeTopic, "")
	}
	for range cfg.Warm {
		if err := join(true); err != nil {
			return res, err
		}
	}
	if err := waitUntil(ctx, 60*time.Second, "every watcher seeing the warm-up producers", func() bool {
		_, warm := rec.counts()
		return warm == cfg.Watchers*cfg.Warm
	}); err != nil {
		return res, err
	}

	cpu0, err := cpuOf(ps)
	if err != nil {
		return res, err
	}
	self0, begin := selfCPU(), time.Now()
	// The next joiner connects between events, so that an event is only
	// its REGISTER (or its Close).
	var next *convProducer
	prepare := func() error {
		var err error
		next, err = newConvProducer(ctx, tcp, port)
		port += 2
		return err
	}
	if err := prepare(); err != nil {
		return res, err
	}
	tick := time.NewTicker(cfg.EventInterval)
	defer tick.Stop()
	for e := range cfg.Events {
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
		if e%2 == 0 {
			p := next
			live = append(live, p)
			rec.joinAt(p.addr, time.Now(), false)
			if err := p.c.Register(convergeTopic, ""); err != nil {
				return res, err
			}
			if err := prepare(); err != nil {
				return res, err
			}
		} else {
			p := live[0]
			live = live[1:]
			rec.leaveAt(p.addr, time.Now())
			p.close()
		}
	}
	next.close()
	want := cfg.Watchers * cfg.Events
	settle := cfg.Settle
	if kind == NSQ {
		settle += interval
	}
	if err := waitUntil(ctx, settle, "every watcher seeing every event", func() bool {
		seen, _ := rec.counts()
		return seen >= want
	}); err != nil {
		logf("  [%s] %v", kind, err)
	}
	elapsed := time.Since(begin)
	cpu1, err := cpuOf(ps)
	if err != nil {
		return res, err
	}
	self1 := selfCPU()
	rec.mu.Lock()
	res.Joins, res.Leaves = summarise(rec.joins), summarise(rec.leaves)
	res.Missed = want - rec.seen
	rec.mu.Unlock()
	res.Seconds = elapsed.Seconds()
	ev := float64(cfg.Events)
	res.LookupdCPUPerEventMs = float64(cpu1-cpu0) / float64(time.Millisecond) / ev
	res.LookupdCPUPercent = 100 * float64(cpu1-cpu0) / float64(elapsed)
	res.WatchersCPUPerEventMs = float64(self1-self0) / float64(time.Millisecond) / ev
	logf("  [%s] joins p50 %.1f ms p99 %.1f ms max %.1f ms; leaves p50 %.1f ms p99 %.1f ms max %.1f ms; missed %d; lookupd CPU %.2f ms/event",
		kind, res.Joins.P50Ms, res.Joins.P99Ms, res.Joins.MaxMs, res.Leaves.P50Ms, res.Leaves.P99Ms, res.Leaves.MaxMs, res.Missed, res.LookupdCPUPerEventMs)
	return res, nil
}
