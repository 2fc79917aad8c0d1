// Package nsqref runs the reference implementation, nsqlookupd v1.3.0,
// in-process for tests: on 127.0.0.1 port 0, logging to the test's output,
// stopped when the test ends. It also holds the two loggers that nsq's
// daemons and go-nsq accept (the Output(calldepth, s) interface): one that
// drops everything and one that writes to the test's output until the
// test's cleanup has run.
//
// Only tests import it. It imports github.com/nsqio/nsq/nsqlookupd and the
// standard library, and nothing of this project, so that the internal and
// external tests of any package (lookup/wire and lookup/httpapi among them)
// can use it without an import cycle.
package nsqref
