package clientmerge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Watch follows q and calls fn whenever the merged answer changes (what
// counts as a change is documented with each Query constructor). The
// first answer that carries data is always delivered. Partial and stale
// answers carry data too (see Meta.Stale); an update that yields no data
// delivers nothing and the last delivered answer stays in force.
//
// Watch keeps one loop per lookupd, each with that lookupd's last answer:
//   - A lookupd whose answers carry X-Lookupd-Index (ours) is asked with
//     blocking queries: each request names the index of the last answer
//     and returns when the answer changes, so a change seen by any lookupd
//     reaches fn within about one round trip, or after a wait of
//     WithBlockingWait or interval, whichever is smaller. A lookupd that
//     hangs is therefore found out, and its answer dropped, as soon as
//     polling would find it out.
//   - A lookupd without it (nsqlookupd) is polled every interval, with
//     ±10% random jitter so that many watchers do not poll in step.
//   - A lookupd that answers a blocking query at once without a change
//     (it holds too many, or it is shutting down) is asked again after the
//     backoff of a failing one, below.
//   - A lookupd that fails is asked again after a backoff that starts at
//     100 ms and doubles up to the smaller of interval and 30 s, with
//     random jitter, and then with index 0 (a plain request).
//
// After every change of any lookupd's answer (or of whether it answers),
// Watch merges the latest answers as the query methods do: the lookupds
// that currently fail count as failed for WithMinResponses, partial
// errors and the snapshot fallback. The first merge waits until every
// lookupd has answered or failed once, or the Client's timeout has passed.
// When names among the lookupd addresses resolve to other lookupds (every
// WithDNSRefresh), the loops follow: a lookupd that leaves is dropped
// from the merge at once, one that joins is merged once it answers.
// Meta.Responses holds each lookupd's latest outcome; the Latency of a
// blocking query includes its wait. Errors are logged through the
// Client's logger (once per change of the set of failing lookupds), not
// returned.
//
// fn runs on the caller's goroutine and owns the result. A lookupd's loop
// asks again only after the merge of its previous answer has been
// delivered, so a slow fn slows the loops rather than queueing results;
// no change is lost, since a blocking query naming an outdated index is
// answered at once. Watch blocks until ctx ends and then returns
// ctx.Err(); no goroutine it started outlives it. It returns an error at
// once for a nil Client, an invalid Query (an empty topic gives
// ErrEmptyTopic), a non-positive interval or a nil fn.
func Watch[R any](ctx context.Context, c *Client, q Query[R], interval time.Duration, fn func(*R)) error {
	switch err := q.valid(); {
	case err != nil:
		return fmt.Errorf("watch %w", err)
	case c == nil:
		return errors.New("watch: nil client")
	case interval <= 0:
		return errors.New("watch: interval must be positive")
	case fn == nil:
		return errors.New("watch: nil callback")
	}
	log := c.logger.With("query", q.name)
	if q.topic != "" {
		log = log.With("topic", q.topic)
	}
	return q.watch(ctx, c, log, interval, fn)
}

// Backoff of a failing lookupd in Watch.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 30 * time.Second
)

// errNoAnswerYet is the Err of a lookupd that has not answered Watch's
// first request by the time of the first merge.
var errNoAnswerYet = fmt.Errorf("no answer yet: %w", context.DeadlineExceeded)

// update is one lookupd's new outcome, sent by its loop to the merge.
// The loop waits on done before asking again.
type update[T any] struct {
	addr string // the lookupd's target address
	resp Response
	body T
	done chan struct{}
}

// watcher is the state of one Watch.
type watcher[T, R any] struct {
	c        *Client
	s        spec[T, R]
	state    func(*R) []string
	interval time.Duration
	wait     time.Duration // of blocking queries; 0: none
	log      *slog.Logger
	updates  chan update[T]
	wg       sync.WaitGroup // the loops
}

// lookupdState is the merge's view of one lookupd.
type lookupdState[T any] struct {
	resp   Response
	body   T
	heard  bool               // answered or failed at least once
	cancel context.CancelFunc // ends its loop; nil for a name that never resolved
}

