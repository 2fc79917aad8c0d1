// Command demo brings up a local lookupd cluster on 127.0.0.1 from the
// binaries in a directory (make demo builds them into bin/): three lookupd
// processes that do not know about each other and two producerd sidecars
// that heartbeat to all three. It prints what /lookup returns on each
// lookupd and the merged view clientmerge builds from all of them, then
// stops one lookupd and one producer to show that discovery carries on.
//
// Run from a terminal, it then stays up: it starts the web view
// (lookupctl ui, on -ui-address, 127.0.0.1:4171 unless taken), brings the
// stopped lookupd and producer back so that the view shows them converge,
// prints the URL and lookupctl commands to try, and runs until Ctrl-C.
// When standard input is not a terminal (CI, a pipe, </dev/null) it shuts
// everything down after the walk-through.
//
// Unlike the daemons' mains it imports clientmerge, because showing the
// merged view is the point of the demo, and bench/proc, the child-process
// supervisor the test harnesses use too.
package main
