// Package lookup is the lookupd daemon: a drop-in replacement for
// nsqlookupd v1.3.0. It composes the registry (lookup/registry), the V1
// TCP server (lookup/tcpserver), the HTTP API (lookup/httpapi) and, with
// --dns-address, the DNS server (lookup/dnsserver, answering from the
// registry) behind one lifecycle: New validates the Options and binds the
// listeners, Run serves until its context ends, then shuts down and waits
// for every goroutine it started.
//
// # Glossary
//
// The code, the comments and the documentation of this module use one word
// per concept:
//
//   - producer: a service that registers topics and channels with the
//     lookupds: nsqd, producerd, or any program using lookup/producer. What
//     it says about itself in IDENTIFY is a wire.ProducerInfo.
//   - lookupd: one lookup daemon, this one or nsqlookupd. Lookupds do not
//     know about each other.
//   - consumer: a client that asks lookupds where a topic is (go-nsq
//     consumers, clientmerge, tools) over HTTP.
//   - connection: one V1 TCP connection of a producer to a lookupd. A
//     lookupd knows a producer by its connection: its registrations go when
//     the connection ends.
//   - node: an entry of /nodes (a producer with its topics), and only that;
//     /topic/tombstone names one as "broadcast_address:http_port".
//
// # Imports
//
// lookup/wire imports nothing from this project; lookup/registry imports
// only lookup/wire; lookup/tcpserver and lookup/httpapi sit on those two;
// package lookup composes them (with lookup/config, the flag and TOML
// loader) and is imported only by mains and test helpers
// (lookup/lookuptest). lookup/producer imports lookup/wire,
// clientmerge/dnsaddr and lookup/config, none of the server packages.
package lookup
