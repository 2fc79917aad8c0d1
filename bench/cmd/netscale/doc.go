// Command netscale is the many-host scale run (make scale): it simulates
// lookupd, producer and consumer hosts in network namespaces of its own on
// one machine, measures lookupd's memory and CPU, merged lookup latency,
// convergence and a producer host cut off, and prints a report with a
// capacity model. Run as root; see bench/README.md and package
// bench/netscale.
package main
