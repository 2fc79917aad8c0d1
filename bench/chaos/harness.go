//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
)

// lookupdNode is one lookupd: its fixed addresses and the process now
// serving them. Fields are guarded by harness.mu.
type lookupdNode struct {
	idx               int
	name              string
	tcpAddr, httpAddr string
	proc              *proc.Process

	running, stopped bool
	part             Mode
	delay            time.Duration

	// goodSince is when the lookupd last became up, running and reachable
	// by producers (zero while it is not); goodEpoch counts those times.
	goodSince time.Time
	goodEpoch int
	// upSince is when it last started answering HTTP (start or SIGCONT).
	upSince time.Time
	// lastResume is when it was last sent SIGCONT.
	lastResume time.Time
	// changes counts state changes, so a poll can tell that the state
	// moved while it was in flight.
	changes int

	// Per goodEpoch: producers whose convergence was recorded, and whose
	// absence was reported. absReported persists.
	convSeen    map[int]bool
	reported    map[int]bool
	absReported map[int]bool
	goneSeen    map[int]bool // departed producers seen unlisted
	// lastPoll is when the previous poll of it that was checked began.
	lastPoll time.Time

	fault *pending // the active fault's end, owned by the fault loop
}

func (l *lookupdNode) answering() bool { return l.running && !l.stopped }
func (l *lookupdNode) good() bool      { return l.answering() && l.part == Pass }

// producerNode is one producerd process and the proxies it reaches the
// lookupds through. Fields are guarded by harness.mu.
type producerNode struct {
	id      int
	name    string
	key     string              // broadcast_address:tcp_port
	regs    map[string][]string // topic -> channels (maybe none)
	proc    *proc.Process
	proxies []*Proxy // one per lookupd; nil once closed

	liveSince  time.Time
	departedAt time.Time // zero while live
	how        string    // how it departed
	silent     bool      // its host vanished without closing sockets
	// held[i] is set when lookupd i was not good at the departure: its
	// close (or last heartbeats) may be held until the lookupd is good
	// again, at heldUntil[i] (zero until then).
	held      []bool
	heldUntil []time.Time

	unionSeen     bool
	unionReported map[string]bool
	unionAbsRep   map[string]bool
}

func (p *producerNode) live() bool { return p.departedAt.IsZero() }

// pending is a scheduled action of the fault loop (the end of a fault).
type pending struct {
	at   time.Time
	name string
	run  func()
}

type harness struct {
	cfg   Config
	log   *slog.Logger
	rng   *rand.Rand // fault loop only
	start time.Time
	bg    sync.WaitGroup

	httpc  *http.Client
	tr     *http.Transport
	merge  *clientmerge.Client
	topics []string

	pend       []*pending // fault loop only
	firstKinds []string   // fault loop only: kinds still to inject first

	// lastTick is when the stall detector last ran (unix ns); see
	// stallLoop.
	lastTick atomic.Int64

	mu        sync.Mutex
	loseRegs  bool      // Config.LoseRegistrations, once the start-up is over
	stallEnd  time.Time // when the last stall of the harness ended
	lookupds  []*lookupdNode
	producers []*producerNode // every producer ever, by id
	procs     []*proc.Process // every process ever started
	exitSeen  map[*proc.Process]bool
	views     map[string]*unionView
	ever      map[string]map[string]bool // topic -> every channel ever registered
	sum       Summary
}

