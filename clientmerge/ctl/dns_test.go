package ctl_test

import (
	"context"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/lookupd/lookupd/clientmerge/ctl"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/mergeddns"
)

// TestCmdDNS: lookupctl dns, with the hook the binary passes, serves the
// merged view until interrupted; without the hook it says it cannot.
func TestCmdDNS(t *testing.T) {
	ds := []*lookuptest.Daemon{lookuptest.StartDaemon(t, nil), lookuptest.StartDaemon(t, nil)}
	p := lookuptest.Dial(t, ds[1].TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(4150))
	p.Register("orders", "")
	args := []string{"dns", "--dns-address=127.0.0.1:0", "--dns-zone=nsq.example",
		"--lookupd-http-address=" + ds[0].HTTPAddr().String(), "--lookupd-http-address=" + ds[1].HTTPAddr().String()}

	out, errw := &lookuptest.SyncBuffer{}, &lookuptest.SyncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- ctl.MainWithHooks(ctx, args, nil, out, errw, ctl.Hooks{ServeDNS: mergeddns.Serve}) }()
	t.Cleanup(cancel)
	serving := regexp.MustCompile(`serving (127\.0\.0\.1:\d+) \(zone nsq\.example\)`)
	var addr string
	lookuptest.WaitFor(t, 10*time.Second, "the serving line", func() bool {
		m := serving.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	got := lookuptest.NewResolver(addr).SRV(t, "_orders._tcp.nsq.example.")
	if want := []string{"127-0-0-1.ip.nsq.example.:4150"}; !slices.Equal(got, want) {
		t.Errorf("SRV %q, want %q", got, want)
	}
	cancel()
	select {
	case code := <-done:
		if code != ctl.ExitOK {
			t.Errorf("exit code %d, stderr %s", code, errw.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dns did not stop")
	}

	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no hook", args, ctl.ExitFailed},
		{"bad ttl", append(args, "--dns-ttl=-1s"), ctl.ExitUsage},
		{"bad zone", append(args[:1:1], "--dns-address=127.0.0.1:0", "--dns-zone=a..b", "--lookupd-http-address=127.0.0.1:1"), ctl.ExitFailed},
		{"dns flag on another command", []string{"lookup", "orders", "--dns-zone=x.", "--lookupd-http-address=127.0.0.1:1"}, ctl.ExitUsage},
	}
	for _, tt := range tests {
		var out, errw lookuptest.SyncBuffer
		h := ctl.Hooks{ServeDNS: mergeddns.Serve}
		if tt.name == "no hook" {
			h.ServeDNS = nil
		}
		if code := ctl.MainWithHooks(t.Context(), tt.args, nil, &out, &errw, h); code != tt.want {
			t.Errorf("%s: exit %d, want %d; stderr %s", tt.name, code, tt.want, errw.String())
		}
	}
}
