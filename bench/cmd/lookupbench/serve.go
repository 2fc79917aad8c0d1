package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/lookup"
)

// serve runs one daemon of the given kind on free 127.0.0.1 ports,
// announces its addresses on stdout and serves until ctx ends or stdin
// reaches EOF (the load generator closes it, or died).
func serve(ctx context.Context, kind bench.Kind, logLevel string, stdin io.Reader, stdout io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		// Ends when stdin closes, which is how the parent stops us (and
		// what happens if the parent dies); on a signal instead it is
		// abandoned at process exit, the only case it outlives serve.
		io.Copy(io.Discard, stdin)
		cancel()
	}()
	switch kind {
	case bench.Ours:
		return serveOurs(ctx, logLevel, stdout)
	case bench.NSQ:
		return serveNSQ(ctx, logLevel, stdout)
	}
	return fmt.Errorf("unknown daemon %q", kind)
}

func serveOurs(ctx context.Context, logLevel string, stdout io.Writer) error {
	opts := lookup.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	if err := opts.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	srv, err := lookup.New(opts)
	if err != nil {
		return err
	}
	if err := bench.Announce(stdout, bench.Ours, srv.TCPAddr().String(), srv.HTTPAddr().String()); err != nil {
		srv.Close()
		return err
	}
	return srv.Run(ctx)
}

func serveNSQ(ctx context.Context, logLevel string, stdout io.Writer) error {
	opts := nsqlookupd.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	if err := opts.LogLevel.Set(logLevel); err != nil {
		return fmt.Errorf("nsqlookupd log level: %w", err)
	}
	l, err := nsqlookupd.New(opts)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- l.Main() }()
	if err := bench.Announce(stdout, bench.NSQ, l.RealTCPAddr().String(), l.RealHTTPAddr().String()); err != nil {
		l.Exit()
		<-done
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-done:
		done <- runErr
	}
	l.Exit()
	if err := <-done; err != nil {
		return fmt.Errorf("nsqlookupd: %w", err)
	}
	return nil
}
