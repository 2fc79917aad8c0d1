package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
)

// stopTimeout bounds how long a child may take to exit after SIGTERM.
const stopTimeout = 10 * time.Second

// children are the processes one Run started. It is used by Run's
// goroutine only.
type children struct {
	out      io.Writer
	bin, dir string
	procs    []*proc.Process // in start order
}

// start runs the binary named binary from c.bin as name, with its output
// sent to name.log under c.dir, and keeps it for stopAll.
func (c *children) start(name, binary string, args ...string) (*proc.Process, error) {
	p, err := proc.Start(proc.Options{Name: name, Path: filepath.Join(c.bin, binary), Args: args, Log: filepath.Join(c.dir, name+".log")})
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// stop stops p and reports on c.out if it did not end cleanly.
func (c *children) stop(p *proc.Process) {
	if err := p.Stop(stopTimeout); err != nil {
		fmt.Fprintf(c.out, "   (%v)\n", err)
	}
}

// stopAll stops every child, the last started first, and says where the
// logs are.
func (c *children) stopAll() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.stop(c.procs[i])
	}
	fmt.Fprintf(c.out, "\nall processes stopped; logs are in %s\n", c.dir)
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
	return proc.WaitUntil(ctx, timeout, 50*time.Millisecond, what, cond)
}

// httpGet fetches url and returns "status body" (the body cut at 1 MiB).
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
