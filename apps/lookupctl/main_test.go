package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup/config"
)

func TestRun_Version(t *testing.T) {
	for _, arg := range []string{"--version", "-version"} {
		var out bytes.Buffer
		code := run(t.Context(), []string{arg}, &out, io.Discard)
		if want := "lookupctl v" + config.Version + " (built w/go"; code != ctl.ExitOK || !strings.HasPrefix(out.String(), want) {
			t.Errorf("%s: code %d, out %q; want 0 and a line starting %q", arg, code, out.String(), want)
		}
	}
	// Anything else is ctl's: an unknown flag is a usage error there.
	if code := run(t.Context(), []string{"--version", "nodes"}, io.Discard, io.Discard); code != ctl.ExitUsage {
		t.Errorf("--version with a command: code %d, want %d", code, ctl.ExitUsage)
	}
}
