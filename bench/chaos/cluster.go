//go:build linux

package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
)

// This file holds the cluster: the lookupd and producerd processes, the
// proxies between them, and the phases of a run that start and stop them.
// What the probes see is judged by the rules (rules.go); the faults are
// injected by the fault loop (faults.go).

// Binaries are the paths of the built daemons.
type Binaries struct {
	Lookupd   string
	Producerd string
}

// BuildOptions change how Build compiles the daemons.
type BuildOptions struct {
	// Race builds the daemons with the race detector.
	Race bool
}

// Build compiles apps/lookupd and apps/producerd of this module into dir
// with the go command found on PATH (go test puts its own first) and
// returns their paths. It blocks until the build ends or ctx does.
func Build(ctx context.Context, dir string, opts BuildOptions) (Binaries, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("find go command: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if opts.Race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/lookupd/lookupd/apps/lookupd", "github.com/lookupd/lookupd/apps/producerd")
	cmd := exec.CommandContext(ctx, goBin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return Binaries{
		Lookupd:   filepath.Join(dir, "lookupd"),
		Producerd: filepath.Join(dir, "producerd"),
	}, nil
}

// lookupdNode is one lookupd: its fixed addresses, the process now serving
// them, and the mode of the proxies its producers reach it through.
type lookupdNode struct {
	name              string
	tcpAddr, httpAddr string
	proc              *proc.Process
	mode              Mode
	delay             time.Duration
}

// producerNode is one producerd process and the proxies it reaches the
// lookupds through.
type producerNode struct {
	name    string
	proc    *proc.Process
	proxies []*Proxy // one per lookupd; nil once closed
}

// harness runs one chaos run. Its state has three owners, each in its own
// place: the fault loop's state is in faultLoop (faults.go), owned by the
// goroutine of Run; the stall detector's clock, ticks, is written by the
// detector and read by every probe; mu guards everything below it.
type harness struct {
	cfg    Config
	log    *slog.Logger
	start  time.Time
	topics []string
	httpc  *http.Client
	tr     *http.Transport
	merge  *clientmerge.Client // set by setup, before the probes start
	bg     sync.WaitGroup      // the probes

	ticks stallClock

	mu        sync.Mutex
	rules     *rules
	lookupds  []*lookupdNode  // by index, as in rules; appended by setup only
	producers []*producerNode // every producer ever, by id, as in rules
	procs     []*proc.Process // every process ever started
	exitSeen  map[*proc.Process]bool
	loseRegs  bool // Config.LoseRegistrations, once the start-up is over
	sum       Summary
}

// Run starts the lookupds and producers of cfg, injects faults for
// cfg.FaultPhase while checking the availability promises, stops the
// faults, checks convergence and a clean shutdown, and returns what it
// saw. It returns an error only when the run could not be set up; broken
// promises are Summary.Violations. Every process and goroutine it started
// has ended when it returns. It blocks for about FaultPhase plus a few
// seconds, or until ctx ends.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("chaos config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := newHarness(cfg)
	f := newFaultLoop(h, rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15)))

	bgCtx, stopBG := context.WithCancel(ctx)
	defer func() {
		stopBG()
		h.teardown()
	}()
	h.ticks.tick(time.Now())
	h.bg.Go(func() { h.stallLoop(bgCtx) })
	if err := h.setup(ctx, f.randomRegs); err != nil {
		return nil, err
	}
	if cfg.LoseRegistrations {
		h.loseRegistrations()
	}
	h.startProbes(bgCtx)

	if err := f.faultPhase(ctx); err != nil {
		return nil, err
	}
	f.finalPhase(ctx)
	stopBG()
	h.bg.Wait()
	h.shutdown(ctx)
	return h.summary(), nil
}

