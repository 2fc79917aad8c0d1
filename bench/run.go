package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
)

// Result is the outcome of one run of every phase against one daemon.
type Result struct {
	Daemon  Kind               `json:"daemon"`
	Round   int                `json:"round"`
	Figures map[string]float64 `json:"figures"`
	Seconds float64            `json:"seconds"` // wall time of the run
}

// runner holds the state of one run.
type runner struct {
	ctx    context.Context
	cfg    Config
	layout Layout
	proc   *Process
	res    *Result
	log    io.Writer
	conns  []*producerConn
	prof   sync.WaitGroup // profile downloads in flight
	profMu sync.Mutex
	profEr error
}

// Run starts a daemon of the given kind with l, drives every phase against
// it and stops it. Progress lines go to log. It returns an error if the
// daemon misbehaves (a wrong answer, an unexpected error reply, a phase
// that does not finish within its bound).
func Run(ctx context.Context, l Launcher, kind Kind, cfg Config, log io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	daemon, err := l.Launch(ctx, kind)
	if err != nil {
		return nil, err
	}
	r := &runner{ctx: ctx, cfg: cfg, layout: cfg.Layout(), proc: daemon, log: log,
		res: &Result{Daemon: kind, Figures: make(map[string]float64)}}
	err = r.run()
	for _, c := range r.conns {
		if c != nil {
			c.close()
		}
	}
	r.prof.Wait()
	err = errors.Join(err, r.profEr)
	if serr := daemon.Stop(stopTimeout); serr != nil && err == nil {
		err = fmt.Errorf("stop %s: %w", kind, serr)
	}
	if err != nil {
		if tail := daemon.Tail(20); tail != "" {
			err = fmt.Errorf("%w\n%s output (tail):\n%s", err, kind, tail)
		}
		return nil, err
	}
	r.res.Seconds = time.Since(start).Seconds()
	return r.res, nil
}

func (r *runner) logf(format string, args ...any) {
	if r.log != nil {
		fmt.Fprintf(r.log, "  [%s] "+format+"\n", append([]any{r.proc.Kind}, args...)...)
	}
}

func (r *runner) set(key string, v float64) { r.res.Figures[key] = v }

func (r *runner) stats() (proc.Stats, error) {
	if r.proc.Exited() {
		return proc.Stats{}, fmt.Errorf("%s exited unexpectedly", r.proc.Kind)
	}
	return r.proc.Stats()
}

// settled waits until the daemon's RSS stops moving (two readings 100 ms
// apart within 0.5%) or cfg.Settle passes, and returns the last reading.
// It does nothing to the daemon.
func (r *runner) settled() (proc.Stats, error) {
	if r.proc.Exited() {
		return proc.Stats{}, fmt.Errorf("%s exited unexpectedly", r.proc.Kind)
	}
	return SettledStats(r.ctx, r.proc.Process, r.cfg.Settle)
}

func (r *runner) run() error {
	cfg, lay := r.cfg, r.layout
	r.logf("%s", lay)

	// Ready: one /ping on a connection we then close.
	hc := newHTTPConn(r.proc.HTTPAddr)
	st, _, _, err := hc.do(getRequest(r.proc.HTTPAddr, "/ping"), nil)
	hc.close()
	if err != nil || st != http.StatusOK {
		return fmt.Errorf("daemon not ready: status %d: %w", st, err)
	}
	base, err := r.settled()
	if err != nil {
		return err
	}
	r.set(FigRSSStart, float64(base.RSS)/(1<<20))

	if err := r.connect(); err != nil {
		return err
	}
	idle, err := r.settled()
	if err != nil {
		return err
	}
	r.set(FigRSSPerConn, float64(idle.RSS-base.RSS)/float64(cfg.Producers))
	r.heapProfile("idle")

	if err := r.register(); err != nil {
		return err
	}
	full, err := r.settled()
	if err != nil {
		return err
	}
	r.set(FigRSSPerReg, float64(full.RSS-idle.RSS)/float64(lay.Registrations()))
	r.set(FigRSSFull, float64(full.RSS)/(1<<20))
	r.heapProfile("full")
	r.logf("rss: start %.1f MiB, +%d idle conns %.1f MiB, +%d registrations %.1f MiB",
		float64(base.RSS)/(1<<20), cfg.Producers, float64(idle.RSS)/(1<<20), lay.Registrations(), float64(full.RSS)/(1<<20))

	if err := r.validateLookups(); err != nil {
		return err
	}
	if err := r.httpPhases(); err != nil {
		return err
	}

	if err := r.callPhases(); err != nil {
		return err
	}
	if err := r.heartbeat(); err != nil {
		return err
	}
	return r.storm(base.FDs)
}

