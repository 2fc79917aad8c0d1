package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/wire"
)

// BlockedResult is the memory one lookupd spends on blocked queries.
type BlockedResult struct {
	Queries      int     `json:"queries"`
	Topics       int     `json:"topics"`
	RSSBeforeKiB int64   `json:"rss_before_kib"`
	RSSAfterKiB  int64   `json:"rss_after_kib"`
	PerQueryKiB  float64 `json:"per_query_kib"`
}

// IsoRun is one measurement of the CPU a change to one topic costs while
// Others blocked queries wait on other topics.
type IsoRun struct {
	Others      int     `json:"others"`
	PerChangeUs float64 `json:"per_change_us"`
}

// IsolationResult holds every IsoRun and the median per number of other
// waiters; Ratio is the largest median over the smallest.
type IsolationResult struct {
	Changes int             `json:"changes"`
	Runs    []IsoRun        `json:"runs"`
	Median  map[int]float64 `json:"median_per_change_us"`
	Ratio   float64         `json:"ratio"`
}

// memTopic names the topic of blocked query i.
func memTopic(i int) string { return fmt.Sprintf("waiter-%05d", i) }

const (
	hotTopic   = "hot"
	hotChannel = "c#ephemeral" // removed again by UNREGISTER
	// blockWait is the wait of the held queries: longer than any phase.
	blockWait = "10m"
)

// blockConn is one keep-alive HTTP/1.1 connection asking /lookup of one
// topic, first plainly, then as a blocking query naming the index of the
// last answer. Used by one goroutine at a time.
type blockConn struct {
	c     net.Conn
	br    *bufio.Reader
	addr  string
	topic string
	index uint64
}

// dialBlock connects from simulated host i's address (proc.HostAddr), so
// that lookupd's per-address cap on blocked queries
// (--max-blocking-queries-per-ip) counts each waiter as a client of its
// own, as the consumers it stands for are.
func dialBlock(addr string, i int, topic string) (*blockConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: proc.HostAddr(i)}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return &blockConn{c: c, br: bufio.NewReaderSize(c, 1024), addr: addr, topic: topic}, nil
}

// send writes the next request: plain while no index is known, else a
// blocking query on the last index.
func (b *blockConn) send() error {
	q := "/lookup?topic=" + b.topic
	if b.index != 0 {
		q += "&index=" + strconv.FormatUint(b.index, 10) + "&wait=" + blockWait
	}
	b.c.SetWriteDeadline(time.Now().Add(ioTimeout))
	_, err := io.WriteString(b.c, "GET "+q+" HTTP/1.1\r\nHost: "+b.addr+"\r\n\r\n")
	return err
}

var (
	hdrIndex     = []byte("x-lookupd-index:")
	hdrLength    = []byte("content-length:")
	statusPrefix = []byte("HTTP/1.1 ")
)

// recv reads one answer (200 or 404) and keeps its index.
func (b *blockConn) recv() error {
	b.c.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := b.br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, statusPrefix) || len(line) < 12 {
		return fmt.Errorf("bad status line %q", line)
	}
	if code := string(line[9:12]); code != "200" && code != "404" {
		return fmt.Errorf("status %s", code)
	}
	length := int64(-1)
	b.index = 0
	for {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			break
		}
		switch {
		case hasPrefixFold(line, hdrIndex):
			b.index, _ = strconv.ParseUint(string(bytes.TrimSpace(line[len(hdrIndex):])), 10, 64)
		case hasPrefixFold(line, hdrLength):
			length, _ = strconv.ParseInt(string(bytes.TrimSpace(line[len(hdrLength):])), 10, 64)
		}
	}
	if length < 0 || b.index == 0 {
		return errors.New("answer without Content-Length or X-Lookupd-Index")
	}
	_, err = b.br.Discard(int(length))
	return err
}

// hold asks plainly, then sends the blocking query and returns without
// waiting for it.
func (b *blockConn) hold() error {
	if err := b.send(); err != nil {
		return err
	}
	if err := b.recv(); err != nil {
		return err
	}
	return b.send()
}

