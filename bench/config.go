package bench

import (
	"errors"
	"fmt"
	"time"
)

// Config is one scale and set of phase bounds. Every loop the harness runs
// is bounded by a count and by time derived from these fields.
type Config struct {
	Producers int `json:"producers"` // P: TCP connections, one per producer
	Topics    int `json:"topics"`    // T: topics per producer
	Channels  int `json:"channels"`  // C: channels per topic
	Share     int `json:"share"`     // about this many producers carry each topic (see Layout)

	Clients  int           `json:"clients"`  // N: keep-alive HTTP clients in the /lookup and /ping phases
	Duration time.Duration `json:"duration"` // length of the /lookup, /ping and heartbeat phases each
	Slices   int           `json:"slices"`   // /lookup and /ping alternate in this many windows each
	Seed     uint64        `json:"seed"`     // seeds the topic choice of the HTTP clients
	Pipeline int           `json:"pipeline"` // REGISTER commands in flight per connection (1: one at a time)

	Calls      int           `json:"calls"`       // at most this many /topics and /channels calls
	NodesCalls int           `json:"nodes_calls"` // at most this many /nodes calls (0 skips the phase)
	CallBudget time.Duration `json:"call_budget"` // a call phase starts no new call after this (always >= 1 call)

	StormTimeout time.Duration `json:"storm_timeout"` // give up waiting for /nodes to empty after this
	Settle       time.Duration `json:"settle"`        // at most this long waiting for RSS to settle before a memory reading

	// ProfileDir, if set, receives a CPU profile of the daemon for the
	// register, /lookup, /ping and heartbeat phases (from its
	// /debug/pprof/profile, which both daemons serve).
	ProfileDir string `json:"-"`
}

// DefaultConfig is the target scale: 1,000 producers x 100 topics x 2
// channels, 16 HTTP clients.
func DefaultConfig() Config {
	return Config{
		Producers:    1000,
		Topics:       100,
		Channels:     2,
		Share:        4,
		Clients:      16,
		Duration:     5 * time.Second,
		Slices:       5,
		Seed:         1,
		Pipeline:     16,
		Calls:        50,
		NodesCalls:   3,
		CallBudget:   5 * time.Second,
		StormTimeout: 3 * time.Minute,
		Settle:       3 * time.Second,
	}
}

// IsTargetScale reports whether c is the scale the targets are set for:
// 1,000 producers x 100 topics x 2 channels, 16 HTTP clients.
func (c Config) IsTargetScale() bool {
	return c.Producers == 1000 && c.Topics == 100 && c.Channels == 2 && c.Clients == 16
}

// Layout returns the topic layout of c.
func (c Config) Layout() Layout { return NewLayout(c.Producers, c.Topics, c.Channels, c.Share) }

// Validate checks the bounds.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Producers >= 1 && c.Producers <= 50000, "producers must be in 1..50000, got %d", c.Producers)
	check(c.Topics >= 1 && c.Topics <= 100000, "topics must be in 1..100000, got %d", c.Topics)
	check(c.Channels >= 0 && c.Channels <= 1000, "channels must be in 0..1000, got %d", c.Channels)
	check(c.Share >= 1, "share must be at least 1, got %d", c.Share)
	check(c.Clients >= 1 && c.Clients <= 1024, "clients must be in 1..1024, got %d", c.Clients)
	check(c.Duration > 0 && c.Duration <= 10*time.Minute, "duration must be in (0, 10m], got %s", c.Duration)
	check(c.Slices >= 1 && c.Slices <= 1000 && c.Duration/time.Duration(max(c.Slices, 1)) >= 10*time.Millisecond,
		"slices must be in 1..1000 with each slice at least 10ms, got %d", c.Slices)
	check(c.Pipeline >= 1 && c.Pipeline <= 4096, "pipeline must be in 1..4096, got %d", c.Pipeline)
	check(c.Calls >= 1 && c.Calls <= 1_000_000, "calls must be in 1..1000000, got %d", c.Calls)
	check(c.NodesCalls >= 0 && c.NodesCalls <= 1_000_000, "nodes-calls must be in 0..1000000, got %d", c.NodesCalls)
	check(c.CallBudget > 0, "call budget must be positive, got %s", c.CallBudget)
	check(c.StormTimeout > 0, "storm timeout must be positive, got %s", c.StormTimeout)
	check(c.Settle >= 0, "settle must not be negative, got %s", c.Settle)
	return errors.Join(errs...)
}
