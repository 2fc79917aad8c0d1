//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
)

// This file holds the probes: the goroutines that observe the cluster (a
// poller per lookupd, a clientmerge watcher per topic, the union check,
// the resource sampler, the stall detector) and hand what they see to the
// rules as events. They judge nothing themselves.

// stallClock is the stall detector's clock: when it last ticked. The
// detector writes it; every probe reads it, without a lock, so that a
// stall shows even while the detector itself is starved.
type stallClock struct{ last atomic.Int64 }

// tick records a tick at now and returns the previous one.
func (c *stallClock) tick(now time.Time) time.Time {
	return time.Unix(0, c.last.Swap(now.UnixNano()))
}

// since returns how long before now the detector last ticked.
func (c *stallClock) since(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, c.last.Load()))
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// startProbes starts every probe but the stall detector (which runs from
// the start of Run); they end with ctx and h.bg waits for them.
func (h *harness) startProbes(ctx context.Context) {
	for i := range h.lookupds {
		h.bg.Go(func() { every(ctx, h.cfg.PollInterval, func() { h.pollLookupd(ctx, i) }) })
	}
	for _, topic := range h.topics {
		h.bg.Go(func() { h.watch(ctx, topic) })
	}
	h.bg.Go(func() {
		every(ctx, h.cfg.PollInterval/2, func() { h.event(unionChecked{sinceTick: h.ticks.since(time.Now())}) })
	})
	h.bg.Go(func() { every(ctx, time.Second, func() { h.sample(ctx) }) })
}

// stallLoop detects stalls of the harness process itself: a tick of the
// detector later than stallThreshold (another process hogging the CPU).
// The rules treat a stall as a fault (see stalled).
func (h *harness) stallLoop(ctx context.Context) {
	every(ctx, stallTick, func() {
		now := time.Now()
		last := h.ticks.tick(now)
		if gap := now.Sub(last); gap > stallThreshold {
			h.event(stalled{since: last})
			h.log.Warn("harness stalled", "for", gap.Round(time.Millisecond))
		}
	})
}

// pollLookupd polls lookupd i's /lookup for every topic, if it answers.
func (h *harness) pollLookupd(ctx context.Context, i int) {
	h.mu.Lock()
	answering, base := h.rules.lookupds[i].answering(), h.lookupds[i].httpAddr
	t0 := time.Now() // taken under h.mu: later changes are timed after it
	h.mu.Unlock()
	if !answering {
		return
	}
	answers, err := h.fetchAll(ctx, base)
	t1 := time.Now()
	if ctx.Err() != nil {
		return
	}
	h.event(polled{lookupd: i, t0: t0, t1: t1, answers: answers, err: err, sinceTick: h.ticks.since(time.Now())})
}

// watch runs the clientmerge watcher of one topic until ctx ends.
func (h *harness) watch(ctx context.Context, topic string) {
	_ = clientmerge.Watch(ctx, h.merge, clientmerge.LookupQuery(topic), h.cfg.PollInterval, func(res *clientmerge.LookupResult) {
		v := lookupAnswer{producers: map[string]bool{}, channels: map[string]bool{}}
		for _, p := range res.Producers {
			v.producers[p.TCPAddr()] = true
		}
		for _, c := range res.Channels {
			v.channels[c] = true
		}
		h.event(viewed{topic: topic, view: v, sinceTick: h.ticks.since(time.Now())})
	})
}

// sample reads the resident set of every running process and the
// goroutines of every answering lookupd, then checks the exits.
func (h *harness) sample(ctx context.Context) {
	type target struct {
		name, base         string
		proc               *proc.Process
		lookupd, answering bool
	}
	var targets []target
	h.mu.Lock()
	for i, ln := range h.lookupds {
		if st := h.rules.lookupds[i]; st.running {
			targets = append(targets, target{name: ln.name, base: ln.httpAddr, proc: ln.proc, lookupd: true, answering: st.answering()})
		}
	}
	for id, p := range h.producers {
		if h.rules.producers[id].live() {
			targets = append(targets, target{name: p.name, proc: p.proc})
		}
	}
	h.mu.Unlock()
	for _, tg := range targets {
		if tg.proc.Exited() {
			continue
		}
		if st, err := tg.proc.Stats(); err == nil {
			h.event(rssSampled{name: tg.name, lookupd: tg.lookupd, rss: st.RSS})
		}
		if tg.lookupd && tg.answering {
			g, err := h.scrapeGauge(ctx, tg.base, "go_goroutines")
			if err != nil {
				continue // an unanswered query is the pollers' business
			}
			h.event(goroutinesSampled{name: tg.name, n: int(g)})
		}
	}
	h.checkExits()
}

