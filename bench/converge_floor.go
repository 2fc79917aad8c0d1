package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
)

// Sizes of one watcher exchange in the floor phase: a blocking query as
// clientmerge sends it (request line with topic, index and wait, Host,
// User-Agent, Accept-Encoding) and a /lookup answer with the headers
// lookupd writes and about eight producers.
const (
	floorRequestBytes  = 160
	floorResponseBytes = 1400
)

// FloorResult is the floor phase: the convergence fan-out (every watcher
// asked by every server at each event, and asking again) as bare TCP
// exchanges of the same sizes, with no HTTP, JSON or merge: what the
// machine's loopback TCP and Go's scheduler cost alone.
type FloorResult struct {
	Watchers      int `json:"watchers"`
	Servers       int `json:"servers"`
	Events        int `json:"events"`
	RequestBytes  int `json:"request_bytes"`
	ResponseBytes int `json:"response_bytes"`
	// First is, per watcher and event, the time from the event to the
	// first server's answer (what a join waits for); Last to the last
	// one's (what a leave waits for).
	First Latencies `json:"first"`
	Last  Latencies `json:"last"`
	// Missed counts watcher-events not complete within Settle.
	Missed int `json:"missed"`
	// CPUPerEventMs is the process's CPU (both sides) from the first event
	// to the last answer, per event; CPUPerExchangeUs per answer and
	// request.
	CPUPerEventMs    float64 `json:"cpu_per_event_ms"`
	CPUPerExchangeUs float64 `json:"cpu_per_exchange_us"`
}

// floorEvents announces events to the floor servers' connections.
type floorEvents struct {
	mu  sync.Mutex
	seq int
	at  []time.Time // at[e-1]: when event e fired
	ch  chan struct{}
}

func (f *floorEvents) fire() {
	f.mu.Lock()
	f.seq++
	f.at = append(f.at, time.Now())
	close(f.ch)
	f.ch = make(chan struct{})
	f.mu.Unlock()
}

// next waits for an event after seen and returns its number, or 0 when
// ctx ends.
func (f *floorEvents) next(ctx context.Context, seen int) int {
	for {
		f.mu.Lock()
		seq, ch := f.seq, f.ch
		f.mu.Unlock()
		if seq > seen {
			return seen + 1
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0
		}
	}
}

// floorArrivals records, per event and watcher, the first and last
// answer.
type floorArrivals struct {
	mu      sync.Mutex
	servers int
	first   [][]time.Time // [event-1][watcher]
	last    [][]time.Time
	count   [][]int
	done    []int // watchers with every answer, per event
}

func (a *floorArrivals) add(event, watcher int, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if event < 1 || event > len(a.first) {
		return
	}
	e := event - 1
	if a.count[e][watcher] == 0 {
		a.first[e][watcher] = at
	}
	a.last[e][watcher] = at
	if a.count[e][watcher]++; a.count[e][watcher] == a.servers {
		a.done[e]++
	}
}

func (a *floorArrivals) complete(event int) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.done[event-1]
}

