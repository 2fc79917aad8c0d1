package producertest

import (
	"context"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/producer"
)

// StartClient creates a producer.Client from cfg and starts it, failing the
// test if either fails; the test's cleanup closes it, allowing 5 s, and
// reports a Close error. Call it from the test goroutine.
func StartClient(t testing.TB, cfg producer.Config) *producer.Client {
	t.Helper()
	c, err := producer.New(cfg)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("start client: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("close client: %v", err)
		}
	})
	return c
}