// unionView is what the clientmerge watcher last delivered for a topic.
type unionView struct {
	producers map[string]bool
	channels  map[string]bool
	at        time.Time
	stale     bool
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
	h := &harness{
		cfg:      cfg,
		log:      cfg.Logger,
		rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(cfg.Seed)^0x9e3779b97f4a7c15)),
		start:    time.Now(),
		exitSeen: make(map[*proc.Process]bool),
		views:    make(map[string]*unionView),
		ever:     make(map[string]map[string]bool),
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
	h.tr = &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second}
	h.httpc = &http.Client{Transport: h.tr, Timeout: cfg.QueryTimeout}

	bgCtx, stopBG := context.WithCancel(ctx)
	defer func() {
		stopBG()
		h.teardown()
	}()

	h.lastTick.Store(time.Now().UnixNano())
	h.bg.Go(func() { h.stallLoop(bgCtx) })
	if err := h.setup(ctx); err != nil {
		return nil, err
	}
	if cfg.LoseRegistrations {
		h.loseRegistrations()
	}
	for i := range h.lookupds {
		h.bg.Go(func() { h.pollLookupd(bgCtx, i) })
	}
	for _, topic := range h.topics {
		h.bg.Go(func() { h.watch(bgCtx, topic) })
	}
	h.bg.Go(func() { h.checkUnionLoop(bgCtx) })
	h.bg.Go(func() { h.sampleLoop(bgCtx) })

	if err := h.faultPhase(ctx); err != nil {
		return nil, err
	}
	h.finalPhase(ctx)
	stopBG()
	h.bg.Wait()
	h.shutdown(ctx)

	h.mu.Lock()
	defer h.mu.Unlock()
	h.sum.Elapsed = time.Since(h.start)
	h.sum.ProducerProcesses = len(h.producers)
	for _, p := range h.procs {
		cpu := p.CPUTime()
		if strings.HasPrefix(p.Name, "lookupd") {
			h.sum.LookupdCPU += cpu
		} else {
			h.sum.ProducerdCPU += cpu
		}
	}
	out := h.sum
	out.Faults = maps.Clone(h.sum.Faults)
	out.Checks = maps.Clone(h.sum.Checks)
	out.Details = slices.Clone(h.sum.Details)
	return &out, nil
}

// violate records a broken promise. h.mu must be held.
func (h *harness) violate(check, format string, args ...any) {
	h.sum.Violations++
	msg := fmt.Sprintf("[%7.3fs] %s: %s", time.Since(h.start).Seconds(), check, fmt.Sprintf(format, args...))
	if len(h.sum.Details) < maxDetails {
		h.sum.Details = append(h.sum.Details, msg)
	}
	h.log.Warn("violation", "check", check, "detail", msg)
}

// violateLocked takes h.mu around violate.
func (h *harness) violateLocked(check, format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.violate(check, format, args...)
}

func (h *harness) check(kind string, n int) { h.sum.Checks[kind] += n }

func (h *harness) logPath(name string) string { return filepath.Join(h.cfg.Dir, name+".log") }

