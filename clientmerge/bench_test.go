package clientmerge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// benchAnswers builds k /lookup answers over n producers: each lookupd
// lists nine in ten of them (a different tenth missing from each), in its
// own rotated order, as lookupds that converge at different times would.
func benchAnswers(k, n int) []answer[lookupBody] {
	answers := make([]answer[lookupBody], k)
	for a := range answers {
		ps := make([]ProducerInfo, 0, n)
		for i := range n {
			j := (i + a*n/k) % n
			if j%10 == a%10 {
				continue
			}
			ps = append(ps, ProducerInfo{
				RemoteAddress:    fmt.Sprintf("127.0.0.1:%d", 30000+j%30000),
				Hostname:         fmt.Sprintf("node-%05d", j),
				BroadcastAddress: fmt.Sprintf("10.%d.%d.%d", j>>16&255, j>>8&255, j&255),
				TCPPort:          4150,
				HTTPPort:         4151,
				Version:          "1.3.0",
			})
		}
		answers[a] = answer[lookupBody]{
			addr: fmt.Sprintf("lookupd-%d:4161", a),
			body: lookupBody{Channels: []string{"c1", "c2", fmt.Sprintf("c-%d", a)}, Producers: ps},
		}
	}
	return answers
}

func benchMerge(b *testing.B, k, n int) {
	answers := benchAnswers(k, n)
	entries := 0
	for _, a := range answers {
		entries += len(a.body.Producers)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ps := mergeProducers(answers)
		if len(ps) != n {
			b.Fatalf("merged %d producers, want %d", len(ps), n)
		}
		mergeLookupChannels(answers)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(entries), "ns/entry")
}

// The merge of 5 lookupds' answers; ns/entry should stay roughly flat as N
// grows (linear merge, plus an n log n sort of the output).
func BenchmarkMerge_5x100(b *testing.B)   { benchMerge(b, 5, 100) }
func BenchmarkMerge_5x1000(b *testing.B)  { benchMerge(b, 5, 1000) }
func BenchmarkMerge_5x10000(b *testing.B) { benchMerge(b, 5, 10000) }

// BenchmarkLookupHTTP_5x1000 is a whole Lookup over five in-process HTTP
// servers serving pre-rendered answers: fan-out, read, decode and merge.
func BenchmarkLookupHTTP_5x1000(b *testing.B) {
	answers := benchAnswers(5, 1000)
	addrs := make([]string, len(answers))
	for i, a := range answers {
		body, err := json.Marshal(a.body)
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-NSQ-Content-Type", "nsq; version=1.0")
			w.Write(body)
		}))
		b.Cleanup(srv.Close)
		addrs[i] = strings.TrimPrefix(srv.URL, "http://")
	}
	c, err := New(addrs, WithSnapshots(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.CloseIdleConnections)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res, err := c.Lookup(b.Context(), "t")
		if err != nil || len(res.Producers) != 1000 {
			b.Fatalf("lookup: %v", err)
		}
	}
}

// BenchmarkNodesState_1000x20 is what Watch of NodesQuery computes after
// each merge to tell whether the answer changed: 1,000 nodes of 20 topics.
func BenchmarkNodesState_1000x20(b *testing.B) {
	res := &NodesResult{Nodes: make([]Node, 1000)}
	for i := range res.Nodes {
		n := &res.Nodes[i]
		n.BroadcastAddress, n.TCPPort = fmt.Sprintf("10.0.%d.%d", i>>8, i&255), 4150
		for t := range 20 {
			n.Topics = append(n.Topics, fmt.Sprintf("topic-%02d", t))
			n.Tombstones = append(n.Tombstones, t%7 == 0)
		}
	}
	state := NodesQuery().state
	b.ReportAllocs()
	for b.Loop() {
		if len(state(res)) != len(res.Nodes) {
			b.Fatal("short state")
		}
	}
}
