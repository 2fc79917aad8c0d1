// Package demo is the walk-through behind `make demo`: it brings up a local
// lookupd cluster on 127.0.0.1 from the binaries in a directory (make demo
// builds them into bin/): three lookupd processes that do not know about
// each other and two producerd sidecars that heartbeat to all three. It
// prints what /lookup returns on each lookupd and the merged view
// clientmerge builds from all of them, then stops one lookupd and one
// producer to show that discovery carries on.
//
// With Options.StayUp it then stays up: it starts the web view (lookupctl
// ui, on Options.UIAddress, or a free loopback port if that is taken),
// brings the stopped lookupd and producer back so that the view shows them
// converge, prints the URL and lookupctl commands to try, and runs until
// its context ends. Without it, it shuts everything down after the
// walk-through. Either way every child it started is stopped before Run
// returns.
//
// Its command is apps/demo, which only reads the flags, decides StayUp
// (standard input is a terminal) and turns the result into an exit code.
// It imports clientmerge, because showing the merged view is the point of
// the demo, and bench/proc, the child-process supervisor the test
// harnesses use too; nothing from lookup: it talks to the daemons as an
// outside client would.
package demo
