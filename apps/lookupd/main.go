package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/lookupd/lookupd/lookup"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, returning the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	switch {
	case errors.Is(err, errVersion):
		fmt.Fprintf(stdout, "lookupd v%s (nsqlookupd %s compatible, built with %s)\n", lookup.Version, lookup.CompatVersion, runtime.Version())
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "lookupd: %v\n", err)
		return 2
	}
	log, err := opts.NewLogger()
	if err != nil {
		fmt.Fprintf(stderr, "lookupd: %v\n", err)
		return 2
	}
	opts.Logger = log
	srv, err := lookup.New(opts)
	if err != nil {
		log.Error("failed to start", "err", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}
