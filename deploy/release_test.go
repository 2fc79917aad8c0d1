package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// apps are the programs make release builds.
var apps = []string{"lookupd", "producerd", "lookupctl"}

// repoRoot is the module root, where the Makefile is.
const repoRoot = ".."

// release is the output of one make release for this machine's platform,
// shared by the tests of this package (building it is the slow part).
var release struct {
	once    sync.Once
	dir     string        // DIST
	version string        // what git describe said, without the "v"
	took    time.Duration // how long make release ran
	err     error
	skip    string // why the tests that need it must skip
}

// TestMain removes the shared release folder after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if release.dir != "" {
		os.RemoveAll(release.dir)
	}
	os.Exit(code)
}

// buildRelease runs make release once for GOOS/GOARCH of this machine and
// returns the folder holding the binaries and SHA256SUMS and the version
// they should report. Tests skip when make, git or go is missing or the
// tree is not a git checkout.
func buildRelease(t *testing.T) (dir, version string) {
	t.Helper()
	release.once.Do(func() {
		for _, tool := range []string{"make", "git", "go"} {
			if _, err := exec.LookPath(tool); err != nil {
				release.skip = fmt.Sprintf("make release needs %s on PATH: %v", tool, err)
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "git", "-C", repoRoot, "describe", "--tags", "--always", "--dirty").Output()
		if err != nil {
			release.skip = fmt.Sprintf("not a git checkout (git describe: %v): make release cannot stamp a version", err)
			return
		}
		release.version = strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
		if release.dir, release.err = os.MkdirTemp("", "lookupd-release-"); release.err != nil {
			return
		}
		start := time.Now()
		cmd := exec.CommandContext(ctx, "make", "-C", repoRoot, "release",
			"PLATFORMS="+runtime.GOOS+"/"+runtime.GOARCH, "DIST="+release.dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			release.err = fmt.Errorf("make release: %w\n%s", err, out)
		}
		release.took = time.Since(start)
	})
	if release.skip != "" {
		t.Skip(release.skip)
	}
	if release.err != nil {
		t.Fatal(release.err)
	}
	return release.dir, release.version
}

// TestRelease: make release builds lookupd, producerd and lookupctl for
// this machine; each runs here, is static, and prints the version git
// describe gives; SHA256SUMS lists exactly those files and verifies.
func TestRelease(t *testing.T) {
	dir, version := buildRelease(t)
	t.Logf("make release for %s/%s took %s (version %s)", runtime.GOOS, runtime.GOARCH, release.took.Round(time.Millisecond), version)

	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	listed, err := verifySums(dir, sums)
	if err != nil {
		t.Fatalf("SHA256SUMS: %v", err)
	}
	var want []string
	for _, app := range apps {
		want = append(want, app+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	}
	slices.Sort(want)
	if slices.Sort(listed); !slices.Equal(listed, want) {
		t.Errorf("SHA256SUMS lists %q, want %q", listed, want)
	}
	// The file is in sha256sum's format: the command users run agrees.
	if sha, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sha, "--check", "--strict", "SHA256SUMS")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum --check: %v\n%s", err, out)
		}
	}

	for _, app := range apps {
		bin := filepath.Join(dir, app+"-"+runtime.GOOS+"-"+runtime.GOARCH)
		out, err := exec.Command(bin, "--version").CombinedOutput()
		if err != nil {
			t.Errorf("%s --version: %v\n%s", app, err, out)
			continue
		}
		if prefix := app + " v" + version + " ("; !strings.HasPrefix(string(out), prefix) {
			t.Errorf("%s --version printed %q, want a line starting %q", app, out, prefix)
		}
		if runtime.GOOS == "linux" {
			if err := checkStatic(bin); err != nil {
				t.Errorf("%s: %v", app, err)
			}
		}
	}
}

// TestVerifySums: the checksum check used above notices a changed file, a
// missing file and a malformed line, so its success means something.
func TestVerifySums(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const helloSum = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
	for _, tc := range []struct {
		name, sums, wantErr string
	}{
		{name: "good", sums: helloSum + "  a\n"},
		{name: "binary mode marker", sums: helloSum + " *a\n"},
		{name: "changed file", sums: strings.Repeat("0", 64) + "  a\n", wantErr: "a: sha256 is " + helloSum},
		{name: "missing file", sums: helloSum + "  b\n", wantErr: "b: open"},
		{name: "malformed", sums: "xyz a\n", wantErr: "line 1: malformed"},
		{name: "empty", sums: "", wantErr: "no files listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifySums(dir, []byte(tc.sums))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// verifySums checks every line "HEX  NAME" of a SHA256SUMS file against
// the file NAME in dir, and returns the names listed.
func verifySums(dir string, sums []byte) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for n := 1; sc.Scan(); n++ {
		sum, name, ok := strings.Cut(sc.Text(), " ")
		name = strings.TrimPrefix(strings.TrimPrefix(name, " "), "*")
		if _, err := hex.DecodeString(sum); !ok || err != nil || len(sum) != 64 || name == "" {
			return nil, fmt.Errorf("line %d: malformed: %q", n, sc.Text())
		}
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sum {
			return nil, fmt.Errorf("%s: sha256 is %s, SHA256SUMS says %s", name, got, sum)
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no files listed")
	}
	return names, nil
}

// checkStatic reports an error if the ELF file at path asks for a dynamic
// loader or shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("not static: has a PT_INTERP program header")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("not static: needs %q", libs)
	}
	return nil
}
