package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/config"
)

// command names lookupd for its flags, errors and version line.
var command = config.Command{Name: "lookupd", Version: config.Version, Note: "nsqlookupd " + lookup.CompatVersion + " compatible"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, returning the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return command.ExitCode(err, stdout, stderr)
	}
	log := opts.NewLogger()
	opts.Logger = log
	srv, err := lookup.New(opts)
	if err != nil {
		return command.StartFailed(err, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// As in producerd: Run in a goroutine, SIGHUP handled here until it
	// returns (run returns only after receiving from done). A failed reload
	// keeps what was in use.
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("stopped with error", "err", err)
				return 1
			}
			return 0
		case <-hup:
			if err := srv.Reload(); err != nil {
				log.Error("reload failed", "err", err)
			} else {
				log.Info("reloaded")
			}
		}
	}
}

// parseOptions resolves the command line and the config file it names into
// Options (flag given > config file > default) and validates them.
func parseOptions(args []string, output io.Writer) (*lookup.Options, error) {
	opts := lookup.NewOptions()
	if err := command.Load(opts, args, output); err != nil {
		return nil, err
	}
	return opts, nil
}
