// Package netscale is the many-host scale run: lookupd, producer and
// consumer hosts simulated with network namespaces on one machine.
//
// NewNet makes one namespace per host and a bridge in a namespace of its
// own; each host has one veth link to it and one address inside a /16 the
// run chooses (10.200.0.0/16 by default). Nothing is attached to the
// machine's own network stack, so the run's traffic never leaves its
// namespaces, and Close removes them all (a later run removes those of a
// run that was killed).
//
// Run re-executes the calling binary inside each namespace with RoleEnv
// set (the binary must call RoleMain first): a lookupd host runs package
// lookup exactly as apps/lookupd does; a producer host runs one
// lookup/producer Client per producer; a consumer host runs clientmerge
// watchers and timed merged lookups. The orchestrator drives producer
// and consumer hosts over HTTP on unix sockets (which cross namespaces)
// and reads every host's memory and CPU from /proc. The phases: lookupds
// at rest; base producers connect, then register; heartbeats only; merged
// /lookup over 1..N lookupds; probes join while consumers watch; one
// producer host's link goes down at the bridge and comes back; probes
// leave. Every wait is bounded (Config.PhaseTimeout), so a run stops by
// itself; the Report holds the figures and NewModel the capacity model
// derived from them.
//
// The pure parts (Topology, Delays, distribution, NewModel) are tested
// on their own; the smoke test runs SmokeConfig, 2 lookupds and 2
// producer hosts, when it runs as root with iproute2.
//
// netscale imports the lookupd server, lookup/producer and clientmerge, as a
// benchmark may; nothing imports it but bench/cmd/netscale.
package netscale
