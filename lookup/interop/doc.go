// Package interop holds end-to-end tests that run our lookupd next to real
// nsq components: an in-process nsqd v1.3.0 announcing itself to two
// lookupds at once, and go-nsq v1.1.0 consumers that find that nsqd through
// them. Every scenario runs twice, once against our lookupd and once
// against an in-process nsqlookupd v1.3.0, so the expected behaviour is the
// reference implementation's, not our reading of it; the exception is the
// go-nsq consumer driven by clientmerge/nsqbridge over blocking queries,
// which nsqlookupd does not answer.
//
// A go-nsq producer and consumer also find nsqd by name alone, through
// the merged DNS server of lookupctl dns (lookup/mergeddns).
//
// The package has tests only. It imports lookup/lookuptest (ours),
// lookup/lookuptest/nsqref (nsqlookupd), lookup/wire, lookup/dnsserver,
// lookup/mergeddns, clientmerge and clientmerge/nsqbridge, and nsq's own
// nsqd and go-nsq, and must not be imported by anything.
package interop
