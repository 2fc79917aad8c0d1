//go:build linux

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binaries are the paths of the built daemons.
type Binaries struct {
	Lookupd   string
	Producerd string
}

// BuildOptions change how Build compiles the daemons.
type BuildOptions struct {
	// Overlay, if set, is passed to go build -overlay: a JSON file that
	// replaces source files for this build only (used to build a mutated
	// daemon without touching the tree).
	Overlay string
	// Race builds the daemons with the race detector.
	Race bool
}

// Build compiles apps/lookupd and apps/producerd of this module into dir
// with the go command found on PATH (go test puts its own first) and
// returns their paths. It blocks until the build ends or ctx does.
func Build(ctx context.Context, dir string, opts BuildOptions) (Binaries, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("find go command: %w", err)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if opts.Overlay != "" {
		args = append(args, "-overlay", opts.Overlay)
	}
	if opts.Race {
		args = append(args, "-race")
	}
	args = append(args, "github.com/lookupd/lookupd/apps/lookupd", "github.com/lookupd/lookupd/apps/producerd")
	cmd := exec.CommandContext(ctx, goBin, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return Binaries{}, fmt.Errorf("go build: %w\n%s", err, out)
	}
	return Binaries{
		Lookupd:   filepath.Join(dir, "lookupd"),
		Producerd: filepath.Join(dir, "producerd"),
	}, nil
}

// Exit is how a process is expected to end.
type Exit int

const (
	// ExitUnexpected: the harness did not ask the process to end, so any
	// exit is a crash.
	ExitUnexpected Exit = iota
	// ExitTerm: SIGTERM was sent; exit status 0 is expected.
	ExitTerm
	// ExitKill: SIGKILL was sent; death by SIGKILL is expected.
	ExitKill
)

// Process is a child process whose stdout and stderr go to a log file and
// are scanned for lines. Methods are safe for concurrent use. The owner
// must end every Process (Kill or Terminate, then Wait), which also ends
// the goroutine that waits for it.
type Process struct {
	// Name names the process in reports and log file names.
	Name string
	// Started is when the process was started.
	Started time.Time

	cmd  *exec.Cmd
	out  *logSink
	done chan struct{}

	mu     sync.Mutex
	expect Exit
	state  *os.ProcessState
	err    error
}

// StartProcess starts bin with args; its output is appended to logPath.
// The child gets SIGKILL if the test process dies first (Pdeathsig).
func StartProcess(name, bin string, args []string, logPath string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	sink := newLogSink(f)
	cmd := exec.Command(bin, args...)
	cmd.Stdout = sink
	cmd.Stderr = sink
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Started: time.Now(), cmd: cmd, out: sink, done: make(chan struct{})}
	go func() { // owned by p: Wait and Done expose its end
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.state, p.err = cmd.ProcessState, err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and its output is flushed.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig, recording the exit it leads to (SIGTERM: ExitTerm,
// SIGKILL: ExitKill; other signals do not change the expectation).
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	switch sig {
	case syscall.SIGTERM:
		if p.expect != ExitKill {
			p.expect = ExitTerm
		}
	case syscall.SIGKILL:
		p.expect = ExitKill
	}
	p.mu.Unlock()
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s %v: %w", p.Name, sig, err)
	}
	return nil
}

// Wait blocks until the process exits or timeout passes; on timeout it
// sends SIGKILL, waits, and returns an error.
func (p *Process) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	_ = p.cmd.Process.Signal(syscall.SIGCONT)
	_ = p.cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("%s did not exit within %s; killed", p.Name, timeout)
}

// CheckExit compares how the process ended with what was expected and
// returns nil when they match. It must be called after Done is closed.
func (p *Process) CheckExit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.state
	if st == nil {
		return fmt.Errorf("%s: no exit status (%v)", p.Name, p.err)
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	switch p.expect {
	case ExitTerm:
		if ws.Exited() && ws.ExitStatus() == 0 {
			return nil
		}
		return fmt.Errorf("%s: after SIGTERM ended with %v, want exit status 0", p.Name, st)
	case ExitKill:
		if ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return nil
		}
		return fmt.Errorf("%s: after SIGKILL ended with %v", p.Name, st)
	}
	return fmt.Errorf("%s: exited unasked: %v", p.Name, st)
}

// CPUTime returns the user plus system CPU time the process used, once it
// has exited (zero before).
func (p *Process) CPUTime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return 0
	}
	return p.state.UserTime() + p.state.SystemTime()
}