// setup starts the lookupds, the clientmerge client and the first
// producers, and waits until every lookupd lists every producer.
func (h *harness) setup(ctx context.Context) error {
	for i := range h.cfg.Lookupds {
		ln := &lookupdNode{
			idx: i, name: fmt.Sprintf("lookupd-%d", i),
			convSeen: map[int]bool{}, reported: map[int]bool{}, absReported: map[int]bool{}, goneSeen: map[int]bool{},
		}
		p, line, err := h.execLookupd(ctx, ln.name, "127.0.0.1:0", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ln.tcpAddr, ln.httpAddr = logField(line, "tcp_address"), logField(line, "http_address")
		if ln.tcpAddr == "" || ln.httpAddr == "" {
			return fmt.Errorf("%s: no addresses in %q", ln.name, line)
		}
		now := time.Now()
		h.mu.Lock()
		ln.proc, ln.running, ln.upSince = p, true, now
		h.lookupds = append(h.lookupds, ln)
		h.refreshGood(ln, now)
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
		if err := h.startProducer(); err != nil {
			return err
		}
	}
	// Every lookupd lists every producer before faults begin.
	deadline := time.Now().Add(10*h.cfg.bound() + 10*time.Second)
	for {
		missing := h.diffAll(ctx)
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("start-up: lookupds never matched the producers: %s", missing)
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

// refreshGood updates goodSince after a state change. h.mu must be held.
func (h *harness) refreshGood(ln *lookupdNode, now time.Time) {
	ln.changes++
	switch {
	case !ln.good():
		if !ln.goodSince.IsZero() {
			// A producer that departed just now may not have sent its
			// close yet: count this fault as holding it too.
			for _, p := range h.producers {
				if !p.live() && !p.held[ln.idx] && now.Sub(p.departedAt) < h.cfg.bound() {
					p.held[ln.idx] = true
				}
			}
		}
		ln.goodSince = time.Time{}
	case ln.goodSince.IsZero():
		ln.goodSince = now
		ln.goodEpoch++
		clear(ln.convSeen)
		clear(ln.reported)
		for _, p := range h.producers {
			if !p.live() && p.held[ln.idx] && p.heldUntil[ln.idx].IsZero() {
				p.heldUntil[ln.idx] = now
			}
		}
	}
}

// startProducer starts one producerd with random registrations behind one
// proxy per lookupd.
func (h *harness) startProducer() error {
	h.mu.Lock()
	id := len(h.producers)
	loseRegs := h.loseRegs
	modes := make([][2]any, len(h.lookupds))
	targets := make([]string, len(h.lookupds))
	for i, ln := range h.lookupds {
		modes[i] = [2]any{ln.part, ln.delay}
		targets[i] = ln.tcpAddr
	}
	h.mu.Unlock()

	p := &producerNode{
		id:            id,
		name:          fmt.Sprintf("producerd-%d", id),
		regs:          make(map[string][]string),
		unionReported: make(map[string]bool),
		unionAbsRep:   make(map[string]bool),
		held:          make([]bool, len(targets)),
		heldUntil:     make([]time.Time, len(targets)),
	}
	port := 30000 + id
	p.key = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	channels := []string{"c0", "c1", "c2", "ce#ephemeral"}
	var registers []string
	for _, ti := range h.rng.Perm(len(h.topics))[:h.cfg.TopicsPerProducer] {
		topic := h.topics[ti]
		n := h.rng.IntN(3)
		chs := []string{}
		for _, ci := range h.rng.Perm(len(channels))[:n] {
			chs = append(chs, channels[ci])
		}
		slices.Sort(chs)
		p.regs[topic] = chs
		if len(chs) == 0 {
			registers = append(registers, "--register="+topic)
		}
		for _, ch := range chs {
			registers = append(registers, "--register="+topic+"/"+ch)
		}
	}
	args := []string{
		"--broadcast-address=127.0.0.1",
		"--broadcast-tcp-port=" + strconv.Itoa(port),
		"--broadcast-http-port=" + strconv.Itoa(port+10000),
		"--hostname=" + p.name,
		"--heartbeat-interval=" + h.cfg.Heartbeat.String(),
		"--resync-interval=" + h.cfg.ResyncInterval.String(),
		"--shutdown-timeout=3s",
		"--http-address=",
		"--log-level=info",
	}
	for i, target := range targets {
		px, err := NewProxy(target)
		if err != nil {
			for _, q := range p.proxies {
				q.Close()
			}
			return err
		}
		px.SetMode(modes[i][0].(Mode), modes[i][1].(time.Duration))
		px.LoseRegistrations(loseRegs)
		p.proxies = append(p.proxies, px)
		args = append(args, "--lookupd-tcp-address="+px.Addr())
	}
	args = append(args, registers...)
	pr, err := proc.Start(proc.Options{Name: p.name, Path: h.cfg.Binaries.Producerd, Args: args, Log: h.logPath(p.name)})
	if err != nil {
		for _, q := range p.proxies {
			q.Close()
		}
		return err
	}
	p.proc = pr
	p.liveSince = pr.Started
	h.mu.Lock()
	h.producers = append(h.producers, p)
	h.procs = append(h.procs, pr)
	for topic, chs := range p.regs {
		if h.ever[topic] == nil {
			h.ever[topic] = make(map[string]bool)
		}
		for _, ch := range chs {
			h.ever[topic][ch] = true
		}
	}
	h.mu.Unlock()
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

// lookupAnswer is one lookupd's /lookup answer: producer keys and
// channels.
type lookupAnswer struct {
	producers map[string]bool
	channels  map[string]bool
}

// fetchLookup asks one lookupd for topic; 404 TOPIC_NOT_FOUND is an empty
// answer.
func (h *harness) fetchLookup(ctx context.Context, base, topic string) (lookupAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+base+"/lookup?topic="+url.QueryEscape(topic), nil)
	if err != nil {
		return lookupAnswer{}, err
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		return lookupAnswer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return lookupAnswer{}, err
	}
	a := lookupAnswer{producers: map[string]bool{}, channels: map[string]bool{}}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		if strings.Contains(string(body), "TOPIC_NOT_FOUND") {
			return a, nil
		}
		fallthrough
	default:
		return lookupAnswer{}, fmt.Errorf("lookup %s on %s: status %d: %.100s", topic, base, resp.StatusCode, body)
	}
	var lb struct {
		Channels  []string `json:"channels"`
		Producers []struct {
			BroadcastAddress string `json:"broadcast_address"`
			TCPPort          int    `json:"tcp_port"`
		} `json:"producers"`
	}
	if err := json.Unmarshal(body, &lb); err != nil {
		return lookupAnswer{}, fmt.Errorf("lookup %s on %s: decode: %w", topic, base, err)
	}
	for _, c := range lb.Channels {
		a.channels[c] = true
	}
	for _, p := range lb.Producers {
		a.producers[net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.TCPPort))] = true
	}
	return a, nil
}

