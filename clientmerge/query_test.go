package clientmerge

import (
	"slices"
	"testing"
)

// The state Watch compares for NodesQuery names each node by its TCP
// address, then each topic with its tombstone flag; a missing flag counts
// as false.
func TestNodesQuery_State(t *testing.T) {
	res := &NodesResult{Nodes: []Node{
		{ProducerInfo: ProducerInfo{BroadcastAddress: "10.0.0.1", TCPPort: 4150},
			Topics: []string{"a", "b#ephemeral"}, Tombstones: []bool{false, true}},
		{ProducerInfo: ProducerInfo{BroadcastAddress: "::1", TCPPort: 4250},
			Topics: []string{"c", "d"}, Tombstones: []bool{true}},
		{ProducerInfo: ProducerInfo{BroadcastAddress: "host", TCPPort: 1}},
	}}
	want := []string{
		"10.0.0.1:4150\x00a=false\x00b#ephemeral=true",
		"[::1]:4250\x00c=true\x00d=false",
		"host:1",
	}
	if got := NodesQuery().state(res); !slices.Equal(got, want) {
		t.Fatalf("state = %q, want %q", got, want)
	}
	if got := NodesQuery().state(&NodesResult{}); len(got) != 0 {
		t.Fatalf("state of no nodes = %q", got)
	}
}
