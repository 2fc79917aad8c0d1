package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// SecurityConfig is the scale and bounds of the security benchmark
// (lookupbench -security): /lookup throughput over plaintext, over TLS,
// with bearer tokens, and with both, in one run.
type SecurityConfig struct {
	Producers int           `json:"producers"` // producers registered with every lookupd
	Topics    int           `json:"topics"`    // topics per producer (no channels)
	Share     int           `json:"share"`     // about this many producers carry each topic
	Clients   int           `json:"clients"`   // concurrent keep-alive clients per load
	Duration  time.Duration `json:"duration"`  // time per load, in all
	Slices    int           `json:"slices"`    // the loads alternate in this many windows each
	Seed      uint64        `json:"seed"`      // seeds the clients' topic choice
	// MinRatio is the least throughput each secured load must reach, as a
	// fraction of the plaintext one's; below it the run fails.
	MinRatio float64 `json:"min_ratio"`
}

// DefaultSecurityConfig: 200 producers x 20 topics (1,000 topics of about
// 4 producers each), 16 clients, 8 s per load in 8 slices, and the 0.8
// target.
func DefaultSecurityConfig() SecurityConfig {
	return SecurityConfig{Producers: 200, Topics: 20, Share: 4, Clients: 16, Duration: 8 * time.Second, Slices: 8, Seed: 1, MinRatio: 0.8}
}

// Validate checks the bounds.
func (c SecurityConfig) Validate() error {
	if err := validateSlicedLoad(c.Producers, c.Topics, c.Share, c.Clients, c.Duration, c.Slices); err != nil {
		return err
	}
	if c.MinRatio < 0 || c.MinRatio > 1 {
		return errors.New("min ratio must be in 0..1")
	}
	return nil
}

// SecurityMode is how one lookupd of the benchmark is configured and
// asked.
type SecurityMode struct {
	Name  string `json:"name"`
	TLS   bool   `json:"tls"`   // HTTPS (--tls-cert, --tls-key)
	Token bool   `json:"token"` // --auth-file --auth-reads; requests carry a read token
}

// SecurityModes are the loads, in the order their slices alternate; the
// first is the plaintext baseline, and the last a second plaintext
// lookupd, a control: how far it lands from the first is what separate
// processes alone make of the same work.
var SecurityModes = []SecurityMode{
	{Name: "plaintext"},
	{Name: "TLS", TLS: true},
	{Name: "bearer token", Token: true},
	{Name: "TLS + bearer token", TLS: true, Token: true},
	{Name: "plaintext (control: a second lookupd)"},
}

// SecurityLaunch starts a lookupd (ours) configured for mode; the client
// side's TLS roots and token are in creds.
type SecurityLaunch func(ctx context.Context, mode SecurityMode) (*Process, error)

// SecurityCreds are what the clients present: the roots that verify the
// lookupds' certificate, and the read token.
type SecurityCreds struct {
	TLS   *tls.Config
	Token string
}

// SecurityLoad is the result of one load.
type SecurityLoad struct {
	Mode    SecurityMode `json:"mode"`
	Count   int64        `json:"count"`
	Seconds float64      `json:"seconds"`
	Rate    float64      `json:"rate"`   // answers per second
	Ratio   float64      `json:"ratio"`  // Rate over the plaintext load's
	P50     float64      `json:"p50_us"` // µs
	P99     float64      `json:"p99_us"` // µs
	CPU     float64      `json:"cpu_us"` // the lookupd's CPU time per answer, µs
}

// SecurityReport is the outcome of RunSecurity.
type SecurityReport struct {
	Started time.Time      `json:"started"`
	Command string         `json:"command"`
	Machine string         `json:"machine"`
	Config  SecurityConfig `json:"config"`
	Layout  string         `json:"layout"`
	Loads   []SecurityLoad `json:"loads"`
	Seconds float64        `json:"seconds"`
	// Pass reports whether every load reached MinRatio.
	Pass bool `json:"pass"`
}

// ErrBelowTarget is returned, with the report, when a secured load's
// throughput is below Config.MinRatio of the plaintext one's.
var ErrBelowTarget = errors.New("below the throughput target")

