package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/lookupd/lookupd/clientmerge"
)

// DNSConfig is the scale and bounds of the DNS benchmark (lookupbench
// -dns). Every loop is bounded by count and by time.
type DNSConfig struct {
	Lookupds  int           `json:"lookupds"`  // lookupds behind the merged server, all with the same registrations
	Producers int           `json:"producers"` // producers registered with every lookupd
	Topics    int           `json:"topics"`    // topics per producer (no channels)
	Share     int           `json:"share"`     // about this many producers carry each topic
	Clients   int           `json:"clients"`   // concurrent clients per load
	Duration  time.Duration `json:"duration"`  // time per load, in all
	Slices    int           `json:"slices"`    // the loads alternate in this many windows each
	Seed      uint64        `json:"seed"`      // seeds the clients' topic choice
}

// DefaultDNSConfig: 3 lookupds, 200 producers x 20 topics (1,000 topics of
// about 4 producers each), 16 clients, 5 s per load in 5 slices.
func DefaultDNSConfig() DNSConfig {
	return DNSConfig{Lookupds: 3, Producers: 200, Topics: 20, Share: 4, Clients: 16, Duration: 5 * time.Second, Slices: 5, Seed: 1}
}

// Validate checks the bounds.
func (c DNSConfig) Validate() error {
	switch {
	case c.Lookupds < 1 || c.Lookupds > 16:
		return errors.New("lookupds must be in 1..16")
	}
	return validateSlicedLoad(c.Producers, c.Topics, c.Share, c.Clients, c.Duration, c.Slices)
}

// validateSlicedLoad checks the bounds that the DNS and security
// benchmarks share: the registrations, the clients and the sliced time.
func validateSlicedLoad(producers, topics, share, clients int, duration time.Duration, slices int) error {
	switch {
	case producers < 1 || topics < 1 || share < 1:
		return errors.New("producers, topics and share must be positive")
	case producers > 10000:
		return errors.New("at most 10,000 producers")
	case clients < 1 || clients > 1024:
		return errors.New("clients must be in 1..1024")
	case duration <= 0 || duration > 10*time.Minute:
		return errors.New("duration must be in (0, 10m]")
	case slices < 1 || slices > 100:
		return errors.New("slices must be in 1..100")
	}
	return nil
}

func (c DNSConfig) layout() Layout { return NewLayout(c.Producers, c.Topics, 0, c.Share) }

// DNSLaunchers start the processes of the DNS benchmark; the caller stops
// nothing, RunDNS stops what they return.
type DNSLaunchers struct {
	// Lookupd starts a lookupd (ours) with its DNS server on.
	Lookupd func(ctx context.Context) (*Process, error)
	// Merged starts the merged DNS server over the lookupds at httpAddrs.
	Merged func(ctx context.Context, httpAddrs []string) (*Process, error)
}

