// Package auth owns lookupd's bearer tokens: the --auth-file format, its
// parsing and validation, the roles a token may carry (read, admin,
// register with topic globs), constant-time checking of a presented token,
// and a Store that swaps in a new file on Reload while keeping the old one
// when the new one is bad.
//
// Tokens are secrets. Nothing in this package puts a token, or any part of
// one, into an error, a log line or a String method: errors name the
// entry by its position in the file ("tokens[2]") instead. Presented tokens
// are compared against every entry through SHA-256 digests with
// crypto/subtle, so the time taken does not depend on how much of a token
// matched, nor on which entry did.
//
// Package auth imports nothing from this project; lookup/httpapi and
// lookup/tcpserver use it.
package auth
