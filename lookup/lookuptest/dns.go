package lookuptest

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/lookupd/lookupd/lookup/dnsserver"
)

// Resolver is Go's own DNS resolver sending every query to one server
// (for example 127.0.0.1:port of an in-process DNS server), whatever the
// system configuration names. It records the networks it dials, so a test
// can see a fall-back from UDP to TCP. Its methods are safe for concurrent
// use.
type Resolver struct {
	*net.Resolver
	mu     sync.Mutex
	dialed []string
}

// NewResolver returns a Resolver that queries addr ("host:port") only.
func NewResolver(addr string) *Resolver {
	r := &Resolver{}
	r.Resolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			r.mu.Lock()
			r.dialed = append(r.dialed, network)
			r.mu.Unlock()
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	return r
}

// SRV returns "target:port" of each SRV record of name, sorted, or nil
// when the name has none (NXDOMAIN or no records). Other failures fail
// the test; call it from the test goroutine.
func (r *Resolver) SRV(t testing.TB, name string) []string {
	t.Helper()
	_, recs, err := r.LookupSRV(t.Context(), "", "", name)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return nil
	}
	if err != nil {
		t.Fatalf("LookupSRV(%s): %v", name, err)
	}
	out := make([]string, 0, len(recs))
	for _, rec := range recs {
		out = append(out, net.JoinHostPort(rec.Target, strconv.Itoa(int(rec.Port))))
	}
	slices.Sort(out)
	return out
}

// Dialed returns the networks ("udp", "tcp") dialled so far, in order, and
// forgets them. The caller owns the slice.
func (r *Resolver) Dialed() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.dialed
	r.dialed = nil
	return out
}

// StartDNS runs a DNS server (lookup/dnsserver) over src with opts until
// the test ends; the cleanup stops it and fails the test if Run returned
// an error. Without opts.Logger it logs warnings to the test's output. It
// fails the test if the server cannot start.
func StartDNS(t testing.TB, src dnsserver.Source, opts dnsserver.Options) *dnsserver.Server {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	srv, err := dnsserver.New(src, opts)
	if err != nil {
		t.Fatalf("start dns server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dns server: %v", err)
		}
	})
	return srv
}