// watchSpec is Watch for one spec.
func watchSpec[T, R any](ctx context.Context, c *Client, s spec[T, R], state func(*R) []string,
	log *slog.Logger, interval time.Duration, fn func(*R)) error {
	w := &watcher[T, R]{c: c, s: s, state: state, interval: interval, log: log, updates: make(chan update[T]),
		wait: min(c.blockingWait, interval)}
	ctx, cancel := context.WithCancel(ctx)
	defer w.wg.Wait()
	defer cancel()
	return w.merge(ctx, fn)
}

// merge owns every lookupd's latest outcome: it starts and stops a loop
// per lookupd as the Client's list of lookupds changes (names are resolved
// again every WithDNSRefresh), merges the outcomes after each update and
// delivers changes to fn.
func (w *watcher[T, R]) merge(ctx context.Context, fn func(*R)) error {
	states := make(map[string]*lookupdState[T])
	var (
		order     []string // target addresses, in the Client's order
		ready     bool
		last      []string
		delivered bool
		failing   string
		acks      []chan struct{}
	)
	// follow starts a loop for each lookupd that joined the list and stops
	// the loops of those that left; it reports whether one left.
	follow := func() bool {
		ts := w.c.lookupds.targets(ctx, w.c)
		left := false
		keep := make(map[string]bool, len(ts))
		order = order[:0]
		for _, t := range ts {
			keep[t.addr] = true
			order = append(order, t.addr)
			if states[t.addr] != nil {
				continue
			}
			st := &lookupdState[T]{resp: Response{Addr: t.addr, Err: errNoAnswerYet}}
			if t.err != nil {
				st.resp.Err, st.heard = t.err, true
			} else {
				lctx, stop := context.WithCancel(ctx)
				st.cancel = stop
				w.wg.Go(func() { w.loop(lctx, t) })
			}
			states[t.addr] = st
		}
		for addr, st := range states {
			if !keep[addr] {
				if st.cancel != nil {
					st.cancel()
				}
				delete(states, addr)
				left = true
			}
		}
		return left
	}
	follow()
	var refresh <-chan time.Time
	if w.c.lookupds.names != nil {
		t := time.NewTicker(w.c.lookupds.refresh)
		defer t.Stop()
		refresh = t.C
	}
	first := time.NewTimer(w.c.timeout)
	defer first.Stop()
	apply := func(u update[T]) {
		acks = append(acks, u.done)
		if st := states[u.addr]; st != nil {
			st.body, st.resp, st.heard = u.body, u.resp, true
		}
	}
	for {
		changed := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case u := <-w.updates:
			apply(u)
			changed = true
		case <-first.C:
			ready, changed = true, true
		case <-refresh:
			// A lookupd that joins is merged once it answers.
			changed = follow()
		}
		// Take whatever else has arrived: one merge for a change that
		// several lookupds report together.
	drain:
		for {
			select {
			case u := <-w.updates:
				apply(u)
				changed = true
			default:
				break drain
			}
		}
		if !ready {
			ready = true
			for _, st := range states {
				ready = ready && st.heard
			}
		}
		if ready && changed {
			bodies := make([]T, len(order))
			resps := make([]Response, len(order))
			for i, addr := range order {
				bodies[i], resps[i] = states[addr].body, states[addr].resp
			}
			// The snapshot is kept only when the answer changed, not on
			// every merge: most merges repeat what another lookupd
			// already reported.
			res, err := combine(w.c, w.s, bodies, resps, false)
			failing = logPollError(w.log, failing, err)
			if res != nil {
				if st := w.state(res); !delivered || !slices.Equal(st, last) {
					last, delivered = slices.Clone(st), true
					if w.c.snaps != nil && !w.s.meta(res).Stale {
						w.c.snaps.put(w.s.key, w.s.clone(res))
					}
					fn(res)
				}
			}
		}
		for _, a := range acks {
			a <- struct{}{}
		}
		acks = acks[:0]
	}
}

