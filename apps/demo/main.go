package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/lookupd/lookupd/bench/demo"
	"golang.org/x/term"
)

func main() {
	o := demo.NewOptions()
	flagSet(&o).Parse(os.Args[1:]) // ExitOnError: exits on a bad flag
	// From a terminal the cluster stays up after the walk-through until
	// Ctrl-C; from CI, a pipe or </dev/null the demo ends by itself.
	o.StayUp = term.IsTerminal(int(os.Stdin.Fd()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo.Run(ctx, os.Stdout, o)
	stop()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// flagSet binds the demo's flags to o, whose fields are the defaults.
func flagSet(o *demo.Options) *flag.FlagSet {
	fs := flag.NewFlagSet(os.Args[0], flag.ExitOnError)
	fs.StringVar(&o.Bin, "bin", o.Bin, "directory holding the lookupd, producerd and lookupctl binaries")
	fs.StringVar(&o.Topic, "topic", o.Topic, "topic to look up")
	fs.StringVar(&o.UIAddress, "ui-address", o.UIAddress, "where the web view listens when the demo stays up (a free port if taken)")
	return fs
}
