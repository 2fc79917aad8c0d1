package proc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv selects, in the environment of this test binary run as a
// child, what the child does (see child).
const childEnv = "PROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

// child is the test binary playing a daemon:
//   - serve: says "ready" on stdout and a note on stderr, then exits 0 on
//     SIGTERM or at the end of stdin;
//   - stdin-only: the same, but ignores SIGTERM;
//   - stubborn: says "ready", ignores SIGTERM and never reads stdin;
//   - crash: writes an alarm line and exits 3 at once.
func child(mode string) int {
	switch mode {
	case "crash":
		fmt.Println("panic: something broke")
		return 3
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		select {}
	}
	ctx := context.Background()
	if mode == "stdin-only" {
		signal.Ignore(syscall.SIGTERM) // Notify would undo this
	} else {
		// Caught until exit: Stop also closes stdin, and when the child
		// sees that first, the SIGTERM may arrive while it exits (under
		// -race exit takes a second); it must not kill it then.
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM)
		context.AfterFunc(ctx, stop)
	}
	eof := make(chan struct{})
	go func() { // ends with the process
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	fmt.Fprintln(os.Stderr, "level=INFO note=starting")
	fmt.Printf("ready pid=%d\n", os.Getpid())
	select {
	case <-ctx.Done():
	case <-eof:
	}
	fmt.Println("bye")
	return 0
}

// startChild starts this test binary as a child in the given mode; the
// cleanup kills it if the test left it running.
func startChild(t *testing.T, mode, log string) *Process {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(Options{Name: "child-" + mode, Path: exe, Env: []string{childEnv + "=" + mode}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Signal(syscall.SIGKILL)
		<-p.Done()
	})
	return p
}

func waitReady(t *testing.T, p *Process) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	line, err := p.WaitLine(ctx, "ready")
	if err != nil {
		t.Fatal(err)
	}
	return line
}