// loop asks lookupd t again and again, with blocking queries while it
// supports them, and sends each change of its outcome to merge.
func (w *watcher[T, R]) loop(ctx context.Context, t target) {
	done := make(chan struct{}, 1)
	var (
		index   uint64 // of the last answer; 0: ask without index
		backoff time.Duration
		prevErr error
		first   = true
	)
	for {
		var body T
		start := time.Now()
		g, err := w.ask(ctx, t, index, &body)
		if ctx.Err() != nil {
			return
		}
		resp := Response{Addr: t.addr, Err: err, Latency: time.Since(start), TopicNotFound: g.notFound}
		var report bool
		if err != nil {
			report = first || prevErr == nil
		} else {
			report = first || prevErr != nil || g.index == 0 || g.index != index
		}
		if report {
			select {
			case w.updates <- update[T]{addr: t.addr, resp: resp, body: body, done: done}:
			case <-ctx.Done():
				return
			}
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
		var pause time.Duration
		switch {
		case err != nil:
			index = 0
			backoff = nextBackoff(backoff, w.interval)
			pause = backoff/2 + rand.N(backoff/2+1)
		case g.index == 0 || w.wait == 0:
			// No blocking queries: poll.
			index, backoff = 0, 0
			pause = jitter(w.interval)
		case index != 0 && g.index == index && time.Since(start) < w.wait/2:
			// Answered at once without a change: the lookupd did not
			// block, because it holds too many queries or because it is
			// shutting down (it then answers every waiter at once). Ask
			// again as after a failure: after its backoff, so that a
			// lookupd restarted meanwhile is followed again within a
			// fraction of a second while a capped one is asked at most
			// about once per interval in the end; and at index 0, since
			// a restarted lookupd's counter started over and may name
			// its new answer with the old index.
			index = 0
			backoff = nextBackoff(backoff, w.interval)
			pause = backoff/2 + rand.N(backoff/2+1)
		default:
			index, backoff = g.index, 0
		}
		prevErr, first = err, false
		if pause > 0 {
			timer := time.NewTimer(pause)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
		}
	}
}

// ask sends one request to lookupd t: a blocking query when index is not
// 0, bounded by its wait plus the lookupd's jitter plus the Client's
// timeout, else a plain one bounded by the timeout.
func (w *watcher[T, R]) ask(ctx context.Context, t target, index uint64, dst *T) (got, error) {
	url := t.base + w.s.pathQuery
	timeout := w.c.timeout
	if index != 0 && w.wait > 0 {
		sep := "?"
		if strings.Contains(w.s.pathQuery, "?") {
			sep = "&"
		}
		url += sep + "index=" + strconv.FormatUint(index, 10) + "&wait=" + w.wait.String()
		timeout += w.wait + w.wait/16
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return w.c.get(ctx, w.c.watchHTTP, url, w.s.notFoundOK, dst)
}

// nextBackoff doubles prev, from minBackoff up to the smaller of interval
// and maxBackoff.
func nextBackoff(prev, interval time.Duration) time.Duration {
	ceiling := max(minBackoff, min(interval, maxBackoff))
	if prev == 0 {
		return min(minBackoff, ceiling)
	}
	return min(2*prev, ceiling)
}

// logPollError logs err when the set of failing lookupds differs from the
// previous merge's (prev) and returns the new set's signature.
func logPollError(log *slog.Logger, prev string, err error) string {
	var sig string
	var failed []*LookupdError
	var pe *PartialError
	var ue *UnavailableError
	switch {
	case err == nil:
	case errors.As(err, &pe):
		failed = pe.Failed
	case errors.As(err, &ue):
		failed = ue.Failed
		sig = "unavailable"
	default:
		sig = "error"
	}
	for _, f := range failed {
		sig += "\x00" + f.Addr
	}
	if sig == prev {
		return sig
	}
	switch {
	case err == nil:
		log.Info("all lookupds answering")
	default:
		var se *StaleError
		log.Warn("lookupds failing", "err", err, "stale", errors.As(err, &se))
	}
	return sig
}

// jitter returns d ±10%, chosen at random.
func jitter(d time.Duration) time.Duration {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - spread/2 + rand.N(spread+1)
}
