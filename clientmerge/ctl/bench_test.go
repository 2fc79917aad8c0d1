package ctl

import (
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"
)

// benchViews is what three lookupds answer for a cluster of producers
// with topicsEach topics each, all listed everywhere.
func benchViews(producers, topicsEach int) ([]LookupdState, []lookupdView) {
	states := make([]LookupdState, 3)
	views := make([]lookupdView, 3)
	for i := range views {
		states[i].Addr = fmt.Sprintf("127.0.0.1:%d", 4161+i)
		for p := range producers {
			n := nodeOf(4150 + p)
			for k := range topicsEach {
				n.Topics = append(n.Topics, fmt.Sprintf("topic-%d-%05d", p, k))
				n.Tombstones = append(n.Tombstones, false)
			}
			views[i].nodes = append(views[i].nodes, n)
			views[i].topics = append(views[i].topics, n.Topics...)
		}
	}
	return states, views
}

// BenchmarkLive is the work one change costs the web view (10x1000: with
// 10,000 topics) on three lookupds: merging the answers into a
// Survey, the Tracker's comparison, and encoding the cluster event.
func BenchmarkLive(b *testing.B) {
	for _, size := range []struct{ producers, topics int }{{10, 100}, {10, 1000}, {100, 100}} {
		b.Run(fmt.Sprintf("%dx%d", size.producers, size.topics), func(b *testing.B) {
			states, views := benchViews(size.producers, size.topics)
			tr := NewTracker()
			s := &Server{opts: NewOptions(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), subs: map[chan struct{}]struct{}{}}
			tr.Update(buildSurvey(time.Now(), states, views))
			b.ReportAllocs()
			for b.Loop() {
				sv := buildSurvey(time.Now(), states, views)
				s.setCluster(sv)
				tr.Update(sv)
			}
		})
	}
}
