package ctl

import (
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// TestCommands_WithNSQLookupd: lookupctl over one of ours and one real
// nsqlookupd v1.3.0, which has no /stats and no blocking queries.
func TestCommands_WithNSQLookupd(t *testing.T) {
	ours := lookuptest.StartDaemon(t, nil)
	ref := nsqref.Start(t, nil)
	c := &testCluster{t: t, ds: []*lookuptest.Daemon{ours}, addrs: []string{ours.HTTPAddr().String(), ref.HTTPAddr}}
	c.announce(0, 4150, "p1", "orders")
	p := lookuptest.Dial(t, ref.TCPAddr)
	p.Identify(lookuptest.ProducerInfo(4150))
	if resp := p.Register("orders", ""); string(resp) != "OK" {
		t.Fatalf("register on nsqlookupd: %q", resp)
	}

	code, out, errs := c.run("health")
	rows := c.rows(out)
	if code != ExitOK || errs != "" || len(rows) != 3 || rows[1][1] != "up" || rows[1][4] != "1" ||
		rows[2][1] != "up" || rows[2][3] != "1.3.0" || rows[2][4] != "-" {
		t.Errorf("health: exit %d, stderr %q\n%s", code, errs, fmtRows(rows))
	}
	code, out, _ = c.run("lookup", "orders")
	checkRows(t, c, out, [][]string{
		{"topic orders: 1 producer; channels: -"},
		{"PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM"},
		{"127.0.0.1:4150", "p1", "1.3.0", "2/2", "-"},
	})
	if code != ExitOK {
		t.Errorf("lookup: exit %d", code)
	}
	// The hostnames differ (p1 and test-host): not a disagreement, the
	// producer is keyed by address. The lookupds agree.
	if code, out, _ := c.run("diff"); code != ExitOK {
		t.Errorf("diff: exit %d\n%s", code, out)
	}
}