// fetchAll asks one lookupd for every topic.
func (h *harness) fetchAll(ctx context.Context, base string) (map[string]lookupAnswer, error) {
	out := make(map[string]lookupAnswer, len(h.topics))
	for _, topic := range h.topics {
		a, err := h.fetchLookup(ctx, base, topic)
		if err != nil {
			return nil, err
		}
		out[topic] = a
	}
	return out, nil
}

// presentIn reports whether answers list p for all its topics and
// channels.
func (p *producerNode) presentIn(answers map[string]lookupAnswer) bool {
	for topic, chs := range p.regs {
		a := answers[topic]
		if !a.producers[p.key] {
			return false
		}
		for _, ch := range chs {
			if !a.channels[ch] {
				return false
			}
		}
	}
	return true
}

// listedIn reports whether answers list p for any topic.
func (p *producerNode) listedIn(answers map[string]lookupAnswer) bool {
	for topic := range p.regs {
		if answers[topic].producers[p.key] {
			return true
		}
	}
	return false
}

// absenceDeadline is when lookupd ln must no longer list departed
// producer p. The close reaches a lookupd that was good at the departure
// at once, and one that was not when it is good again (held traffic
// flows then); until then the inactive timeout hides the producer. A
// silent death is noticed only by the inactive timeout, counted from the
// last heartbeat the lookupd processed. h.mu must be held.
func (h *harness) absenceDeadline(p *producerNode, ln *lookupdNode) time.Time {
	base := p.departedAt
	if p.held[ln.idx] {
		if p.heldUntil[ln.idx].IsZero() {
			return p.departedAt.Add(h.cfg.InactiveTimeout + h.cfg.bound())
		}
		base = p.heldUntil[ln.idx]
	}
	d := base.Add(h.cfg.bound())
	if p.silent {
		d = d.Add(h.cfg.InactiveTimeout)
	}
	return d
}