// RunSecurity starts one lookupd per mode (separate processes, each with
// the same producers registered over V1), then measures /lookup on each
// with cfg.Clients keep-alive clients (HTTPS ones handshake once per
// connection) in alternating slices, every answer checked for status 200
// and a body. It returns the report, and ErrBelowTarget (wrapped) with it
// if a secured load falls below the target. Progress goes to log.
func RunSecurity(ctx context.Context, launch SecurityLaunch, creds SecurityCreds, cfg SecurityConfig, log io.Writer) (*SecurityReport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	lay := NewLayout(cfg.Producers, cfg.Topics, 0, cfg.Share)
	rep := &SecurityReport{Started: start.UTC(), Config: cfg, Layout: lay.String()}
	var procs []*Process
	defer func() { stopAll(procs) }() // procs grows below
	counts := lay.ProducerCounts()
	topics := carried(counts)
	loads := make([]*load, len(SecurityModes))
	for i, m := range SecurityModes {
		p, err := launch(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		procs = append(procs, p)
		conns, err := registerAll(ctx, p.TCPAddr, lay)
		defer func() {
			for _, c := range conns {
				c.close()
			}
		}()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		var tc *tls.Config
		var token string
		if m.TLS {
			tc = creds.TLS
		}
		if m.Token {
			token = creds.Token
		}
		loads[i] = &load{name: m.Name, cpu: []*Process{p}, worker: secureLookupWorker(p.HTTPAddr, tc, token)}
		loads[i].rngs = make([]*rand.Rand, cfg.Clients)
		for w := range loads[i].rngs {
			loads[i].rngs[w] = rand.New(rand.NewPCG(cfg.Seed, uint64(i)<<32|uint64(w)))
		}
		fmt.Fprintf(log, "  %s lookupd %s: %d producers registered\n", m.Name, p.HTTPAddr, len(conns))
	}
	slice := cfg.Duration / time.Duration(cfg.Slices)
	for range cfg.Slices {
		for i, l := range loads {
			if err := l.run(ctx, cfg.Clients, slice, topics); err != nil {
				if tail := procs[i].Tail(10); tail != "" {
					err = fmt.Errorf("%w\n%s output (tail):\n%s", err, procs[i].Kind, tail)
				}
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
		}
	}
	rep.Pass = true
	var base float64
	for i, l := range loads {
		d := SecurityLoad{Mode: SecurityModes[i], Count: l.count, Seconds: l.el.Seconds(), Rate: float64(l.count) / l.el.Seconds(),
			P50: float64(l.hist.quantile(0.5)) / 1e3, P99: float64(l.hist.quantile(0.99)) / 1e3, CPU: perOp(l.cpuTime, l.count)}
		if i == 0 {
			base = d.Rate
		}
		d.Ratio = d.Rate / base
		if d.Ratio < cfg.MinRatio {
			rep.Pass = false
		}
		rep.Loads = append(rep.Loads, d)
		fmt.Fprintf(log, "  %s: %d answers in %s (%.0f/s, %.2fx plaintext), p50 %.0fµs p99 %.0fµs, lookupd cpu %.1fµs/answer\n",
			d.Mode.Name, d.Count, l.el.Round(time.Millisecond), d.Rate, d.Ratio, d.P50, d.P99, d.CPU)
	}
	rep.Seconds = time.Since(start).Seconds()
	if !rep.Pass {
		return rep, fmt.Errorf("%w: a secured load under %.2fx the plaintext throughput", ErrBelowTarget, cfg.MinRatio)
	}
	return rep, nil
}

// secureLookupWorker asks /lookup on a keep-alive connection, over TLS if
// tc is not nil and with a bearer token if token is not empty, and checks
// status 200 and a body.
func secureLookupWorker(addr string, tc *tls.Config, token string) func() (func(int) error, func(), error) {
	return func() (func(int) error, func(), error) {
		hc := newHTTPConn(addr)
		if tc != nil {
			hc = newHTTPSConn(addr, tc)
		}
		if err := hc.dial(); err != nil {
			return nil, nil, err
		}
		reqs := make(map[int][]byte)
		ask := func(t int) error {
			req, ok := reqs[t]
			if !ok {
				req = getRequestAuth(addr, "/lookup?topic="+TopicName(t), token)
				reqs[t] = req
			}
			st, nb, _, err := hc.do(req, nil)
			if err != nil {
				return err
			}
			if st != http.StatusOK || nb == 0 {
				return fmt.Errorf("/lookup %s: status %d, %d body bytes", TopicName(t), st, nb)
			}
			return nil
		}
		return ask, hc.close, nil
	}
}

// Markdown renders the report as a table.
func (r *SecurityReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "## lookupbench -security run, %s\n\n", r.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "Machine: %s. Wall time %.0f s. Command: `%s`.\n\n", r.Machine, r.Seconds, r.Command)
	fmt.Fprintf(&b, "One lookupd (ours, a separate process) per row, each with the same %s. "+
		"%d keep-alive clients per load (an HTTPS client makes one TLS handshake per connection, then reuses it); "+
		"the loads alternate in %d slices, %s each in all. Every answer is checked (status 200 and a body). "+
		"Target: every row at least %.2fx the plaintext answers/s: %s.\n\n",
		r.Layout, r.Config.Clients, r.Config.Slices, r.Config.Duration, r.Config.MinRatio, map[bool]string{true: "met", false: "MISSED"}[r.Pass])
	b.WriteString("| /lookup over | answers/s | × plaintext | p50 µs | p99 µs | lookupd CPU per answer µs |\n|---|--:|--:|--:|--:|--:|\n")
	for _, l := range r.Loads {
		fmt.Fprintf(&b, "| %s | %s | %.2f | %s | %s | %s |\n", l.Mode.Name, fmtNum(l.Rate), l.Ratio, fmtNum(l.P50), fmtNum(l.P99), fmtNum(l.CPU))
	}
	return b.String()
}
