// Package dnsserver answers DNS queries about topics: which producers a
// topic has, as SRV records (port and host) and as A/AAAA records (hosts
// only). It serves UDP and TCP on one port, from any Source: lookupd
// serves its own registry through it, and the merged view of all lookupds
// is served through it too.
//
// # Names
//
// All names live under one zone (Options.Zone, "lookupd." by default);
// a query for any other name is REFUSED. Inside the zone:
//
//	_<topic>._tcp.<zone>            SRV: one record per producer, port = its tcp_port,
//	                                target = its broadcast address
//	<topic>.<zone>                  A/AAAA: the producers whose broadcast address is an IP
//	_<base>._tcp.ephemeral.<zone>   SRV of the topic "<base>#ephemeral"
//	<base>.ephemeral.<zone>         A/AAAA of the topic "<base>#ephemeral"
//	<address>.ip.<zone>             A or AAAA of one IP address: the SRV target
//	                                of a producer whose broadcast address is an IP
//	<zone>                          SOA
//
// '#' is not allowed in host names, so the "#ephemeral" suffix of a topic
// becomes the sub-domain "ephemeral". An address name writes an IPv4
// address with dashes (127-0-0-1) and an IPv6 address in full, sixteen
// hex digits in eight groups joined by dashes
// (0000-0000-0000-0000-0000-0000-0000-0001 for ::1); an IPv4-mapped IPv6
// address counts as IPv4. Because those three sub-domain labels are
// reserved, a topic whose own name ends in "._tcp", ".ip" or ".ephemeral"
// has no A/AAAA name (its SRV name still works). A topic that is not a
// valid DNS name (a leading, trailing or doubled dot) or whose first label
// would exceed 63 bytes has no name at all.
//
// Topic names are case-sensitive; DNS names are not. A topic is looked up
// with the case of the query, and if no such topic exists, in lower case,
// so resolvers that randomise the case of queries (0x20) still find
// lower-case topics.
//
// A name that does not stand for an existing topic gets NXDOMAIN with the
// zone's SOA in the authority section; an existing name asked for another
// type gets an empty answer (NODATA). A producer whose broadcast address is
// neither an IP address nor a valid host name is left out, as is one with
// a port outside 1..65535.
//
// # TTLs
//
// Every record carries Options.TTL, cut to the time until the Source says
// the answer could change by itself (Answer.ValidUntil: a producer going
// inactive, a tombstone expiring), in whole seconds rounded down.
//
// # Sizes and hardening
//
// Over TCP an answer may use the full 65535 bytes. Over UDP it may use the
// EDNS0 size the query advertises (at least 512, at most
// Options.MaxUDPSize); a query without EDNS0 gets an answer no larger than
// the query itself, so the server cannot be used to amplify traffic. An
// answer that does not fit loses its additional and authority sections
// first, then over UDP all its records and gets the TC bit (the client
// retries over TCP), over TCP the records that do not fit.
//
// Packets that are not well-formed DNS queries are dropped without an
// answer; a well-formed query of another opcode gets NOTIMP, one with other
// than one question FORMERR. UDP is served by a fixed number of goroutines
// (Options.UDPWorkers); TCP connections are capped
// (Options.MaxTCPConnections, further ones are closed at once) and closed
// after Options.TCPIdleTimeout without a complete query.
//
// Package dnsserver imports lookup/wire (for topic name rules) and nothing
// else from this project.
package dnsserver
