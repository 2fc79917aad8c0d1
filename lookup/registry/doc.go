// Package registry is the lookupd registration database: which producers
// are registered under which topics and
// channels, when each was last heard from, and which topic producers are
// tombstoned. It knows a producer by the id of its connection, from
// IDENTIFY until the connection ends (RemoveProducer), and stores what the
// producer said in IDENTIFY as a wire.ProducerInfo.
//
// It is a pure data structure: no I/O, no goroutines, and the clock is
// injected through Options.Now. Every query is answered from an index in
// time proportional to its answer, and every mutation touches only the
// entries it changes: a producer's disconnect walks that producer's own
// registrations, never the whole database.
//
// DB is safe for concurrent use. It guards its state with one unexported
// RWMutex and hands out copies only; callers never hold pointers into it.
//
// The semantics follow nsqlookupd v1.3.0's RegistrationDB (a topic or
// channel stays listed with no producers until deleted over HTTP, unless
// its name ends in "#ephemeral"), with one deliberate difference: an
// ephemeral topic or channel is also removed when its last producer's
// connection ends (RemoveProducer), not only on UNREGISTER.
//
// Package registry imports only lookup/wire from this project, for
// wire.ProducerInfo, the one type of the IDENTIFY payload.
package registry
