package ctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Health is one lookupd's answer to /ping, and to /stats (lookupd) or
// /info (nsqlookupd, which has no /stats).
type Health struct {
	Addr string
	// Err is nil when /ping answered OK.
	Err error
	// Latency is the round trip of /ping.
	Latency time.Duration
	// Version is /stats' version, or else /info's; empty if neither
	// answered.
	Version string
	// Stats is nil when the lookupd has no /stats (nsqlookupd).
	Stats *Stats
}

// Stats are the counts a lookupd reports in /stats.
type Stats struct {
	Producers     int     `json:"producers"`
	Topics        int     `json:"topics"`
	Channels      int     `json:"channels"`
	Registrations int     `json:"registrations"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Health probes every lookupd (as last resolved) at once and returns
// their health, in the order of Addrs. It blocks for at most about twice
// the timeout.
func (c *Cluster) Health(ctx context.Context) []Health {
	return c.health(ctx, c.current(ctx))
}

// health probes ms at once; the result is parallel to ms.
func (c *Cluster) health(ctx context.Context, ms []*member) []Health {
	out := make([]Health, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		wg.Go(func() { out[i] = c.probe(ctx, m) })
	}
	wg.Wait()
	return out
}

func (c *Cluster) probe(ctx context.Context, m *member) Health {
	h := Health{Addr: m.addr}
	start := time.Now()
	body, err := c.get(ctx, m.base+"/ping")
	h.Latency = time.Since(start)
	if err == nil && strings.TrimSpace(string(body)) != "OK" {
		err = fmt.Errorf("/ping answered %q", truncate(string(body), 64))
	}
	if err != nil {
		h.Err = err
		return h
	}
	if body, err := c.get(ctx, m.base+"/stats"); err == nil {
		var st struct {
			Stats
			Version string `json:"version"`
		}
		if json.Unmarshal(body, &st) == nil {
			h.Version, h.Stats = st.Version, &st.Stats
			return h
		}
	}
	if body, err := c.get(ctx, m.base+"/info"); err == nil {
		var info struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(body, &info) == nil {
			h.Version = info.Version
		}
	}
	return h
}

// get performs a GET bounded by the timeout and returns a 2xx body (at
// most 1 MiB).
func (c *Cluster) get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.merged.Do(req)
	if err != nil {
		return nil, unwrapURL(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("http status %d", resp.StatusCode)
	}
	return body, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
