package ctl

import (
	"errors"
	"log/slog"

	"github.com/lookupd/lookupd/clientmerge"
)

// cmdDNS serves the merged view over DNS until interrupted, through
// Hooks.ServeDNS.
func cmdDNS(e *cmdEnv) int {
	if e.hooks.ServeDNS == nil {
		e.err = errors.New("dns is not available in this build")
		return ExitFailed
	}
	log := slog.New(slog.NewTextHandler(e.errw, nil))
	// Its own Client: with snapshots, so that the last answer is served
	// while every lookupd is down, and logging the lookupds that a name
	// stands for as they change.
	// e.clientOpts carry the credentials, the resolver and the refresh.
	c, err := clientmerge.New(e.opts.LookupdHTTPAddresses, append([]clientmerge.Option{clientmerge.WithTimeout(e.opts.Timeout), clientmerge.WithLogger(log)}, e.clientOpts...)...)
	if err != nil {
		e.err = err
		return ExitUsage
	}
	defer c.CloseIdleConnections()
	ready := func(addr string) {
		e.printf("lookupctl dns: serving %s (zone %s) for %d lookupd addresses; Ctrl-C to stop\n",
			addr, e.opts.DNSZone, len(e.opts.LookupdHTTPAddresses))
	}
	if err := e.hooks.ServeDNS(e.ctx, c, e.opts.dnsConfig(log), ready); err != nil {
		e.err = err
		return ExitFailed
	}
	return ExitOK
}
