//go:build linux

package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the paths of the built daemons.
type Binaries struct {
	Lookupd   string
	Producerd string
}

// BuildOptions change how Build compiles the daemons.
type BuildOptions struct {
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

// logField returns the value of key=value in a slog text line.
func logField(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
