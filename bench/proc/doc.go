// Package proc supervises child processes: it starts a binary with its
// output kept (in a log file, and the first, last and alarming lines in
// memory), signals it, waits for it with a bound, and judges how it ended
// against how it was asked to end. It also reads what /proc says about a
// process (Stats, WaitStopped) and the machine's load (LoadAverage), and
// holds the one sleep-with-context helper of the harnesses (Sleep), their
// one condition poll (WaitUntil) and the source addresses of simulated
// hosts (HostAddr).
//
// It serves the harnesses under bench (the paired benchmark and the chaos
// tests) and bench/demo (the walk-through behind make demo), which all run
// lookupd, producerd or nsqlookupd as processes. It imports nothing from
// this module.
//
// Linux is its platform: a child gets SIGKILL when its parent dies
// (Pdeathsig), and the /proc readers need Linux's /proc. Elsewhere it
// builds, the children are not tied to their parent, and the /proc readers
// return errors.
package proc
