// Command demo runs the lookupd walk-through of package bench/demo
// against the binaries in -bin (make demo builds them into bin/): three
// lookupds, two producerd sidecars, what each lookupd and the merged
// clientmerge view answer, and discovery carrying on as one lookupd and
// one producer stop.
//
// Run from a terminal, it then stays up with the web view (lookupctl ui,
// on -ui-address, 127.0.0.1:4171 unless taken) until Ctrl-C. When
// standard input is not a terminal (CI, a pipe, </dev/null) it shuts
// everything down after the walk-through.
//
// The main only reads the flags, decides whether to stay up, and turns
// the result into the exit code; everything else is in bench/demo.
package main
