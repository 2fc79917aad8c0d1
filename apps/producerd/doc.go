// Command producerd announces topics and channels to lookupds on behalf of
// another service: it connects to every lookupd, identifies as that
// service, registers the configured topics and channels, heartbeats, and
// withdraws them when the service's health check fails or producerd
// stops. See README.md.
package main
