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

// Watch polls Lookup for topic and calls fn whenever the merged producer
// set (the producers' TCPAddrs) differs from the one fn last saw. The first
// result that carries data is always delivered. Partial and stale results
// carry data too (see LookupResult.Stale); a poll that yields no data
// delivers nothing and the last delivered set stays in force.
//
// The first poll is immediate, the next ones follow interval apart with
// ±10% random jitter, so that many watchers do not poll in step. Poll
// errors are logged (once per change of the set of failing lookupds), not
// returned.
//
// fn runs on the caller's goroutine and owns the result; the next poll
// waits for it to return. Watch blocks until ctx ends and then returns
// ctx.Err(); no goroutine it started outlives it. It returns an error at
// once for an empty topic, a non-positive interval or a nil fn.
func (c *Client) Watch(ctx context.Context, topic string, interval time.Duration, fn func(*LookupResult)) error {
	if fn == nil {
		return errors.New("watch: nil callback")
	}
	var last []string
	delivered := false
	return c.poll(ctx, topic, interval, func(res *LookupResult) {
		keys := producerAddrs(res.Producers, nil)
		if delivered && slices.Equal(keys, last) {
			return
		}
		last, delivered = keys, true
		fn(res)
	})
}

// poll is the loop behind Watch and Bridge: it calls each with every
// result that carries data.
func (c *Client) poll(ctx context.Context, topic string, interval time.Duration, each func(*LookupResult)) error {
	if topic == "" {
		return fmt.Errorf("watch: %w", ErrEmptyTopic)
	}
	if interval <= 0 {
		return errors.New("watch: interval must be positive")
	}
	log := c.logger.With("topic", topic)
	var failing string
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		res, err := c.Lookup(ctx, topic)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		failing = logPollError(log, failing, err)
		if res != nil {
			each(res)
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
		log.Warn("lookup poll failed", "err", err, "stale", errors.As(err, &se))
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

// producerAddrs appends the producers' TCPAddrs (already sorted, as the
// producers are) to dst.
func producerAddrs(ps []Producer, dst []string) []string {
	for i := range ps {
		dst = append(dst, ps[i].TCPAddr())
	}
	return dst
}
