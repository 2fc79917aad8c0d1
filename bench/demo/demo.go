package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
)

// Run runs the walk-through, writing it to out, and with o.StayUp keeps
// the cluster up with a web view until ctx ends. It blocks until every
// child it started has been stopped, which it does on every return. It
// returns nil when the walk-through ran (and, staying up, ctx then
// ended), and the first error otherwise: a child that does not start or
// become ready in time, or ctx's error if ctx ends during the
// walk-through. The logs of the children stay in a temporary directory
// whose path Run prints last.
func Run(ctx context.Context, out io.Writer, o Options) error {
	topic := o.Topic
	dir, err := os.MkdirTemp("", "lookupd-demo-")
	if err != nil {
		return err
	}
	c := &children{out: out, bin: o.Bin, dir: dir}
	defer c.stopAll()

	addrs, err := freeAddrs(8)
	if err != nil {
		return err
	}
	type lookupd struct{ tcp, http string }
	lookupds := []lookupd{{addrs[0], addrs[1]}, {addrs[2], addrs[3]}, {addrs[4], addrs[5]}}
	fmt.Fprintln(out, "== starting 3 lookupds on 127.0.0.1 (they never talk to each other)")
	var lookupdArgs, producerArgs [][]string
	var lookupdProcs []*proc.Process
	for i, l := range lookupds {
		args := []string{"--tcp-address=" + l.tcp, "--http-address=" + l.http, "--broadcast-address=127.0.0.1",
			"--inactive-producer-timeout=10s", "--log-level=warn"}
		lookupdArgs = append(lookupdArgs, args)
		p, err := c.start(fmt.Sprintf("lookupd-%c", 'A'+i), "lookupd", args...)
		if err != nil {
			return err
		}
		lookupdProcs = append(lookupdProcs, p)
		fmt.Fprintf(out, "   lookupd %c: tcp %s  http %s\n", 'A'+i, l.tcp, l.http)
	}
	var tcpAddrs, httpAddrs []string
	for _, l := range lookupds {
		tcpAddrs = append(tcpAddrs, "--lookupd-tcp-address="+l.tcp)
		httpAddrs = append(httpAddrs, l.http)
	}
	for _, h := range httpAddrs {
		if err := waitUntil(ctx, 10*time.Second, "lookupd "+h, func() bool { s, err := httpGet("http://" + h + "/ping"); return err == nil && s == "200 OK" }); err != nil {
			return err
		}
	}

	producers := []struct {
		name, admin string
		port        int
		regs        []string
	}{
		{name: "producer-1", admin: addrs[6], port: 4150, regs: []string{topic + "/billing", topic + "/shipping", "clicks"}},
		{name: "producer-2", admin: addrs[7], port: 4250, regs: []string{topic + "/billing", "payments"}},
	}
	fmt.Fprintln(out, "\n== starting 2 producerd sidecars, each heartbeating to all 3 lookupds")
	var prodProcs []*proc.Process
	for _, pr := range producers {
		args := append([]string{}, tcpAddrs...)
		args = append(args, "--broadcast-address=127.0.0.1", fmt.Sprintf("--broadcast-tcp-port=%d", pr.port),
			fmt.Sprintf("--broadcast-http-port=%d", pr.port+1), "--hostname="+pr.name,
			"--heartbeat-interval=1s", "--http-address="+pr.admin, "--log-level=warn")
		for _, r := range pr.regs {
			args = append(args, "--register="+r)
		}
		producerArgs = append(producerArgs, args)
		p, err := c.start(pr.name, "producerd", args...)
		if err != nil {
			return err
		}
		prodProcs = append(prodProcs, p)
		fmt.Fprintf(out, "   %s announces 127.0.0.1:%d with %s\n", pr.name, pr.port, strings.Join(pr.regs, ", "))
	}

	client, err := clientmerge.New(httpAddrs, clientmerge.WithTimeout(time.Second))
	if err != nil {
		return err
	}
	if err := waitUntil(ctx, 15*time.Second, "both producers on every lookupd", func() bool {
		res, err := client.Lookup(ctx, topic)
		if err != nil || len(res.Producers) != 2 {
			return false
		}
		for _, p := range res.Producers {
			if p.SeenBy != 3 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}

	fmt.Fprintf(out, "\n== GET /lookup?topic=%s on each lookupd\n", topic)
	for i, h := range httpAddrs {
		s, err := httpGet("http://" + h + "/lookup?topic=" + topic)
		if err != nil {
			s = "error: " + err.Error()
		}
		fmt.Fprintf(out, "   lookupd %c: %s\n", 'A'+i, s)
	}
	printMerged(ctx, out, client, topic, "merged view from all 3 lookupds (clientmerge)")

	fmt.Fprintln(out, "\n== stopping lookupd B: discovery carries on through A and C")
	c.stop(lookupdProcs[1])
	printMerged(ctx, out, client, topic, "merged view with lookupd B down")

	fmt.Fprintln(out, "\n== stopping producer-2 (SIGTERM: it unregisters from every lookupd it reaches)")
	c.stop(prodProcs[1])
	if err := waitUntil(ctx, 10*time.Second, "producer-2 gone", func() bool {
		res, _ := client.Lookup(ctx, topic)
		return res != nil && len(res.Producers) == 1
	}); err != nil {
		return err
	}
	printMerged(ctx, out, client, topic, "merged view after producer-2 left")
	if !o.StayUp {
		fmt.Fprintln(out, "\n== demo done; shutting down")
		return nil
	}
	return stayUp(ctx, c, o, stayUpPlan{
		httpAddrs: httpAddrs,
		restart: []restart{
			{name: "lookupd-B", binary: "lookupd", args: lookupdArgs[1]},
			{name: producers[1].name, binary: "producerd", args: producerArgs[1]},
		},
		admin: producers[0].admin,
	})
}

// stayUpPlan is what stayUp needs from the walk-through.
type stayUpPlan struct {
	httpAddrs []string  // every lookupd's HTTP address
	restart   []restart // the children the walk-through stopped
	admin     string    // a running producerd's HTTP address
}

// restart is a child to start again as it was started first.
type restart struct {
	name, binary string
	args         []string
}

// stayUp starts the web view, brings back the stopped children, prints
// what to try, and waits for ctx to end.
func stayUp(ctx context.Context, c *children, o Options, p stayUpPlan) error {
	out, topic := c.out, o.Topic
	// The web view first, so that its change feed shows lookupd B and
	// producer-2 coming back.
	uiAddr := o.UIAddress
	if l, err := net.Listen("tcp", uiAddr); err == nil && uiAddr != "" {
		l.Close()
	} else {
		if err == nil {
			l.Close()
		}
		free, err := freeAddrs(1)
		if err != nil {
			return err
		}
		uiAddr = free[0]
	}
	ctlArgs := []string{"ui", "--http-address=" + uiAddr}
	for _, h := range p.httpAddrs {
		ctlArgs = append(ctlArgs, "--lookupd-http-address="+h)
	}
	if _, err := c.start("lookupctl-ui", "lookupctl", ctlArgs...); err != nil {
		return err
	}
	uiURL := "http://" + uiAddr + "/"
	if err := waitUntil(ctx, 10*time.Second, "the web view", func() bool { s, err := httpGet(uiURL); return err == nil && strings.HasPrefix(s, "200 ") }); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== bringing lookupd B and producer-2 back (watch them converge in the web view)")
	for _, r := range p.restart {
		if _, err := c.start(r.name, r.binary, r.args...); err != nil {
			return err
		}
	}
	ctl := filepath.Join(c.bin, "lookupctl")
	fmt.Fprintf(out, `
== the cluster stays up; Ctrl-C stops everything
   web view:   %s
   try:        export LOOKUPD_HTTP_ADDRESSES=%s
               %s lookup %s
               %s diff; echo "exit $?"
               %s watch %s
               %s health
   make a change through producer-1's admin API (it leaves %s with both its
   channels, then comes back with billing only; see watch and the web view):
               curl -X POST 'http://%s/unregister?topic=%s'
               curl -X POST 'http://%s/register?topic=%s&channel=billing'
   logs:       %s
`, uiURL, strings.Join(p.httpAddrs, ","), ctl, topic, ctl, ctl, topic, ctl, topic, p.admin, topic, p.admin, topic, c.dir)
	<-ctx.Done()
	fmt.Fprintln(out, "\n== stopping")
	return nil
}

// printMerged prints what c.Lookup answers for topic under title.
func printMerged(ctx context.Context, out io.Writer, c *clientmerge.Client, topic, title string) {
	fmt.Fprintf(out, "\n== %s\n", title)
	res, err := c.Lookup(ctx, topic)
	if res == nil {
		fmt.Fprintf(out, "   no answer: %v\n", err)
		return
	}
	fmt.Fprintf(out, "   topic %s: channels %v, %d of %d lookupds answered\n", topic, res.Channels, res.Answered, len(res.Responses))
	for _, p := range res.Producers {
		fmt.Fprintf(out, "   producer %-16s seen by %d lookupd(s)\n", p.TCPAddr(), p.SeenBy)
	}
	var pe *clientmerge.PartialError
	if errors.As(err, &pe) {
		fmt.Fprintf(out, "   partial failure reported: %v\n", err)
	}
}
