package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// Cluster is the set of lookupds lookupctl talks to. The addresses may
// be DNS names, each standing for the lookupds it resolves to: one-shot
// queries use the lookupds as first resolved, and Live follows them (see
// Refresh). It is safe for concurrent use and holds no goroutines between
// calls.
type Cluster struct {
	merged  *clientmerge.Client // over the addresses as given: resolves names
	log     *slog.Logger        // of the per-lookupd clients
	opts    []clientmerge.Option
	timeout time.Duration

	mu       sync.Mutex
	resolved bool
	members  []*member // the lookupds now, in the order of merged.Lookupds
}

// member is one lookupd of the Cluster.
type member struct {
	addr string              // as merged.Lookupds names it
	base string              // "http://host:port", for the endpoints clientmerge does not speak
	cl   *clientmerge.Client // its own client
}

// NewCluster returns a Cluster over the lookupds' HTTP addresses
// ("host:port", a base URL or srv+NAME, as clientmerge.New takes them).
// timeout bounds each lookupd's answer to each query. log receives the
// watches' poll failures and failed resolutions of names (nil:
// discarded). opts are given to every clientmerge.Client of the Cluster,
// after its own (a bearer token, a TLS configuration, a resolver, a DNS
// refresh). NewCluster does no I/O; it fails for an empty list or an
// address or option clientmerge rejects.
func NewCluster(addrs []string, timeout time.Duration, log *slog.Logger, opts ...clientmerge.Option) (*Cluster, error) {
	return newCluster(addrs, timeout, log, log, opts)
}

// newCluster is NewCluster with a logger of its own for the resolution
// of names (dnsLog).
func newCluster(addrs []string, timeout time.Duration, log, dnsLog *slog.Logger, opts []clientmerge.Option) (*Cluster, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if log == nil {
		log = quiet
	}
	if dnsLog == nil {
		dnsLog = quiet
	}
	merged, err := clientmerge.New(addrs, clientOptions(timeout, dnsLog, opts)...)
	if err != nil {
		return nil, err
	}
	return &Cluster{merged: merged, log: log, opts: opts, timeout: timeout}, nil
}

// clientOptions returns the options of every clientmerge.Client of a
// Cluster: timeout, log, and snapshots off, so that a lookupd that fails
// shows as failed, not as its last answer; then opts.
func clientOptions(timeout time.Duration, log *slog.Logger, opts []clientmerge.Option) []clientmerge.Option {
	own := []clientmerge.Option{clientmerge.WithTimeout(timeout), clientmerge.WithSnapshots(false), clientmerge.WithLogger(log)}
	return append(own, opts...)
}

// Refresh resolves the names among the addresses again when they are due
// (every clientmerge.WithDNSRefresh; at once the first time), under ctx,
// and returns the lookupds. A name that fails keeps the lookupds it stood
// for (logged once); one that never resolved is one lookupd under its
// given address, which fails. The caller owns the slice.
func (c *Cluster) Refresh(ctx context.Context) []string {
	return addrsOf(c.refresh(ctx))
}

// refresh is Refresh, returning the members.
func (c *Cluster) refresh(ctx context.Context) []*member {
	addrs := c.merged.Lookupds(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	byAddr := make(map[string]*member, len(c.members))
	for _, m := range c.members {
		byAddr[m.addr] = m
	}
	next := make([]*member, 0, len(addrs))
	for _, a := range addrs {
		m := byAddr[a]
		if m == nil {
			cl, err := clientmerge.New([]string{a}, clientOptions(c.timeout, c.log, c.opts)...)
			if err != nil {
				// merged accepted the address it stands for: cannot happen.
				c.log.Error("lookupd client", "address", a, "err", err)
				continue
			}
			base := a
			if !strings.Contains(a, "://") {
				base = "http://" + a
			}
			m = &member{addr: a, base: strings.TrimSuffix(base, "/"), cl: cl}
		}
		next = append(next, m)
	}
	for _, m := range c.members {
		if !slices.Contains(next, m) {
			m.cl.CloseIdleConnections()
		}
	}
	c.members, c.resolved = next, true
	return slices.Clone(next)
}

// current returns the lookupds as last resolved, resolving them first if
// that has not happened yet.
func (c *Cluster) current(ctx context.Context) []*member {
	c.mu.Lock()
	if c.resolved {
		defer c.mu.Unlock()
		return slices.Clone(c.members)
	}
	c.mu.Unlock()
	return c.refresh(ctx)
}

func addrsOf(ms []*member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.addr
	}
	return out
}

// Addrs returns the lookupds as last resolved (the addresses as given
// when none is a name), without resolving. The caller owns the slice.
func (c *Cluster) Addrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return addrsOf(c.members)
}

// Close releases idle connections. The Cluster stays usable.
func (c *Cluster) Close() {
	c.merged.CloseIdleConnections()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.members {
		m.cl.CloseIdleConnections()
	}
}

// LookupdState is how one lookupd answered one round of queries.
type LookupdState struct {
	Addr string
	// Err is nil when the lookupd answered every query of the round.
	Err error
	// Latency is the round's time for this lookupd (to the failure, if it
	// failed).
	Latency time.Duration
}

// Up reports whether the lookupd answered.
func (s LookupdState) Up() bool { return s.Err == nil }

// perLookupd calls f once per lookupd (as last resolved) with that
// lookupd's own client, all at once, and returns the results and states
// parallel to each other. It returns when every call has returned (each
// is bounded by the clients' timeout).
func perLookupd[T any](ctx context.Context, c *Cluster, f func(context.Context, *clientmerge.Client) (T, error)) ([]T, []LookupdState) {
	ms := c.current(ctx)
	out := make([]T, len(ms))
	states := make([]LookupdState, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			start := time.Now()
			v, err := f(ctx, m.cl)
			states[i] = LookupdState{Addr: m.addr, Err: cause(err), Latency: time.Since(start)}
			if err == nil {
				out[i] = v
			}
		})
	}
	wg.Wait()
	return out, states
}

// cause strips clientmerge's wrapping from a single-lookupd failure, so a
// message names the cause once ("dial tcp …: connection refused").
func cause(err error) error {
	if err == nil {
		return nil
	}
	var le *clientmerge.LookupdError
	if errors.As(err, &le) {
		err = le.Err
	}
	return unwrapURL(err)
}

// unwrapURL drops net/http's `Get "URL": ` prefix: the lookupd is named
// already.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// post sends POST path to every lookupd (the web view's actions) and
// returns the lookupds and one error per lookupd, nil where it answered
// 2xx.
func (c *Cluster) post(ctx context.Context, path string) ([]string, []error) {
	ms := c.current(ctx)
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.base+path, nil)
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := m.cl.Do(req)
			if err != nil {
				errs[i] = unwrapURL(err)
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			if resp.StatusCode/100 != 2 {
				errs[i] = fmt.Errorf("http status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
			}
		})
	}
	wg.Wait()
	return addrsOf(ms), errs
}
