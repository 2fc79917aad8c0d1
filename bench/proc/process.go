package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Options describe the child to start.
type Options struct {
	// Name names the process in errors and reports (default: the base name
	// of Path).
	Name string
	// Path is the binary; Args its arguments (without the program name).
	Path string
	Args []string
	// Env is added to this process's environment.
	Env []string
	// Log, if set, is a file the child's stdout and stderr are appended to
	// (created if missing). Without it the output is kept in memory only.
	Log string
}

// Exit is how a process is expected to end, as set by the signals sent
// to it through Signal or Stop.
type Exit int

const (
	// ExitUnexpected: nobody asked the process to end, so any exit is a
	// crash.
	ExitUnexpected Exit = iota
	// ExitTerm: SIGTERM was sent (or stdin closed); exit status 0 is
	// expected.
	ExitTerm
	// ExitKill: SIGKILL was sent; death by SIGKILL is expected.
	ExitKill
)

// Process is a running (or ended) child process. Its stdout and stderr go
// to the optional log file and to an in-memory sink that keeps the first
// lines (for start-up messages), the last lines (for failure reports) and
// alarm lines. Its stdin is a pipe that Stop closes, and that ends when
// this process dies, so a child that watches its stdin sees both.
//
// Methods are safe for concurrent use. The owner must end every Process
// (Stop, or Signal then Wait) and wait for Done; that also ends the one
// goroutine Start started for it.
type Process struct {
	// Name names the process in errors and reports.
	Name string
	// Started is when the process was started.
	Started time.Time

	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *sink
	done  chan struct{}

	mu     sync.Mutex
	expect Exit
	state  *os.ProcessState
	err    error // cmd.Wait's result
}

// Start starts the child described by o. It does not wait for the child
// to be ready: see WaitLine.
func Start(o Options) (*Process, error) {
	name := o.Name
	if name == "" {
		name = filepath.Base(o.Path)
	}
	var logf *os.File
	if o.Log != "" {
		f, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("start %s: open log: %w", name, err)
		}
		logf = f
	}
	closeLog := func() {
		if logf != nil {
			logf.Close()
		}
	}
	out := newSink(logf)
	cmd := exec.Command(o.Path, o.Args...)
	if len(o.Env) > 0 {
		cmd.Env = append(os.Environ(), o.Env...)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = sysProcAttr()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		closeLog()
		return nil, fmt.Errorf("start %s: stdin pipe: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		closeLog()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, Started: time.Now(), cmd: cmd, stdin: stdin, out: out, done: make(chan struct{})}
	go func() { // owned by p: Done and Wait expose its end
		err := cmd.Wait() // returns once the output is copied too
		closeLog()
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

// Signal sends sig and records the exit it asks for (SIGTERM: ExitTerm,
// SIGKILL: ExitKill; other signals, such as SIGSTOP and SIGCONT, leave the
// expectation as it was). Signalling an exited process does nothing.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
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
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s %v: %w", p.Name, sig, err)
	}
	return nil
}

// Wait blocks until the process exits or timeout passes. On timeout it
// sends SIGKILL (which ends a stopped process too), waits for the exit,
// and returns an error saying so.
func (p *Process) Wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	}
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
	return fmt.Errorf("%s did not exit within %s; killed", p.Name, timeout)
}

// Stop asks the process to end (SIGTERM, and its stdin closed), waits up
// to timeout, then kills it. The child may see the two in either order, so
// one that stops on the end of stdin must keep SIGTERM caught until it
// exits, or the late signal kills it. It returns nil when the process exited with
// status 0, and otherwise an error saying how it ended. Calling it again,
// or on a process that already exited, returns the same verdict.
func (p *Process) Stop(timeout time.Duration) error {
	err := p.Signal(syscall.SIGTERM)
	p.stdin.Close()
	if werr := p.Wait(timeout); werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	return p.CheckExit()
}

// CheckExit compares how the process ended with what was expected (see
// Exit) and returns nil when they match. It must be called after Done is
// closed.
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
// has exited (zero before; see Stats for a running process).
func (p *Process) CPUTime() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == nil {
		return 0
	}
	return p.state.UserTime() + p.state.SystemTime()
}

// Stats reads what /proc says about the process now (see ReadStats).
func (p *Process) Stats() (Stats, error) { return ReadStats(p.PID()) }

// WaitStopped blocks until every thread of the process is stopped, which
// a SIGSTOP brings about shortly after kill returns, or until timeout
// passes or the process exits (both errors).
func (p *Process) WaitStopped(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		stopped, err := threadsStopped(p.PID())
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

// WaitLine blocks until one of the first output lines contains substr,
// the process exits, or ctx ends, and returns that line.
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
			return "", fmt.Errorf("%s exited before writing %q: %s", p.Name, substr, p.Tail(5))
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %q: %w", p.Name, substr, ctx.Err())
		}
	}
}

// Tail returns the last n output lines (at most 100), joined by newlines.
func (p *Process) Tail(n int) string { return p.out.tail(n) }

// Alarms returns the output lines that show a crash or a race report
// ("panic:", "fatal error:", "DATA RACE"), at most 10.
func (p *Process) Alarms() []string { return p.out.alarmLines() }
