// Package producerd is the producerd daemon, which announces topics and
// channels to every lookupd on behalf of another service. It owns
// producerd's Options (NewOptions, Validate) and its lifecycle, the same
// shape as package lookup's: New validates and binds the admin API's
// listener, Run serves until its context ends and then withdraws every
// registration, and Reload applies a new configuration to a running
// daemon (what SIGHUP does). Around a lookup/producer Client it adds the
// parsing and diffing of configured registrations, the health checker that
// suspends and resumes announcements, and the admin HTTP API.
//
// apps/producerd is only flags, signals and the exit code. Package
// producerd builds on lookup/producer, lookup/wire and lookup/config and
// must not import the server packages (lookup, tcpserver, httpapi,
// registry).
package producerd