// connect opens P connections (64 dials at a time) and identifies each.
func (r *runner) connect() error {
	p := r.cfg.Producers
	r.conns = make([]*producerConn, p)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, 64)
	start := time.Now()
	for w := range min(64, p) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= p || r.ctx.Err() != nil {
					return
				}
				c, err := dialProducer(r.proc.TCPAddr, i, r.layout.Identity(i))
				if err != nil {
					errs[w] = fmt.Errorf("producer %d: %w", i, err)
					return
				}
				r.conns[i] = c
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, r.ctx.Err())...); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	el := time.Since(start)
	r.set(FigConnectRate, float64(p)/el.Seconds())
	r.logf("connect+identify: %d conns in %s", p, el.Round(time.Millisecond))
	return nil
}

// register has every producer send its REGISTER commands at once, each on
// its own connection with cfg.Pipeline commands in flight.
func (r *runner) register() error {
	cmds := make([][][]byte, len(r.conns))
	for i := range cmds {
		cmds[i] = r.layout.RegisterCommands(i)
	}
	before, err := r.stats()
	if err != nil {
		return err
	}
	r.profile("register", r.cfg.Duration)
	var wg sync.WaitGroup
	var acked atomic.Int64
	errs := make([]error, len(r.conns))
	gate := make(chan struct{})
	for i, c := range r.conns {
		wg.Go(func() {
			<-gate
			n, err := c.pipeline(cmds[i], r.cfg.Pipeline)
			acked.Add(int64(n))
			if err != nil {
				errs[i] = fmt.Errorf("producer %d: %w", i, err)
			}
		})
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	after, err := r.stats()
	if err != nil {
		return err
	}
	n := acked.Load()
	r.set(FigRegisterRate, float64(n)/el.Seconds())
	r.set(FigRegisterCPU, perOp(after.CPU-before.CPU, n))
	r.logf("register: %d commands in %s (%.0f/s), daemon cpu %s", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), (after.CPU - before.CPU).Round(time.Millisecond))
	return nil
}

func perOp(cpu time.Duration, n int64) float64 {
	if n <= 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

func (r *runner) lookupRequests() [][]byte {
	counts := r.layout.ProducerCounts()
	var reqs [][]byte
	for i, n := range counts {
		if n > 0 {
			reqs = append(reqs, getRequest(r.proc.HTTPAddr, "/lookup?topic="+TopicName(i)))
		}
	}
	return reqs
}

// validateLookups checks a few /lookup answers against the layout.
func (r *runner) validateLookups() error {
	counts := r.layout.ProducerCounts()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xdecade))
	hc := newHTTPConn(r.proc.HTTPAddr)
	defer hc.close()
	for range 5 {
		t := rng.IntN(len(counts))
		for counts[t] == 0 {
			t = (t + 1) % len(counts)
		}
		var out struct {
			Channels  []string          `json:"channels"`
			Producers []json.RawMessage `json:"producers"`
		}
		if err := getJSON(hc, r.proc.HTTPAddr, "/lookup?topic="+TopicName(t), &out); err != nil {
			return err
		}
		if len(out.Producers) != counts[t] || len(out.Channels) != r.cfg.Channels {
			return fmt.Errorf("/lookup %s: %d producers, %d channels; want %d, %d",
				TopicName(t), len(out.Producers), len(out.Channels), counts[t], r.cfg.Channels)
		}
	}
	return nil
}

func getJSON(hc *httpConn, addr, path string, v any) error {
	st, _, body, err := hc.do(getRequest(addr, path), []byte{})
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %.200s", path, st, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: decode: %w", path, err)
	}
	return nil
}

// maxRequestsPerClient bounds each HTTP worker's loop by count as well as
// by time.
const maxRequestsPerClient = 50_000_000

// httpLoad accumulates one kind of HTTP load over its slices.
type httpLoad struct {
	name  string
	reqs  [][]byte
	rngs  []*rand.Rand // one per client, kept across slices
	hist  hist
	count int64
	el    time.Duration
	cpu   time.Duration // daemon
	self  time.Duration // load generator
}

