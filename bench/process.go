package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind names a daemon under test.
type Kind string

// The two daemons the harness compares.
const (
	Ours Kind = "ours"       // this repository's lookupd (package lookup)
	NSQ  Kind = "nsqlookupd" // nsqlookupd v1.3.0 (github.com/nsqio/nsq/nsqlookupd)
)

// ParseKind accepts "ours"/"lookupd" and "nsq"/"nsqlookupd".
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "ours", "lookupd":
		return Ours, nil
	case "nsq", "nsqlookupd":
		return NSQ, nil
	}
	return "", fmt.Errorf("unknown daemon %q (want ours or nsq)", s)
}

// announcePrefix starts the one line a serving daemon process writes to
// stdout once both listeners are bound.
const announcePrefix = "lookupbench-serve "

// Announce writes the line ExecLauncher waits for: the daemon's kind, pid
// and bound addresses. Call it once, after binding, from the serve mode.
func Announce(w io.Writer, kind Kind, tcpAddr, httpAddr string) error {
	_, err := fmt.Fprintf(w, "%skind=%s pid=%d tcp=%s http=%s\n", announcePrefix, kind, os.Getpid(), tcpAddr, httpAddr)
	return err
}

// Process is one daemon running as a child process. Its methods may be
// called from one goroutine at a time.
type Process struct {
	Kind     Kind
	PID      int
	TCPAddr  string
	HTTPAddr string

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *tailBuffer
	done   chan struct{}
	err    error // Wait's result, set before done closes
}

// Launcher starts a daemon process of the given kind serving on free
// 127.0.0.1 ports.
type Launcher interface {
	Launch(ctx context.Context, kind Kind) (*Process, error)
}

// ExecLauncher starts Path with Args(kind) and waits for the Announce line
// on its stdout. The child is told to stop by closing its stdin, so it
// also exits if this process dies.
type ExecLauncher struct {
	Path string
	Args func(Kind) []string
	Env  []string // extra environment, appended to os.Environ()
	// StartTimeout bounds the wait for the announce line (default 30 s).
	StartTimeout time.Duration
}

// Launch starts the daemon and returns once it listens. The caller must
// Stop the returned Process.
func (l ExecLauncher) Launch(ctx context.Context, kind Kind) (*Process, error) {
	cmd := exec.Command(l.Path, l.Args(kind)...)
	cmd.Env = append(os.Environ(), l.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	p := &Process{Kind: kind, cmd: cmd, stdin: stdin, stderr: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", kind, err)
	}
	lines := make(chan string, 1)
	// The reader owns stdout until EOF, which comes when the child exits;
	// Wait (below) waits for it through cmd's pipe bookkeeping.
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		sc := bufio.NewScanner(stdout)
		sent := false
		for sc.Scan() {
			if !sent && strings.HasPrefix(sc.Text(), announcePrefix) {
				lines <- sc.Text()
				sent = true
			}
		}
		if !sent {
			close(lines)
		}
	}()
	go func() {
		<-readerDone
		p.err = cmd.Wait()
		close(p.done)
	}()

	timeout := l.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var line string
	var ok bool
	select {
	case line, ok = <-lines:
	case <-t.C:
	case <-ctx.Done():
	}
	if !ok {
		p.Stop()
		return nil, fmt.Errorf("%s did not announce its addresses: %s", kind, p.Stderr())
	}
	for f := range strings.FieldsSeq(strings.TrimPrefix(line, announcePrefix)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "pid":
			p.PID, _ = strconv.Atoi(v)
		case "tcp":
			p.TCPAddr = v
		case "http":
			p.HTTPAddr = v
		}
	}
	if p.PID <= 0 || p.TCPAddr == "" || p.HTTPAddr == "" {
		p.Stop()
		return nil, fmt.Errorf("bad announce line %q", line)
	}
	return p, nil
}

// Stop closes the child's stdin, waits up to 15 s for it to exit, then
// kills it. It returns the child's exit error, if any. Safe to call twice.
func (p *Process) Stop() error {
	p.stdin.Close()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within 15s; killed", p.Kind)
	}
	return p.err
}

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stderr returns the last 64 KiB the child wrote to stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, b...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// ProcStats is what /proc says about a process at one instant.
type ProcStats struct {
	RSS int64         // resident set size in bytes (VmRSS)
	CPU time.Duration // user+system CPU time of all threads so far
	FDs int           // open file descriptors
}

// ReadProcStats reads /proc/<pid>/status, the per-thread scheduler
// statistics (nanosecond CPU time; falls back to /proc/<pid>/stat clock
// ticks when unavailable) and /proc/<pid>/fd.
func ReadProcStats(pid int) (ProcStats, error) {
	var s ProcStats
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return s, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			s.RSS = kb << 10
		}
	}
	s.CPU, err = cpuTime(dir)
	if err != nil {
		return s, err
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return s, fmt.Errorf("read fds: %w", err)
	}
	s.FDs = len(fds)
	return s, nil
}

// cpuTime sums se.sum_exec_runtime over the process's threads (ns
// precision); if that is unavailable it reads utime+stime from stat.
func cpuTime(dir string) (time.Duration, error) {
	if d, ok := schedCPU(dir); ok {
		return d, nil
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read stat: %w", err)
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 of the whole line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse stat: %w", err)
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

func schedCPU(dir string) (time.Duration, bool) {
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil || len(tasks) == 0 {
		return 0, false
	}
	var total float64 // milliseconds
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/sched")
		if err != nil {
			continue // thread exited meanwhile
		}
		found := false
		for line := range strings.SplitSeq(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "se.sum_exec_runtime"); ok {
				_, v, _ := strings.Cut(rest, ":")
				ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					return 0, false
				}
				total += ms
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return time.Duration(total * float64(time.Millisecond)), true
}
