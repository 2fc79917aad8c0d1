package nsqref

import (
	"log"
	"sync"
	"testing"

	"github.com/nsqio/nsq/nsqlookupd"
)

// Daemon is a running in-process nsqlookupd v1.3.0. Its fields are set by
// Start and read-only after; Stop may be called from any goroutine while
// the test runs.
type Daemon struct {
	// TCPAddr is the host:port producers connect to.
	TCPAddr string
	// HTTPAddr is the host:port of the HTTP API.
	HTTPAddr string

	t    testing.TB
	l    *nsqlookupd.NSQLookupd
	done chan error
	once sync.Once
}

// Start runs nsqlookupd v1.3.0 in-process until the test ends. Both
// listeners bind 127.0.0.1:0, the broadcast address is 127.0.0.1 and the
// log level is warn, with lines going to the test's output (see
// TestLogger). tweak, if not nil, may change the options before the
// daemon is created: TCPAddress set to an address a stopped Daemon had
// restarts nsqlookupd on the same address. Start fails the test if
// nsqlookupd cannot start; call it from the test goroutine.
func Start(t testing.TB, tweak func(*nsqlookupd.Options)) *Daemon {
	t.Helper()
	opts := nsqlookupd.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	opts.LogLevel = nsqlookupd.LOG_WARN
	// Created before Stop is registered, so that the logger goes silent
	// only after Stop has run (cleanups run last-in first-out).
	opts.Logger = TestLogger(t, "[nsqlookupd] ")
	if tweak != nil {
		tweak(opts)
	}
	l, err := nsqlookupd.New(opts)
	if err != nil {
		t.Fatalf("start nsqlookupd on %s: %v", opts.TCPAddress, err)
	}
	d := &Daemon{
		TCPAddr:  l.RealTCPAddr().String(),
		HTTPAddr: l.RealHTTPAddr().String(),
		t:        t,
		l:        l,
		done:     make(chan error, 1),
	}
	go func() { d.done <- l.Main() }() // owned: Stop waits for done
	t.Cleanup(d.Stop)
	return d
}

// Stop shuts nsqlookupd down: it closes the listeners and every producer
// connection, waits for Main to return and reports an error from Main with
// t.Errorf. It blocks until then, and returns at once when called again.
// The test's cleanup calls it too; call it no later than that.
func (d *Daemon) Stop() {
	d.once.Do(func() {
		d.l.Exit()
		if err := <-d.done; err != nil {
			d.t.Errorf("nsqlookupd Main: %v", err)
		}
	})
}

// NopLogger drops every line. It satisfies the logger interface of
// nsqlookupd, nsqd and go-nsq (Output(calldepth int, s string) error).
type NopLogger struct{}

// Output discards s and returns nil.
func (NopLogger) Output(int, string) error { return nil }

// Logger writes lines to a test's output, prefixed and stamped with the
// time of day in microseconds, until the test's cleanup runs; after that it
// drops them, so that a goroutine of nsqd, nsqlookupd or go-nsq that logs
// late cannot make the testing package panic. It satisfies the logger
// interface of those three (Output(calldepth int, s string) error) and is
// safe for concurrent use.
type Logger struct {
	mu      sync.Mutex
	log     *log.Logger
	stopped bool
}

// TestLogger returns a Logger writing to t.Output() with prefix (for
// example "[nsqd] "). It registers a cleanup that silences it: create it
// before anything that logs through it registers its own cleanup, so that
// the logger outlives that.
func TestLogger(t testing.TB, prefix string) *Logger {
	l := &Logger{log: log.New(t.Output(), prefix, log.Lmicroseconds)}
	t.Cleanup(l.stop)
	return l
}

// Output writes s as one line unless the test's cleanup has run. It always
// returns nil: a log line that cannot be written is not an error of the
// daemon that wrote it.
func (l *Logger) Output(calldepth int, s string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		_ = l.log.Output(calldepth+1, s)
	}
	return nil
}

func (l *Logger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}
