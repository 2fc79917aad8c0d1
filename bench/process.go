package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lookupd/lookupd/bench/proc"
)

// Kind names a daemon under test.
type Kind string

// The two daemons the harness compares.
const (
	Ours Kind = "ours"       // this repository's lookupd (package lookup)
	NSQ  Kind = "nsqlookupd" // nsqlookupd v1.3.0 (github.com/nsqio/nsq/nsqlookupd)
)

// Merged is the merged DNS server (lookupctl dns, package
// lookup/mergeddns) of the DNS benchmark.
const Merged Kind = "merged"

// ParseKind accepts "ours"/"lookupd", "nsq"/"nsqlookupd" and "merged".
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "ours", "lookupd":
		return Ours, nil
	case "nsq", "nsqlookupd":
		return NSQ, nil
	case "merged":
		return Merged, nil
	}
	return "", fmt.Errorf("unknown daemon %q (want ours, nsq or merged)", s)
}

// announcePrefix starts the one line a serving daemon process writes to
// stdout once both listeners are bound.
const announcePrefix = "lookupbench-serve "

// Announce writes the line ExecLauncher waits for: the daemon's kind, pid
// and bound addresses. Call it once, after binding, from the serve mode.
func Announce(w io.Writer, kind Kind, tcpAddr, httpAddr string) error {
	return AnnounceDNS(w, kind, tcpAddr, httpAddr, "")
}

// AnnounceDNS is Announce with the DNS address too (empty: none). The
// merged DNS server has only that one.
func AnnounceDNS(w io.Writer, kind Kind, tcpAddr, httpAddr, dnsAddr string) error {
	_, err := fmt.Fprintf(w, "%skind=%s pid=%d tcp=%s http=%s dns=%s\n", announcePrefix, kind, os.Getpid(), tcpAddr, httpAddr, dnsAddr)
	return err
}

// Process is one daemon running as a child process: the supervised
// process and the addresses it announced. Its methods are those of
// proc.Process, safe for concurrent use; the owner must Stop it.
type Process struct {
	*proc.Process
	Kind     Kind
	TCPAddr  string
	HTTPAddr string
	DNSAddr  string // UDP and TCP; empty when the process serves no DNS
}

// Launcher starts a daemon process of the given kind serving on free
// 127.0.0.1 ports.
type Launcher interface {
	Launch(ctx context.Context, kind Kind) (*Process, error)
}

// ExecLauncher starts Path with Args(kind) and waits for the Announce line
// on its output. The child is stopped with SIGTERM and the end of its
// stdin, which it also sees if this process dies.
type ExecLauncher struct {
	Path string
	Args func(Kind) []string
	Env  []string // extra environment, appended to os.Environ()
	// StartTimeout bounds the wait for the announce line (default 30 s).
	StartTimeout time.Duration
}

// stopTimeout bounds how long Stop waits for a daemon before killing it.
const stopTimeout = 15 * time.Second

// Launch starts the daemon and returns once it listens. The caller must
// Stop the returned Process.
func (l ExecLauncher) Launch(ctx context.Context, kind Kind) (*Process, error) {
	pp, err := proc.Start(proc.Options{Name: string(kind), Path: l.Path, Args: l.Args(kind), Env: l.Env})
	if err != nil {
		return nil, err
	}
	timeout := l.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	line, err := pp.WaitLine(wctx, announcePrefix)
	if err != nil {
		_ = pp.Stop(stopTimeout)
		return nil, fmt.Errorf("%s did not announce its addresses: %w", kind, err)
	}
	p := &Process{Process: pp, Kind: kind}
	pid := 0
	for f := range strings.FieldsSeq(strings.TrimPrefix(line, announcePrefix)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pid":
			pid, _ = strconv.Atoi(v)
		case "tcp":
			p.TCPAddr = v
		case "http":
			p.HTTPAddr = v
		case "dns":
			p.DNSAddr = v
		}
	}
	if pid != pp.PID() || (p.TCPAddr == "" || p.HTTPAddr == "") && p.DNSAddr == "" {
		_ = pp.Stop(stopTimeout)
		return nil, fmt.Errorf("bad announce line %q", line)
	}
	return p, nil
}