func newHarness(cfg Config) *harness {
	h := &harness{
		cfg:      cfg,
		log:      cfg.Logger,
		start:    time.Now(),
		exitSeen: make(map[*proc.Process]bool),
	}
	h.sum = Summary{
		Seed:       cfg.Seed,
		Lookupds:   cfg.Lookupds,
		Bound:      cfg.bound(),
		UnionBound: cfg.unionBound(),
		Faults:     make(map[string]int),
		Checks:     make(map[string]int),
	}
	for i := range cfg.Topics - 1 {
		h.topics = append(h.topics, "chaos-"+strconv.Itoa(i))
	}
	h.topics = append(h.topics, "chaos-eph#ephemeral")
	h.rules = newRules(cfg, h.topics, h.start, &h.sum)
	h.tr = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	h.httpc = &http.Client{Transport: h.tr, Timeout: cfg.QueryTimeout}
	return h
}

// summary returns a copy of what the run saw, with the processes' CPU
// times.
func (h *harness) summary() *Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sum.Elapsed = time.Since(h.start)
	h.sum.ProducerProcesses = len(h.producers)
	for _, p := range h.procs {
		if strings.HasPrefix(p.Name, "lookupd") {
			h.sum.LookupdCPU += p.CPUTime()
		} else {
			h.sum.ProducerdCPU += p.CPUTime()
		}
	}
	out := h.sum
	out.Faults = maps.Clone(h.sum.Faults)
	out.Checks = maps.Clone(h.sum.Checks)
	out.Details = slices.Clone(h.sum.Details)
	return &out
}

// eventLocked applies e to the rules now and records the violations that
// came out. h.mu must be held.
func (h *harness) eventLocked(e event) {
	h.rules.apply(time.Now(), e)
	h.record()
}

// event takes h.mu around eventLocked.
func (h *harness) event(e event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eventLocked(e)
}

// violate records a broken promise found outside the rules.
func (h *harness) violate(check, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.violateLocked(check, format, args...)
}

// violateLocked is violate with h.mu held.
func (h *harness) violateLocked(check, format string, args ...any) {
	h.rules.violate(time.Now(), check, -1, format, args...)
	h.record()
}

// record moves the rules' violations into the summary and the log, with
// the last output of the producer concerned, if any. h.mu must be held.
func (h *harness) record() {
	for _, v := range h.rules.drain() {
		h.sum.Violations++
		detail := v.detail
		if v.producer >= 0 {
			detail += "; its last output:\n" + h.producers[v.producer].proc.Tail(6)
		}
		msg := fmt.Sprintf("[%7.3fs] %s: %s", v.at.Sub(h.start).Seconds(), v.check, detail)
		if len(h.sum.Details) < maxDetails {
			h.sum.Details = append(h.sum.Details, msg)
		}
		h.log.Warn("violation", "check", v.check, "detail", msg)
	}
}

func (h *harness) logPath(name string) string { return filepath.Join(h.cfg.Dir, name+".log") }

func lookupdName(i int) string { return fmt.Sprintf("lookupd-%d", i) }

