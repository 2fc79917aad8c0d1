package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/bench/proc"
)

// childEnv is set in the environment of the daemon processes this command
// starts, so that a test binary standing in for the command serves a
// daemon instead of running its tests (see main_test.go).
const childEnv = "CONVERGEBENCH_CHILD"

func main() {
	os.Exit(run(proc.SignalContext(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// intList is a comma-separated list of integers flag.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, n := range *l {
		s = append(s, strconv.Itoa(n))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return err
		}
		*l = append(*l, n)
	}
	return nil
}

// run is main without os.Exit; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cfg := bench.DefaultConvergeConfig()
	var serve, out, render, cpuProfile string
	fs := flag.NewFlagSet("convergebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&serve, "serve", "", "internal: run one daemon (ours or nsq) and announce its addresses")
	fs.StringVar(&render, "render", "", "print the markdown of an earlier JSON report and exit")
	fs.StringVar(&out, "out", filepath.Join("bench", "results", "converge.json"), "JSON output; the markdown goes beside it with .md")
	fs.StringVar(&cfg.DaemonLogLevel, "daemon-log-level", cfg.DaemonLogLevel, "log level of the daemons under test")
	fs.IntVar(&cfg.Lookupds, "lookupds", cfg.Lookupds, "lookupd processes the watchers ask")
	fs.IntVar(&cfg.Watchers, "watchers", cfg.Watchers, "clientmerge.Watch loops, one Client each")
	fs.IntVar(&cfg.Events, "events", cfg.Events, "measured events, joins and leaves alternating")
	fs.DurationVar(&cfg.EventInterval, "event-interval", cfg.EventInterval, "time between events")
	fs.IntVar(&cfg.Warm, "warm", cfg.Warm, "producers registered before measuring")
	fs.DurationVar(&cfg.WatchInterval, "watch-interval", cfg.WatchInterval, "Watch interval against our lookupds (their blocking wait is at most this)")
	fs.DurationVar(&cfg.PollInterval, "poll-interval", cfg.PollInterval, "Watch interval against nsqlookupd (0 skips that phase)")
	fs.DurationVar(&cfg.GoNSQInterval, "gonsq-interval", cfg.GoNSQInterval, "go-nsq's poll interval, reported as arithmetic")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "at most this long after the last event for every watcher to see every event")
	fs.IntVar(&cfg.FloorEvents, "floor-events", cfg.FloorEvents, "events of the floor phase: the same fan-out as bare TCP exchanges (0 skips it)")
	fs.IntVar(&cfg.MemWaiters, "blocked", cfg.MemWaiters, "blocked queries held on one lookupd for the memory reading (0 skips it and the isolation phase)")
	isoOthers := intList(cfg.IsoOthers)
	fs.Var(&isoOthers, "iso-others", "comma-separated numbers of blocked queries on other topics in the isolation phase (empty skips it)")
	fs.IntVar(&cfg.IsoChanges, "iso-changes", cfg.IsoChanges, "changes of the hot topic per isolation run")
	fs.IntVar(&cfg.IsoRounds, "iso-rounds", cfg.IsoRounds, "isolation runs per number of other waiters")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on the whole run")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the load generator (watchers, producers) to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg.IsoOthers = isoOthers
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "convergebench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if render != "" {
		var rep bench.ConvergeReport
		if err := bench.ReadReport(render, &rep); err != nil {
			fmt.Fprintf(stderr, "convergebench: render %s: %v\n", render, err)
			return 1
		}
		fmt.Fprint(stdout, rep.Markdown())
		return 0
	}
	bench.RaiseFileLimit(stderr)
	if serve != "" {
		kind, err := bench.ParseKind(serve)
		if err == nil {
			sctx, cancel := proc.UntilStdinEnds(ctx, stdin)
			if kind == bench.NSQ {
				err = bench.ServeNSQ(sctx, cfg.DaemonLogLevel, stdout)
			} else {
				err = bench.ServeOurs(sctx, cfg.DaemonLogLevel, false, stdout)
			}
			cancel()
		}
		if err != nil {
			fmt.Fprintf(stderr, "convergebench -serve: %v\n", err)
			return 1
		}
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "convergebench: %v\n", err)
		return 1
	}
	l := bench.ExecLauncher{Path: exe, Env: []string{childEnv + "=1"}, Args: func(k bench.Kind) []string {
		return []string{"-serve=" + string(k), "-daemon-log-level=" + cfg.DaemonLogLevel}
	}}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "convergebench: cpu profile: %v\n", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	rep, err := bench.Converge(ctx, l, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "convergebench: %v\n", err)
		return 1
	}
	md := "Command: `convergebench " + strings.Join(args, " ") + "`\n\n" + rep.Markdown()
	if err := bench.PrintReport(stdout, stderr, out, rep, md); err != nil {
		fmt.Fprintf(stderr, "convergebench: %v\n", err)
		return 1
	}
	return 0
}
