package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/producerd"
)

// command names producerd for its flags, errors and version line.
var command = config.Command{Name: "producerd", Version: config.Version}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without os.Exit, returning the exit code. SIGINT and SIGTERM
// stop the daemon (which withdraws its registrations; a second signal
// terminates at once); SIGHUP reloads the command line and config file.
func run(args []string, stdout, stderr io.Writer) int {
	opts, err := loadOptions(args, stderr)
	if err != nil {
		return command.ExitCode(err, stdout, stderr)
	}
	d, err := producerd.New(opts)
	if err != nil {
		return command.StartFailed(err, stderr)
	}
	log := d.Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	context.AfterFunc(ctx, stop) // restore default handling once the first signal arrives
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }() // run returns only after receiving from done
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("producerd failed", "err", err)
				return 1
			}
			return 0
		case <-hup:
			next, err := loadOptions(args, io.Discard)
			if err == nil {
				err = d.Reload(next)
			}
			if err != nil {
				log.Error("reload failed", "err", err)
			}
		}
	}
}

// loadOptions resolves args and the --config file they name into Options
// (flag given > file > default) and validates them. It returns
// flag.ErrHelp for -h and config.ErrVersion for --version; usage and flag
// errors are written to output.
func loadOptions(args []string, output io.Writer) (*producerd.Options, error) {
	opts := producerd.NewOptions()
	if err := command.Load(opts, args, output); err != nil {
		return nil, err
	}
	return opts, nil
}