// DNSLoad is the result of one load.
type DNSLoad struct {
	Name    string  `json:"name"`
	Count   int64   `json:"count"`
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`   // answers per second
	P50     float64 `json:"p50_us"` // µs
	P99     float64 `json:"p99_us"` // µs
	// CPU is the daemons' CPU time per answer in µs: every lookupd's, and
	// the merged server's for the merged loads (clientmerge runs in the
	// load generator and its own CPU is not counted).
	CPU float64 `json:"cpu_us"`
}

// DNSReport is the outcome of RunDNS.
type DNSReport struct {
	Started time.Time `json:"started"`
	Command string    `json:"command"`
	Machine string    `json:"machine"`
	Config  DNSConfig `json:"config"`
	Layout  string    `json:"layout"`
	Loads   []DNSLoad `json:"loads"`
	Seconds float64   `json:"seconds"`
}

// The loads, in the order their slices alternate.
const (
	LoadLookupdDNS    = "DNS SRV, one lookupd"
	LoadLookupdHTTP   = "HTTP /lookup, one lookupd"
	LoadMergedDNS     = "DNS SRV, merged server over all lookupds"
	LoadMergedLibrary = "clientmerge.Lookup over all lookupds"
)

// RunDNS starts cfg.Lookupds lookupds with DNS on and registers the same
// producers with each, starts the merged DNS server over them, and then
// measures four loads in alternating slices, each answer checked against
// the layout: SRV queries to one lookupd's DNS server, /lookup on that
// lookupd, SRV queries to the merged server, and clientmerge.Lookup over
// all lookupds (in this process). Progress goes to log.
func RunDNS(ctx context.Context, ls DNSLaunchers, cfg DNSConfig, log io.Writer) (*DNSReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	lay := cfg.layout()
	rep := &DNSReport{Started: start.UTC(), Config: cfg, Layout: lay.String()}
	var procs []*Process
	defer func() { stopAll(procs) }() // procs grows below
	var httpAddrs []string
	for range cfg.Lookupds {
		p, err := ls.Lookupd(ctx)
		if err != nil {
			return nil, err
		}
		procs = append(procs, p)
		if p.DNSAddr == "" {
			return nil, errors.New("a lookupd announced no DNS address")
		}
		httpAddrs = append(httpAddrs, p.HTTPAddr)
		conns, err := registerAll(ctx, p.TCPAddr, lay)
		defer func() {
			for _, c := range conns {
				c.close()
			}
		}()
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "  lookupd %s: %d producers registered\n", p.HTTPAddr, len(conns))
	}
	lookupds := procs[:cfg.Lookupds]
	merged, err := ls.Merged(ctx, httpAddrs)
	if err != nil {
		return nil, err
	}
	procs = append(procs, merged)
	mc, err := clientmerge.New(httpAddrs, clientmerge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		return nil, err
	}
	defer mc.CloseIdleConnections()

	counts := lay.ProducerCounts()
	topics := carried(counts)
	srvQueries := make([][]byte, len(counts))
	for _, t := range topics {
		m := new(dns.Msg)
		m.SetQuestion("_"+TopicName(t)+"._tcp.lookupd.", dns.TypeSRV)
		m.SetEdns0(1232, false)
		if srvQueries[t], err = m.Pack(); err != nil {
			return nil, err
		}
	}
	one := lookupds[0]
	loads := []*load{
		{name: LoadLookupdDNS, cpu: lookupds, worker: dnsWorker(one.DNSAddr, srvQueries, counts)},
		{name: LoadLookupdHTTP, cpu: lookupds, worker: lookupWorker(one.HTTPAddr, counts)},
		{name: LoadMergedDNS, cpu: procs, worker: dnsWorker(merged.DNSAddr, srvQueries, counts)},
		{name: LoadMergedLibrary, cpu: lookupds, worker: libraryWorker(mc, counts)},
	}
	for i, l := range loads {
		l.rngs = make([]*rand.Rand, cfg.Clients)
		for w := range l.rngs {
			l.rngs[w] = rand.New(rand.NewPCG(cfg.Seed, uint64(i)<<32|uint64(w)))
		}
	}
	slice := cfg.Duration / time.Duration(cfg.Slices)
	for range cfg.Slices {
		for _, l := range loads {
			if err := l.run(ctx, cfg.Clients, slice, topics); err != nil {
				hc := newHTTPConn(one.HTTPAddr)
				if st, _, body, herr := hc.do(getRequest(one.HTTPAddr, "/stats"), []byte{}); herr == nil && st == http.StatusOK {
					err = fmt.Errorf("%w\nlookupd /stats: %s", err, body)
				}
				hc.close()
				for _, p := range procs {
					if tail := p.Tail(10); tail != "" {
						err = fmt.Errorf("%w\n%s output (tail):\n%s", err, p.Kind, tail)
					}
				}
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
		}
	}
	for _, l := range loads {
		d := DNSLoad{Name: l.name, Count: l.count, Seconds: l.el.Seconds(), Rate: float64(l.count) / l.el.Seconds(),
			P50: float64(l.hist.quantile(0.5)) / 1e3, P99: float64(l.hist.quantile(0.99)) / 1e3, CPU: perOp(l.cpuTime, l.count)}
		rep.Loads = append(rep.Loads, d)
		fmt.Fprintf(log, "  %s: %d answers in %s (%.0f/s), p50 %.0fµs p99 %.0fµs, daemons' cpu %.1fµs/answer\n",
			d.Name, d.Count, l.el.Round(time.Millisecond), d.Rate, d.P50, d.P99, d.CPU)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// registerAll connects every producer of lay to the lookupd at addr and
// registers its topics. The caller closes the returned connections (also
// on error), which ends the registrations.
func registerAll(ctx context.Context, addr string, lay Layout) ([]*producerConn, error) {
	conns := make([]*producerConn, 0, lay.Producers)
	for p := range lay.Producers {
		if err := ctx.Err(); err != nil {
			return conns, err
		}
		c, err := dialProducer(addr, p, lay.Identity(p))
		if err != nil {
			return conns, fmt.Errorf("producer %d: %w", p, err)
		}
		conns = append(conns, c)
		if _, err := c.pipeline(lay.RegisterCommands(p), 16); err != nil {
			return conns, fmt.Errorf("producer %d: register: %w", p, err)
		}
	}
	return conns, nil
}

// maxAnswersPerClient bounds each worker's loop by count as well as by
// time.
const maxAnswersPerClient = 50_000_000

// load is one kind of query, accumulated over its slices.
type load struct {
	name   string
	cpu    []*Process // whose CPU time counts
	worker func() (ask func(topic int) error, done func(), err error)
	rngs   []*rand.Rand

	hist    hist
	count   int64
	el      time.Duration
	cpuTime time.Duration
}

func cpuOf(ps []*Process) (time.Duration, error) {
	var sum time.Duration
	for _, p := range ps {
		if p.Exited() {
			return 0, fmt.Errorf("%s exited unexpectedly", p.Kind)
		}
		st, err := p.Stats()
		if err != nil {
			return 0, err
		}
		sum += st.CPU
	}
	return sum, nil
}

// run runs clients workers for d, each asking for topics picked (seeded)
// uniformly from topics back to back.
func (l *load) run(ctx context.Context, clients int, d time.Duration, topics []int) error {
	hists := make([]hist, clients)
	counts := make([]int64, clients)
	errs := make([]error, clients)
	before, err := cpuOf(l.cpu)
	if err != nil {
		return err
	}
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var start time.Time
	for w := range clients {
		ask, done, err := l.worker()
		if err != nil {
			close(gate)
			wg.Wait()
			return err
		}
		wg.Go(func() {
			defer done()
			rng := l.rngs[w]
			<-gate
			deadline := start.Add(d)
			for range maxAnswersPerClient {
				t0 := time.Now()
				if !t0.Before(deadline) || ctx.Err() != nil {
					return
				}
				if err := ask(topics[rng.IntN(len(topics))]); err != nil {
					errs[w] = err
					return
				}
				hists[w].add(time.Since(t0))
				counts[w]++
			}
		})
	}
	start = time.Now()
	close(gate)
	wg.Wait()
	el := time.Since(start)
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		return err
	}
	after, err := cpuOf(l.cpu)
	if err != nil {
		return err
	}
	for w := range clients {
		l.hist.merge(&hists[w])
		l.count += counts[w]
	}
	l.el += el
	l.cpuTime += after - before
	return nil
}

// dnsTimeout bounds the wait for one DNS answer. UDP has no retries here:
// a lost datagram fails the run rather than skewing the latencies.
const dnsTimeout = 10 * time.Second

// dnsWorker asks addr over UDP with the prebuilt queries and checks that
// each answer is NOERROR, not truncated, with one record per producer.
func dnsWorker(addr string, queries [][]byte, counts []int) func() (func(int) error, func(), error) {
	return func() (func(int) error, func(), error) {
		c, err := net.Dial("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		out := make([]byte, 512)
		in := make([]byte, 65535)
		var id uint16
		ask := func(t int) error {
			q := queries[t]
			n := copy(out, q)
			id++
			binary.BigEndian.PutUint16(out, id)
			c.SetDeadline(time.Now().Add(dnsTimeout))
			if _, err := c.Write(out[:n]); err != nil {
				return err
			}
			for {
				m, err := c.Read(in)
				if err != nil {
					return fmt.Errorf("%s: %w", TopicName(t), err)
				}
				if m < 12 || binary.BigEndian.Uint16(in) != id {
					continue // a late answer to an earlier query
				}
				flags := binary.BigEndian.Uint16(in[2:])
				an := int(binary.BigEndian.Uint16(in[6:]))
				if flags&0x8000 == 0 || flags&0x0200 != 0 || flags&0x000f != 0 || an != counts[t] {
					return fmt.Errorf("%s: flags %#04x, %d answers; want NOERROR with %d", TopicName(t), flags, an, counts[t])
				}
				return nil
			}
		}
		return ask, func() { c.Close() }, nil
	}
}

// lookupWorker asks /lookup on a keep-alive connection and checks status
// 200 and a body.
func lookupWorker(addr string, _ []int) func() (func(int) error, func(), error) {
	return secureLookupWorker(addr, nil, "")
}

// libraryWorker calls clientmerge.Lookup and checks the merged producer
// count and that every lookupd answered.
func libraryWorker(c *clientmerge.Client, counts []int) func() (func(int) error, func(), error) {
	return func() (func(int) error, func(), error) {
		ask := func(t int) error {
			res, err := c.Lookup(context.Background(), TopicName(t))
			if err != nil {
				return err
			}
			if len(res.Producers) != counts[t] {
				return fmt.Errorf("%s: %d producers, want %d", TopicName(t), len(res.Producers), counts[t])
			}
			return nil
		}
		return ask, func() {}, nil
	}
}

// Markdown renders the report as a table.
func (r *DNSReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## lookupbench -dns run, %s\n\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "Machine: %s. Wall time %.0f s. Command: `%s`.\n\n", r.Machine, r.Seconds, r.Command)
	fmt.Fprintf(&b, "%d lookupds (ours, separate processes), each with the same %s; the merged DNS server (lookupctl dns, its own process) over all of them. "+
		"%d clients per load; the four loads alternate in %d slices, %s each in all. Every answer is checked (record or producer count).\n\n",
		r.Config.Lookupds, r.Layout, r.Config.Clients, r.Config.Slices, r.Config.Duration)
	b.WriteString("| load | answers/s | p50 µs | p99 µs | daemons' CPU per answer µs |\n|---|--:|--:|--:|--:|\n")
	for _, l := range r.Loads {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", l.Name, fmtNum(l.Rate), fmtNum(l.P50), fmtNum(l.P99), fmtNum(l.CPU))
	}
	return b.String()
}