// pollLookupd polls one lookupd's /lookup for every topic and checks it
// against the ground truth.
func (h *harness) pollLookupd(ctx context.Context, i int) {
	t := time.NewTicker(h.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.mu.Lock()
		ln := h.lookupds[i]
		answering, changes, base := ln.answering(), ln.changes, ln.httpAddr
		h.mu.Unlock()
		if !answering {
			continue
		}
		t0 := time.Now()
		answers, err := h.fetchAll(ctx, base)
		t1 := time.Now()
		if ctx.Err() != nil {
			return
		}
		h.evalLookupd(ln, changes, t0, t1, answers, err)
	}
}

// evalLookupd checks one poll of ln made between t0 and t1.
func (h *harness) evalLookupd(ln *lookupdNode, changes int, t0, t1 time.Time, answers map[string]lookupAnswer, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ln.changes != changes || !ln.answering() {
		return // its state moved during the poll
	}
	if !h.stallEnd.Before(t0) || h.stalled(time.Now()) {
		return // the harness (the network) stalled meanwhile
	}
	B := h.cfg.bound()
	if t0.Sub(ln.upSince) > B {
		h.check("lookupd-answers", 1)
		if err != nil {
			h.violate("lookupd-answers", "%s up for %s did not answer: %v", ln.name, t0.Sub(ln.upSince).Round(time.Millisecond), err)
		}
	}
	if err != nil {
		return
	}
	prevPoll := ln.lastPoll
	ln.lastPoll = t0
	for _, p := range h.producers {
		if p.live() {
			if !ln.good() {
				continue
			}
			e := ln.goodSince
			if p.liveSince.After(e) {
				e = p.liveSince
			}
			present := p.presentIn(answers)
			if present && !t0.Before(e) && !ln.convSeen[p.id] {
				ln.convSeen[p.id] = true
				if c := t1.Sub(e); c > h.sum.WorstLookupd {
					h.sum.WorstLookupd = c
				}
			}
			if t0.Sub(e) > B {
				h.check("lookupd-presence", 1)
				if !present && !ln.reported[p.id] {
					ln.reported[p.id] = true
					h.violate("lookupd-presence", "%s (good for %s) does not list live %s (up %s) with %v; its last output:\n%s",
						ln.name, t0.Sub(ln.goodSince).Round(time.Millisecond), p.name, t0.Sub(p.liveSince).Round(time.Millisecond), p.regs, p.proc.Tail(6))
				}
			}
			continue
		}
		if !ln.goneSeen[p.id] && !p.listedIn(answers) {
			// Removal time: from the departure, or from the release of a
			// held close; a silent death is expected to take the inactive
			// timeout more, which is left out.
			base := p.departedAt
			if p.held[ln.idx] {
				base = p.heldUntil[ln.idx]
			}
			if !base.IsZero() && !t0.Before(base) {
				ln.goneSeen[p.id] = true
				// Measured only when this lookupd was being polled all
				// along; after a gap the removal time is unknown.
				from := base
				if prevPoll.After(from) {
					from = prevPoll
				}
				if t0.Sub(from) <= 2*h.cfg.PollInterval {
					c := t1.Sub(base)
					if p.silent {
						c -= h.cfg.InactiveTimeout
					}
					h.sum.WorstDeparture = max(h.sum.WorstDeparture, c)
				}
			}
		}
		if t0.After(h.absenceDeadline(p, ln)) {
			h.check("lookupd-absence", 1)
			if p.listedIn(answers) && !ln.absReported[p.id] {
				ln.absReported[p.id] = true
				h.violate("lookupd-absence", "%s still lists %s, %s %s ago (held %v until %v); its last output:\n%s", ln.name, p.name, p.how,
					t0.Sub(p.departedAt).Round(time.Millisecond), p.held[ln.idx], p.heldUntil[ln.idx].Sub(p.departedAt).Round(time.Millisecond), p.proc.Tail(6))
			}
		}
	}
}