// blockingWaiting reads how many blocked queries a lookupd holds, from
// its /stats.
func blockingWaiting(ctx context.Context, hc *http.Client, httpAddr string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+httpAddr+"/stats", nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Blocking struct {
			Waiting int `json:"waiting"`
		} `json:"blocking"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return 0, fmt.Errorf("decode /stats: %w", err)
	}
	return st.Blocking.Waiting, nil
}

// openWaiters fills conns[from:to] with held blocking queries, 64 dials
// at a time.
func openWaiters(ctx context.Context, httpAddr string, conns []*blockConn, from, to int) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				b, err := dialBlock(httpAddr, i, memTopic(i))
				if err == nil {
					err = b.hold()
				}
				if err != nil {
					errs <- fmt.Errorf("waiter %d: %w", i, err)
					return
				}
				conns[i] = b
			}
		})
	}
	wg.Wait()
	close(errs)
	return errors.Join(<-errs, ctx.Err())
}

func closeWaiters(conns []*blockConn, from, to int) {
	for i := from; i < to; i++ {
		if conns[i] != nil {
			conns[i].c.Close()
			conns[i] = nil
		}
	}
}

// SettledStats waits until a process's RSS stops moving (two readings
// 100 ms apart within 0.5%) or max passes, and returns the last reading.
// It does nothing to the process.
func SettledStats(ctx context.Context, p *proc.Process, max time.Duration) (proc.Stats, error) {
	deadline := time.Now().Add(max)
	prev, err := p.Stats()
	if err != nil {
		return prev, err
	}
	for time.Now().Before(deadline) {
		if err := proc.Sleep(ctx, 100*time.Millisecond); err != nil {
			return prev, err
		}
		cur, err := p.Stats()
		if err != nil {
			return cur, err
		}
		d := cur.RSS - prev.RSS
		prev = cur
		if d >= -cur.RSS/200 && d <= cur.RSS/200 {
			break
		}
	}
	return prev, nil
}

// blockedPhase holds cfg.MemWaiters blocking queries on one lookupd, each
// on a topic of its own, and reads the RSS they cost; then it changes one
// other topic cfg.IsoChanges times with each number of cfg.IsoOthers
// queries held elsewhere and reads the CPU per change.
func blockedPhase(ctx context.Context, l Launcher, cfg ConvergeConfig, rep *ConvergeReport, logf func(string, ...any)) error {
	ps, err := launchN(ctx, l, Ours, 1)
	if err != nil {
		return err
	}
	defer stopAll(ps)
	d := ps[0]
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()

	// Every topic exists, registered by one producer, as topics consumers
	// follow would be.
	prod, err := dialProducer(d.TCPAddr, 0, wire.ProducerInfo{Hostname: "blocked", BroadcastAddress: "127.0.0.1", TCPPort: 4150, HTTPPort: 4151, Version: "1.3.0"})
	if err != nil {
		return err
	}
	defer prod.close()
	cmds := [][]byte{wire.EncodeRegister(hotTopic, "")}
	for i := range cfg.MemWaiters {
		cmds = append(cmds, wire.EncodeRegister(memTopic(i), ""))
	}
	if _, err := prod.pipeline(cmds, 64); err != nil {
		return fmt.Errorf("register topics: %w", err)
	}

	before, err := SettledStats(ctx, d.Process, 5*time.Second)
	if err != nil {
		return err
	}
	n := cfg.MemWaiters
	conns := make([]*blockConn, n)
	defer closeWaiters(conns, 0, n)
	if err := openWaiters(ctx, d.HTTPAddr, conns, 0, n); err != nil {
		return err
	}
	waiting := func(want int) error {
		return waitUntil(ctx, 60*time.Second, fmt.Sprintf("%d blocked queries", want), func() bool {
			w, err := blockingWaiting(ctx, hc, d.HTTPAddr)
			return err == nil && w == want
		})
	}
	if err := waiting(n); err != nil {
		return err
	}
	after, err := SettledStats(ctx, d.Process, 5*time.Second)
	if err != nil {
		return err
	}
	rep.Blocked = &BlockedResult{
		Queries: n, Topics: n, RSSBeforeKiB: before.RSS >> 10, RSSAfterKiB: after.RSS >> 10,
		PerQueryKiB: float64(after.RSS-before.RSS) / 1024 / float64(n),
	}
	logf("  [blocked] lookupd at %s (pid %d)", d.HTTPAddr, d.PID())
	logf("  [blocked] %d queries: RSS %d -> %d KiB, %.2f KiB each", n, before.RSS>>10, after.RSS>>10, rep.Blocked.PerQueryKiB)
	if os.Getenv("CONVERGEBENCH_PAUSE") != "" {
		proc.Sleep(ctx, time.Minute)
	}

	if len(cfg.IsoOthers) == 0 {
		return nil
	}
	hot, err := dialBlock(d.HTTPAddr, n, hotTopic)
	if err != nil {
		return err
	}
	defer hot.c.Close()
	if err := hot.send(); err != nil {
		return err
	}
	if err := hot.recv(); err != nil {
		return err
	}
	iso := &IsolationResult{Changes: cfg.IsoChanges, Median: map[int]float64{}}
	held := n
	// Each change adds the hot topic's channel or removes it, in turn (an
	// ephemeral channel, so that UNREGISTER removes it from /lookup).
	toggles := [][]byte{wire.EncodeRegister(hotTopic, hotChannel), wire.EncodeUnregister(hotTopic, hotChannel)}
	changes := 0
	change := func() error {
		_, err := prod.pipeline(toggles[changes%2:changes%2+1], 1)
		changes++
		return err
	}
	for range cfg.IsoRounds {
		for _, others := range cfg.IsoOthers {
			if others < held {
				closeWaiters(conns, others, held)
			} else if others > held {
				if err := openWaiters(ctx, d.HTTPAddr, conns, held, others); err != nil {
					return err
				}
			}
			held = others
			if err := waiting(others); err != nil {
				return err
			}
			// Let the daemon finish with the connections that came or went.
			if err := proc.Sleep(ctx, time.Second); err != nil {
				return err
			}
			if err := hot.send(); err != nil {
				return err
			}
			if err := waiting(others + 1); err != nil {
				return err
			}
			st0, err := d.Stats()
			if err != nil {
				return err
			}
			for range cfg.IsoChanges {
				if err := change(); err != nil {
					return fmt.Errorf("change: %w", err)
				}
				if err := hot.recv(); err != nil {
					return fmt.Errorf("hot answer: %w", err)
				}
				if err := hot.send(); err != nil {
					return err
				}
			}
			st1, err := d.Stats()
			if err != nil {
				return err
			}
			run := IsoRun{Others: others, PerChangeUs: float64(st1.CPU-st0.CPU) / float64(time.Microsecond) / float64(cfg.IsoChanges)}
			iso.Runs = append(iso.Runs, run)
			logf("  [isolation] %d queries elsewhere: %.1f µs of lookupd CPU per change", others, run.PerChangeUs)
			// The blocked hot query is answered by the next change; the
			// next configuration waits for it again.
			if err := change(); err != nil {
				return err
			}
			if err := hot.recv(); err != nil {
				return err
			}
		}
	}
	lo, hi := 0.0, 0.0
	for _, others := range cfg.IsoOthers {
		var xs []float64
		for _, r := range iso.Runs {
			if r.Others == others {
				xs = append(xs, r.PerChangeUs)
			}
		}
		m := Median(xs)
		iso.Median[others] = m
		if lo == 0 || m < lo {
			lo = m
		}
		hi = max(hi, m)
	}
	if lo > 0 {
		iso.Ratio = hi / lo
	}
	rep.Isolation = iso
	return nil
}
