package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// Cluster is the set of lookupds lookupctl talks to. It is safe for
// concurrent use and holds no goroutines between calls.
type Cluster struct {
	addrs   []string
	merged  *clientmerge.Client   // over all lookupds
	each    []*clientmerge.Client // one per lookupd, parallel to addrs
	bases   []string              // "http://host:port" per lookupd, for the endpoints clientmerge does not speak
	timeout time.Duration
}

// NewCluster returns a Cluster over the lookupds' HTTP addresses
// ("host:port" or a base URL). timeout bounds each lookupd's answer to
// each query. log receives the watches' poll failures (nil: discarded).
// opts are given to every clientmerge.Client of the Cluster, after its
// own (a bearer token, a TLS configuration). NewCluster does no I/O; it
// fails for an empty list or an address or option clientmerge rejects.
func NewCluster(addrs []string, timeout time.Duration, log *slog.Logger, opts ...clientmerge.Option) (*Cluster, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if log == nil {
		log = quiet
	}
	with := func(own ...clientmerge.Option) []clientmerge.Option { return append(own, opts...) }
	merged, err := clientmerge.New(addrs, with(clientmerge.WithTimeout(timeout), clientmerge.WithSnapshots(false), clientmerge.WithLogger(quiet))...)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		addrs:   merged.Addrs(),
		merged:  merged,
		each:    make([]*clientmerge.Client, len(addrs)),
		bases:   make([]string, len(addrs)),
		timeout: timeout,
	}
	for i, a := range addrs {
		// Snapshots off: a lookupd that fails must show as failed, not as
		// its last answer.
		c.each[i], err = clientmerge.New([]string{a}, with(clientmerge.WithTimeout(timeout), clientmerge.WithSnapshots(false), clientmerge.WithLogger(log))...)
		if err != nil {
			return nil, err
		}
		c.bases[i] = a
		if !strings.Contains(a, "://") {
			c.bases[i] = "http://" + a
		}
		c.bases[i] = strings.TrimSuffix(c.bases[i], "/")
	}
	return c, nil
}

// Addrs returns the lookupd addresses in the order given. The caller owns
// the slice.
func (c *Cluster) Addrs() []string { return append([]string(nil), c.addrs...) }

// Close releases idle connections. The Cluster stays usable.
func (c *Cluster) Close() {
	c.merged.CloseIdleConnections()
	for _, e := range c.each {
		e.CloseIdleConnections()
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

// perLookupd calls f once per lookupd with that lookupd's own client, all
// at once, and returns the results and states parallel to the addresses.
// It returns when every call has returned (each is bounded by the
// clients' timeout).
func perLookupd[T any](ctx context.Context, c *Cluster, f func(context.Context, *clientmerge.Client) (T, error)) ([]T, []LookupdState) {
	out := make([]T, len(c.each))
	states := make([]LookupdState, len(c.each))
	var wg sync.WaitGroup
	for i, cl := range c.each {
		wg.Go(func() {
			start := time.Now()
			v, err := f(ctx, cl)
			states[i] = LookupdState{Addr: c.addrs[i], Err: cause(err), Latency: time.Since(start)}
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
// returns one error per lookupd, nil where it answered 2xx.
func (c *Cluster) post(ctx context.Context, path string) []error {
	errs := make([]error, len(c.bases))
	var wg sync.WaitGroup
	for i, base := range c.bases {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, nil)
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := c.each[i].Do(req)
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
	return errs
}
