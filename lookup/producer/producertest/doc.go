// Package producertest is test support for lookup/producer, its sub-packages and
// apps/producerd: it starts lookupds in-process on 127.0.0.1 (nsqlookupd
// v1.3.0 through lookup/lookuptest/nsqref, and this project's lookupd
// through lookup/lookuptest), restarts them on the same address, queries
// their HTTP API as an outside client would, and starts producer clients that
// are closed when the test ends.
//
// Only tests import it. Besides lookup/producer and lookup/wire it imports the
// nsqlookupd package, lookup/lookuptest and lookup/lookuptest/nsqref,
// which is why it is a separate package: lookup/producer itself must not
// depend on the server.
package producertest
