package config

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestNewTextHandler_DropsEmptyAttributes(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(NewTextHandler(&b, slog.LevelInfo))
	var noErr error
	log.Info("producer registered", "topic", "orders", "channel", "", "err", noErr)
	log.Warn("failed", "err", errors.New("boom"), "count", 0)
	log.Debug("hidden")
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.HasSuffix(lines[0], `msg="producer registered" topic=orders`) {
		t.Errorf("empty attributes kept: %q", lines[0])
	}
	if !strings.HasSuffix(lines[1], `msg=failed err=boom count=0`) {
		t.Errorf("line %q", lines[1])
	}
}
