//go:build linux

package chaos

import "time"

// This file holds the events the probes, the cluster and the fault loop
// hand to the rules (rules.go): what happened in a run, and what was
// observed of it.

// An event is one thing that happened in a run, or one observation of it,
// as the rules see it; apply takes it with its time. Lookupds and
// producers are named by their index in the order they were first
// started.
type event interface{ isEvent() }

// Changes of a lookupd. A lookupd is answering while it runs and is not
// stopped, and good while it answers and its producers' traffic is not cut
// off or delayed; only a good lookupd is held to the presence bound.
type (
	// lookupdUp: a lookupd process started (at first, or again after a
	// kill) and answers on its addresses.
	lookupdUp struct{ lookupd int }
	// lookupdKilled: its process was killed (SIGKILL).
	lookupdKilled struct{ lookupd int }
	// lookupdStopped: its process was frozen (SIGSTOP).
	lookupdStopped struct{ lookupd int }
	// lookupdResumed: its process was resumed (SIGCONT).
	lookupdResumed struct{ lookupd int }
	// lookupdCut: every producer's traffic to it is held or delayed.
	lookupdCut struct{ lookupd int }
	// lookupdHealed: that traffic flows again.
	lookupdHealed struct{ lookupd int }
)

// Changes of a producer.
type (
	// producerUp: a producer process started with these registrations
	// (topic -> channels, maybe none); key is its broadcast_address:tcp_port.
	producerUp struct {
		producer  int
		name, key string
		regs      map[string][]string
	}
	// producerGone: a producer departed; how says how (for reports), silent
	// that its host vanished without closing its connections.
	producerGone struct {
		producer int
		how      string
		silent   bool
	}
)

// Observations, judged when applied.
type (
	// stalled: the harness itself did not run from since until the event
	// (it was starved of CPU). Its proxies carry every producer's traffic,
	// so a stall is a partition of every lookupd that no fault scheduled.
	stalled struct{ since time.Time }
	// polled: one poll of a lookupd's /lookup for every topic, sent at t0
	// and answered at t1 (answers by topic), or failed with err.
	// sinceTick is how long the stall detector had not run when the poll
	// was judged.
	polled struct {
		lookupd   int
		t0, t1    time.Time
		answers   map[string]lookupAnswer
		err       error
		sinceTick time.Duration
	}
	// viewed: the clientmerge watcher of a topic delivered this view.
	viewed struct {
		topic     string
		view      lookupAnswer
		sinceTick time.Duration
	}
	// unionChecked: the periodic check of the watcher's views.
	unionChecked struct{ sinceTick time.Duration }
	// rssSampled: the resident set of a process.
	rssSampled struct {
		name    string
		lookupd bool
		rss     int64
	}
	// goroutinesSampled: the goroutines a lookupd reports in /metrics.
	goroutinesSampled struct {
		name string
		n    int
	}
	// exited: a process ended; err says how, if not as asked.
	exited struct{ err error }
	// reapChecked: the connections still open from a dead host's producer,
	// one count per lookupd, once its reap deadline passed.
	reapChecked struct {
		producer int
		open     []int
	}
	// snapshotHeld: with every lookupd stopped, the watcher of topic must
	// still hold want, the producers of the snapshot before the stop.
	snapshotHeld struct {
		topic string
		want  []string
	}
)

// Waits: a condition the run waits for within a deadline that stalls of
// the harness extend.
type (
	// faultsEnded starts the wait for final-match: every lookupd matches
	// the ground truth within the bound, or a departed producer's absence
	// deadline if later.
	faultsEnded struct{}
	// producersStopped starts the wait for shutdown-withdraw: once every
	// producer exited on SIGTERM, no lookupd lists any within the bound.
	producersStopped struct{}
	// compared: one comparison of every lookupd with the ground truth for
	// the wait of check (diff is "" when all match); checks counts the
	// assertions it made.
	compared struct {
		check  string
		diff   string
		checks int
	}
)

func (lookupdUp) isEvent()         {}
func (lookupdKilled) isEvent()     {}
func (lookupdStopped) isEvent()    {}
func (lookupdResumed) isEvent()    {}
func (lookupdCut) isEvent()        {}
func (lookupdHealed) isEvent()     {}
func (producerUp) isEvent()        {}
func (producerGone) isEvent()      {}
func (stalled) isEvent()           {}
func (polled) isEvent()            {}
func (viewed) isEvent()            {}
func (unionChecked) isEvent()      {}
func (rssSampled) isEvent()        {}
func (goroutinesSampled) isEvent() {}
func (exited) isEvent()            {}
func (reapChecked) isEvent()       {}
func (snapshotHeld) isEvent()      {}
func (faultsEnded) isEvent()       {}
func (producersStopped) isEvent()  {}
func (compared) isEvent()          {}
