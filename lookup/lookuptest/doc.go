// Package lookuptest holds test helpers: in-process lookupd daemons on
// 127.0.0.1 port 0, scripted V1 peers, HTTP helpers and a polling wait.
// It is imported by tests only.
package lookuptest
