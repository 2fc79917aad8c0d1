package clientmerge

import (
	"testing"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
)

// newClient builds a Client for the tests, logging to the test's output
// and failing the test on error.
func newClient(t *testing.T, addrs []string, opts ...Option) *Client {
	t.Helper()
	c, err := New(addrs, append([]Option{WithLogger(cmtest.Logger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}
