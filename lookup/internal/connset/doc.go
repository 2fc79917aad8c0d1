// Package connset is what the daemon's stream listeners (the V1 TCP
// server and the DNS server's TCP side) share: a set of open connections
// with a cap in all and per source address, and an accept call that rides
// out temporary errors.
//
// Package connset imports lookup/internal/limit, and nothing else from
// this project.
package connset