// setup starts the lookupds, the clientmerge client and the first
// producers (with registrations from regs), and waits until every lookupd
// lists every producer.
func (h *harness) setup(ctx context.Context, regs func() map[string][]string) error {
	for i := range h.cfg.Lookupds {
		name := lookupdName(i)
		p, line, err := h.execLookupd(ctx, name, "127.0.0.1:0", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln := &lookupdNode{name: name, tcpAddr: logField(line, "tcp_address"), httpAddr: logField(line, "http_address"), proc: p}
		if ln.tcpAddr == "" || ln.httpAddr == "" {
			return fmt.Errorf("%s: no addresses in %q", name, line)
		}
		h.mu.Lock()
		h.lookupds = append(h.lookupds, ln)
		h.eventLocked(lookupdUp{lookupd: i})
		h.mu.Unlock()
	}
	var addrs []string
	for _, ln := range h.lookupds {
		addrs = append(addrs, ln.httpAddr)
	}
	var err error
	h.merge, err = clientmerge.New(addrs, clientmerge.WithTimeout(h.cfg.QueryTimeout), clientmerge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	for range h.cfg.Producers {
		if err := h.startProducer(regs()); err != nil {
			return err
		}
	}
	// Every lookupd lists every producer before faults begin.
	deadline := time.Now().Add(10*h.cfg.bound() + 10*time.Second)
	for {
		diffs := h.compareAll(ctx)
		if len(diffs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start-up: lookupds never matched the producers: %s", joinDiffs(diffs, 12))
		}
		if err := proc.Sleep(ctx, h.cfg.PollInterval); err != nil {
			return err
		}
	}
	h.log.Info("cluster up", "lookupds", len(h.lookupds), "producers", h.cfg.Producers, "in", time.Since(h.start).Round(time.Millisecond))
	return nil
}

// execLookupd starts one lookupd process and waits for its start line.
func (h *harness) execLookupd(ctx context.Context, name, tcpAddr, httpAddr string) (*proc.Process, string, error) {
	args := []string{
		"--tcp-address=" + tcpAddr,
		"--http-address=" + httpAddr,
		"--broadcast-address=127.0.0.1",
		"--inactive-producer-timeout=" + h.cfg.InactiveTimeout.String(),
		"--client-idle-timeout=" + h.cfg.IdleTimeout.String(),
		"--log-level=info",
	}
	for attempt := 1; ; attempt++ {
		p, err := proc.Start(proc.Options{Name: name, Path: h.cfg.Binaries.Lookupd, Args: args, Log: h.logPath(name)})
		if err != nil {
			return nil, "", err
		}
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		line, err := p.WaitLine(wctx, `msg="lookupd started"`)
		cancel()
		if err == nil {
			h.mu.Lock()
			h.procs = append(h.procs, p)
			h.mu.Unlock()
			return p, line, nil
		}
		// A port may be briefly taken by someone else's ephemeral
		// connection: retry that, a few times, and nothing else.
		_ = p.Signal(syscall.SIGKILL)
		<-p.Done()
		if !strings.Contains(p.Tail(5), "address already in use") || attempt >= 5 || ctx.Err() != nil {
			return nil, "", fmt.Errorf("start %s: %w", name, err)
		}
		h.log.Warn("lookupd address in use, retrying", "name", name, "attempt", attempt)
		if err := proc.Sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, "", err
		}
	}
}

// changeLookupd applies e, a change of lookupd i, and returns the process
// now serving i.
func (h *harness) changeLookupd(i int, e event) *proc.Process {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.eventLocked(e)
	return h.lookupds[i].proc
}

// restartLookupd starts lookupd i again on its addresses.
func (h *harness) restartLookupd(ctx context.Context, i int) error {
	ln := h.lookupds[i] // name and addresses never change
	p, _, err := h.execLookupd(ctx, ln.name, ln.tcpAddr, ln.httpAddr)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ln.proc = p
	h.eventLocked(lookupdUp{lookupd: i})
	return nil
}

// startProducer starts one producerd with registrations regs (topic ->
// channels) behind one proxy per lookupd, each in its lookupd's mode. Only
// the goroutine of Run calls it, so producer ids follow the calls.
func (h *harness) startProducer(regs map[string][]string) error {
	h.mu.Lock()
	id := len(h.producers)
	nodes := slices.Clone(h.lookupds)
	modes := make([]Mode, len(nodes))
	delays := make([]time.Duration, len(nodes))
	for i, ln := range nodes {
		modes[i], delays[i] = ln.mode, ln.delay
	}
	loseRegs := h.loseRegs
	h.mu.Unlock()

	name := fmt.Sprintf("producerd-%d", id)
	port := 30000 + id
	args := []string{
		"--broadcast-address=127.0.0.1",
		"--broadcast-tcp-port=" + strconv.Itoa(port),
		"--broadcast-http-port=" + strconv.Itoa(port+10000),
		"--hostname=" + name,
		"--heartbeat-interval=" + h.cfg.Heartbeat.String(),
		"--resync-interval=" + h.cfg.ResyncInterval.String(),
		"--shutdown-timeout=3s",
		"--http-address=",
		"--log-level=info",
	}
	var proxies []*Proxy
	closeProxies := func() {
		for _, px := range proxies {
			px.Close()
		}
	}
	for i, ln := range nodes {
		px, err := NewProxy(ln.tcpAddr)
		if err != nil {
			closeProxies()
			return err
		}
		px.SetMode(modes[i], delays[i])
		px.LoseRegistrations(loseRegs)
		proxies = append(proxies, px)
		args = append(args, "--lookupd-tcp-address="+px.Addr())
	}
	for _, topic := range slices.Sorted(maps.Keys(regs)) {
		if len(regs[topic]) == 0 {
			args = append(args, "--register="+topic)
		}
		for _, ch := range regs[topic] {
			args = append(args, "--register="+topic+"/"+ch)
		}
	}
	pr, err := proc.Start(proc.Options{Name: name, Path: h.cfg.Binaries.Producerd, Args: args, Log: h.logPath(name)})
	if err != nil {
		closeProxies()
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.producers = append(h.producers, &producerNode{name: name, proc: pr, proxies: proxies})
	h.procs = append(h.procs, pr)
	h.eventLocked(producerUp{producer: id, name: name, key: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), regs: regs})
	return nil
}

// loseRegistrations makes every proxy, now and later, lose the
// registrations of the connections it accepts from now on (see
// Config.LoseRegistrations).
func (h *harness) loseRegistrations() {
	h.mu.Lock()
	h.loseRegs = true
	var proxies []*Proxy
	for _, p := range h.producers {
		proxies = append(proxies, p.proxies...)
	}
	h.mu.Unlock()
	for _, px := range proxies {
		px.LoseRegistrations(true)
	}
	h.log.Info("proxies lose registrations from now on")
}

// liveProducers returns the ids of the live producers.
func (h *harness) liveProducers() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for id, p := range h.rules.producers {
		if p.live() {
			out = append(out, id)
		}
	}
	return out
}