// WaitStopped blocks until every thread of the process is stopped (state
// T in /proc/PID/task/*/stat), which a SIGSTOP brings about shortly after
// kill returns, or until timeout passes.
func (p *Process) WaitStopped(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		stopped, err := p.allThreadsStopped()
		if err == nil && stopped {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited", p.Name)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not stopped after %s (%v)", p.Name, timeout, err)
		}
		t := time.NewTimer(time.Millisecond)
		select {
		case <-t.C:
		case <-p.done:
			t.Stop()
		}
	}
}

func (p *Process) allThreadsStopped() (bool, error) {
	dir := "/proc/" + strconv.Itoa(p.PID()) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "stat"))
		if err != nil {
			return false, err
		}
		// "tid (comm) S ...": the state follows the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("parse %s/stat", task.Name())
		}
		if st := b[i+2]; st != 'T' && st != 't' {
			return false, nil
		}
	}
	return true, nil
}

// WaitLine blocks until an output line containing substr appears, the
// process exits, or ctx ends, and returns the line.
func (p *Process) WaitLine(ctx context.Context, substr string) (string, error) {
	for {
		line, notify := p.out.find(substr)
		if line != "" {
			return line, nil
		}
		select {
		case <-notify:
		case <-p.done:
			if line, _ := p.out.find(substr); line != "" {
				return line, nil
			}
			return "", fmt.Errorf("%s exited before logging %q: %s", p.Name, substr, p.Tail(5))
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %q: %w", p.Name, substr, ctx.Err())
		}
	}
}

// Tail returns the last n output lines, joined by newlines.
func (p *Process) Tail(n int) string { return p.out.tail(n) }

// Alarms returns the output lines that show a crash or a race report
// ("panic:", "fatal error:", "DATA RACE"), at most 10.
func (p *Process) Alarms() []string { return p.out.alarmLines() }

// RSS returns the resident set size in bytes (VmRSS of /proc/PID/status).
func (p *Process) RSS() (int64, error) { return procStatusBytes(p.PID(), "VmRSS:") }

// procStatusBytes reads a "kB" field of /proc/PID/status.
func procStatusBytes(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read status of %d: %w", pid, err)
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), field)
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s of %d: %w", field, pid, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// logSink writes a child's output to a file and keeps what the harness
// looks at: the first lines (for start-up messages), the last lines (for
// failure reports) and alarm lines.
type logSink struct {
	f *os.File

	mu      sync.Mutex
	partial []byte
	head    []string
	ring    []string
	ringPos int
	alarms  []string
	notify  chan struct{} // closed and replaced on every new line
}

const (
	sinkHeadLines = 200
	sinkTailLines = 100
)

func newLogSink(f *os.File) *logSink {
	return &logSink{f: f, notify: make(chan struct{})}
}

// Write implements io.Writer; exec calls it from one goroutine.
func (s *logSink) Write(b []byte) (int, error) {
	_, _ = s.f.Write(b)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = append(s.partial, b...)
	added := false
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		s.addLine(string(s.partial[:i]))
		s.partial = s.partial[i+1:]
		added = true
	}
	if len(s.partial) > 64<<10 { // a line this long is cut, not kept
		s.addLine(string(s.partial))
		s.partial = s.partial[:0]
		added = true
	}
	if added {
		close(s.notify)
		s.notify = make(chan struct{})
	}
	return len(b), nil
}

func (s *logSink) addLine(l string) {
	if len(s.head) < sinkHeadLines {
		s.head = append(s.head, l)
	}
	if len(s.ring) < sinkTailLines {
		s.ring = append(s.ring, l)
	} else {
		s.ring[s.ringPos] = l
		s.ringPos = (s.ringPos + 1) % sinkTailLines
	}
	if len(s.alarms) < 10 && (strings.Contains(l, "panic:") || strings.Contains(l, "fatal error:") || strings.Contains(l, "DATA RACE")) {
		s.alarms = append(s.alarms, l)
	}
}

// find returns the first head line containing substr ("" if none) and the
// channel closed on the next new line.
func (s *logSink) find(substr string) (string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.head {
		if strings.Contains(l, substr) {
			return l, s.notify
		}
	}
	return "", s.notify
}

func (s *logSink) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := append(append([]string(nil), s.ring[s.ringPos:]...), s.ring[:s.ringPos]...)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (s *logSink) alarmLines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.alarms...)
}

// logField returns the value of key=value in a slog text line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
