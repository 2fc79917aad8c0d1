// Package sidekick holds the testable parts of producerd, the daemon that
// announces topics and channels on behalf of another service: parsing and
// diffing configured registrations (for reloads), the health checker that
// suspends and resumes announcements, and the admin HTTP API.
//
// It builds on lookup/producer and lookup/wire and must not import the server
// packages (lookup, tcpserver, httpapi, registry).
package sidekick