// depart marks producer id departed.
func (h *harness) depart(id int, how string, silent bool) {
	h.event(producerGone{producer: id, how: how, silent: silent})
}

// signalProducer sends sig to producer id's process.
func (h *harness) signalProducer(id int, sig syscall.Signal) {
	h.mu.Lock()
	pr := h.producers[id].proc
	h.mu.Unlock()
	_ = pr.Signal(sig)
}

// setProxyModes puts the proxies between live or departing producers and
// lookupd i (not those of dead hosts) in mode m.
func (h *harness) setProxyModes(i int, m Mode, delay time.Duration) {
	h.mu.Lock()
	var proxies []*Proxy
	for id, p := range h.producers {
		if !h.rules.producers[id].silent && p.proxies != nil {
			proxies = append(proxies, p.proxies[i])
		}
	}
	h.mu.Unlock()
	for _, px := range proxies {
		px.SetMode(m, delay)
	}
}

// resume sends SIGCONT to stopped lookupd i.
func (h *harness) resume(i int) {
	h.mu.Lock()
	pr := h.lookupds[i].proc
	h.mu.Unlock()
	_ = pr.Signal(syscall.SIGCONT)
	h.event(lookupdResumed{lookupd: i})
}

// closeProxies closes producer id's proxies and forgets them.
func (h *harness) closeProxies(id int) {
	h.mu.Lock()
	proxies := h.producers[id].proxies
	h.producers[id].proxies = nil
	h.mu.Unlock()
	for _, px := range proxies {
		px.Close()
	}
}

