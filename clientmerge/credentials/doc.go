// Package credentials loads what a client presents to lookupds: a bearer
// token kept in a file (ReadTokenFile), so that it stays off command lines
// where ps shows it, and the files of a TLS client configuration
// (TLSFiles). Both sides of the project use it: lookupctl (through
// clientmerge) and producerd.
//
// Secrets never appear in its errors. It imports nothing from this
// project.
package credentials
