// Package difftest is a differential test suite: it runs the same scripted
// scenarios (raw V1 bytes over TCP, HTTP calls) against the real
// nsqlookupd v1.3.0, in-process, and against our lookupd, normalises what
// each answers (ports, connection addresses, times, the random order of
// nsqlookupd's JSON arrays) and requires the two transcripts to be equal.
//
// Where we answer differently on purpose, the difference is named in a
// table of known differences, with the reason, and asserted explicitly:
// our answer against theirs, each checked against the daemon that gives
// it. One of them, a negative IDENTIFY body length, crashes nsqlookupd, so
// its side runs in a child process rather than in the test binary.
//
// A mismatch prints both transcripts line by line ("-" nsqlookupd, "+"
// ours); DIFFTEST_SHOW=1 in the environment prints them for passing
// scenarios too.
//
// The package holds tests only. It imports lookup and lookup/lookuptest
// (ours), github.com/nsqio/nsq/nsqlookupd and lookup/lookuptest/nsqref,
// which runs it (theirs), and no test helper from lookup/wire, so that the
// scripts spell out the protocol bytes themselves.
package difftest