// reap closes the proxies of departed producers once their process has
// exited and no connection is left through them (held traffic flows when
// a partition heals), or 30 s after departure. Dead hosts' proxies are
// left to the reap check (faults.go). With all set, it closes every such
// proxy at once.
func (h *harness) reap(all bool) {
	h.mu.Lock()
	var done []int
	for id, p := range h.producers {
		st := h.rules.producers[id]
		if st.live() || st.silent || p.proxies == nil || !p.proc.Exited() {
			continue
		}
		open := 0
		for _, px := range p.proxies {
			open += px.Open()
		}
		if all || open == 0 || time.Since(st.departedAt) > 30*time.Second {
			done = append(done, id)
		}
	}
	h.mu.Unlock()
	for _, id := range done {
		h.closeProxies(id)
	}
}

// shutdown stops every producer with SIGTERM (each must withdraw its
// registrations and exit 0), then every lookupd (exit 0), and checks exit
// statuses and logs.
func (h *harness) shutdown(ctx context.Context) {
	live := h.liveProducers()
	for _, id := range live {
		h.depart(id, "shut down", false)
		h.signalProducer(id, syscall.SIGTERM)
	}
	for _, id := range live {
		h.mu.Lock()
		pr := h.producers[id].proc
		h.mu.Unlock()
		if err := pr.Wait(10 * time.Second); err != nil {
			h.violate("exit-status", "%v", err)
		}
	}
	h.event(producersStopped{})
	h.awaitMatch(ctx, "shutdown-withdraw", len(h.lookupds), 10, nil)
	h.reap(true)
	h.mu.Lock()
	var lookupds []*proc.Process
	for i, ln := range h.lookupds {
		if h.rules.lookupds[i].running {
			lookupds = append(lookupds, ln.proc)
		}
	}
	h.mu.Unlock()
	for _, p := range lookupds {
		_ = p.Signal(syscall.SIGTERM)
	}
	for _, p := range lookupds {
		if err := p.Wait(15 * time.Second); err != nil {
			h.violate("exit-status", "%v", err)
		}
	}
	h.checkExits()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		h.rules.check("log-scan", 1)
		if a := p.Alarms(); len(a) > 0 {
			h.violateLocked("log-scan", "%s logged %q", p.Name, a)
		}
	}
}

// awaitMatch compares every lookupd with the ground truth every half poll
// interval until the rules end the wait for check (everything matches, or
// its deadline passed). Each comparison counts checks assertions and
// reports at most report differences; each round first calls each, if
// not nil.
func (h *harness) awaitMatch(ctx context.Context, check string, checks, report int, each func()) {
	for ctx.Err() == nil {
		if each != nil {
			each()
		}
		diff := joinDiffs(h.compareAll(ctx), report)
		h.mu.Lock()
		h.eventLocked(compared{check: check, diff: diff, checks: checks})
		waiting := h.rules.waiting(check)
		h.mu.Unlock()
		if !waiting {
			return
		}
		_ = proc.Sleep(ctx, h.cfg.PollInterval/2)
	}
}

// teardown ends whatever is still running: every process, every proxy,
// every background goroutine, every idle HTTP connection.
func (h *harness) teardown() {
	h.bg.Wait()
	h.mu.Lock()
	procs := slices.Clone(h.procs)
	var proxies []*Proxy
	for _, p := range h.producers {
		proxies = append(proxies, p.proxies...)
	}
	for _, ln := range h.lookupds {
		if ln.proc != nil && !slices.Contains(procs, ln.proc) {
			procs = append(procs, ln.proc)
		}
	}
	h.mu.Unlock()
	for _, p := range procs {
		if !p.Exited() {
			_ = p.Signal(syscall.SIGKILL)
		}
		<-p.Done()
	}
	for _, px := range proxies {
		px.Close()
	}
	if h.merge != nil {
		h.merge.CloseIdleConnections()
	}
	h.tr.CloseIdleConnections()
}

// logField returns the value of key=value in a slog text line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
