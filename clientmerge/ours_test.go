package clientmerge

import (
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// Our lookupd, in process on 127.0.0.1:0, runs every scenario that
// nsqlookupd runs.
func init() {
	startOurs = func(t *testing.T) *testLookupd {
		t.Helper()
		d := lookuptest.StartDaemon(t, nil)
		return &testLookupd{TCPAddr: d.TCPAddr().String(), HTTPAddr: d.HTTPAddr().String(), stop: d.Stop}
	}
}
