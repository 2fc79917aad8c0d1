package producer

import (
	"context"
	"slices"
	"time"

	"github.com/lookupd/lookupd/clientmerge/dnsaddr"
)

// newLink returns the (not yet running) connection to the lookupd at
// addr, found through the configured name (empty for a literal address).
func (c *Client) newLink(addr, name string) *link {
	l := &link{
		c:      c,
		addr:   addr,
		notify: make(chan struct{}, 1),
		status: LookupdStatus{Address: addr, Name: name},
	}
	l.stopCtx, l.stopCancel = context.WithCancel(c.stopCtx)
	l.hardCtx, l.hardCancel = context.WithCancel(c.hardCtx)
	return l
}

// followDNS resolves the configured names at once and then every
// LookupdDNSRefresh until Close begins, joining the lookupds that appear
// and leaving those that go.
func (c *Client) followDNS() {
	t := time.NewTicker(c.cfg.LookupdDNSRefresh)
	defer t.Stop()
	for {
		c.refreshLookupds()
		select {
		case <-t.C:
		case <-c.stopCtx.Done():
			return
		}
	}
}

// refreshLookupds resolves the names once and applies the result. A name
// that fails keeps the lookupds it stood for (dnsaddr keeps its last good
// set); the failure is logged once, until the name resolves again.
func (c *Client) refreshLookupds() {
	ctx, cancel := context.WithTimeout(c.stopCtx, c.cfg.DialTimeout)
	exps := c.names.Resolve(ctx)
	cancel()
	if c.stopCtx.Err() != nil {
		return
	}
	want := map[string]string{} // address -> the name it came through
	var order []string
	for _, e := range exps {
		switch failed, recovered := c.failing.Note(e); {
		case recovered:
			c.log.Info("lookupd address resolves again", "address", e.Given, "addresses", e.Addrs)
		case failed:
			c.log.Warn("lookupd address resolution failed, keeping the last good addresses",
				"address", e.Given, "addresses", e.Addrs, "err", e.Err)
		}
		name := e.Given
		if !dnsaddr.IsName(name) {
			name = ""
		}
		for _, a := range e.Addrs {
			if prev, ok := want[a]; !ok || (prev != "" && name == "") {
				if !ok {
					order = append(order, a)
				}
				want[a] = name
			}
		}
	}
	c.setLinks(order, want)
}

// setLinks makes the connections those of order: new addresses get a
// running connection (which sends the whole state once connected), gone
// ones are closed at once, which drops what they held on that lookupd.
func (c *Client) setLinks(order []string, want map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.phase != phaseStarted {
		return
	}
	var joined, left []string
	kept := c.links[:0:0]
	for _, l := range c.links {
		if _, ok := want[l.addr]; ok {
			kept = append(kept, l)
			continue
		}
		l.stopCancel()
		l.hardCancel()
		left = append(left, l.addr)
	}
	for _, a := range order {
		if slices.ContainsFunc(kept, func(l *link) bool { return l.addr == a }) {
			continue
		}
		l := c.newLink(a, want[a])
		kept = append(kept, l)
		c.wg.Go(l.run)
		joined = append(joined, a)
	}
	c.links = kept
	if len(joined)+len(left) > 0 {
		c.log.Info("lookupds changed", "joined", joined, "left", left)
	}
}
