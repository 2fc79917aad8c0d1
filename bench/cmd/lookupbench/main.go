package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/bench/proc"
)

// childEnv is set in the environment of the daemon processes this command
// starts. The command itself does not need it (the -serve flag says what
// to do), but a test binary standing in for the command does: its
// TestMain sees it and runs the command instead of the tests.
const childEnv = "LOOKUPBENCH_CHILD"

func main() {
	os.Exit(run(proc.SignalContext(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// flags holds the parsed command line.
type flags struct {
	serve      string
	render     string
	daemonLog  string
	daemon     string
	pair       bool
	scale      bool
	rounds     int
	tenKTopics int
	out        string
	cfg        bench.Config

	dns           bool
	lookupds      int
	serveDNS      bool
	serveLookupds string
	security      bool
	minRatio      float64
	serveTLSCert  string
	serveTLSKey   string
	serveAuthFile string
}

func newFlagSet(f *flags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("lookupbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := bench.DefaultConfig()
	fs.StringVar(&f.serve, "serve", "", "internal: run one daemon (ours or nsq) and announce its addresses")
	fs.StringVar(&f.render, "render", "", "print the markdown of an earlier JSON report and exit")
	fs.StringVar(&f.daemonLog, "daemon-log-level", "warn", "log level of the daemons under test (both)")
	fs.StringVar(&f.daemon, "daemon", "ours", "daemon of a single run: ours or nsq")
	fs.BoolVar(&f.pair, "pair", false, "alternate ours and nsqlookupd for -rounds rounds and compare medians")
	fs.BoolVar(&f.scale, "scale", false, "run both daemons at 100, 1,000 and 10,000 producers")
	fs.IntVar(&f.rounds, "rounds", 0, "rounds per daemon (default 3 with -pair, else 1)")
	fs.IntVar(&f.tenKTopics, "tenk-topics", 4, "topics per producer at 10,000 producers in -scale (0 skips that scale)")
	fs.StringVar(&f.out, "out", filepath.Join("bench", "results", "latest.json"), "JSON output; the markdown goes beside it with .md")
	fs.IntVar(&f.cfg.Producers, "producers", d.Producers, "P: producers, one TCP connection each")
	fs.IntVar(&f.cfg.Topics, "topics", d.Topics, "T: topics per producer")
	fs.IntVar(&f.cfg.Channels, "channels", d.Channels, "C: channels per topic")
	fs.IntVar(&f.cfg.Share, "share", d.Share, "about this many producers carry each topic")
	fs.IntVar(&f.cfg.Clients, "clients", d.Clients, "N: concurrent keep-alive HTTP clients for /lookup and /ping")
	fs.DurationVar(&f.cfg.Duration, "duration", d.Duration, "length of each timed phase (/lookup, /ping, heartbeat)")
	fs.IntVar(&f.cfg.Slices, "slices", d.Slices, "the /lookup and /ping phases alternate in this many windows each (1 with -profile)")
	fs.Uint64Var(&f.cfg.Seed, "seed", d.Seed, "random seed of the HTTP clients' topic choice")
	fs.IntVar(&f.cfg.Pipeline, "pipeline", d.Pipeline, "REGISTER commands in flight per connection (1: wait for each reply)")
	fs.IntVar(&f.cfg.Calls, "calls", d.Calls, "at most this many /topics and /channels calls")
	fs.IntVar(&f.cfg.NodesCalls, "nodes-calls", d.NodesCalls, "at most this many /nodes calls (0 skips)")
	fs.DurationVar(&f.cfg.CallBudget, "call-budget", d.CallBudget, "no new /topics, /channels or /nodes call after this long")
	fs.DurationVar(&f.cfg.StormTimeout, "storm-timeout", d.StormTimeout, "fail if /nodes is not empty this long after the disconnect storm")
	fs.DurationVar(&f.cfg.Settle, "settle", d.Settle, "at most this long waiting for the daemon's RSS to settle before a reading")
	fs.StringVar(&f.cfg.ProfileDir, "profile", "", "write CPU profiles of the daemon per phase to this directory")
	dd := bench.DefaultDNSConfig()
	fs.BoolVar(&f.dns, "dns", false, fmt.Sprintf("DNS benchmark: queries/s on one lookupd and on the merged server beside /lookup and clientmerge "+
		"(defaults: %d producers x %d topics, -lookupds %d; writes bench/results/dns.json unless -out is given)", dd.Producers, dd.Topics, dd.Lookupds))
	fs.IntVar(&f.lookupds, "lookupds", dd.Lookupds, "-dns: lookupds behind the merged server")
	fs.BoolVar(&f.serveDNS, "serve-dns", false, "internal: with -serve=ours, serve DNS too")
	ds := bench.DefaultSecurityConfig()
	fs.BoolVar(&f.security, "security", false, fmt.Sprintf("security benchmark: /lookup answers/s over plaintext, TLS, bearer tokens and both, one lookupd each "+
		"(defaults: %d producers x %d topics, %s; writes bench/results/security.json unless -out is given)", ds.Producers, ds.Topics, ds.Duration))
	fs.Float64Var(&f.minRatio, "min-ratio", ds.MinRatio, "-security: fail if a secured load is under this fraction of the plaintext answers/s")
	fs.StringVar(&f.serveTLSCert, "serve-tls-cert", "", "internal: with -serve=ours, --tls-cert")
	fs.StringVar(&f.serveTLSKey, "serve-tls-key", "", "internal: with -serve=ours, --tls-key")
	fs.StringVar(&f.serveAuthFile, "serve-auth-file", "", "internal: with -serve=ours, --auth-file with --auth-reads and loopback in --tcp-allow")
	fs.StringVar(&f.serveLookupds, "serve-lookupds", "", "internal: with -serve=merged, the lookupds' HTTP addresses, comma-separated")
	return fs
}

// run is main without os.Exit; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var f flags
	fs := newFlagSet(&f, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lookupbench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if f.render != "" {
		var rep bench.Report
		if err := bench.ReadReport(f.render, &rep); err != nil {
			fmt.Fprintf(stderr, "lookupbench: render %s: %v\n", f.render, err)
			return 1
		}
		fmt.Fprint(stdout, markdown(&rep))
		return 0
	}
	bench.RaiseFileLimit(stderr)
	if f.serve != "" {
		kind, err := bench.ParseKind(f.serve)
		if err == nil {
			err = serve(ctx, kind, f, stdin, stdout)
		}
		if err != nil {
			fmt.Fprintf(stderr, "lookupbench -serve: %v\n", err)
			return 1
		}
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	l := bench.ExecLauncher{Path: exe, Env: []string{childEnv + "=1"}, Args: func(k bench.Kind) []string {
		return []string{"-serve=" + string(k), "-daemon-log-level=" + f.daemonLog}
	}}
	if f.dns {
		return runDNS(ctx, fs, f, l, args, stdout, stderr)
	}
	if f.security {
		return runSecurity(ctx, fs, f, l, args, stdout, stderr)
	}
	rep, err := measure(ctx, l, f, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	rep.Command = "lookupbench " + strings.Join(args, " ")
	md := markdown(rep)
	if err := bench.PrintReport(stdout, stderr, f.out, rep, md); err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	return 0
}

// measure runs the mode the flags ask for and returns its report.
func measure(ctx context.Context, l bench.Launcher, f flags, log io.Writer) (*bench.Report, error) {
	if err := f.cfg.Validate(); err != nil {
		return nil, err
	}
	rep := &bench.Report{Started: time.Now().UTC(), Machine: bench.Machine(),
		Orientation: bench.OrientationNote, Layout: bench.LayoutScheme}
	start := time.Now()
	switch {
	case f.scale:
		rep.Mode = "scale"
		rounds := max(f.rounds, 1)
		for _, s := range bench.ScalingScales(f.cfg, f.tenKTopics) {
			sr, err := bench.RunRounds(ctx, l, s, rounds, log)
			if err != nil {
				return nil, err
			}
			rep.Scales = append(rep.Scales, sr)
		}
	case f.pair:
		rep.Mode = "pair"
		rounds := f.rounds
		if rounds == 0 {
			rounds = 3
		}
		sr, err := bench.RunRounds(ctx, l, bench.Scale{Name: name(f.cfg), Config: f.cfg, Kinds: []bench.Kind{bench.Ours, bench.NSQ}}, rounds, log)
		if err != nil {
			return nil, err
		}
		rep.Scales = append(rep.Scales, sr)
	default:
		rep.Mode = "single"
		kind, err := bench.ParseKind(f.daemon)
		if err != nil {
			return nil, err
		}
		sr, err := bench.RunRounds(ctx, l, bench.Scale{Name: name(f.cfg), Config: f.cfg, Kinds: []bench.Kind{kind}}, max(f.rounds, 1), log)
		if err != nil {
			return nil, err
		}
		rep.Scales = append(rep.Scales, sr)
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func name(c bench.Config) string {
	return fmt.Sprintf("P=%d T=%d C=%d", c.Producers, c.Topics, c.Channels)
}

// markdown renders the report: the comparison table of each scale, and
// for a scaling run the scaling table first.
func markdown(rep *bench.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## lookupbench %s run, %s\n\n", rep.Mode, rep.Started.Format(time.RFC3339))
	fmt.Fprintf(&b, "Machine: %s. Wall time %.0f s. Figures are medians over rounds; %s.\n\n", rep.Machine, rep.Seconds, rep.Orientation)
	if rep.Mode == "scale" {
		b.WriteString("### Scaling\n\n")
		b.WriteString(bench.ScalingMarkdown(rep.Scales))
		b.WriteString("\n")
	}
	for _, sr := range rep.Scales {
		fmt.Fprintf(&b, "### %s\n\n%s\n", sr.Name, sr.Markdown())
	}
	return b.String()
}

// scaleFields point at the scale fields of a benchmark mode's own
// configuration (DNSConfig, SecurityConfig).
type scaleFields struct {
	producers, topics, share, clients, slices *int
	duration                                  *time.Duration
	seed                                      *uint64
}

// overlay sets the fields of dst whose flags were given on the command
// line to their values, leaving the mode's defaults for the others, and
// returns the names of the flags given.
func overlay(fs *flag.FlagSet, f flags, dst scaleFields) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	for _, o := range []struct {
		name     string
		dst, src *int
	}{
		{"producers", dst.producers, &f.cfg.Producers}, {"topics", dst.topics, &f.cfg.Topics},
		{"share", dst.share, &f.cfg.Share}, {"clients", dst.clients, &f.cfg.Clients}, {"slices", dst.slices, &f.cfg.Slices},
	} {
		if set[o.name] {
			*o.dst = *o.src
		}
	}
	if set["duration"] {
		*dst.duration = f.cfg.Duration
	}
	if set["seed"] {
		*dst.seed = f.cfg.Seed
	}
	return set
}

// runDNS runs the DNS benchmark and writes its report.
func runDNS(ctx context.Context, fs *flag.FlagSet, f flags, l bench.ExecLauncher, args []string, stdout, stderr io.Writer) int {
	cfg := bench.DefaultDNSConfig()
	cfg.Lookupds = f.lookupds
	// The scale flags apply when given; otherwise the DNS defaults do.
	set := overlay(fs, f, scaleFields{&cfg.Producers, &cfg.Topics, &cfg.Share, &cfg.Clients, &cfg.Slices, &cfg.Duration, &cfg.Seed})
	ls := bench.DNSLaunchers{
		Lookupd: func(ctx context.Context) (*bench.Process, error) {
			dl := l
			dl.Args = func(bench.Kind) []string {
				return []string{"-serve=ours", "-serve-dns", "-daemon-log-level=" + f.daemonLog}
			}
			return dl.Launch(ctx, bench.Ours)
		},
		Merged: func(ctx context.Context, httpAddrs []string) (*bench.Process, error) {
			ml := l
			ml.Args = func(bench.Kind) []string {
				return []string{"-serve=merged", "-serve-lookupds=" + strings.Join(httpAddrs, ","), "-daemon-log-level=" + f.daemonLog}
			}
			return ml.Launch(ctx, bench.Merged)
		},
	}
	rep, err := bench.RunDNS(ctx, ls, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	rep.Command = "lookupbench " + strings.Join(args, " ")
	rep.Machine = bench.Machine()
	return writeModeReport(set, f, "dns.json", rep, rep.Markdown(), stdout, stderr)
}

// writeModeReport prints md and writes rep and md to -out, or, when -out
// was not given, to bench/results/NAME. It returns the exit code.
func writeModeReport(set map[string]bool, f flags, name string, rep any, md string, stdout, stderr io.Writer) int {
	out := f.out
	if !set["out"] {
		out = filepath.Join("bench", "results", name)
	}
	if err := bench.PrintReport(stdout, stderr, out, rep, md); err != nil {
		fmt.Fprintf(stderr, "lookupbench: %v\n", err)
		return 1
	}
	return 0
}
