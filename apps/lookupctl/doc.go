// Command lookupctl asks every lookupd at once and shows where they agree
// and differ: merged lookups, diff with exit codes for monitoring, a live
// watch, and a web view. It is a thin main over clientmerge/ctl; run
// lookupctl --help for the commands, flags and exit codes, and
// lookupctl --version for the version line.
package main
