// Package lookuptest holds test helpers: in-process lookupd daemons on
// 127.0.0.1 port 0, scripted V1 connections, HTTP helpers, loopback listeners
// that hold or script the connections they accept, a DNS resolver pinned
// to one server, and polling waits.
// It is imported by tests only. Its sub-package nsqref runs the reference,
// nsqlookupd v1.3.0, in-process.
package lookuptest
