// Package chaos proves lookupd's availability promise under faults: it
// runs real lookupd and producerd processes on 127.0.0.1, injects faults
// at random from a printed seed, and checks what the lookupds and a
// clientmerge watcher report against the ground truth of which producers
// are alive and what they registered.
//
// Faults (see the Fault* constants): SIGKILL and restart of a lookupd on
// the same addresses, SIGSTOP/SIGCONT of a lookupd, a partition between
// every producer and one lookupd (a Proxy that holds or delays the
// traffic), producers leaving (SIGTERM), crashing (SIGKILL), joining, and
// a producer whose host vanishes without closing its sockets (its proxies
// drop everything, so lookupds learn of it only by their timeouts), and,
// once, SIGSTOP of every lookupd at the same time.
//
// Checks, while faults run and after they stop: a lookupd that is up and
// reachable lists every live producer within one heartbeat interval plus
// the reconnect backoff (plus slack); the clientmerge union does whenever
// any lookupd is; departed producers disappear (silent deaths within the
// inactive timeout); with every lookupd stopped clientmerge serves its
// snapshot marked stale; after the faults every lookupd matches the ground
// truth exactly; no process exits unasked, logs a panic or a race, or
// grows past its goroutine and memory limits; a dead host's connections
// are closed by the idle timeout; a graceful shutdown withdraws
// everything.
//
// Run drives one such run and returns a Summary. Its files split it by
// role: rules.go decides pass or fail (pure: events, defined in
// events.go, go in with their times and violations come out;
// rules_test.go drives it with timelines),
// cluster.go starts and stops the processes and proxies, probe.go observes
// them and hands what it sees to the rules, faults.go injects the faults,
// and proxy.go is the fault-injecting TCP proxy.
//
// The tests of this package run a short form under go test, and a long
// one (-chaos.long or CHAOS_LONG=1), a load test holding thousands of
// producer connections, a table of bad input against a lookupd process,
// and the hostile cases of the README's threat model (TestHostile: 20,000
// silent sockets from one address held by helper processes, a flood of
// unauthorised creates, stalled TLS handshakes). A run with Config.LoseRegistrations, whose proxies turn
// REGISTER commands into PINGs once the cluster is up, must fail: it
// shows, end to end, that the checks can.
//
// The package imports clientmerge and bench/proc, and nothing from
// lookup: it talks to the daemons as an outside client would. Linux only
// (/proc, SIGSTOP, Pdeathsig).
package chaos