// checkExits hands every process that exited since the last call to the
// rules.
func (h *harness) checkExits() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.procs {
		if h.exitSeen[p] || !p.Exited() {
			continue
		}
		h.exitSeen[p] = true
		err := p.CheckExit()
		if err != nil {
			err = fmt.Errorf("%w; last output:\n%s", err, p.Tail(8))
		}
		h.eventLocked(exited{err: err})
	}
}

// compareAll asks every lookupd for every topic and returns how the
// answers differ from the ground truth (see rules.diff), with the
// lookupds that did not answer; nil when all match.
func (h *harness) compareAll(ctx context.Context) []string {
	h.mu.Lock()
	var bases []string
	for _, ln := range h.lookupds {
		bases = append(bases, ln.httpAddr)
	}
	h.mu.Unlock()
	var failed []string
	all := make([]map[string]lookupAnswer, len(bases))
	for i, base := range bases {
		a, err := h.fetchAll(ctx, base)
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", lookupdName(i), err))
			continue
		}
		all[i] = a
	}
	h.mu.Lock()
	diffs := h.rules.diff(all)
	h.mu.Unlock()
	diffs = append(diffs, failed...)
	slices.Sort(diffs)
	return diffs
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

// fetchLookup asks one lookupd for topic; 404 TOPIC_NOT_FOUND is an empty
// answer.
func (h *harness) fetchLookup(ctx context.Context, base, topic string) (lookupAnswer, error) {
	body, status, err := h.get(ctx, base, "/lookup?topic="+url.QueryEscape(topic), 16<<20)
	if err != nil {
		return lookupAnswer{}, err
	}
	switch status {
	case http.StatusOK:
	case http.StatusNotFound:
		if strings.Contains(string(body), "TOPIC_NOT_FOUND") {
			return lookupAnswer{producers: map[string]bool{}, channels: map[string]bool{}}, nil
		}
		fallthrough
	default:
		return lookupAnswer{}, fmt.Errorf("lookup %s on %s: status %d: %.100s", topic, base, status, body)
	}
	a, err := decodeLookup(body)
	if err != nil {
		return lookupAnswer{}, fmt.Errorf("lookup %s on %s: %w", topic, base, err)
	}
	return a, nil
}

// decodeLookup decodes a /lookup answer: its channels and its producers'
// broadcast_address:tcp_port.
func decodeLookup(body []byte) (lookupAnswer, error) {
	var lb struct {
		Channels  []string `json:"channels"`
		Producers []struct {
			BroadcastAddress string `json:"broadcast_address"`
			TCPPort          int    `json:"tcp_port"`
		} `json:"producers"`
	}
	if err := json.Unmarshal(body, &lb); err != nil {
		return lookupAnswer{}, fmt.Errorf("decode: %w", err)
	}
	a := lookupAnswer{producers: map[string]bool{}, channels: map[string]bool{}}
	for _, c := range lb.Channels {
		a.channels[c] = true
	}
	for _, p := range lb.Producers {
		a.producers[net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.TCPPort))] = true
	}
	return a, nil
}

// scrapeGauge reads one unlabelled metric from GET /metrics.
func (h *harness) scrapeGauge(ctx context.Context, base, name string) (float64, error) {
	body, status, err := h.get(ctx, base, "/metrics", 4<<20)
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("metrics on %s: status %d", base, status)
	}
	return parseMetric(string(body), name)
}

// get performs GET path on base and returns at most limit bytes of the
// body, and the status.
func (h *harness) get(ctx context.Context, base, path string, limit int64) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+base+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := h.httpc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	return body, resp.StatusCode, err
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
