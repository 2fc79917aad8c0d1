package proc

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

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
