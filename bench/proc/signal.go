package proc

import (
	"context"
	"io"
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

// UntilStdinEnds returns a context that ends with ctx or when stdin
// reaches EOF: Stop closes a child's stdin, and it also ends when the
// parent dies. It is the child side of Stop beside SignalContext. The
// goroutine that reads stdin is abandoned at process exit if ctx ends
// first (a signal), the only case it outlives the caller.
func UntilStdinEnds(ctx context.Context, stdin io.Reader) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		cancel()
	}()
	return ctx, cancel
}
