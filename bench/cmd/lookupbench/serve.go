package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/bench/proc"
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
	ctx, cancel := proc.UntilStdinEnds(ctx, stdin)
	defer cancel()
	switch kind {
	case bench.Ours:
		return bench.ServeOursWith(ctx, logLevel, func(o *lookup.Options) {
			if f.serveDNS {
				o.DNSAddress = "127.0.0.1:0"
			}
			o.TLSCert, o.TLSKey = f.serveTLSCert, f.serveTLSKey
			if f.serveAuthFile != "" {
				o.AuthFile, o.AuthReads, o.TCPAllow = f.serveAuthFile, true, []string{"127.0.0.0/8"}
			}
		}, stdout)
	case bench.NSQ:
		return bench.ServeNSQ(ctx, logLevel, stdout)
	case bench.Merged:
		return serveMerged(ctx, logLevel, strings.Split(f.serveLookupds, ","), stdout)
	}
	return fmt.Errorf("unknown daemon %q", kind)
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
