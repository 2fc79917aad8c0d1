package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// TestImage builds the image with make image and runs lookupd, producerd
// and lookupctl from it, all with --network host on 127.0.0.1: producerd's
// registration reaches lookupd and lookupctl sees it, and producerd
// withdraws it when stopped. It skips when no docker daemon answers.
func TestImage(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not installed: image not tested (apt-get install -y docker.io, then start dockerd)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	out, err := exec.CommandContext(ctx, docker, "info", "--format", "{{.ServerVersion}}").CombinedOutput()
	cancel()
	if err != nil {
		t.Skipf("no docker daemon answers (%v: %s): image not tested; start one with `dockerd --bridge=none --iptables=false &`",
			err, strings.TrimSpace(string(out)))
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make image needs make on PATH")
	}
	_, version := buildRelease(t) // skips as TestRelease does; make image rebuilds from the cache

	tag := "lookupd-test:" + randomHex(t)
	start := time.Now()
	build := exec.CommandContext(t.Context(), "make", "-C", repoRoot, "image", "IMAGE="+tag, "DIST="+t.TempDir())
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image took %s", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { exec.Command(docker, "rmi", "--force", tag).Run() })

	// FROM scratch: the image is the three binaries' layers and nothing else.
	var img []struct {
		Config struct {
			Cmd  []string
			User string
		}
		RootFS struct{ Layers []string }
	}
	if err := json.Unmarshal(dockerOut(t, docker, "image", "inspect", tag), &img); err != nil || len(img) != 1 {
		t.Fatalf("docker image inspect %s: %v", tag, err)
	}
	if c := img[0].Config; !slices.Equal(c.Cmd, []string{"lookupd"}) || c.User != "65534:65534" || len(img[0].RootFS.Layers) != len(apps) {
		t.Errorf("image config: cmd %q, user %q, %d layers; want [lookupd], 65534:65534, %d layers", c.Cmd, c.User, len(img[0].RootFS.Layers), len(apps))
	}
	for _, app := range apps {
		line := string(dockerOut(t, docker, "run", "--rm", "--network", "host", tag, app, "--version"))
		if prefix := app + " v" + version + " ("; !strings.HasPrefix(line, prefix) {
			t.Errorf("%s --version in the image printed %q, want a line starting %q", app, line, prefix)
		}
	}

	// lookupd on 127.0.0.1 port 0: its start-up log line says where.
	lookupd := runContainer(t, docker, tag, "lookupd", "--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0", "--broadcast-address=127.0.0.1")
	addrs := lookupd.waitLog(t, regexp.MustCompile(`tcp_address=(127\.0\.0\.1:\d+) http_address=(127\.0\.0\.1:\d+)`))
	tcpAddr, httpAddr := addrs[1], addrs[2]

	producerd := runContainer(t, docker, tag, "producerd", "--lookupd-tcp-address="+tcpAddr, "--broadcast-address=127.0.0.1",
		"--broadcast-tcp-port=4150", "--http-address=", "--register=orders/archive", "--heartbeat-interval=1s")
	lookuptest.WaitFor(t, 30*time.Second, "producerd's orders registration on lookupd", func() bool {
		return slices.Equal(lookuptest.LookupProducers(t, httpAddr, "orders"), []string{"127.0.0.1:4150"})
	})
	ctl := string(dockerOut(t, docker, "run", "--rm", "--network", "host", tag, "lookupctl", "--lookupd-http-address="+httpAddr, "lookup", "orders"))
	if !strings.Contains(ctl, "127.0.0.1:4150") || !strings.Contains(ctl, "archive") {
		t.Errorf("lookupctl lookup orders in the image printed\n%s\nwant the producer 127.0.0.1:4150 and channel archive", ctl)
	}

	// docker stop sends SIGTERM: producerd withdraws, then both exit 0.
	producerd.stop(t)
	lookuptest.WaitFor(t, 30*time.Second, "orders to have no producers after producerd stopped", func() bool {
		return len(lookuptest.LookupProducers(t, httpAddr, "orders")) == 0
	})
	lookupd.stop(t)
}

// container is one detached container of TestImage.
type container struct {
	docker, id string
}

// runContainer starts args (a program and its flags) from image detached,
// with --network host, and removes the container when the test ends.
func runContainer(t *testing.T, docker, image string, args ...string) *container {
	t.Helper()
	id := strings.TrimSpace(string(dockerOut(t, docker, append([]string{"run", "--detach", "--network", "host", image}, args...)...)))
	c := &container{docker: docker, id: id}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(docker, "logs", id).CombinedOutput()
			t.Logf("logs of %s (%s):\n%s", args[0], id, out)
		}
		exec.Command(docker, "rm", "--force", id).Run()
	})
	return c
}

// waitLog polls the container's log until re matches and returns the
// submatches.
func (c *container) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	var m []string
	lookuptest.WaitFor(t, 30*time.Second, "log line matching "+re.String(), func() bool {
		out, _ := exec.Command(c.docker, "logs", c.id).CombinedOutput()
		m = re.FindStringSubmatch(string(out))
		return m != nil
	})
	return m
}

// stop stops the container (SIGTERM) and requires exit status 0.
func (c *container) stop(t *testing.T) {
	t.Helper()
	dockerOut(t, c.docker, "stop", "--time", "20", c.id)
	if code := strings.TrimSpace(string(dockerOut(t, c.docker, "inspect", "--format", "{{.State.ExitCode}}", c.id))); code != "0" {
		t.Errorf("container %s exited %s after docker stop, want 0", c.id, code)
	}
}

// dockerOut runs docker with args and returns its stdout, failing the test
// on error.
func dockerOut(t *testing.T, docker string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// randomHex returns 8 random hex digits, to name this run's image.
func randomHex(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b) + fmt.Sprint(os.Getpid())
}
