package clientmerge

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
)

// target is one lookupd a call asks.
type target struct {
	addr string // as given to New, or one address a name stands for
	base string // base URL without a trailing slash
	err  error  // a name that never resolved: the call reports this instead of asking
}

// given is one address as given to New.
type given struct {
	addr string
	base string // for a literal address
	// For a name: the dnsaddr form ("host:port" or "srv+name") and how to
	// write an address it stands for in the given form and as a base URL.
	name           string
	prefix, suffix string // around "ip:port" in the given form
	basePrefix     string // before "ip:port" in the base URL
}

// lookupds is the Client's list of lookupds: fixed for literal addresses,
// resolved again every refresh for names.
type lookupds struct {
	given   []given
	names   *dnsaddr.Set // nil when no address is a name
	refresh time.Duration
	now     func() time.Time

	resolveMu sync.Mutex       // held while resolving; guards failing
	failing   dnsaddr.Failures // which names fail, to log each once
	mu        sync.Mutex       // guards cur and at
	cur       []target
	at        time.Time
}

// parseGiven reads one address given to New: "host:port", "srv+name", or
// a base URL. Names in http base URLs and host:port forms are expanded; an
// https URL is used as given (its certificate names the host).
func parseGiven(addr string) (given, error) {
	if strings.HasPrefix(addr, dnsaddr.SRVPrefix) {
		if err := dnsaddr.Check(addr); err != nil {
			return given{}, err
		}
		return given{addr: addr, name: addr, basePrefix: "http://"}, nil
	}
	base, err := baseURL(addr)
	if err != nil {
		return given{}, err
	}
	g := given{addr: addr, base: base}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "http" {
		return g, nil
	}
	host, port := u.Hostname(), u.Port()
	if _, err := netip.ParseAddr(host); err == nil {
		return g, nil
	}
	if port == "" {
		port = "80"
	}
	g.name = net.JoinHostPort(host, port)
	if err := dnsaddr.Check(g.name); err != nil {
		return given{}, err
	}
	g.basePrefix, g.suffix = "http://", u.EscapedPath()
	if strings.Contains(addr, "://") {
		g.prefix = "http://"
	} else {
		g.suffix = "" // "host:port" is given without a path
	}
	g.suffix = strings.TrimSuffix(g.suffix, "/")
	return g, nil
}

func newLookupds(addrs []string, s settings) (*lookupds, error) {
	l := &lookupds{refresh: s.dnsRefresh, now: time.Now}
	if l.refresh == 0 {
		l.refresh = dnsaddr.DefaultRefresh
	}
	seen := make(map[string]bool, len(addrs))
	var names []string
	for _, a := range addrs {
		g, err := parseGiven(a)
		if err != nil {
			return nil, fmt.Errorf("lookupd address %q: %w", a, err)
		}
		key := g.base
		if g.name != "" {
			key = g.basePrefix + g.name + g.suffix
		}
		if seen[key] {
			return nil, fmt.Errorf("lookupd address %q given twice", a)
		}
		seen[key] = true
		if g.name != "" && !slices.Contains(names, g.name) {
			names = append(names, g.name)
		}
		l.given = append(l.given, g)
	}
	if len(names) > 0 {
		set, err := dnsaddr.New(names, s.resolver)
		if err != nil {
			return nil, err
		}
		l.names = set
	} else {
		for _, g := range l.given {
			l.cur = append(l.cur, target{addr: g.addr, base: g.base})
		}
	}
	return l, nil
}

// targets returns the lookupds a call asks now. Without names that is the
// addresses as given. With names, the first call resolves them, and so
// does the first call after each refresh interval, under ctx; calls made
// while one resolves use the previous list. The caller must not modify
// the result.
func (l *lookupds) targets(ctx context.Context, c *Client) []target {
	if l.names == nil {
		return l.cur
	}
	l.mu.Lock()
	cur, at := l.cur, l.at
	l.mu.Unlock()
	if cur != nil && l.now().Sub(at) < l.refresh {
		return cur
	}
	if cur == nil {
		l.resolveMu.Lock()
	} else if !l.resolveMu.TryLock() {
		return cur
	}
	defer l.resolveMu.Unlock()
	l.mu.Lock()
	if l.cur != nil && l.now().Sub(l.at) < l.refresh {
		cur = l.cur
		l.mu.Unlock()
		return cur
	}
	l.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	exps := l.names.Resolve(rctx)
	cancel()
	byName := make(map[string]dnsaddr.Expansion, len(exps))
	for _, e := range exps {
		byName[e.Given] = e
		l.logResolution(c, e)
	}
	var next []target
	seen := map[string]bool{}
	for _, g := range l.given {
		if g.name == "" {
			next = appendTarget(next, seen, target{addr: g.addr, base: g.base})
			continue
		}
		e := byName[g.name]
		if len(e.Addrs) == 0 {
			err := e.Err
			if err == nil {
				err = errors.New("no addresses")
			}
			next = appendTarget(next, seen, target{addr: g.addr, err: err})
			continue
		}
		for _, a := range e.Addrs {
			next = appendTarget(next, seen, target{addr: g.prefix + a + g.suffix, base: g.basePrefix + a + g.suffix})
		}
	}
	if cur != nil {
		logChanges(c, cur, next)
	}
	l.mu.Lock()
	l.cur, l.at = next, l.now()
	l.mu.Unlock()
	return next
}

// logResolution logs a name's failure once, when it starts failing or
// fails differently, and that it resolves again after one; a name that
// keeps failing at every refresh does not fill the log. l.resolveMu is
// held.
func (l *lookupds) logResolution(c *Client, e dnsaddr.Expansion) {
	switch failed, recovered := l.failing.Note(e); {
	case recovered:
		c.logger.Info("lookupd address resolves again", "address", e.Given, "addresses", e.Addrs)
	case failed:
		c.logger.Warn("lookupd address resolution failed, keeping the last good addresses",
			"address", e.Given, "addresses", e.Addrs, "err", e.Err)
	}
}

// appendTarget adds t unless a target with its base URL (or, for a failed
// name, its address) is already there.
func appendTarget(ts []target, seen map[string]bool, t target) []target {
	key := t.base
	if t.err != nil {
		key = "\x00" + t.addr
	}
	if seen[key] {
		return ts
	}
	seen[key] = true
	return append(ts, t)
}

// logChanges logs the lookupds that joined and left the fan-out.
func logChanges(c *Client, prev, next []target) {
	addrs := func(ts []target) []string {
		var out []string
		for _, t := range ts {
			if t.err == nil {
				out = append(out, t.addr)
			}
		}
		return out
	}
	p, n := addrs(prev), addrs(next)
	var joined, left []string
	for _, a := range n {
		if !slices.Contains(p, a) {
			joined = append(joined, a)
		}
	}
	for _, a := range p {
		if !slices.Contains(n, a) {
			left = append(left, a)
		}
	}
	if len(joined)+len(left) > 0 {
		c.logger.Info("lookupds changed", "joined", joined, "left", left)
	}
}
