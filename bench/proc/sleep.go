package proc

import (
	"context"
	"fmt"
	"time"
)

// Sleep waits d, or until ctx ends, whichever is first. It returns nil
// when d passed and ctx.Err() when ctx ended first. It paces loops (polls,
// retries); it never stands in for waiting on a condition.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitUntil calls cond every interval until it holds, ctx ends or timeout
// passes. It returns nil once cond holds, ctx.Err() when ctx ended first,
// and an error naming what and timeout when time ran out. cond runs on
// the caller's goroutine.
func WaitUntil(ctx context.Context, timeout, interval time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		if err := Sleep(ctx, interval); err != nil {
			return err
		}
	}
	return nil
}
