package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDemo builds the two daemons and runs the whole demo against them,
// checking that every stage shows what it claims.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs processes")
	}
	bin := t.TempDir()
	for _, app := range []string{"lookupd", "producerd"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, app), "../"+app)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", app, err, out)
		}
	}
	var out bytes.Buffer
	if err := run(t.Context(), &out, bin, "orders"); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`lookupd A: 200 \{"channels":\["billing","shipping"\],"producers":\[.*"tcp_port":4150.*"tcp_port":4250`),
		regexp.MustCompile(`lookupd C: 200 .*"tcp_port":4250`),
		regexp.MustCompile(`3 of 3 lookupds answered\n\s+producer 127.0.0.1:4150\s+seen by 3`),
		regexp.MustCompile(`with lookupd B down\n\s+topic orders: .* 2 of 3 lookupds answered\n\s+producer 127.0.0.1:4150\s+seen by 2.*\n\s+producer 127.0.0.1:4250\s+seen by 2`),
		regexp.MustCompile(`after producer-2 left\n.*\n\s+producer 127.0.0.1:4150\s+seen by 2 lookupd\(s\)\n\s+partial failure`),
	} {
		if !want.MatchString(s) {
			t.Errorf("demo output lacks %s\n%s", want, s)
		}
	}
}
