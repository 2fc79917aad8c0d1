package demo_test

import (
	"bytes"
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/bench/demo"
	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestDemo builds the binaries and runs the whole demo against them: once
// as from CI (it ends by itself), once as from a terminal (it stays up
// with the web view until its context ends).
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs processes")
	}
	bin := t.TempDir()
	for _, app := range []string{"lookupd", "producerd", "lookupctl"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, app), "github.com/lookupd/lookupd/apps/"+app)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", app, err, out)
		}
	}
	t.Run("ends by itself", func(t *testing.T) {
		var out bytes.Buffer
		if err := demo.Run(t.Context(), &out, demo.Options{Bin: bin, Topic: "orders"}); err != nil {
			t.Fatalf("demo: %v\n%s", err, out.String())
		}
		s := out.String()
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`lookupd A: 200 \{"channels":\["billing","shipping"\],"producers":\[.*"tcp_port":4150.*"tcp_port":4250`),
			regexp.MustCompile(`lookupd C: 200 .*"tcp_port":4250`),
			regexp.MustCompile(`3 of 3 lookupds answered\n\s+producer 127.0.0.1:4150\s+seen by 3`),
			regexp.MustCompile(`with lookupd B down\n\s+topic orders: .* 2 of 3 lookupds answered\n\s+producer 127.0.0.1:4150\s+seen by 2.*\n\s+producer 127.0.0.1:4250\s+seen by 2`),
			regexp.MustCompile(`after producer-2 left\n.*\n\s+producer 127.0.0.1:4150\s+seen by 2 lookupd\(s\)\n\s+partial failure`),
			regexp.MustCompile(`demo done; shutting down\n`),
		} {
			if !want.MatchString(s) {
				t.Errorf("demo output lacks %s\n%s", want, s)
			}
		}
		if strings.Contains(s, "stays up") {
			t.Errorf("demo stayed up without a terminal:\n%s", s)
		}
	})
	t.Run("stays up", func(t *testing.T) {
		out := &lookuptest.SyncBuffer{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- demo.Run(ctx, out, demo.Options{Bin: bin, Topic: "orders", StayUp: true}) }()
		var s string
		lookuptest.WaitFor(t, 90*time.Second, "the demo to stay up", func() bool {
			s = out.String()
			return strings.Contains(s, "Ctrl-C stops everything") || strings.Contains(s, "all processes stopped")
		})
		url := regexp.MustCompile(`web view:\s+(http://127\.0\.0\.1:\d+/)`).FindStringSubmatch(s)
		env := regexp.MustCompile(`export (LOOKUPD_HTTP_ADDRESSES=\S+)`).FindStringSubmatch(s)
		if url == nil || env == nil {
			cancel()
			t.Fatalf("no web view URL or lookupd addresses in:\n%s", s)
		}
		if code, page := lookuptest.Get(t, url[1]); code != http.StatusOK || !bytes.Contains(page, []byte("EventSource")) {
			t.Errorf("web view: %d", code)
		}
		// The printed commands work: lookupd B and producer-2 come back,
		// and lookupctl sees both producers on all three lookupds.
		lookuptest.WaitFor(t, 30*time.Second, "lookupctl lookup to show both producers on 3/3", func() bool {
			cmd := exec.Command(filepath.Join(bin, "lookupctl"), "lookup", "orders")
			cmd.Env = append(cmd.Environ(), env[1])
			got, err := cmd.Output()
			return err == nil && regexp.MustCompile(`127.0.0.1:4150\s+producer-1\s+\S+\s+3/3\s+-\n127.0.0.1:4250\s+producer-2\s+\S+\s+3/3\s+-\n`).Match(got)
		})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
		if s := out.String(); !strings.HasSuffix(strings.TrimSpace(s), "") || !strings.Contains(s, "all processes stopped") {
			t.Errorf("demo did not stop everything:\n%s", s)
		}
	})
}
