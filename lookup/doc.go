// Package lookup is the lookupd daemon: a drop-in replacement for
// nsqlookupd v1.3.0. It composes the registry (lookup/registry), the V1
// TCP server (lookup/tcpserver), the HTTP API (lookup/httpapi) and, with
// --dns-address, the DNS server (lookup/dnsserver, answering from the
// registry) behind one lifecycle: New validates the Options and binds the
// listeners, Run serves until its context ends, then shuts down and waits
// for every goroutine it started.
//
// Package lookup imports its subpackages and nothing above them; the mains
// in apps/ import it.
package lookup