// watch runs the clientmerge watcher of one topic until ctx ends.
func (h *harness) watch(ctx context.Context, topic string) {
	_ = clientmerge.Watch(ctx, h.merge, clientmerge.LookupQuery(topic), h.cfg.PollInterval, func(res *clientmerge.LookupResult) {
		v := &unionView{producers: map[string]bool{}, channels: map[string]bool{}, at: time.Now(), stale: res.Stale}
		for _, p := range res.Producers {
			v.producers[p.TCPAddr()] = true
		}
		for _, c := range res.Channels {
			v.channels[c] = true
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.views[topic] = v
		if h.stalled(v.at) || v.at.Sub(h.stallEnd) < h.cfg.watchLag() {
			return // no convergence is measured across a stall
		}
		// Convergence counts from when the producer started or a lookupd
		// became good, whichever is later; a producer first seen while no
		// lookupd is good is not measured.
		var goodSince time.Time
		for _, ln := range h.lookupds {
			if ln.good() && (goodSince.IsZero() || ln.goodSince.Before(goodSince)) {
				goodSince = ln.goodSince
			}
		}
		for _, p := range h.producers {
			if !p.live() || p.unionSeen || !h.inUnion(p) {
				continue
			}
			p.unionSeen = true
			if goodSince.IsZero() {
				continue
			}
			e := p.liveSince
			if goodSince.After(e) {
				e = goodSince
			}
			if c := v.at.Sub(e); c > h.sum.WorstUnion {
				h.sum.WorstUnion = c
			}
		}
	})
}

// inUnion reports whether the watcher's views list p with all its topics
// and channels. h.mu must be held.
func (h *harness) inUnion(p *producerNode) bool {
	for topic, chs := range p.regs {
		v := h.views[topic]
		if v == nil || !v.producers[p.key] {
			return false
		}
		for _, ch := range chs {
			if !v.channels[ch] {
				return false
			}
		}
	}
	return true
}

// checkUnionLoop checks the watcher's views against the ground truth
// twice per poll interval.
func (h *harness) checkUnionLoop(ctx context.Context) {
	t := time.NewTicker(h.cfg.PollInterval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.checkUnion(time.Now())
	}
}

func (h *harness) checkUnion(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stalled(now) || now.Sub(h.stallEnd) < h.cfg.watchLag() {
		return // the harness stalled: the watcher's view may predate it
	}
	Bu := h.cfg.unionBound()
	anyGood := false
	for _, ln := range h.lookupds {
		if ln.good() && now.Sub(ln.goodSince) > Bu {
			anyGood = true
		}
	}
	if !anyGood {
		return
	}
	lag := h.cfg.watchLag()
	for _, p := range h.producers {
		if p.live() {
			if now.Sub(p.liveSince) <= Bu {
				continue
			}
			for topic, chs := range p.regs {
				h.check("union-presence", 1)
				v := h.views[topic]
				ok := v != nil && v.producers[p.key]
				for _, ch := range chs {
					ok = ok && v.channels[ch]
				}
				if !ok && !p.unionReported[topic] {
					p.unionReported[topic] = true
					h.violate("union-presence", "union of %s lacks live %s (up %s, channels %v)", topic, p.name, now.Sub(p.liveSince).Round(time.Millisecond), chs)
				}
			}
			continue
		}
		var deadline time.Time
		for _, ln := range h.lookupds {
			if d := h.absenceDeadline(p, ln); d.After(deadline) {
				deadline = d
			}
		}
		if now.Before(deadline.Add(lag)) {
			continue
		}
		for topic := range p.regs {
			h.check("union-absence", 1)
			if v := h.views[topic]; v != nil && v.producers[p.key] && !p.unionAbsRep[topic] {
				p.unionAbsRep[topic] = true
				h.violate("union-absence", "union of %s still lists %s, %s %s ago", topic, p.name, p.how, now.Sub(p.departedAt).Round(time.Millisecond))
			}
		}
	}
}

// stallThreshold is how late the stall detector's tick may be before the
// harness counts itself stalled.
const (
	stallTick      = 50 * time.Millisecond
	stallThreshold = 300 * time.Millisecond
)

// stalled reports whether the stall detector has not run for longer than
// stallThreshold at now: the harness process is starved of CPU.
func (h *harness) stalled(now time.Time) bool {
	return now.UnixNano()-h.lastTick.Load() > int64(stallThreshold)
}

// stallLoop detects stalls of the harness process itself. The proxies that
// carry every producer's traffic live in this process, so a stall (another
// process hogging the CPU) is a partition of every lookupd that the fault
// schedule does not know of. A stall is treated as such a fault: checks
// skip it, and each good lookupd counts as good again only from its end.
func (h *harness) stallLoop(ctx context.Context) {
	t := time.NewTicker(stallTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		last := time.Unix(0, h.lastTick.Swap(now.UnixNano()))
		gap := now.Sub(last)
		if gap <= stallThreshold {
			continue
		}
		h.mu.Lock()
		h.sum.Stalls++
		h.sum.StallTime += gap
		h.sum.WorstStall = max(h.sum.WorstStall, gap)
		h.stallEnd = now
		for _, ln := range h.lookupds {
			if !ln.good() {
				continue
			}
			// As if a fault covered the stall: held closes, a new epoch.
			for _, p := range h.producers {
				if !p.live() && !p.held[ln.idx] && last.Sub(p.departedAt) < h.cfg.bound() {
					p.held[ln.idx], p.heldUntil[ln.idx] = true, now
				}
			}
			ln.goodSince = time.Time{}
			h.refreshGood(ln, now)
			ln.upSince = now
		}
		h.mu.Unlock()
		h.log.Warn("harness stalled", "for", gap.Round(time.Millisecond))
	}
}

// sampleLoop checks resources and unexpected exits once a second.
func (h *harness) sampleLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h.sample(ctx)
	}
}

