package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/wire"
)

// testCluster is n real in-process lookupds on 127.0.0.1.
type testCluster struct {
	t     *testing.T
	ds    []*lookuptest.Daemon
	addrs []string // HTTP addresses, A, B, C…
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for range n {
		d := lookuptest.StartDaemon(t, nil)
		c.ds = append(c.ds, d)
		c.addrs = append(c.addrs, d.HTTPAddr().String())
	}
	return c
}

// announce connects a fake producer (127.0.0.1:port, hostname host) to
// lookupd i and registers regs ("topic" or "topic/channel"). It returns
// once every command was answered, so the lookupd lists it.
func (c *testCluster) announce(i, port int, host string, regs ...string) *lookuptest.Conn {
	c.t.Helper()
	p := lookuptest.Dial(c.t, c.ds[i].TCPAddr().String())
	info := wire.ProducerInfo{BroadcastAddress: "127.0.0.1", Hostname: host, TCPPort: port, HTTPPort: port + 1, Version: "1.3.0"}
	if resp := p.Identify(info); !bytes.Contains(resp, []byte("tcp_port")) {
		c.t.Fatalf("identify: %q", resp)
	}
	for _, r := range regs {
		topic, channel, _ := strings.Cut(r, "/")
		if resp := p.Register(topic, channel); string(resp) != "OK" {
			c.t.Fatalf("register %s: %q", r, resp)
		}
	}
	return p
}

// announceOn announces the same producer to each lookupd in which.
func (c *testCluster) announceOn(which []int, port int, host string, regs ...string) []*lookuptest.Conn {
	c.t.Helper()
	var ps []*lookuptest.Conn
	for _, i := range which {
		ps = append(ps, c.announce(i, port, host, regs...))
	}
	return ps
}

func (c *testCluster) args(args ...string) []string {
	var out []string
	for _, a := range c.addrs {
		out = append(out, "--lookupd-http-address="+a)
	}
	return append(out, args...)
}

// run runs lookupctl against the cluster and returns its exit code,
// stdout and stderr.
func (c *testCluster) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errw bytes.Buffer
	code := Main(c.t.Context(), c.args(args...), nil, &out, &errw)
	return code, out.String(), errw.String()
}

// runJSON runs lookupctl with -o json and decodes stdout into v.
func (c *testCluster) runJSON(v any, args ...string) int {
	c.t.Helper()
	code, out, errs := c.run(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("lookupctl %v: decode %q: %v (stderr %q)", args, out, err, errs)
	}
	return code
}

// name replaces each lookupd address in s by its letter (A, B, C…), so
// expectations read well whatever ports were chosen.
func (c *testCluster) name(s string) string {
	for i, a := range c.addrs {
		s = strings.ReplaceAll(s, a, string(rune('A'+i)))
	}
	return s
}

var columns = regexp.MustCompile(`\s{2,}`)

// rows splits table output into cells (columns are at least two spaces
// apart), with lookupd addresses replaced by letters.
func (c *testCluster) rows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		rows = append(rows, columns.Split(strings.TrimSpace(c.name(line)), -1))
	}
	return rows
}

// startMain runs lookupctl in the background until the test ends (or the
// returned stop is called) and returns its stdout, stderr and the stop
// function, which waits for Main and returns its exit code.
func (c *testCluster) startMain(args ...string) (out, errw *lookuptest.SyncBuffer, stop func() int) {
	out, errw = &lookuptest.SyncBuffer{}, &lookuptest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	full := c.args(args...)
	go func() { done <- Main(ctx, full, nil, out, errw) }()
	var once sync.Once
	code := -1
	stop = func() int {
		once.Do(func() { cancel(); code = <-done })
		return code
	}
	c.t.Cleanup(func() { stop() })
	return out, errw, stop
}

func fmtRows(rows [][]string) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%q\n", r)
	}
	return b.String()
}

// nodeOf is a /nodes entry of a producer on 127.0.0.1:port.
func nodeOf(port int) clientmerge.Node {
	var n clientmerge.Node
	n.BroadcastAddress, n.Hostname, n.TCPPort, n.HTTPPort, n.Version = "127.0.0.1", "h", port, port+1, "1.3.0"
	return n
}
