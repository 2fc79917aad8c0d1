package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestUnits runs systemd-analyze verify on the units in systemd/, as
// installed under a root folder of their own: the release binaries at
// /usr/local/bin, the units in /etc/systemd/system, and the system's own
// unit folder (for the targets they name). verify exits 0 on mere warnings,
// so any output fails the test too. producerd@.service is checked through
// an instance, producerd@orders.service.
func TestUnits(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("systemd units: Linux only")
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed (apt-get install -y systemd): units not verified")
	}
	var sysUnits string
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if _, err := os.Stat(filepath.Join(d, "sysinit.target")); err == nil {
			sysUnits = d
			break
		}
	}
	if sysUnits == "" {
		t.Skip("no systemd unit folder with sysinit.target: units not verified")
	}
	dist, _ := buildRelease(t)

	root := t.TempDir()
	bin := filepath.Join(root, "usr/local/bin")
	etc := filepath.Join(root, "etc/systemd/system")
	lib := filepath.Join(root, "usr/lib/systemd")
	for _, d := range []string{bin, etc, lib} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range []string{"lookupd", "producerd"} {
		copyFile(t, filepath.Join(dist, app+"-"+runtime.GOOS+"-"+runtime.GOARCH), filepath.Join(bin, app), 0o755)
	}
	// producerd@'s ExecReload runs the system's /bin/kill.
	kill, err := exec.LookPath("kill")
	if _, serr := os.Stat("/bin/kill"); serr == nil {
		kill, err = "/bin/kill", nil
	}
	if err != nil {
		t.Skip("no kill binary to stand in for /bin/kill")
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, kill, filepath.Join(root, "bin/kill"), 0o755)
	units, err := filepath.Glob("systemd/*.service")
	if err != nil || len(units) != 2 {
		t.Fatalf("units in systemd/: %q, %v; want lookupd.service and producerd@.service", units, err)
	}
	for _, u := range units {
		copyFile(t, u, filepath.Join(etc, filepath.Base(u)), 0o644)
	}
	if out, err := exec.Command("cp", "-a", sysUnits, filepath.Join(lib, "system")).CombinedOutput(); err != nil {
		t.Fatalf("copy %s: %v\n%s", sysUnits, err, out)
	}

	for _, unit := range []string{"lookupd.service", "producerd@orders.service"} {
		out, err := exec.Command(analyze, "verify", "--root="+root, unit).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}

	// The hardening the README promises is in both units.
	for _, u := range units {
		text, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
			"PrivateTmp=yes", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service", "--config=/etc/lookupd/"} {
			if !strings.Contains(string(text), want) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(want))
			}
		}
	}
}

// TestConfigFiles: the sample config files under systemd/ load: each
// binary reads its file, then stops at a flag that fails validation, which
// it checks only after the file parsed without a problem.
func TestConfigFiles(t *testing.T) {
	dist, _ := buildRelease(t)
	for _, tc := range []struct{ app, file string }{
		{app: "lookupd", file: "systemd/lookupd.toml"},
		{app: "producerd", file: "systemd/orders.toml"},
	} {
		bin := filepath.Join(dist, tc.app+"-"+runtime.GOOS+"-"+runtime.GOARCH)
		out, err := exec.Command(bin, "--config="+tc.file, "--shutdown-timeout=0s").CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Contains(string(out), "config file") || !strings.Contains(string(out), "shutdown-timeout") {
			t.Errorf("%s --config=%s --shutdown-timeout=0s: %v\n%s\nwant exit 2 naming only shutdown-timeout", tc.app, tc.file, err, out)
		}
	}
}

// copyFile copies src to dst with mode perm.
func copyFile(t *testing.T, src, dst string, perm os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		t.Fatal(err)
	}
}
