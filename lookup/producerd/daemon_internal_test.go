package producerd

import (
	"slices"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/config"
	"github.com/lookupd/lookupd/lookup/producer"
)

// The SIGHUP logic: what a reload registers, unregisters and cannot apply.
func TestPlanReload(t *testing.T) {
	cur := NewOptions()
	cur.LookupdTCPAddresses = []string{"127.0.0.1:4160"}
	cur.Register = []string{"a", "b/x", "b/y", "c/z"}
	next := NewOptions()
	next.LookupdTCPAddresses = []string{"127.0.0.1:4160", "127.0.0.1:4161"}
	next.Register = []string{"b/y", "c", "d/w"}
	next.LogLevel = config.LevelDebug
	next.HeartbeatInterval = time.Second

	p, err := planReload(cur, next)
	if err != nil {
		t.Fatal(err)
	}
	wantUnreg := []producer.Registration{{Topic: "a"}, {Topic: "b", Channel: "x"}, {Topic: "c", Channel: "z"}}
	wantReg := []producer.Registration{{Topic: "c"}, {Topic: "d", Channel: "w"}}
	if !slices.Equal(p.unregister, wantUnreg) || !slices.Equal(p.register, wantReg) {
		t.Fatalf("plan = unregister %v, register %v; want %v, %v", p.unregister, p.register, wantUnreg, wantReg)
	}
	if want := []string{"lookupd-tcp-address", "heartbeat-interval"}; !slices.Equal(p.restartOnly, want) {
		t.Fatalf("restart-only = %v, want %v", p.restartOnly, want)
	}

	same, err := planReload(cur, cur)
	if err != nil || len(same.register)+len(same.unregister)+len(same.restartOnly) != 0 {
		t.Fatalf("reload of identical options = %+v, %v", same, err)
	}
}
