// Package producer is the producer side of the lookup protocol: it announces a
// service's topics and channels to a set of lookupds (ours or nsqlookupd
// v1.3.0) and keeps them announced.
//
// A Client holds one TCP connection per lookupd, each served by its own
// goroutine, so a slow or dead lookupd never delays the others. On every
// (re)connect a connection sends the "  V1" magic, IDENTIFY and the whole
// current registration state; afterwards it sends PING every heartbeat
// interval, REGISTER and UNREGISTER as the state changes, and the whole
// state again every resync interval (anti-entropy: a lookupd that lost
// registrations without losing the connection gets them back). A
// connection never replays stale operations: it keeps what it has sent and
// diffs that against the desired state, so a lookupd that was down gets the
// current state when it returns. Failed connections are retried forever
// with capped, jittered exponential backoff.
//
// A lookupd address may be a DNS name standing for several lookupds
// ("host:port" or "srv+NAME", see package clientmerge/dnsaddr). Start then
// also runs one goroutine that resolves the names at once and every
// Config.LookupdDNSRefresh: a lookupd that appears gets a connection of its
// own (and so the whole state), one that goes has its connection closed,
// and a failed resolution keeps the last good lookupds.
//
// Lifecycle: New validates the Config, Start launches the connection
// goroutines, Close unregisters everything from every reachable lookupd,
// closes the connections and waits for every goroutine it started.
//
// Package producer imports lookup/wire, clientmerge/dnsaddr (the
// address expansion it shares with the consumer side) and lookup/config
// (for the version it reports) and nothing else from this project; it must not import the server packages (lookup,
// tcpserver, httpapi, registry).
//
// The words producer, lookupd, consumer, connection and node are used as
// the glossary in package lookup defines them.
package producer
