// Package producerd is the producerd daemon, which announces topics and
// channels to every lookupd on behalf of another service: parsing and
// diffing configured registrations (for reloads), the health checker that
// suspends and resumes announcements, and the admin HTTP API.
//
// It builds on lookup/producer and lookup/wire and must not import the
// server packages (lookup, tcpserver, httpapi, registry).
package producerd
