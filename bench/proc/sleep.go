package proc

import (
	"context"
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