func (h *harness) sample(ctx context.Context) {
	type target struct {
		name, base string
		proc       *proc.Process
		lookupd    bool
		answering  bool
	}
	var targets []target
	h.mu.Lock()
	for _, ln := range h.lookupds {
		if ln.running {
			targets = append(targets, target{name: ln.name, base: ln.httpAddr, proc: ln.proc, lookupd: true, answering: ln.answering()})
		}
	}
	for _, p := range h.producers {
		if p.live() {
			targets = append(targets, target{name: p.name, proc: p.proc})
		}
	}
	h.mu.Unlock()
	for _, tg := range targets {
		if tg.proc.Exited() {
			continue
		}
		st, err := tg.proc.Stats()
		if err == nil {
			rss := st.RSS
			h.mu.Lock()
			h.check("rss", 1)
			if tg.lookupd {
				h.sum.MaxLookupdRSS = max(h.sum.MaxLookupdRSS, rss)
				if h.cfg.MaxLookupdRSS > 0 && rss > h.cfg.MaxLookupdRSS {
					h.violate("rss", "%s resident set %d MiB over %d MiB", tg.name, rss>>20, h.cfg.MaxLookupdRSS>>20)
				}
			} else {
				h.sum.MaxProducerdRSS = max(h.sum.MaxProducerdRSS, rss)
				if h.cfg.MaxProducerdRSS > 0 && rss > h.cfg.MaxProducerdRSS {
					h.violate("rss", "%s resident set %d MiB over %d MiB", tg.name, rss>>20, h.cfg.MaxProducerdRSS>>20)
				}
			}
			h.mu.Unlock()
		}
		if tg.lookupd && tg.answering {
			g, err := h.scrapeGauge(ctx, tg.base, "go_goroutines")
			if err != nil {
				continue // an unanswered query is the pollers' business
			}
			h.mu.Lock()
			h.check("goroutines", 1)
			h.sum.MaxGoroutines = max(h.sum.MaxGoroutines, int(g))
			if h.cfg.MaxLookupdGoroutines > 0 && int(g) > h.cfg.MaxLookupdGoroutines {
				h.violate("goroutines", "%s runs %d goroutines, over %d", tg.name, int(g), h.cfg.MaxLookupdGoroutines)
			}
			h.mu.Unlock()
		}
	}
	h.checkExits()
}

