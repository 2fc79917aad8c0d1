//go:build linux

package chaos

import (
	"errors"
	"log/slog"
	"time"
)

// Config describes one chaos run. Zero fields are errors unless noted;
// ShortConfig and LongConfig give complete ones.
type Config struct {
	// Binaries are the daemons to run (see Build).
	Binaries Binaries
	// Seed drives every random choice of the run; the same seed gives the
	// same sequence of faults (their timing still varies a little).
	Seed int64

	// Lookupds is the number of lookupd processes.
	Lookupds int
	// Producers is the number of producerd processes started at first;
	// churn keeps the number between MinProducers and MaxProducers.
	Producers, MinProducers, MaxProducers int
	// Topics is how many topics the producers spread over; each producer
	// registers TopicsPerProducer of them, each with up to two channels.
	Topics, TopicsPerProducer int

	// Heartbeat is producerd's --heartbeat-interval; its reconnect backoff
	// is capped at the same value.
	Heartbeat time.Duration
	// InactiveTimeout is lookupd's --inactive-producer-timeout and
	// IdleTimeout its --client-idle-timeout (at least InactiveTimeout).
	InactiveTimeout, IdleTimeout time.Duration
	// ResyncInterval is producerd's --resync-interval. Keep it longer than
	// the run's bounds, so that the checks see what reconnects do rather
	// than what the periodic resync repairs.
	ResyncInterval time.Duration

	// FaultPhase is how long faults are injected; MaxFaults bounds their
	// number. Faults start MinGap to MaxGap apart.
	FaultPhase     time.Duration
	MaxFaults      int
	MinGap, MaxGap time.Duration
	// Kinds, if not empty, restricts the faults injected to these kinds
	// (the Fault* constants).
	Kinds []string
	// AllStop, if positive, SIGSTOPs every lookupd once, for this long, in
	// the middle of the fault phase.
	AllStop time.Duration

	// PollInterval is how often each lookupd is polled and the clientmerge
	// watcher polls; QueryTimeout bounds each HTTP query.
	PollInterval, QueryTimeout time.Duration
	// Slack is added to every bound for process start-up and scheduling.
	Slack time.Duration

	// Resource limits checked during the run (0: unchecked).
	MaxLookupdGoroutines int
	MaxLookupdRSS        int64
	MaxProducerdRSS      int64

	// LoseRegistrations, a test-only fault, makes every proxy lose the
	// registrations of the connections it accepts once the cluster is up
	// (see Proxy.LoseRegistrations): a producer that reconnects, after a
	// lookupd restart for instance, is then registered nowhere it
	// reconnected to. A run with it set must report violations; it shows
	// that the checks can fail.
	LoseRegistrations bool

	// Dir receives the processes' logs.
	Dir string
	// Logger receives the harness's progress (default: discarded).
	Logger *slog.Logger
}

// ShortConfig is the run of go test: three lookupds, twenty producerd
// processes (18 to 24 with churn), about 25 s of faults.
func ShortConfig(bin Binaries, seed int64, dir string) Config {
	return Config{
		Binaries:          bin,
		Seed:              seed,
		Lookupds:          3,
		Producers:         20,
		MinProducers:      18,
		MaxProducers:      24,
		Topics:            8,
		TopicsPerProducer: 3,
		Heartbeat:         300 * time.Millisecond,
		InactiveTimeout:   3 * time.Second,
		IdleTimeout:       4 * time.Second,
		ResyncInterval:    10 * time.Minute,
		FaultPhase:        25 * time.Second,
		MaxFaults:         200,
		MinGap:            250 * time.Millisecond,
		MaxGap:            900 * time.Millisecond,
		AllStop:           1500 * time.Millisecond,
		PollInterval:      250 * time.Millisecond,
		QueryTimeout:      time.Second,
		// go test runs packages in parallel: on two cores, other
		// packages' race-enabled tests delay these processes by up to
		// about a second.
		Slack:                1500 * time.Millisecond,
		MaxLookupdGoroutines: 400,
		MaxLookupdRSS:        128 << 20,
		MaxProducerdRSS:      64 << 20,
		Dir:                  dir,
	}
}

// LongConfig is ShortConfig with a longer fault phase, more producers,
// and the tighter slack of a machine not shared with other tests.
func LongConfig(bin Binaries, seed int64, dir string, phase time.Duration) Config {
	c := ShortConfig(bin, seed, dir)
	c.Producers, c.MinProducers, c.MaxProducers = 24, 20, 30
	c.Slack = time.Second
	c.FaultPhase = phase
	c.MaxFaults = int(phase/c.MinGap) + 1
	return c
}

// bound is the time within which a lookupd that is up and reachable lists
// a live producer: one heartbeat interval plus the capped reconnect backoff
// (also the heartbeat interval), plus slack.
func (c *Config) bound() time.Duration { return 2*c.Heartbeat + c.Slack }

// unionBound adds the watcher's lag (watchLag).
func (c *Config) unionBound() time.Duration { return c.bound() + c.watchLag() }

// watchLag is how stale the watcher's view may be: a poll that began just
// before a change may take a query timeout (a stopped lookupd answers
// nothing), then the next one starts a poll interval (+10% jitter) later
// and may take another.
func (c *Config) watchLag() time.Duration {
	return c.PollInterval + c.PollInterval/10 + 2*c.QueryTimeout
}

func (c *Config) validate() error {
	var errs []error
	if c.Binaries.Lookupd == "" || c.Binaries.Producerd == "" {
		errs = append(errs, errors.New("binaries not set"))
	}
	if c.Lookupds < 1 || c.Producers < 1 || c.MinProducers < 1 || c.MaxProducers < c.Producers || c.MinProducers > c.Producers {
		errs = append(errs, errors.New("need lookupds >= 1 and 1 <= min producers <= producers <= max producers"))
	}
	if c.Topics < 1 || c.TopicsPerProducer < 1 || c.TopicsPerProducer > c.Topics {
		errs = append(errs, errors.New("need 1 <= topics per producer <= topics"))
	}
	for _, d := range []time.Duration{c.Heartbeat, c.InactiveTimeout, c.IdleTimeout, c.ResyncInterval, c.FaultPhase, c.MinGap, c.MaxGap, c.PollInterval, c.QueryTimeout} {
		if d <= 0 {
			errs = append(errs, errors.New("every duration must be positive"))
			break
		}
	}
	if c.IdleTimeout < c.InactiveTimeout {
		errs = append(errs, errors.New("idle timeout below inactive timeout"))
	}
	if c.MaxGap < c.MinGap || c.MaxFaults < 1 {
		errs = append(errs, errors.New("need min gap <= max gap and max faults >= 1"))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("dir not set"))
	}
	return errors.Join(errs...)
}
