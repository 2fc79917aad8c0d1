package clientmerge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// Watch asks q through c every interval and calls fn whenever the merged
// answer changes (what counts as a change is documented with each Query
// constructor). The first answer that carries data is always delivered.
// Partial and stale answers carry data too (see Meta.Stale); a poll that
// yields no data delivers nothing and the last delivered answer stays in
// force.
//
// The first poll is immediate, the next ones follow interval apart with
// ±10% random jitter, so that many watchers do not poll in step. Each poll
// is one call with the Client's timeout (WithTimeout). Poll errors are
// logged through the Client's logger (once per change of the set of
// failing lookupds), not returned.
//
// fn runs on the caller's goroutine and owns the result; the next poll
// waits for it to return. Watch blocks until ctx ends and then returns
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
	var (
		last      []string
		delivered bool
		failing   string
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		res, err := q.run(c, ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failing = logPollError(log, failing, err)
		if res != nil {
			if st := q.state(res); !delivered || !slices.Equal(st, last) {
				last, delivered = slices.Clone(st), true
				fn(res)
			}
		}
		timer.Reset(jitter(interval))
	}
}

// logPollError logs err when the set of failing lookupds differs from the
// previous poll's (prev) and returns the new set's signature.
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
		log.Warn("poll failed", "err", err, "stale", errors.As(err, &se))
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