// httpPhases measures /lookup against /ping. Each gets cfg.Duration in
// all, cut into cfg.Slices windows that alternate (lookup, ping, lookup,
// ...), so that both see the same background load on a shared machine and
// their ratio is steadier than that of two separate phases.
func (r *runner) httpPhases() error {
	mk := func(name string, reqs [][]byte, stream uint64) *httpLoad {
		l := &httpLoad{name: name, reqs: reqs}
		for w := range r.cfg.Clients {
			l.rngs = append(l.rngs, rand.New(rand.NewPCG(r.cfg.Seed, stream<<32|uint64(w))))
		}
		return l
	}
	lookup := mk("lookup", r.lookupRequests(), 1)
	ping := mk("ping", [][]byte{getRequest(r.proc.HTTPAddr, "/ping")}, 2)
	slices := r.cfg.Slices
	if r.cfg.ProfileDir != "" {
		slices = 1 // one profile per phase
	}
	slice := r.cfg.Duration / time.Duration(slices)
	for i := range slices {
		for _, l := range []*httpLoad{lookup, ping} {
			if i == 0 {
				r.profile(l.name, r.cfg.Duration)
			}
			if err := r.httpSlice(l, slice); err != nil {
				return err
			}
			if slices == 1 {
				r.heapProfile(l.name)
			}
		}
	}
	for _, l := range []struct {
		l                   *httpLoad
		rate, p50, p99, cpu string
	}{{lookup, FigLookupRate, FigLookupP50, FigLookupP99, FigLookupCPU}, {ping, FigPingRate, FigPingP50, FigPingP99, FigPingCPU}} {
		rate := float64(l.l.count) / l.l.el.Seconds()
		r.set(l.rate, rate)
		r.set(l.p50, float64(l.l.hist.quantile(0.50))/1e3)
		r.set(l.p99, float64(l.l.hist.quantile(0.99))/1e3)
		r.set(l.cpu, perOp(l.l.cpu, l.l.count))
		r.logf("%s: %d requests in %s (%.0f/s) over %d slices, p50 %s p99 %s, daemon cpu %s (%.1fµs/req), load generator cpu %.1fµs/req",
			l.l.name, l.l.count, l.l.el.Round(time.Millisecond), rate, slices, l.l.hist.quantile(0.5), l.l.hist.quantile(0.99),
			l.l.cpu.Round(time.Millisecond), perOp(l.l.cpu, l.l.count), perOp(l.l.self, l.l.count))
	}
	r.set(FigLookupVsPing, r.res.Figures[FigLookupRate]/r.res.Figures[FigPingRate])
	return nil
}

