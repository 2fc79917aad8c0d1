package main

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lookupd/lookupd/bench"
	"github.com/lookupd/lookupd/bench/proc"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestMain lets the test binary stand in for the command: the daemon
// processes the harness starts re-execute this binary with childEnv set,
// and then it serves a daemon instead of running the tests.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		// As main does: the harness stops its daemons with SIGTERM.
		os.Exit(run(proc.SignalContext(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestSmoke runs every phase of a paired run at a tiny scale against both
// daemons, end to end through run, and checks that each figure is there
// and sane and that the JSON and markdown outputs are written.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two daemon processes")
	}
	out := filepath.Join(t.TempDir(), "res", "smoke.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-pair", "-rounds=1", "-producers=12", "-topics=6", "-channels=2", "-share=3",
		"-clients=2", "-duration=250ms", "-calls=5", "-nodes-calls=2", "-call-budget=2s",
		"-settle=300ms", "-storm-timeout=20s", "-out=" + out}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d\nstderr:\n%s", code, stderr.String())
	}

	var rep bench.Report
	if err := bench.ReadReport(out, &rep); err != nil {
		t.Fatalf("read report %s: %v", out, err)
	}
	if rep.Mode != "pair" || len(rep.Scales) != 1 {
		t.Fatalf("mode %q with %d scales, want pair with 1", rep.Mode, len(rep.Scales))
	}
	sr := rep.Scales[0]
	if len(sr.Daemons) != 2 {
		t.Fatalf("%d daemons in the report, want 2", len(sr.Daemons))
	}
	for _, d := range sr.Daemons {
		if len(d.Runs) != 1 {
			t.Errorf("%s: %d runs, want 1", d.Daemon, len(d.Runs))
		}
		for _, m := range bench.Metrics {
			v, ok := d.Median[m.Key]
			switch {
			case !ok:
				t.Errorf("%s: figure %s missing", d.Daemon, m.Key)
			case math.IsNaN(v) || math.IsInf(v, 0):
				t.Errorf("%s: figure %s = %v", d.Daemon, m.Key, v)
			case strings.HasPrefix(m.Key, "rss_per_"):
				// A delta over a dozen connections may be lost in page
				// granularity, but not be absurd.
				if math.Abs(v) > 1<<20 {
					t.Errorf("%s: %s = %v bytes", d.Daemon, m.Key, v)
				}
			case v <= 0:
				t.Errorf("%s: figure %s = %v, want > 0", d.Daemon, m.Key, v)
			}
		}
		med := d.Median
		if med[bench.FigLookupP99] < med[bench.FigLookupP50] {
			t.Errorf("%s: /lookup p99 %v below p50 %v", d.Daemon, med[bench.FigLookupP99], med[bench.FigLookupP50])
		}
		if med[bench.FigStormMs] > 20_000 {
			t.Errorf("%s: disconnect storm took %v ms", d.Daemon, med[bench.FigStormMs])
		}
	}
	if len(sr.Comparisons) != len(bench.Metrics) {
		t.Errorf("%d comparisons, want %d", len(sr.Comparisons), len(bench.Metrics))
	}
	md, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| /lookup throughput |", "nsqlookupd", "advantage"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !bytes.Equal(md, stdout.Bytes()) {
		t.Errorf("stdout differs from the markdown file")
	}
}

// The harness stops a daemon child with SIGTERM and the end of its stdin
// at once, and the child may see either first. Here the end of stdin wins
// for sure: the daemon has closed its listener, so it is on its way out,
// when the SIGTERM arrives. It must still exit with status 0, not die of
// the signal (under -race, exit alone takes a second).
func TestServe_SIGTERMWhileStopping(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-serve=ours")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("announce line: %q, %v", line, err)
	}
	var httpAddr string
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, "http="); ok {
			httpAddr = v
		}
	}
	if httpAddr == "" {
		t.Fatalf("no http= in the announce line %q", line)
	}

	stdin.Close()
	lookuptest.WaitFor(t, 20*time.Second, "the HTTP listener to close", func() bool {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after stdin closed and a late SIGTERM: %v, want exit status 0", err)
	}
}

