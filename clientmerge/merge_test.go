package clientmerge

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
)

func info(host string, port int, version string) ProducerInfo {
	return ProducerInfo{BroadcastAddress: host, TCPPort: port, HTTPPort: port + 1, Version: version}
}

func TestMergeProducers(t *testing.T) {
	tests := []struct {
		name    string
		answers [][]ProducerInfo
		want    []summary
		version []string // Version of each merged producer
	}{
		{
			name: "nothing",
			want: []summary{},
		},
		{
			name:    "duplicate within one answer counts once",
			answers: [][]ProducerInfo{{info("h", 1, "a"), info("h", 1, "b")}, {info("h", 1, "c")}},
			want:    []summary{{Addr: "h:1", HTTPPort: 2, SeenBy: 2, Lookupds: []string{"L0", "L1"}}},
			version: []string{"a"},
		},
		{
			name:    "first lookupd's fields win",
			answers: [][]ProducerInfo{{}, {info("h", 1, "new")}, {info("h", 1, "old")}},
			want:    []summary{{Addr: "h:1", HTTPPort: 2, SeenBy: 2, Lookupds: []string{"L1", "L2"}}},
			version: []string{"new"},
		},
		{
			name: "sorted by host then numeric port",
			answers: [][]ProducerInfo{
				{info("b", 10, ""), info("a", 9, "")},
				{info("a", 10, ""), info("b", 9, ""), info("a", 9, "")},
			},
			want: []summary{
				{Addr: "a:9", HTTPPort: 10, SeenBy: 2, Lookupds: []string{"L0", "L1"}},
				{Addr: "a:10", HTTPPort: 11, SeenBy: 1, Lookupds: []string{"L1"}},
				{Addr: "b:9", HTTPPort: 10, SeenBy: 1, Lookupds: []string{"L1"}},
				{Addr: "b:10", HTTPPort: 11, SeenBy: 1, Lookupds: []string{"L0"}},
			},
		},
		{
			name:    "ipv6 host",
			answers: [][]ProducerInfo{{info("::1", 4150, "")}},
			want:    []summary{{Addr: "[::1]:4150", HTTPPort: 4151, SeenBy: 1, Lookupds: []string{"L0"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers := make([]answer[lookupBody], len(tt.answers))
			for i, ps := range tt.answers {
				answers[i] = answer[lookupBody]{addr: fmt.Sprintf("L%d", i), body: lookupBody{Producers: ps}}
			}
			got := mergeProducers(answers)
			if s := summarize(got); !reflect.DeepEqual(s, tt.want) {
				t.Errorf("got %+v\nwant %+v", s, tt.want)
			}
			for i, v := range tt.version {
				if got[i].Version != v {
					t.Errorf("producer %d version %q, want %q", i, got[i].Version, v)
				}
			}
		})
	}
}

// TestMergeProducers_ManyLookupds crosses the 64-answer word boundary of the
// source bit sets.
func TestMergeProducers_ManyLookupds(t *testing.T) {
	answers := make([]answer[lookupBody], 130)
	var wantOdd []string
	for i := range answers {
		answers[i].addr = fmt.Sprintf("L%03d", i)
		answers[i].body.Producers = []ProducerInfo{info("all", 1, "")}
		if i%2 == 1 {
			answers[i].body.Producers = append(answers[i].body.Producers, info("odd", 1, ""))
			wantOdd = append(wantOdd, answers[i].addr)
		}
	}
	got := mergeProducers(answers)
	if len(got) != 2 || got[0].SeenBy != 130 || len(got[0].Lookupds) != 130 || got[1].SeenBy != 65 {
		t.Fatalf("got %d producers, seen by %d and %d", len(got), got[0].SeenBy, got[1].SeenBy)
	}
	if !slices.Equal(got[1].Lookupds, wantOdd) || got[0].Lookupds[129] != "L129" {
		t.Errorf("lookupds = %v", got[1].Lookupds)
	}
	// Each producer's Lookupds is capped, so appending to one cannot
	// overwrite the next one's.
	_ = append(got[0].Lookupds, "x")
	if got[1].Lookupds[0] != "L001" {
		t.Errorf("Lookupds slices overlap")
	}
}

func TestMergeNodes(t *testing.T) {
	node := func(host string, topics []string, tombs []bool) nodeBody {
		return nodeBody{ProducerInfo: info(host, 1, ""), Topics: topics, Tombstones: tombs}
	}
	answers := []answer[nodesBody]{
		{addr: "L0", body: nodesBody{Producers: []nodeBody{
			node("b", []string{"t2", "t1"}, []bool{true, false}),
			node("a", []string{"t1"}, nil), // tombstones missing: false
		}}},
		{addr: "L1", body: nodesBody{Producers: []nodeBody{
			node("b", []string{"t2", "t3"}, []bool{true, true}),
			node("b", []string{"t3"}, []bool{false}), // repeated node: first entry counts
		}}},
		{addr: "L2", body: nodesBody{Producers: []nodeBody{
			node("b", []string{"t1"}, []bool{true}),
			node("", []string{"t1"}, nil),
		}}},
	}
	got := mergeNodes(answers)
	type row struct {
		Addr     string
		Topics   []string
		Tombs    []bool
		SeenBy   int
		Lookupds []string
	}
	var rows []row
	for _, n := range got {
		rows = append(rows, row{Addr: n.TCPAddr(), Topics: n.Topics, Tombs: n.Tombstones, SeenBy: n.SeenBy, Lookupds: n.Lookupds})
	}
	want := []row{
		{Addr: "a:1", Topics: []string{"t1"}, Tombs: []bool{false}, SeenBy: 1, Lookupds: []string{"L0"}},
		// t1: L0 says no, L2 says yes -> not tombstoned everywhere.
		// t2: both say yes. t3: L1 first entry says yes.
		{Addr: "b:1", Topics: []string{"t1", "t2", "t3"}, Tombs: []bool{false, true, true}, SeenBy: 3, Lookupds: []string{"L0", "L1", "L2"}},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("got  %+v\nwant %+v", rows, want)
	}
}

func TestUnionSorted(t *testing.T) {
	answers := []answer[topicsBody]{
		{body: topicsBody{Topics: []string{"c", "a"}}},
		{body: topicsBody{}},
		{body: topicsBody{Topics: []string{"b", "a", "c", "b"}}},
	}
	if got := mergeTopics(answers); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("got %q", got)
	}
	if got := mergeTopics(nil); got == nil || len(got) != 0 {
		t.Errorf("empty union = %#v, want non-nil empty", got)
	}
}

func TestClone_Independent(t *testing.T) {
	r := &NodesResult{
		Meta:  Meta{Responses: []Response{{Addr: "L0"}}},
		Nodes: []Node{{Topics: []string{"t"}, Tombstones: []bool{false}, Lookupds: []string{"L0"}}},
	}
	c := cloneNodes(r)
	c.Responses[0].Addr = "x"
	c.Nodes[0].Topics[0] = "x"
	c.Nodes[0].Tombstones[0] = true
	c.Nodes[0].Lookupds[0] = "x"
	if r.Responses[0].Addr != "L0" || r.Nodes[0].Topics[0] != "t" || r.Nodes[0].Tombstones[0] || r.Nodes[0].Lookupds[0] != "L0" {
		t.Errorf("clone shares memory: %+v", r)
	}
}

func TestJitter(t *testing.T) {
	const d = 100 * 1e6
	for range 200 {
		if j := jitter(d); j < 90*1e6 || j > 110*1e6 {
			t.Fatalf("jitter(%v) = %v, outside ±10%%", d, j)
		}
	}
	if jitter(1) != 1 {
		t.Error("tiny interval changed")
	}
}
