package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
)

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: the load
// generator holds one socket per producer, and so does the daemon (which
// inherits the limit).
func RaiseFileLimit(stderr io.Writer) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintf(stderr, "raise open file limit: %v\n", err)
		}
	}
}

// Machine describes the machine and Go version, for reports.
func Machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// SignalContext returns a context that ends on the first SIGINT or
// SIGTERM. Default handling (death by the signal) comes back only after
// that first signal, so a second one forces the exit; until then the
// signals stay caught up to the process's exit. A daemon child is stopped
// with SIGTERM and the end of its stdin at once and may see either first:
// when stdin wins, the SIGTERM can still be on its way while the child
// exits (under -race, exit alone takes a second), and it must not turn a
// clean stop into death by signal, as restoring default handling before
// os.Exit did.
func SignalContext() context.Context {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx
}
