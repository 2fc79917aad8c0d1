// Command lookupd is a drop-in replacement for nsqlookupd v1.3.0: the same
// TCP and HTTP protocols and flags, with an indexed registry and bounded
// input handling. See the README for flags and the HTTP API.
package main
