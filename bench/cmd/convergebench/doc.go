// Command convergebench measures how fast a change reaches clientmerge
// watchers: 1,000 watchers on three lookupd processes with blocking
// queries, the same watchers polling three nsqlookupd v1.3.0 every second,
// the memory one lookupd spends per blocked query, and the CPU a change
// costs beside many waiters on other topics. See bench/README.md; make
// converge runs it at the target scale.
//
// The daemons run as child processes of this binary (the hidden -serve
// flag), as in lookupbench.
package main
