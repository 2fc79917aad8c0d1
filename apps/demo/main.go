package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/clientmerge"
	"golang.org/x/term"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "directory holding the lookupd, producerd and lookupctl binaries")
	flag.StringVar(&o.topic, "topic", "orders", "topic to look up")
	flag.StringVar(&o.uiAddress, "ui-address", "127.0.0.1:4171", "where the web view listens when the demo stays up (a free port if taken)")
	flag.Parse()
	// From a terminal the cluster stays up after the walk-through until
	// Ctrl-C; from CI, a pipe or </dev/null the demo ends by itself.
	o.stayUp = term.IsTerminal(int(os.Stdin.Fd()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, o); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// options configure run.
type options struct {
	bin, topic string
	// stayUp keeps the cluster and a web view running after the
	// walk-through until ctx ends.
	stayUp bool
	// uiAddress is the web view's preferred address; empty or taken: a
	// free loopback port.
	uiAddress string
}

// stopTimeout bounds how long a child may take to exit after SIGTERM.
const stopTimeout = 10 * time.Second

// start runs a binary with its output sent to a log file under dir.
func start(dir, name, bin string, args ...string) (*proc.Process, error) {
	return proc.Start(proc.Options{Name: name, Path: bin, Args: args, Log: filepath.Join(dir, name+".log")})
}

// stopChild stops p and reports on out if it did not end cleanly.
func stopChild(out io.Writer, p *proc.Process) {
	if err := p.Stop(stopTimeout); err != nil {
		fmt.Fprintf(out, "   (%v)\n", err)
	}
}

// freeAddrs reserves n loopback ports by binding and releasing them.
func freeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

// waitUntil polls cond every 50 ms until it holds, ctx ends or timeout.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return fmt.Sprintf("%d %s", resp.StatusCode, b), err
}

func run(ctx context.Context, out io.Writer, o options) error {
	bin, topic := o.bin, o.topic
	dir, err := os.MkdirTemp("", "lookupd-demo-")
	if err != nil {
		return err
	}
	var procs []*proc.Process
	defer func() {
		for i := len(procs) - 1; i >= 0; i-- {
			stopChild(out, procs[i])
		}
		fmt.Fprintf(out, "\nall processes stopped; logs are in %s\n", dir)
	}()

	addrs, err := freeAddrs(8)
	if err != nil {
		return err
	}
	type lookupd struct{ tcp, http string }
	lookupds := []lookupd{{addrs[0], addrs[1]}, {addrs[2], addrs[3]}, {addrs[4], addrs[5]}}
	fmt.Fprintln(out, "== starting 3 lookupds on 127.0.0.1 (they never talk to each other)")
	var lookupdArgs, producerArgs [][]string
	for i, l := range lookupds {
		args := []string{"--tcp-address=" + l.tcp, "--http-address=" + l.http, "--broadcast-address=127.0.0.1",
			"--inactive-producer-timeout=10s", "--log-level=warn"}
		lookupdArgs = append(lookupdArgs, args)
		p, err := start(dir, fmt.Sprintf("lookupd-%c", 'A'+i), filepath.Join(bin, "lookupd"), args...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
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
		name, port, admin string
		regs              []string
	}{
		{"producer-1", "4150", addrs[6], []string{topic + "/billing", topic + "/shipping", "clicks"}},
		{"producer-2", "4250", addrs[7], []string{topic + "/billing", "payments"}},
	}
	fmt.Fprintln(out, "\n== starting 2 producerd sidecars, each heartbeating to all 3 lookupds")
	var prodProcs []*proc.Process
	for _, pr := range producers {
		args := append([]string{}, tcpAddrs...)
		args = append(args, "--broadcast-address=127.0.0.1", "--broadcast-tcp-port="+pr.port,
			"--broadcast-http-port="+fmt.Sprint(atoi(pr.port)+1), "--hostname="+pr.name,
			"--heartbeat-interval=1s", "--http-address="+pr.admin, "--log-level=warn")
		for _, r := range pr.regs {
			args = append(args, "--register="+r)
		}
		producerArgs = append(producerArgs, args)
		p, err := start(dir, pr.name, filepath.Join(bin, "producerd"), args...)
		if err != nil {
			return err
		}
		procs = append(procs, p)
		prodProcs = append(prodProcs, p)
		fmt.Fprintf(out, "   %s announces 127.0.0.1:%s with %s\n", pr.name, pr.port, strings.Join(pr.regs, ", "))
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
	stopChild(out, procs[1])
	printMerged(ctx, out, client, topic, "merged view with lookupd B down")

	fmt.Fprintln(out, "\n== stopping producer-2 (SIGTERM: it unregisters from every lookupd it reaches)")
	stopChild(out, prodProcs[1])
	if err := waitUntil(ctx, 10*time.Second, "producer-2 gone", func() bool {
		res, _ := client.Lookup(ctx, topic)
		return res != nil && len(res.Producers) == 1
	}); err != nil {
		return err
	}
	printMerged(ctx, out, client, topic, "merged view after producer-2 left")
	if !o.stayUp {
		fmt.Fprintln(out, "\n== demo done; shutting down")
		return nil
	}

	// Staying up: the web view first, so that its change feed shows
	// lookupd B and producer-2 coming back.
	uiAddr := o.uiAddress
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
	for _, h := range httpAddrs {
		ctlArgs = append(ctlArgs, "--lookupd-http-address="+h)
	}
	ui, err := start(dir, "lookupctl-ui", filepath.Join(bin, "lookupctl"), ctlArgs...)
	if err != nil {
		return err
	}
	procs = append(procs, ui)
	uiURL := "http://" + uiAddr + "/"
	if err := waitUntil(ctx, 10*time.Second, "the web view", func() bool { s, err := httpGet(uiURL); return err == nil && strings.HasPrefix(s, "200 ") }); err != nil {
		return err
	}
	fmt.Fprintln(out, "\n== bringing lookupd B and producer-2 back (watch them converge in the web view)")
	for _, p := range []struct {
		name, bin string
		args      []string
	}{
		{"lookupd-B", "lookupd", lookupdArgs[1]}, {producers[1].name, "producerd", producerArgs[1]},
	} {
		again, err := start(dir, p.name, filepath.Join(bin, p.bin), p.args...)
		if err != nil {
			return err
		}
		procs = append(procs, again)
	}
	ctl := filepath.Join(bin, "lookupctl")
	fmt.Fprintf(out, `
== the cluster stays up; Ctrl-C stops everything
   web view:   %s
   try:        export LOOKUPD_HTTP_ADDRESSES=%s
               %s lookup %s
               %s diff; echo "exit $?"
               %s watch %s
               %s health
   make a change (a leave, then a join, in watch and the web view):
               curl -X POST 'http://%s/unregister?topic=%s'
               curl -X POST 'http://%s/register?topic=%s&channel=billing'
   logs:       %s
`, uiURL, strings.Join(httpAddrs, ","), ctl, topic, ctl, ctl, topic, ctl, producers[0].admin, topic, producers[0].admin, topic, dir)
	<-ctx.Done()
	fmt.Fprintln(out, "\n== stopping")
	return nil
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

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