// floorPhase runs the floor: cfg.Lookupds servers and cfg.Watchers
// watchers with a connection to each, in this process, one goroutine per
// connection on each side; cfg.FloorEvents events, each once every
// connection has answered the previous one and EventInterval has passed.
func floorPhase(ctx context.Context, cfg ConvergeConfig, logf func(string, ...any)) (*FloorResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ev := &floorEvents{ch: make(chan struct{})}
	arr := &floorArrivals{servers: cfg.Lookupds}
	for range cfg.FloorEvents {
		arr.first = append(arr.first, make([]time.Time, cfg.Watchers))
		arr.last = append(arr.last, make([]time.Time, cfg.Watchers))
		arr.count = append(arr.count, make([]int, cfg.Watchers))
		arr.done = append(arr.done, 0)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn // every connection, both sides, closed at the end
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	defer func() {
		cancel()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()

	var asked atomic.Int64 // first requests the servers have read
	var addrs []string
	for range cfg.Lookupds {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, ln.Addr().String())
		wg.Go(func() { <-ctx.Done(); ln.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if !track(c) {
					return
				}
				wg.Go(func() { floorServe(ctx, c, ev, &asked) })
			}
		})
	}
	for w := range cfg.Watchers {
		for _, addr := range addrs {
			d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: proc.HostAddr(w)}
			c, err := d.DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("floor: dial: %w", err)
			}
			if !track(c) {
				return nil, ctx.Err()
			}
			wg.Go(func() { floorAsk(c, w, arr) })
		}
	}
	conns0 := int64(cfg.Watchers * cfg.Lookupds)
	if err := waitUntil(ctx, cfg.Settle, "every floor connection's first request", func() bool { return asked.Load() == conns0 }); err != nil {
		return nil, err
	}
	logf("converge: floor: %d connections, %d events", conns0, cfg.FloorEvents)
	res := &FloorResult{Watchers: cfg.Watchers, Servers: cfg.Lookupds, Events: cfg.FloorEvents,
		RequestBytes: floorRequestBytes, ResponseBytes: floorResponseBytes}
	// The CPU is read across the idle gaps between events too; they cost
	// next to nothing beside the events.
	cpu0 := selfCPU()
	for e := 1; e <= cfg.FloorEvents; e++ {
		ev.fire()
		// An event not answered everywhere within Settle counts as missed.
		err := waitUntil(ctx, cfg.Settle, fmt.Sprintf("floor event %d answered everywhere", e), func() bool { return arr.complete(e) == cfg.Watchers })
		if err != nil && ctx.Err() != nil {
			return nil, err
		}
		if err := proc.Sleep(ctx, cfg.EventInterval); err != nil {
			return nil, err
		}
	}
	cpu := selfCPU() - cpu0
	var first, last []time.Duration
	arr.mu.Lock()
	ev.mu.Lock()
	for e := range cfg.FloorEvents {
		for w := range cfg.Watchers {
			if arr.count[e][w] < cfg.Lookupds {
				res.Missed++
				continue
			}
			first = append(first, arr.first[e][w].Sub(ev.at[e]))
			last = append(last, arr.last[e][w].Sub(ev.at[e]))
		}
	}
	ev.mu.Unlock()
	arr.mu.Unlock()
	res.First, res.Last = summarise(first), summarise(last)
	res.CPUPerEventMs = float64(cpu) / float64(time.Millisecond) / float64(cfg.FloorEvents)
	res.CPUPerExchangeUs = float64(cpu) / float64(time.Microsecond) / float64(cfg.FloorEvents*cfg.Watchers*cfg.Lookupds)
	return res, nil
}

// floorServe is a server connection: it reads a request, waits for the
// next event, answers it (the event's number in the first bytes), and
// again.
func floorServe(ctx context.Context, c net.Conn, ev *floorEvents, asked *atomic.Int64) {
	req := make([]byte, floorRequestBytes)
	resp := make([]byte, floorResponseBytes)
	seen := 0
	for first := true; ; first = false {
		if _, err := io.ReadFull(c, req); err != nil {
			return
		}
		if first {
			asked.Add(1)
		}
		if seen = ev.next(ctx, seen); seen == 0 {
			return
		}
		binary.BigEndian.PutUint64(resp, uint64(seen))
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}

// floorAsk is watcher w's connection to one server: it asks, records each
// answer's arrival and asks again.
func floorAsk(c net.Conn, w int, arr *floorArrivals) {
	req := make([]byte, floorRequestBytes)
	resp := make([]byte, floorResponseBytes)
	for {
		if _, err := c.Write(req); err != nil {
			return
		}
		if _, err := io.ReadFull(c, resp); err != nil {
			return // the phase closed the connection
		}
		arr.add(int(binary.BigEndian.Uint64(resp)), w, time.Now())
	}
}