// The flag set accepts every documented flag and rejects nonsense.
func TestFlags(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(t.Context(), []string{"-producers=0"}, strings.NewReader(""), &bytes.Buffer{}, &stderr); code != 1 {
		t.Errorf("-producers=0 exited %d, want 1 (invalid config)", code)
	}
	if !strings.Contains(stderr.String(), "producers must be") {
		t.Errorf("stderr %q does not explain the bad value", stderr.String())
	}
	if code := run(t.Context(), []string{"-no-such-flag"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 2 {
		t.Errorf("unknown flag exited %d, want 2", code)
	}
	if code := run(t.Context(), []string{"-serve=bogus"}, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}); code != 1 {
		t.Errorf("-serve=bogus exited %d, want 1", code)
	}
}

// TestSmokeDNS runs the DNS benchmark at a tiny scale end to end: two
// lookupd processes with DNS, the merged server process, all four loads
// (every answer checked), and the JSON and markdown outputs.
func TestSmokeDNS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes")
	}
	out := filepath.Join(t.TempDir(), "dns.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-dns", "-lookupds=2", "-producers=12", "-topics=6", "-share=3", "-clients=2",
		"-duration=400ms", "-slices=2", "-out=" + out}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d\nstderr:\n%s", code, stderr.String())
	}
	var rep bench.DNSReport
	if err := bench.ReadReport(out, &rep); err != nil {
		t.Fatalf("read report %s: %v", out, err)
	}
	want := []string{bench.LoadLookupdDNS, bench.LoadLookupdHTTP, bench.LoadMergedDNS, bench.LoadMergedLibrary}
	if len(rep.Loads) != len(want) {
		t.Fatalf("%d loads, want %d", len(rep.Loads), len(want))
	}
	for i, l := range rep.Loads {
		if l.Name != want[i] || l.Count == 0 || l.Rate <= 0 || l.P50 <= 0 || l.P99 < l.P50 {
			t.Errorf("load %d: %+v", i, l)
		}
	}
	md, err := os.ReadFile(strings.TrimSuffix(out, ".json") + ".md")
	if err != nil || !strings.Contains(string(md), bench.LoadMergedDNS) || !strings.Contains(stdout.String(), "answers/s") {
		t.Errorf("markdown: %v\n%s", err, md)
	}
}

// TestSmokeSecurity runs the security benchmark at a tiny scale end to
// end: a lookupd process per mode (plaintext, TLS, token, both, control),
// every answer checked, and the JSON and markdown outputs. The target is
// not held at this scale (-min-ratio=0): a few hundred milliseconds on a
// shared machine measure nothing.
func TestSmokeSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	out := filepath.Join(t.TempDir(), "security.json")
	var stdout, stderr bytes.Buffer
	args := []string{"-security", "-producers=12", "-topics=6", "-share=3", "-clients=2",
		"-duration=500ms", "-slices=2", "-min-ratio=0", "-out=" + out}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if code := run(ctx, args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("run exited %d\nstderr:\n%s", code, stderr.String())
	}
	var rep bench.SecurityReport
	if err := bench.ReadReport(out, &rep); err != nil {
		t.Fatalf("read report %s: %v", out, err)
	}
	if len(rep.Loads) != len(bench.SecurityModes) || !rep.Pass {
		t.Fatalf("%d loads (pass %v), want %d", len(rep.Loads), rep.Pass, len(bench.SecurityModes))
	}
	for i, l := range rep.Loads {
		if l.Mode != bench.SecurityModes[i] || l.Count == 0 || l.Rate <= 0 || l.Ratio <= 0 || l.P99 < l.P50 {
			t.Errorf("load %d: %+v", i, l)
		}
	}
	if !strings.Contains(stdout.String(), "× plaintext") {
		t.Errorf("markdown:\n%s", stdout.String())
	}
}
