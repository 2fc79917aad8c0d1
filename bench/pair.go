package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Scale is a named configuration of a run.
type Scale struct {
	Name   string
	Config Config
	// Kinds are the daemons run at this scale, in this order each round
	// (both if empty).
	Kinds []Kind
	// ForKind, if set, adjusts the configuration for one daemon (for
	// example to skip a phase that would take minutes).
	ForKind func(Kind, Config) Config
}

// RunRounds runs the scale's daemons alternately (A B A B ...) for rounds
// rounds, so that drift on a noisy machine hits both alike, and returns the
// per-figure medians and comparisons.
func RunRounds(ctx context.Context, l Launcher, s Scale, rounds int, log io.Writer) (ScaleReport, error) {
	if rounds < 1 {
		return ScaleReport{}, fmt.Errorf("rounds must be at least 1, got %d", rounds)
	}
	kinds := s.Kinds
	if len(kinds) == 0 {
		kinds = []Kind{Ours, NSQ}
	}
	var runs []*Result
	for round := range rounds {
		for _, k := range kinds {
			if err := ctx.Err(); err != nil {
				return ScaleReport{}, err
			}
			cfg := s.Config
			if s.ForKind != nil {
				cfg = s.ForKind(k, cfg)
			}
			if log != nil {
				fmt.Fprintf(log, "%s round %d/%d: %s\n", s.Name, round+1, rounds, k)
			}
			t := time.Now()
			res, err := Run(ctx, l, k, cfg, log)
			if err != nil {
				return ScaleReport{}, fmt.Errorf("%s round %d, %s: %w", s.Name, round+1, k, err)
			}
			res.Round = round + 1
			if log != nil {
				fmt.Fprintf(log, "  [%s] run took %s\n", k, time.Since(t).Round(time.Second))
			}
			runs = append(runs, res)
		}
	}
	return NewScaleReport(s.Name, s.Config, runs), nil
}

// ScalingScales returns the scaling run's configurations derived from
// base: 100 and 1,000 producers with base's topics per producer, and
// 10,000 producers with tenK topics each (skipped if tenK is 0). At 10,000
// producers nsqlookupd's /nodes, which costs O(producers x registrations),
// would take minutes per call, so its /nodes phase is skipped there, and
// its disconnect storm, O(producers x registrations) as well, gets up to
// 15 minutes.
func ScalingScales(base Config, tenK int) []Scale {
	mk := func(p, t int) Config {
		c := base
		c.Producers, c.Topics = p, t
		return c
	}
	out := []Scale{
		{Name: "P=100", Config: mk(100, base.Topics)},
		{Name: "P=1000", Config: mk(1000, base.Topics)},
	}
	if tenK > 0 {
		out = append(out, Scale{Name: "P=10000", Config: mk(10000, tenK), ForKind: func(k Kind, c Config) Config {
			if k == NSQ {
				c.NodesCalls = 0
				c.StormTimeout = max(c.StormTimeout, 15*time.Minute)
			}
			return c
		}})
	}
	return out
}
