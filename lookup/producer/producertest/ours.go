package producertest

import (
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

func init() {
	extraKinds = append(extraKinds, Kind{Name: "lookupd", Start: StartOurs})
}

// StartOurs starts this project's lookupd in-process (lookup/lookuptest).
func StartOurs(t testing.TB, tcpAddr string) *Daemon {
	t.Helper()
	opts := lookuptest.Options(t)
	if tcpAddr != "" {
		opts.TCPAddress = tcpAddr
	}
	ld := lookuptest.StartDaemon(t, opts)
	d := &Daemon{
		Kind:     "lookupd",
		TCPAddr:  ld.TCPAddr().String(),
		HTTPAddr: ld.HTTPAddr().String(),
		stop:     ld.Stop,
	}
	t.Cleanup(d.Stop)
	return d
}
