package bench

import (
	"context"
	"fmt"
	"io"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/lookup"
)

// ServeOurs runs our lookupd on free 127.0.0.1 ports (and a DNS listener
// with withDNS), announces its addresses on stdout (AnnounceDNS) and
// serves until ctx ends. It is the child side of ExecLauncher for the
// commands under bench/cmd.
func ServeOurs(ctx context.Context, logLevel string, withDNS bool, stdout io.Writer) error {
	return ServeOursWith(ctx, logLevel, func(o *lookup.Options) {
		if withDNS {
			o.DNSAddress = "127.0.0.1:0"
		}
	}, stdout)
}

// ServeOursWith is ServeOurs with the options changed by configure
// (which may be nil) after the benchmark's own.
func ServeOursWith(ctx context.Context, logLevel string, configure func(*lookup.Options), stdout io.Writer) error {
	opts := lookup.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	if configure != nil {
		configure(opts)
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
	if err := AnnounceDNS(stdout, Ours, srv.TCPAddr().String(), srv.HTTPAddr().String(), dnsAddr); err != nil {
		srv.Close()
		return err
	}
	return srv.Run(ctx)
}

// ServeNSQ is ServeOurs for nsqlookupd v1.3.0.
func ServeNSQ(ctx context.Context, logLevel string, stdout io.Writer) error {
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
	if err := Announce(stdout, NSQ, l.RealTCPAddr().String(), l.RealHTTPAddr().String()); err != nil {
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
