//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"
)

var (
	loadConnsFlag    = flag.Int("chaos.load.conns", 0, "producer connections held by TestLoad (default 500, 5000 with -chaos.long)")
	loadDurFlag      = flag.Duration("chaos.load.duration", 0, "measured phase of TestLoad (default 3s, 30s with -chaos.long)")
	loadIntervalFlag = flag.Duration("chaos.load.interval", 0, "heartbeat interval of TestLoad's producers (default 500ms)")
)

// loadHeartbeaters is the number of goroutines that share the producer
// connections; each PINGs all of its connections, then reads every reply.
const loadHeartbeaters = 50

// loadQueriers is the number of concurrent /lookup clients.
const loadQueriers = 32

// producersPerTopic is how many producers register each topic.
const producersPerTopic = 50

// TestLoad holds thousands of producer connections heartbeating against one
// lookupd process while 32 clients query /lookup, and checks that every
// PING is answered OK and every query answers the full producer list.
// The short form (go test) holds 500 connections for 3 s; -chaos.long
// (make chaos) holds 5,000 for 30 s. RLIMIT_NOFILE is raised in-process
// with syscall.Setrlimit (the lookupd child inherits it).
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("opens hundreds of connections; skipped with -short")
	}
	conns, dur, interval := 500, 3*time.Second, 500*time.Millisecond
	if long() {
		conns, dur = 5000, 30*time.Second
	}
	if *loadConnsFlag > 0 {
		conns = *loadConnsFlag
	}
	if *loadDurFlag > 0 {
		dur = *loadDurFlag
	}
	if *loadIntervalFlag > 0 {
		interval = *loadIntervalFlag
	}
	limit := raiseNoFile(t, uint64(2*conns+4096))
	if need := uint64(2*conns + 1024); limit < need {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d descriptors needed", limit, need)
	}
	d := startLookupd(t, "lookupd-load", "--inactive-producer-timeout=30s")
	topics := max(1, conns/producersPerTopic)
	topicName := func(i int) string { return fmt.Sprintf("load-%04d", i) }

	// Connect every producer, 64 at a time.
	start := time.Now()
	pcs := make([]*producerConn, conns)
	var connectErr atomic.Pointer[error]
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			pc, err := dialProducer(d.tcpAddr, 10000+i, topicName(i%topics), "c")
			if err != nil {
				err = fmt.Errorf("producer %d: %w", i, err)
				connectErr.CompareAndSwap(nil, &err)
				return
			}
			pcs[i] = pc
		})
	}
	wg.Wait()
	defer func() {
		for _, pc := range pcs {
			if pc != nil {
				pc.c.Close()
			}
		}
	}()
	if p := connectErr.Load(); p != nil {
		t.Fatal(*p)
	}
	connectTime := time.Since(start)
	if s := d.stats(t); s.Producers != conns {
		t.Fatalf("/stats lists %d producers after connecting %d", s.Producers, conns)
	}

	ctx, cancel := context.WithTimeout(t.Context(), dur)
	defer cancel()
	var (
		sent, ok       atomic.Int64
		hbErr          atomic.Pointer[error]
		queries, qerrs atomic.Int64
		qErr           atomic.Pointer[error]
		lat            = make([][]time.Duration, loadQueriers)
	)
	fail := func(p *atomic.Pointer[error], err error) { p.CompareAndSwap(nil, &err) }
	measureStart := time.Now()
	var load sync.WaitGroup
	per := (conns + loadHeartbeaters - 1) / loadHeartbeaters
	for w := range loadHeartbeaters {
		mine := pcs[min(w*per, conns):min((w+1)*per, conns)]
		if len(mine) == 0 {
			continue
		}
		load.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				for _, pc := range mine {
					_ = pc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := pc.c.Write([]byte("PING\n")); err != nil {
						fail(&hbErr, fmt.Errorf("write PING: %w", err))
						return
					}
					sent.Add(1)
				}
				for _, pc := range mine {
					_ = pc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
					b, err := nsq.ReadResponse(pc.r)
					if err != nil {
						fail(&hbErr, fmt.Errorf("read PING reply: %w", err))
						return
					}
					if string(b) != "OK" {
						fail(&hbErr, fmt.Errorf("PING answered %q", b))
						return
					}
					ok.Add(1)
				}
			}
		})
	}
	for q := range loadQueriers {
		load.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(q), 7))
			for ctx.Err() == nil {
				ti := rng.IntN(topics)
				want := conns / topics
				if ti < conns%topics {
					want++
				}
				t0 := time.Now()
				code, body, err := d.get(ctx, "/lookup?topic="+url.QueryEscape(topicName(ti)))
				if ctx.Err() != nil {
					return
				}
				lat[q] = append(lat[q], time.Since(t0))
				queries.Add(1)
				var lb struct {
					Producers []json.RawMessage `json:"producers"`
				}
				switch {
				case err != nil:
					err = fmt.Errorf("lookup: %w", err)
				case code != http.StatusOK:
					err = fmt.Errorf("lookup: status %d: %.100s", code, body)
				default:
					if err = json.Unmarshal(body, &lb); err == nil && len(lb.Producers) != want {
						err = fmt.Errorf("lookup %s: %d producers, want %d", topicName(ti), len(lb.Producers), want)
					}
				}
				if err != nil {
					qerrs.Add(1)
					fail(&qErr, err)
				}
			}
		})
	}
	load.Wait()
	elapsed := time.Since(measureStart)

	mem, _ := d.proc.Stats()
	rss, hwm := mem.RSS, mem.PeakRSS
	s := d.stats(t)
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	t.Logf("load: %d producer connections (connected in %s), %d topics x %d producers, heartbeat every %s, %d /lookup clients, %s measured",
		conns, connectTime.Round(time.Millisecond), topics, producersPerTopic, interval, loadQueriers, elapsed.Round(time.Millisecond))
	t.Logf("load: heartbeats %d sent, %d answered OK (%.0f/s); lookups %d (%.0f/s), %d failed; latency p50 %s p99 %s max %s",
		sent.Load(), ok.Load(), float64(ok.Load())/elapsed.Seconds(), queries.Load(), float64(queries.Load())/elapsed.Seconds(), qerrs.Load(),
		pct(0.50), pct(0.99), pct(1))
	t.Logf("load: lookupd RSS %.1f MiB (peak %.1f MiB); /stats producers %d, open %d, protocol errors %d, idle timeouts %d",
		float64(rss)/(1<<20), float64(hwm)/(1<<20), s.Producers, s.TCP.Open, s.TCP.Errors, s.TCP.Timeouts)

	if p := hbErr.Load(); p != nil {
		t.Errorf("heartbeat failed: %v", *p)
	}
	if sent.Load() != ok.Load() {
		t.Errorf("%d PINGs sent, %d answered OK", sent.Load(), ok.Load())
	}
	if ok.Load() < int64(conns) {
		t.Errorf("only %d heartbeats made", ok.Load())
	}
	if p := qErr.Load(); p != nil {
		t.Errorf("%d of %d queries failed; first: %v", qerrs.Load(), queries.Load(), *p)
	}
	if queries.Load() == 0 {
		t.Error("no query made")
	}
	if s.Producers != conns || s.TCP.Open != int64(conns) || s.TCP.Timeouts != 0 || s.TCP.Errors != 0 {
		t.Errorf("after the load /stats shows %d producers, %d open, %d timeouts, %d errors; want %d, %d, 0, 0",
			s.Producers, s.TCP.Open, s.TCP.Timeouts, s.TCP.Errors, conns, conns)
	}
}
