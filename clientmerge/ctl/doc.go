// Package ctl is lookupctl: the operator's view of a lookupd cluster,
// built on clientmerge. It answers the questions an operator asks of
// several independent lookupds at once — which producers a topic has and
// which lookupds miss each one, whether the lookupds agree, what changes
// as it happens — on the command line (Main) and as a live web page
// (Server, the ui command).
//
// Every lookupd query goes through clientmerge: one Client over all
// lookupds for merged answers (lookup), and one single-lookupd Client per
// address where the question is which lookupd lists what (topics,
// channels, nodes, diff, watch, the web view). Only the endpoints
// clientmerge does not speak (/ping, /info, /stats and the POST actions
// of the web view) are called directly.
//
// The rules that decide what differs and what changed (Survey.Diff,
// Tracker) are pure functions of fetched data, table-tested without a
// network. apps/lookupctl is a thin main over Main.
//
// The dns command serves the merged view over DNS with lookupd's own DNS
// front end; the binary hands that in as Hooks.ServeDNS
// (lookup/mergeddns.Serve).
//
// Like clientmerge, ctl imports nothing from
// github.com/lookupd/lookupd/lookup (its tests use lookup/lookuptest to
// run real lookupds). The lookupctl binary hands it the shared config
// loader (lookup/config) as a Loader, so flags and --config files work
// as in the daemons.
package ctl
