package netscale

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NamePrefix starts the name of every network namespace a run makes:
// "lsc<pid>-sw" holds the bridge, "lsc<pid>-<host>" each host.
const NamePrefix = "lsc"

// Net is the run's simulated network: one namespace per host, each with
// one veth link (eth0, the host's one address) to a bridge that lives in a
// namespace of its own, so nothing is attached to the machine's own network
// stack and no packet of the run leaves these namespaces. Close removes
// every namespace, which removes the links and the bridge.
type Net struct {
	id     string // lsc<pid>
	ipPath string
	hosts  []Host
	made   []string // namespaces made, for Close
}

// NewNet checks that ip is installed and that this process may make
// namespaces (root), removes namespaces left by earlier runs whose process
// is gone, and makes the network for hosts.
func NewNet(ctx context.Context, hosts []Host) (*Net, error) {
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		return nil, fmt.Errorf("%w: ip (iproute2) not found: %v", ErrUnsupported, err)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: network namespaces need root", ErrUnsupported)
	}
	n := &Net{id: NamePrefix + strconv.Itoa(os.Getpid()), ipPath: ipPath, hosts: hosts}
	n.removeStale(ctx)
	if err := n.setup(ctx); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	return n, nil
}

// ErrUnsupported: this machine or user cannot make network namespaces.
var ErrUnsupported = errors.New("network namespaces unavailable")

func (n *Net) switchNS() string   { return n.id + "-sw" }
func (n *Net) NS(h Host) string   { return n.id + "-" + h.Name }
func (n *Net) port(h Host) string { return "v-" + h.Name }

func (n *Net) setup(ctx context.Context) error {
	sw := n.switchNS()
	if err := n.addNS(ctx, sw); err != nil {
		return err
	}
	if err := n.ip(ctx, "-n", sw, "link", "add", "dev", "br0", "type", "bridge"); err != nil {
		return err
	}
	if err := n.ip(ctx, "-n", sw, "link", "set", "dev", "br0", "up"); err != nil {
		return err
	}
	for _, h := range n.hosts {
		ns := n.NS(h)
		steps := [][]string{
			{"link", "add", "name", n.port(h), "netns", sw, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"-n", sw, "link", "set", "dev", n.port(h), "master", "br0", "up"},
			{"-n", ns, "link", "set", "dev", "lo", "up"},
			{"-n", ns, "addr", "add", h.Addr.String() + "/16", "dev", "eth0"},
			{"-n", ns, "link", "set", "dev", "eth0", "up"},
		}
		if err := n.addNS(ctx, ns); err != nil {
			return err
		}
		for _, s := range steps {
			if err := n.ip(ctx, s...); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *Net) addNS(ctx context.Context, name string) error {
	if err := n.ip(ctx, "netns", "add", name); err != nil {
		return err
	}
	n.made = append(n.made, name)
	return nil
}

// Command returns the argv that runs argv inside host h's namespace.
func (n *Net) Command(h Host, argv ...string) []string {
	return append([]string{n.ipPath, "netns", "exec", n.NS(h)}, argv...)
}

// Cut takes host h's link down at the bridge, as if its cable were pulled
// at the switch: packets to and from h are dropped, no connection is told.
func (n *Net) Cut(ctx context.Context, h Host) error {
	return n.ip(ctx, "-n", n.switchNS(), "link", "set", "dev", n.port(h), "down")
}

// Heal brings host h's link back up.
func (n *Net) Heal(ctx context.Context, h Host) error {
	return n.ip(ctx, "-n", n.switchNS(), "link", "set", "dev", n.port(h), "up")
}

// Close removes every namespace the run made, hosts first. Processes
// still inside keep theirs alive until they exit, so stop them first.
func (n *Net) Close() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := len(n.made) - 1; i >= 0; i-- {
		if err := n.ip(ctx, "netns", "del", n.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.made = nil
	return errors.Join(errs...)
}

// removeStale deletes namespaces named lsc<pid>-… whose pid is no longer
// running: leftovers of a run that was killed before its Close.
func (n *Net) removeStale(ctx context.Context) {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, NamePrefix)
		if !ok {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		_ = n.ip(ctx, "netns", "del", filepath.Base(name))
	}
}

// alive reports whether a process with that pid exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func (n *Net) ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, n.ipPath, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
