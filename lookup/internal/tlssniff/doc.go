// Package tlssniff serves TLS and plaintext on one listener, telling them
// apart by the first byte a client sends: a TLS handshake record starts
// with 0x16, an HTTP request with a letter. lookupd's HTTPS listener uses
// it to answer a plaintext request with 403 TLS_REQUIRED and the HTTPS
// port, as nsqd does and as nsqadmin v1.3.0 expects (it then retries over
// https), instead of serving it.
//
// Reading the first byte happens in the connection's first Read, under the
// deadline its reader set, never in Accept, so a silent client holds up
// nobody. The TLS handshake runs in that same Read, under the same
// deadline for both directions.
//
// It imports nothing from this project.
package tlssniff
