package mergeddns

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup/dnsserver"
)

// Source answers DNS queries from the merged view of every lookupd c asks:
// the producers of a topic are the union that c.Lookup returns, and a
// topic that no answering lookupd knows is unknown (NXDOMAIN). When some
// lookupds fail the others' union is used; when too few answer, c's
// snapshot (if it keeps them) is served, and without one the query fails
// (SERVFAIL). Queries for one topic that arrive while it is being asked
// share that answer, so a burst of queries costs one fan-out. The merged
// view carries no expiry of its own: TTLs are the server's configured TTL.
//
// The Source is safe for concurrent use.
func Source(c *clientmerge.Client) dnsserver.Source {
	return &source{c: c, calls: map[string]*call{}}
}

type source struct {
	c     *clientmerge.Client
	mu    sync.Mutex
	calls map[string]*call // in flight, by topic
}

type call struct {
	done chan struct{}
	ans  dnsserver.Answer
	err  error
}

// Producers implements dnsserver.Source.
func (s *source) Producers(ctx context.Context, topic string) (dnsserver.Answer, error) {
	s.mu.Lock()
	if c, ok := s.calls[topic]; ok {
		s.mu.Unlock()
		select {
		case <-c.done:
			return c.ans, c.err
		case <-ctx.Done():
			return dnsserver.Answer{}, ctx.Err()
		}
	}
	c := &call{done: make(chan struct{})}
	s.calls[topic] = c
	s.mu.Unlock()

	c.ans, c.err = s.lookup(ctx, topic)
	s.mu.Lock()
	delete(s.calls, topic)
	s.mu.Unlock()
	close(c.done)
	return c.ans, c.err
}

func (s *source) lookup(ctx context.Context, topic string) (dnsserver.Answer, error) {
	res, err := s.c.Lookup(ctx, topic)
	if res == nil {
		return dnsserver.Answer{}, fmt.Errorf("merged lookup of %q: %w", topic, err)
	}
	// A partial or stale result is still the best answer there is.
	if !res.Stale {
		found := false
		for _, r := range res.Responses {
			found = found || r.Err == nil && !r.TopicNotFound
		}
		if !found {
			return dnsserver.Answer{}, dnsserver.ErrTopicNotFound
		}
	}
	ans := dnsserver.Answer{Producers: make([]dnsserver.Producer, len(res.Producers))}
	for i, p := range res.Producers {
		ans.Producers[i] = dnsserver.Producer{BroadcastAddress: p.BroadcastAddress, TCPPort: p.TCPPort}
	}
	return ans, nil
}

// NewServer binds a DNS server (UDP and TCP on opts.Address) that answers
// from the merged view of c through Source; Run serves it.
func NewServer(c *clientmerge.Client, opts dnsserver.Options) (*dnsserver.Server, error) {
	if c == nil {
		return nil, errors.New("mergeddns: nil clientmerge client")
	}
	return dnsserver.New(Source(c), opts)
}

// Serve is lookupctl dns (ctl.Hooks.ServeDNS): it binds a server for c as
// cfg says, calls ready with its address, and serves until ctx ends. It
// returns nil after a clean shutdown.
func Serve(ctx context.Context, c *clientmerge.Client, cfg ctl.DNSConfig, ready func(addr string)) error {
	srv, err := NewServer(c, dnsserver.Options{
		Address:           cfg.Address,
		Zone:              cfg.Zone,
		TTL:               cfg.TTL,
		MaxUDPSize:        cfg.MaxUDPSize,
		MaxTCPConnections: cfg.MaxTCPConnections,
		TCPIdleTimeout:    cfg.TCPIdleTimeout,
		UDPWorkers:        cfg.UDPWorkers,
		Logger:            cfg.Logger,
	})
	if err != nil {
		return err
	}
	if ready != nil {
		ready(srv.Addr().String())
	}
	return srv.Run(ctx)
}

var _ = ctl.Hooks{ServeDNS: Serve} // Serve fits the hook
