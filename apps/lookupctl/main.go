package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/mergeddns"
)

// command names lookupctl for its version line, shared with lookupd and
// producerd.
var command = config.Command{Name: "lookupctl", Version: config.Version}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the exit: --version anywhere before a "--" prints
// the version line and nothing else is done; anything else goes to ctl,
// which reads its flags and --config file through the shared loader and
// serves dns through lookup/mergeddns.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--version" || a == "-version" || a == "--version=true" || a == "-version=true" {
			fmt.Fprintln(stdout, command.VersionLine())
			return ctl.ExitOK
		}
	}
	return ctl.MainWithHooks(ctx, args, os.Getenv, stdout, stderr, ctl.Hooks{Load: command.LoadArgs, ServeDNS: mergeddns.Serve})
}