func TestProcess_StopAfterSIGTERM(t *testing.T) {
	log := filepath.Join(t.TempDir(), "child.log")
	p := startChild(t, "serve", log)
	if line := waitReady(t, p); line != fmt.Sprintf("ready pid=%d", p.PID()) {
		t.Errorf("ready line %q, want the child's pid %d", line, p.PID())
	}
	if p.Exited() {
		t.Fatal("exited before Stop")
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !p.Exited() {
		t.Error("not exited after Stop")
	}
	// Both streams reach the memory sink and the log file.
	if got := p.Tail(2); !strings.HasSuffix(got, "bye") {
		t.Errorf("Tail(2) = %q, want it to end with bye", got)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"note=starting", "ready pid=", "bye"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("log file lacks %q:\n%s", want, b)
		}
	}
	if a := p.Alarms(); len(a) != 0 {
		t.Errorf("alarms %q from a clean child", a)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A child that ignores SIGTERM but watches its stdin ends on Stop too:
// Stop closes the pipe.
func TestProcess_StopClosesStdin(t *testing.T) {
	p := startChild(t, "stdin-only", "")
	waitReady(t, p)
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestProcess_StopKillsAfterTimeout(t *testing.T) {
	p := startChild(t, "stubborn", "")
	waitReady(t, p)
	err := p.Stop(300 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("Stop of a child ignoring SIGTERM = %v, want a killed error", err)
	}
	if err := p.CheckExit(); err != nil {
		t.Errorf("CheckExit after the kill: %v", err)
	}
}

func TestProcess_CrashIsUnexpected(t *testing.T) {
	p := startChild(t, "crash", "")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := p.WaitLine(ctx, "ready")
	if err == nil || !strings.Contains(err.Error(), "exited before writing") {
		t.Fatalf("WaitLine on a crashing child = %v", err)
	}
	<-p.Done()
	if err := p.CheckExit(); err == nil || !strings.Contains(err.Error(), "exited unasked") {
		t.Errorf("CheckExit = %v, want exited unasked", err)
	}
	if a := p.Alarms(); len(a) != 1 || !strings.HasPrefix(a[0], "panic:") {
		t.Errorf("Alarms = %q, want the panic line", a)
	}
	if err := p.Stop(time.Second); err == nil {
		t.Error("Stop of a crashed child returned nil")
	}
}

func TestProcess_SignalKill(t *testing.T) {
	p := startChild(t, "serve", "")
	waitReady(t, p)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckExit(); err != nil {
		t.Errorf("CheckExit after SIGKILL: %v", err)
	}
	if p.CPUTime() <= 0 {
		t.Errorf("CPUTime %s after exit", p.CPUTime())
	}
}

func TestProcess_WaitStopped(t *testing.T) {
	p := startChild(t, "serve", "")
	waitReady(t, p)
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitStopped(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if stopped, err := threadsStopped(p.PID()); err != nil || !stopped {
		t.Errorf("threadsStopped = %v, %v after WaitStopped", stopped, err)
	}
	if err := p.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Resumed: at least one thread runs or sleeps again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		stopped, err := threadsStopped(p.PID())
		if err == nil && !stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still stopped after SIGCONT (%v)", err)
		}
		if err := Sleep(t.Context(), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.WaitStopped(time.Second); err == nil {
		t.Error("WaitStopped on an exited process returned nil")
	}
}

func TestReadStats(t *testing.T) {
	self, err := ReadStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if self.RSS <= 0 || self.PeakRSS < self.RSS || self.CPU <= 0 || self.FDs < 3 {
		t.Errorf("stats of this process: %+v", self)
	}
	// The reading follows the process: more memory, more CPU time.
	buf := make([]byte, 64<<20)
	for i := 0; i < len(buf); i += 4096 { // one write per page
		buf[i] = 1
	}
	after, err := ReadStats(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.PeakRSS < self.RSS+32<<20 || after.CPU <= self.CPU {
		t.Errorf("after touching 64 MiB: %+v, before: %+v", after, self)
	}
	_ = buf[len(buf)-1]

	p := startChild(t, "serve", "")
	waitReady(t, p)
	st, err := p.Stats()
	if err != nil || st.RSS <= 0 || st.FDs < 3 {
		t.Errorf("stats of a child: %+v, %v", st, err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Stats(); err == nil {
		t.Error("stats of an exited child: no error")
	}
}

func TestLoadAverage(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/loadavg")
	}
	la := LoadAverage()
	f := strings.Fields(la)
	if len(f) != 3 {
		t.Fatalf("LoadAverage() = %q, want three numbers", la)
	}
	for _, v := range f {
		if x, err := strconv.ParseFloat(v, 64); err != nil || x < 0 {
			t.Errorf("LoadAverage() = %q: %q is not a load", la, v)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(t.Context(), time.Millisecond); err != nil {
		t.Errorf("Sleep of 1ms = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep with an ended context = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Sleep with an ended context took %s", d)
	}
}

func TestUntilStdinEnds(t *testing.T) {
	r, w := io.Pipe()
	ctx, cancel := UntilStdinEnds(t.Context(), r)
	defer cancel()
	w.Write([]byte("data does not end it\n"))
	if ctx.Err() != nil {
		t.Fatal("ended before stdin did")
	}
	w.Close()
	<-ctx.Done() // the test's deadline bounds this

	parent, stop := context.WithCancel(t.Context())
	r2, w2 := io.Pipe()
	defer w2.Close()
	ctx2, cancel2 := UntilStdinEnds(parent, r2)
	defer cancel2()
	stop()
	if !errors.Is(ctx2.Err(), context.Canceled) {
		t.Errorf("after the parent ended: %v, want context.Canceled", ctx2.Err())
	}
}

func TestWaitUntil(t *testing.T) {
	calls := 0
	if err := WaitUntil(t.Context(), time.Minute, time.Millisecond, "three calls", func() bool { calls++; return calls == 3 }); err != nil || calls != 3 {
		t.Errorf("WaitUntil = %v after %d calls, want nil after 3", err, calls)
	}
	err := WaitUntil(t.Context(), 20*time.Millisecond, time.Millisecond, "never", func() bool { return false })
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms waiting for never") {
		t.Errorf("WaitUntil of a false condition = %v, want a timeout naming it", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := WaitUntil(ctx, time.Hour, time.Hour, "never", func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitUntil with an ended context = %v, want context.Canceled", err)
	}
}

// The sink splits writes into lines however they arrive, keeps the first
// and last ones, and cuts an endless line.
func TestSink(t *testing.T) {
	s := newSink(nil)
	w := bufio.NewWriterSize(s, 7) // odd chunk boundaries
	for i := range sinkHeadLines + sinkTailLines + 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	w.Flush()
	if l, _ := s.find("line 0"); l != "line 0" {
		t.Errorf("find(line 0) = %q", l)
	}
	if l, _ := s.find(fmt.Sprintf("line %d", sinkHeadLines)); l != "" {
		t.Errorf("line %d found beyond the head: %q", sinkHeadLines, l)
	}
	last := sinkHeadLines + sinkTailLines + 9
	if got, want := s.tail(2), fmt.Sprintf("line %d\nline %d", last-1, last); got != want {
		t.Errorf("tail(2) = %q, want %q", got, want)
	}
	if got := strings.Count(s.tail(1000), "\n") + 1; got != sinkTailLines {
		t.Errorf("tail keeps %d lines, want %d", got, sinkTailLines)
	}
	_, _ = s.Write([]byte(strings.Repeat("x", sinkMaxLine+1)))
	if got := s.tail(1); len(got) != sinkMaxLine+1 {
		t.Errorf("an endless line ends up as %d bytes, want one line of %d", len(got), sinkMaxLine+1)
	}
}

func TestHostAddr(t *testing.T) {
	for i, want := range map[int]string{0: "127.1.0.1", 254: "127.1.0.255", 255: "127.1.1.0", 70000: "127.2.17.113"} {
		if got := HostAddr(i).IP.String(); got != want {
			t.Errorf("HostAddr(%d) = %s, want %s", i, got, want)
		}
	}
}