// checkExits checks every process that exited since the last call.
func (h *harness) checkExits() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		if h.exitSeen[p] || !p.Exited() {
			continue
		}
		h.exitSeen[p] = true
		h.check("exit-status", 1)
		if err := p.CheckExit(); err != nil {
			h.violate("exit-status", "%v; last output:\n%s", err, p.Tail(8))
		}
	}
}

// scrapeGauge reads one unlabelled metric from GET /metrics.
func (h *harness) scrapeGauge(ctx context.Context, base, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+base+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, err
	}
	return parseMetric(string(body), name)
}

// parseMetric finds "name value" in Prometheus text format.
func parseMetric(text, name string) (float64, error) {
	for line := range strings.Lines(text) {
		rest, ok := strings.CutPrefix(line, name+" ")
		if !ok {
			continue
		}
		return strconv.ParseFloat(strings.TrimSpace(rest), 64)
	}
	return 0, fmt.Errorf("metric %s not found", name)
}

// diffAll compares every lookupd with the ground truth: each topic lists
// exactly the live producers, every channel of a live producer, and no
// channel never registered. It returns "" when all match.
func (h *harness) diffAll(ctx context.Context) string {
	h.mu.Lock()
	var bases []string
	for _, ln := range h.lookupds {
		bases = append(bases, ln.httpAddr)
	}
	h.mu.Unlock()
	var diffs []string
	all := make([]map[string]lookupAnswer, len(bases))
	for i, base := range bases {
		a, err := h.fetchAll(ctx, base)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("lookupd-%d: %v", i, err))
			continue
		}
		all[i] = a
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, answers := range all {
		if answers == nil {
			continue
		}
		for _, topic := range h.topics {
			want, liveCh := map[string]bool{}, map[string]bool{}
			for _, p := range h.producers {
				if chs, ok := p.regs[topic]; ok && p.live() {
					want[p.key] = true
					for _, ch := range chs {
						liveCh[ch] = true
					}
				}
			}
			got := answers[topic]
			for k := range want {
				if !got.producers[k] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lacks %s", i, topic, h.nameOf(k)))
				}
			}
			for k := range got.producers {
				if !want[k] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lists %s", i, topic, h.nameOf(k)))
				}
			}
			for ch := range liveCh {
				if !got.channels[ch] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lacks channel %s", i, topic, ch))
				}
			}
			for ch := range got.channels {
				if !h.ever[topic][ch] {
					diffs = append(diffs, fmt.Sprintf("lookupd-%d %s lists unknown channel %s", i, topic, ch))
				}
			}
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 12 {
		diffs = append(diffs[:12], fmt.Sprintf("... %d more", len(diffs)-12))
	}
	return strings.Join(diffs, "; ")
}

// nameOf names the producer with key k (for reports). h.mu must be held.
func (h *harness) nameOf(k string) string {
	for _, p := range h.producers {
		if p.key == k {
			state := "live"
			if !p.live() {
				state = fmt.Sprintf("%s %s ago", p.how, time.Since(p.departedAt).Round(time.Millisecond))
			}
			return fmt.Sprintf("%s (%s)", p.name, state)
		}
	}
	return k
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
			_ = p.Signal(syscall.SIGCONT)
			_ = p.Signal(syscall.SIGKILL)
		}
		<-p.Done()
	}
	for _, px := range proxies {
		if px != nil {
			px.Close()
		}
	}
	if h.merge != nil {
		h.merge.CloseIdleConnections()
	}
	h.tr.CloseIdleConnections()
}
