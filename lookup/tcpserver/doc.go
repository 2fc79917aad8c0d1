// Package tcpserver is lookupd's TCP front door: the accept loop, the set
// of live connections, and the per-connection V1 protocol handler that
// turns IDENTIFY, REGISTER, UNREGISTER and PING into registry calls.
//
// Every read is bounded (the command line by the reader's buffer size, the
// IDENTIFY body by a configured maximum) and has a deadline; a connection
// silent past the idle timeout is closed and its registrations removed,
// and one that has not identified by the handshake timeout is closed.
// One source address (an IPv4 address or an IPv6 /64) may hold at most
// MaxConnectionsPerSource connections.
//
// It imports lookup/wire, lookup/registry and lookup/internal/limit, and
// nothing else from this project.
package tcpserver
