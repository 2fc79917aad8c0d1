package producerd_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/producerd"
)

// TestDaemon_OneNameThreeLookupds: given one name that resolves to three
// addresses, producerd registers with all three lookupds, follows a record
// that goes and comes back, and withdraws everywhere when it stops. The
// name is served by an in-process DNS server on loopback.
func TestDaemon_OneNameThreeLookupds(t *testing.T) {
	ns := lookuptest.StartNameServer(t)
	ds := lookuptest.StartSamePorts(t, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, nil)
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1")
	const port = 24250
	o := producerd.NewOptions()
	o.LookupdTCPAddresses = []string{fmt.Sprintf("lookupds.test.:%d", ds[0].TCPAddr().Port)}
	o.LookupdDNSRefresh = 100 * time.Millisecond
	o.Resolver = ns.Resolver
	o.BroadcastAddress = "127.0.0.1"
	o.BroadcastTCPPort = port
	o.BroadcastHTTPPort = port + 1
	o.Register = []string{"orders/billing"}
	o.HeartbeatInterval = 100 * time.Millisecond
	o.HTTPAddress = ""
	o.Logger = testLogger(t)
	d, err := producerd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	stop := runDaemon(t, d)

	listed := func(want ...bool) {
		t.Helper()
		var got []bool
		lookuptest.WaitFor(t, 10*time.Second, fmt.Sprintf("orders listed on %v", want), func() bool {
			got = got[:0]
			for _, l := range ds {
				got = append(got, slices.Contains(lookuptest.LookupProducers(t, l.HTTPAddr().String(), "orders"), fmt.Sprintf("127.0.0.1:%d", port)))
			}
			return slices.Equal(got, want)
		})
	}
	listed(true, true, true)
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.3:1")
	listed(true, false, true)
	ns.Set(t, "lookupds", "127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1")
	listed(true, true, true)

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	listed(false, false, false)
}
