// Package configtest holds test helpers for programs configured through
// lookup/config: writing a config file, and checking a README flags table
// against the flag set. It imports only lookup/config's world (the
// standard library) and is imported only by tests.
package configtest
