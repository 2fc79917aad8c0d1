package clientmerge

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps_NoGoNSQ: a program that only does lookups does not pull in
// go-nsq (nsqbridge does, as a package of its own) or the lookupd server.
func TestDeps_NoGoNSQ(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "github.com/nsqio/") || strings.HasPrefix(d, "github.com/lookupd/lookupd/lookup") {
			t.Errorf("clientmerge depends on %s", d)
		}
	}
}
