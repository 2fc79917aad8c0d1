package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/bench/netscale"
)

func main() {
	if ran, code := netscale.RoleMain(os.Args[1:]); ran {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses the flags, runs the scale run and writes its report; it
// returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cfg := netscale.DefaultConfig()
	for _, a := range args { // -smoke changes the defaults the other flags start from
		switch a {
		case "-smoke", "--smoke", "-smoke=true", "--smoke=true":
			cfg = netscale.SmokeConfig()
		}
	}
	fs := flag.NewFlagSet("netscale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smoke := fs.Bool("smoke", false, "the small run of make test (2 lookupds, 2 producer hosts, short timeouts); other flags apply on top")
	t := &cfg.Topology
	fs.IntVar(&t.Lookupds, "lookupds", t.Lookupds, "lookupd hosts")
	fs.IntVar(&t.ProducerHosts, "producer-hosts", t.ProducerHosts, "producer hosts")
	fs.IntVar(&t.ConsumerHosts, "consumer-hosts", t.ConsumerHosts, "consumer hosts")
	fs.IntVar(&t.Producers, "producers", t.Producers, "producers in all, probes included")
	fs.IntVar(&t.Probes, "probes", t.Probes, "producers held back for the join, cut and leave phases")
	fs.IntVar(&t.Topics, "topics", t.Topics, "topics per producer")
	fs.IntVar(&t.Channels, "channels", t.Channels, "channels per topic")
	fs.IntVar(&t.Share, "share", t.Share, "about this many producers per topic")
	prefix := fs.String("prefix", t.Prefix.String(), "IPv4 /16 the hosts' addresses are made in (inside the run's namespaces only)")
	fs.DurationVar(&cfg.Heartbeat, "heartbeat", cfg.Heartbeat, "producers' heartbeat interval")
	fs.DurationVar(&cfg.InactiveTimeout, "inactive-timeout", cfg.InactiveTimeout, "lookupds' --inactive-producer-timeout")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "lookupds' --client-idle-timeout")
	fs.DurationVar(&cfg.CutHold, "cut-hold", cfg.CutHold, "how long the cut host's link stays down")
	fs.DurationVar(&cfg.HeartbeatWindow, "heartbeat-window", cfg.HeartbeatWindow, "how long CPU is measured under heartbeats")
	fs.IntVar(&cfg.StartRate, "start-rate", cfg.StartRate, "producers started per second per producer host (0: at once)")
	fs.IntVar(&cfg.LatencyCalls, "latency-calls", cfg.LatencyCalls, "merged lookups timed per fan-out")
	fs.DurationVar(&cfg.WatchInterval, "watch-interval", cfg.WatchInterval, "consumers' clientmerge.Watch interval")
	timeout := fs.Duration("timeout", 45*time.Minute, "bound on the whole run")
	out := fs.String("out", "", "write the report as JSON to this file")
	md := fs.String("md", "", "also write the Markdown report to this file")
	logDir := fs.String("logdir", "", "keep the hosts' logs here (default: a temporary folder, removed)")
	modelProducers := fs.Int("model-producers", 100000, "the capacity model extrapolates to this many producers per lookupd")
	modelRegs := fs.Int("model-registrations", 1000000, "and this many registrations per lookupd")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	_ = *smoke // read above, before the defaults were set
	p, err := netip.ParsePrefix(*prefix)
	if err != nil {
		fmt.Fprintf(stderr, "netscale: -prefix: %v\n", err)
		return 2
	}
	cfg.Topology.Prefix = p
	if cfg.Self, err = os.Executable(); err != nil {
		fmt.Fprintf(stderr, "netscale: %v\n", err)
		return 1
	}
	cfg.LogDir = *logDir
	if cfg.LogDir == "" {
		if cfg.LogDir, err = os.MkdirTemp("", "netscale-"); err != nil {
			fmt.Fprintf(stderr, "netscale: %v\n", err)
			return 1
		}
		defer os.RemoveAll(cfg.LogDir)
	} else if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "netscale: %v\n", err)
		return 1
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	rep, err := netscale.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "netscale: %v (host logs in %s)\n", err, cfg.LogDir)
		if errors.Is(err, netscale.ErrUnsupported) {
			return 3
		}
		return 1
	}
	rep.Markdown(stdout, *modelProducers, *modelRegs)
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			fmt.Fprintf(stderr, "netscale: %v\n", err)
			return 1
		}
		rep.Markdown(f, *modelProducers, *modelRegs)
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "netscale: %v\n", err)
			return 1
		}
	}
	if *out != "" {
		b, err := json.MarshalIndent(struct {
			*netscale.Report
			Model netscale.Model `json:"model"`
		}{rep, netscale.NewModel(rep, *modelProducers, *modelRegs)}, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(stderr, "netscale: %v\n", err)
			return 1
		}
	}
	return 0
}
