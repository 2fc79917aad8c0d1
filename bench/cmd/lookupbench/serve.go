package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/mergeddns"
)

// serve runs one daemon of the given kind on free 127.0.0.1 ports,
// announces its addresses on stdout and serves until ctx ends or stdin
// reaches EOF (the load generator closes it, or died).
func serve(ctx context.Context, kind bench.Kind, f flags, stdin io.Reader, stdout io.Writer) error {
	logLevel := f.daemonLog
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
		return serveOurs(ctx, logLevel, f.serveDNS, stdout)
	case bench.NSQ:
		return serveNSQ(ctx, logLevel, stdout)
	case bench.Merged:
		return serveMerged(ctx, logLevel, strings.Split(f.serveLookupds, ","), stdout)
	}
	return fmt.Errorf("unknown daemon %q", kind)
}

func serveOurs(ctx context.Context, logLevel string, withDNS bool, stdout io.Writer) error {
	opts := lookup.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	if withDNS {
		opts.DNSAddress = "127.0.0.1:0"
	}
	if err := opts.LogLevel.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	srv, err := lookup.New(opts)
	if err != nil {
		return err
	}
	dnsAddr := ""
	if a, ok := srv.DNSAddr(); ok {
		dnsAddr = a.String()
	}
	if err := bench.AnnounceDNS(stdout, bench.Ours, srv.TCPAddr().String(), srv.HTTPAddr().String(), dnsAddr); err != nil {
		srv.Close()
		return err
	}
	return srv.Run(ctx)
}

// serveMerged runs the merged DNS server (lookupctl dns) over the lookupds
// at httpAddrs.
func serveMerged(ctx context.Context, logLevel string, httpAddrs []string, stdout io.Writer) error {
	var lvl config.LogLevel
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	c, err := clientmerge.New(httpAddrs, clientmerge.WithLogger(log))
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	d := ctl.NewOptions() // lookupctl dns's defaults
	srv, err := mergeddns.NewServer(c, dnsserver.Options{
		Address:           "127.0.0.1:0",
		Zone:              d.DNSZone,
		TTL:               d.DNSTTL,
		MaxUDPSize:        d.DNSMaxUDPSize,
		MaxTCPConnections: d.DNSMaxTCPConnections,
		TCPIdleTimeout:    d.DNSTCPIdleTimeout,
		UDPWorkers:        d.DNSUDPWorkers,
		Logger:            log,
	})
	if err != nil {
		return err
	}
	if err := bench.AnnounceDNS(stdout, bench.Merged, "", "", srv.Addr().String()); err != nil {
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
