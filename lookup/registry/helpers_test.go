package registry_test

import (
	"slices"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Test settings: short timeouts keep the numbers readable.
const (
	testInactive  = 10 * time.Second
	testTombstone = 4 * time.Second
)

// env is a DB under test with its clock.
type env struct {
	db  *registry.DB
	clk *fakeclock.Clock
}

func newEnv(maxRegs int) *env {
	clk := fakeclock.New()
	db := registry.New(registry.Options{
		InactiveTimeout:             testInactive,
		TombstoneLifetime:           testTombstone,
		MaxRegistrationsPerProducer: maxRegs,
		Now:                         clk.Now,
	})
	return &env{db: db, clk: clk}
}

// infoFor is the ProducerInfo a test producer id identifies with: broadcast
// address "host-<id>", node "host-<id>:4151".
func infoFor(id string) wire.ProducerInfo {
	return wire.ProducerInfo{
		RemoteAddress:    "192.0.2.1:" + id,
		Hostname:         "hostname-" + id,
		BroadcastAddress: "host-" + id,
		TCPPort:          4150,
		HTTPPort:         4151,
		Version:          "1.3.0",
	}
}

func nodeOf(id string) string { return "host-" + id + ":4151" }

func producerIDs(ps []registry.Producer) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func compareInfo(a, b wire.ProducerInfo) int {
	switch {
	case a.BroadcastAddress != b.BroadcastAddress:
		return cmpStr(a.BroadcastAddress, b.BroadcastAddress)
	case a.TCPPort != b.TCPPort:
		return a.TCPPort - b.TCPPort
	case a.HTTPPort != b.HTTPPort:
		return a.HTTPPort - b.HTTPPort
	default:
		return cmpStr(a.RemoteAddress, b.RemoteAddress)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func isSortedUnique(s []string) bool {
	return slices.IsSorted(s) && len(slices.Compact(slices.Clone(s))) == len(s)
}
