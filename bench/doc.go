// Package bench holds lookupd's benchmarks and load generator: in-process
// benchmarks of the registration database (lookup/registry) beside
// nsqlookupd v1.3.0's own RegistrationDB, and a harness that drives real
// lookupd and nsqlookupd daemons over TCP and HTTP with synthetic producers
// and consumers (see Layout for the topic-sharing scheme).
//
// Nothing outside bench imports it.
package bench
