// Package dnsaddr expands configured lookupd addresses that are DNS names
// into one address per lookupd, and keeps doing so as the records change.
// The producer side (lookup/producer, producerd) and the consumer side
// (clientmerge, lookupctl) share it, so one name means the same lookupds
// everywhere.
//
// # Address forms
//
//	10.0.0.1:4160, [::1]:4160     a literal IP: one lookupd, no DNS
//	lookupd.example:4160          a host name: one lookupd per address it
//	                              resolves to, each with the given port
//	srv+_lookupd._tcp.example.    SRV records: one lookupd per address of
//	                              each record's target, with that record's port
//
// A name with both IPv4 and IPv6 addresses stands for its IPv4 addresses
// only: a dual-stack host has one of each, and counting both would count
// every lookupd twice. An SRV target of "." (the service is not offered
// there) adds nothing.
//
// # Refresh
//
// Set.Resolve resolves every name again. A name that fails keeps the
// addresses it last resolved to (its last good set), so a DNS outage never
// drops lookupds; the failure is returned for the caller to log. A name
// that resolves to no address at all also counts as a failure. Callers
// resolve again every DefaultRefresh (30 s) unless configured otherwise
// (--lookupd-dns-refresh).
//
// Package dnsaddr sits under clientmerge, which must import nothing from
// github.com/lookupd/lookupd/lookup, so that both sides can use it: it
// imports only the standard library, and lookup/producer imports it.
package dnsaddr