// httpSlice runs cfg.Clients keep-alive clients for d, each sending
// requests picked (seeded) uniformly from l.reqs back to back, and adds
// the requests, latencies and CPU times to l.
func (r *runner) httpSlice(l *httpLoad, d time.Duration) error {
	n := r.cfg.Clients
	hists := make([]hist, n)
	errs := make([]error, n)
	counts := make([]int64, n)
	before, err := r.stats()
	if err != nil {
		return err
	}
	self, _ := proc.ReadStats(os.Getpid())
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var start time.Time
	for w := range n {
		wg.Go(func() {
			rng := l.rngs[w]
			hc := newHTTPConn(r.proc.HTTPAddr)
			defer hc.close()
			if err := hc.dial(); err != nil {
				errs[w] = err
				return
			}
			<-gate
			deadline := start.Add(d)
			h := &hists[w]
			for range maxRequestsPerClient {
				req := l.reqs[rng.IntN(len(l.reqs))]
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				st, nb, _, err := hc.do(req, nil)
				if err != nil {
					errs[w] = err
					return
				}
				if st != http.StatusOK || nb == 0 {
					errs[w] = fmt.Errorf("status %d, %d body bytes for %q", st, nb, req[:min(len(req), 60)])
					return
				}
				h.add(time.Since(t0))
				counts[w]++
			}
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s phase: %w", l.name, err)
	}
	after, err := r.stats()
	if err != nil {
		return err
	}
	selfAfter, _ := proc.ReadStats(os.Getpid())
	for w := range n {
		l.hist.merge(&hists[w])
		l.count += counts[w]
	}
	l.el += el
	l.cpu += after.CPU - before.CPU
	l.self += selfAfter.CPU - self.CPU
	return nil
}

// callPhases times /topics, /channels and /nodes calls, one at a time on
// one connection, checking the first answer of each against the layout.
func (r *runner) callPhases() error {
	addr := r.proc.HTTPAddr
	lay := r.layout
	topicsReq := getRequest(addr, "/topics")
	err := r.calls("topics", FigTopicsFirst, FigTopicsMs, r.cfg.Calls, func(int) []byte { return topicsReq }, func(b []byte) error {
		var out struct {
			Topics []string `json:"topics"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		if want := lay.UsedTopics(); len(out.Topics) != want {
			return fmt.Errorf("%d topics, want %d", len(out.Topics), want)
		}
		return nil
	})
	if err != nil {
		return err
	}

	used := r.lookupRequests() // one per used topic, in topic order
	names := make([]string, 0, len(used))
	for i, n := range lay.ProducerCounts() {
		if n > 0 {
			names = append(names, TopicName(i))
		}
	}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xc4a77e1))
	err = r.calls("channels", FigChannelsFirst, FigChannelsMs, r.cfg.Calls, func(int) []byte {
		return getRequest(addr, "/channels?topic="+names[rng.IntN(len(names))])
	}, func(b []byte) error {
		var out struct {
			Channels []string `json:"channels"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		if len(out.Channels) != lay.Channels {
			return fmt.Errorf("%d channels, want %d", len(out.Channels), lay.Channels)
		}
		return nil
	})
	if err != nil {
		return err
	}

	if r.cfg.NodesCalls == 0 {
		r.logf("nodes: skipped")
		return nil
	}
	nodesReq := getRequest(addr, "/nodes")
	return r.calls("nodes", FigNodesFirst, FigNodesMs, r.cfg.NodesCalls, func(int) []byte { return nodesReq }, func(b []byte) error {
		var out struct {
			Producers []struct {
				Topics []string `json:"topics"`
			} `json:"producers"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return err
		}
		if len(out.Producers) != lay.Producers {
			return fmt.Errorf("%d producers, want %d", len(out.Producers), lay.Producers)
		}
		for i, p := range out.Producers {
			if len(p.Topics) != lay.Topics {
				return fmt.Errorf("producer %d lists %d topics, want %d", i, len(p.Topics), lay.Topics)
			}
		}
		return nil
	})
}

// calls issues up to maxCalls sequential calls (at least one, none started
// after cfg.CallBudget), validating the first body, and records the first
// call's latency and the median.
func (r *runner) calls(name, firstKey, medKey string, maxCalls int, req func(i int) []byte, validate func([]byte) error) error {
	hc := newHTTPConn(r.proc.HTTPAddr)
	defer hc.close()
	if err := hc.dial(); err != nil {
		return err
	}
	var h hist
	var first time.Duration
	start := time.Now()
	n := 0
	for i := range maxCalls {
		if i > 0 && (time.Since(start) > r.cfg.CallBudget || r.ctx.Err() != nil) {
			break
		}
		var buf []byte
		if i == 0 {
			buf = []byte{}
		}
		rq := req(i)
		t0 := time.Now()
		st, nb, body, err := hc.do(rq, buf)
		d := time.Since(t0)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if st != http.StatusOK || nb == 0 {
			return fmt.Errorf("%s: status %d", name, st)
		}
		if i == 0 {
			first = d
			if err := validate(body); err != nil {
				return fmt.Errorf("%s: wrong answer: %w", name, err)
			}
		}
		h.add(d)
		n++
	}
	r.set(firstKey, float64(first)/1e6)
	r.set(medKey, float64(h.quantile(0.5))/1e6)
	r.logf("%s: %d calls, first %s, median %s", name, n, first.Round(time.Microsecond), h.quantile(0.5).Round(time.Microsecond))
	return nil
}

// heartbeat has every connection PING back to back (one PING in flight per
// connection) for cfg.Duration.
func (r *runner) heartbeat() error {
	before, err := r.stats()
	if err != nil {
		return err
	}
	r.profile("heartbeat", r.cfg.Duration)
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make([]error, len(r.conns))
	gate := make(chan struct{})
	var start time.Time
	for i, c := range r.conns {
		wg.Go(func() {
			<-gate
			deadline := start.Add(r.cfg.Duration)
			n := int64(0)
			for range maxRequestsPerClient {
				if !time.Now().Before(deadline) {
					break
				}
				if err := c.ping(); err != nil {
					errs[i] = fmt.Errorf("producer %d: %w", i, err)
					break
				}
				n++
			}
			total.Add(n)
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	after, err := r.stats()
	if err != nil {
		return err
	}
	n := total.Load()
	r.set(FigHeartbeatRate, float64(n)/el.Seconds())
	r.set(FigHeartbeatCPU, perOp(after.CPU-before.CPU, n))
	r.logf("heartbeat: %d pings in %s (%.0f/s), daemon cpu %s", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), (after.CPU - before.CPU).Round(time.Millisecond))
	return nil
}

// storm closes every producer connection at once and waits until /nodes
// lists no producer. To keep the probe from loading the daemon, /nodes is
// only asked once the daemon's open descriptors are back near what they
// were before the producers connected (a handler closes its socket only
// after removing the producer, in both daemons); the answer of /nodes
// decides. It records the elapsed time and the daemon's CPU time.
func (r *runner) storm(baseFDs int) error {
	before, err := r.stats()
	if err != nil {
		return err
	}
	start := time.Now()
	for i, c := range r.conns {
		c.close()
		r.conns[i] = nil
	}
	deadline := start.Add(r.cfg.StormTimeout)
	hc := newHTTPConn(r.proc.HTTPAddr)
	defer hc.close()
	nodesReq := getRequest(r.proc.HTTPAddr, "/nodes")
	probes := 0
	for {
		if time.Now().After(deadline) {
			return fmt.Errorf("disconnect storm: /nodes not empty after %s", r.cfg.StormTimeout)
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		st, err := r.stats()
		if err != nil {
			return err
		}
		if st.FDs <= baseFDs+4 {
			probes++
			code, _, body, err := hc.do(nodesReq, []byte{})
			hc.close() // a fresh connection per probe keeps the descriptor count honest
			if err != nil {
				return fmt.Errorf("disconnect storm: %w", err)
			}
			var out struct {
				Producers []json.RawMessage `json:"producers"`
			}
			if code != http.StatusOK || json.Unmarshal(body, &out) != nil {
				return fmt.Errorf("disconnect storm: /nodes status %d: %.200s", code, body)
			}
			if len(out.Producers) == 0 {
				break
			}
		}
		if err := proc.Sleep(r.ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
	el := time.Since(start)
	after, err := r.stats()
	if err != nil {
		return err
	}
	cpu := after.CPU - before.CPU
	r.set(FigStormMs, float64(el)/1e6)
	r.set(FigStormCPUMs, float64(cpu)/1e6)
	r.logf("disconnect storm: /nodes empty after %s (%d probes), daemon cpu %s", el.Round(time.Millisecond), probes, cpu.Round(time.Millisecond))
	return nil
}

// heapProfile saves, if cfg.ProfileDir is set, the daemon's heap profile
// (without forcing a collection) to <dir>/<kind>-heap-<label>.pprof. It
// runs after the memory reading it accompanies.
func (r *runner) heapProfile(label string) {
	if r.cfg.ProfileDir == "" {
		return
	}
	r.download(fmt.Sprintf("%s-heap-%s.pprof", r.proc.Kind, label), "/debug/pprof/heap")
	r.prof.Wait()
}

// profile starts, if cfg.ProfileDir is set, a CPU profile of the daemon for
// d (rounded up to whole seconds) written to <dir>/<kind>-<phase>.pprof.
func (r *runner) profile(phase string, d time.Duration) {
	if r.cfg.ProfileDir == "" {
		return
	}
	// Only one CPU profile can run at a time: let the previous phase's
	// finish (it may outlast its phase by up to a second).
	r.prof.Wait()
	secs := int((d + time.Second - 1) / time.Second)
	r.download(fmt.Sprintf("%s-%s.pprof", r.proc.Kind, phase), fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs))
}

// download fetches path from the daemon in the background into file in
// cfg.ProfileDir; Run waits for it.
func (r *runner) download(file, path string) {
	r.prof.Go(func() {
		err := func() error {
			hc := newHTTPConn(r.proc.HTTPAddr)
			defer hc.close()
			st, _, body, err := hc.do(getRequest(r.proc.HTTPAddr, path), []byte{})
			if err != nil {
				return err
			}
			if st != http.StatusOK {
				return fmt.Errorf("status %d", st)
			}
			if err := os.MkdirAll(r.cfg.ProfileDir, 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(r.cfg.ProfileDir, file), body, 0o644)
		}()
		if err != nil {
			r.profMu.Lock()
			r.profEr = errors.Join(r.profEr, fmt.Errorf("profile %s: %w", file, err))
			r.profMu.Unlock()
		}
	})
}
