package bench

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLayout(t *testing.T) {
	tests := []struct {
		name                   string
		p, topics, c, share    int
		wantPool, wantPerTopic int // wantPerTopic 0: not uniform
	}{
		{name: "target scale", p: 1000, topics: 100, c: 2, share: 4, wantPool: 25000, wantPerTopic: 4},
		{name: "ten thousand", p: 10000, topics: 10, c: 2, share: 4, wantPool: 20000},
		{name: "no sharing", p: 50, topics: 10, c: 0, share: 1, wantPool: 500, wantPerTopic: 1},
		{name: "tiny: every producer carries the pool", p: 3, topics: 8, c: 1, share: 4, wantPool: 8, wantPerTopic: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLayout(tt.p, tt.topics, tt.c, tt.share)
			if l.Pool != tt.wantPool {
				t.Fatalf("pool %d, want %d", l.Pool, tt.wantPool)
			}
			for p := range l.Producers {
				seen := map[int]bool{}
				for i := range l.Topics {
					idx := l.Topic(p, i)
					if idx < 0 || idx >= l.Pool || seen[idx] {
						t.Fatalf("producer %d topic %d: index %d out of range or repeated", p, i, idx)
					}
					seen[idx] = true
				}
			}
			counts := l.ProducerCounts()
			total := 0
			for idx, n := range counts {
				total += n
				if tt.wantPerTopic > 0 && n != tt.wantPerTopic {
					t.Fatalf("topic %d has %d producers, want %d", idx, n, tt.wantPerTopic)
				}
			}
			if total != l.Producers*l.Topics {
				t.Fatalf("%d memberships, want %d", total, l.Producers*l.Topics)
			}
			if got, want := len(l.RegisterCommands(0)), l.Topics*(1+l.Channels); got != want {
				t.Fatalf("%d REGISTER commands, want %d", got, want)
			}
			if l.Registrations() != l.Producers*l.Topics*(1+l.Channels) {
				t.Fatalf("Registrations %d", l.Registrations())
			}
		})
	}
}

// Producers sharing a topic are neighbours in different amounts, not
// copies of each other.
func TestLayout_ProducersDiffer(t *testing.T) {
	l := NewLayout(100, 100, 2, 4)
	set := func(p int) []int {
		var s []int
		for i := range l.Topics {
			s = append(s, l.Topic(p, i))
		}
		slices.Sort(s)
		return s
	}
	for p := range l.Producers - 1 {
		if slices.Equal(set(p), set(p+1)) {
			t.Fatalf("producers %d and %d carry the same topics", p, p+1)
		}
	}
}

func TestHist_Quantiles(t *testing.T) {
	var h hist
	if h.quantile(0.5) != 0 {
		t.Fatal("empty histogram has a median")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var xs []time.Duration
	for range 100000 {
		d := time.Duration(rng.ExpFloat64() * float64(time.Millisecond))
		xs = append(xs, d)
		h.add(d)
	}
	slices.Sort(xs)
	for _, q := range []float64{0.5, 0.9, 0.99, 1} {
		exact := xs[int(math.Ceil(q*float64(len(xs))))-1]
		got := h.quantile(q)
		if rel := math.Abs(float64(got-exact)) / float64(exact); rel > 0.04 {
			t.Errorf("q%.2f = %s, exact %s (%.1f%% off)", q, got, exact, 100*rel)
		}
	}
	var small hist
	for _, d := range []time.Duration{3, 3, 3, 40} {
		small.add(d)
	}
	if got := small.quantile(0.5); got != 3 {
		t.Errorf("median of small values %d, want 3", got)
	}
	var m hist
	m.merge(&h)
	m.merge(&small)
	if m.n != h.n+small.n {
		t.Errorf("merged count %d", m.n)
	}
}

func TestHist_BucketsMonotonic(t *testing.T) {
	prev := -1
	for v := uint64(0); v < 1<<22; v = v*11/10 + 1 {
		b := histBucket(v)
		if b < prev {
			t.Fatalf("bucket of %d is %d, below %d", v, b, prev)
		}
		if lo := histLow(b); lo > v {
			t.Fatalf("bucket %d starts at %d, above its value %d", b, lo, v)
		}
		prev = b
	}
	if b := histBucket(math.MaxUint64); b >= len(hist{}.counts) {
		t.Fatalf("bucket of MaxUint64 is %d, out of range", b)
	}
}

func TestMetric_Advantage(t *testing.T) {
	up, _ := MetricByKey(FigLookupRate)
	down, _ := MetricByKey(FigNodesMs)
	if a, ok := up.Advantage(2000, 100); !ok || a != 20 {
		t.Errorf("throughput advantage %v %v, want 20", a, ok)
	}
	if a, ok := down.Advantage(5, 500); !ok || a != 100 {
		t.Errorf("latency advantage %v %v, want 100", a, ok)
	}
	if _, ok := down.Advantage(0, 500); ok {
		t.Error("advantage over a zero figure is defined")
	}
	if m := Median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median %v", m)
	}
	if m := Median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median %v", m)
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("median of nothing is a number")
	}
}

func TestNewScaleReport_Targets(t *testing.T) {
	cfg := DefaultConfig()
	ours := &Result{Daemon: Ours, Figures: map[string]float64{FigLookupRate: 30000, FigNodesMs: 2, FigLookupVsPing: 0.9, FigRSSPerReg: 200}}
	theirs := &Result{Daemon: NSQ, Figures: map[string]float64{FigLookupRate: 1000, FigNodesMs: 100, FigLookupVsPing: 0.05, FigRSSPerReg: 230}}
	sr := NewScaleReport("x", cfg, []*Result{ours, theirs})
	met := map[string]bool{}
	for _, c := range sr.Comparisons {
		if c.Met != nil {
			met[c.Key] = *c.Met
		}
	}
	want := map[string]bool{FigLookupRate: true, FigNodesMs: false, FigLookupVsPing: true, FigRSSPerReg: true}
	for k, w := range want {
		if got, ok := met[k]; !ok || got != w {
			t.Errorf("%s met = %v (present %v), want %v", k, got, ok, w)
		}
	}
}

func TestHTTPConn_Bodies(t *testing.T) {
	big := strings.Repeat("0123456789", 10000) // written in pieces: chunked
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Write([]byte("OK"))
		case "/big":
			for i := 0; i < len(big); i += 4096 {
				w.Write([]byte(big[i:min(i+4096, len(big))]))
				w.(http.Flusher).Flush()
			}
		case "/missing":
			http.Error(w, "nope", http.StatusNotFound)
		case "/close":
			w.Header().Set("Connection", "close")
			w.Write([]byte("bye"))
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	hc := newHTTPConn(addr)
	defer hc.close()
	for range 3 { // the same keep-alive connection, then a redial after /close
		for _, tc := range []struct {
			path   string
			status int
			body   string
		}{{"/small", 200, "OK"}, {"/big", 200, big}, {"/missing", 404, "nope\n"}, {"/small", 200, "OK"}, {"/close", 200, "bye"}} {
			st, n, body, err := hc.do(getRequest(addr, tc.path), []byte{})
			if err != nil || st != tc.status || string(body) != tc.body || n != int64(len(tc.body)) {
				t.Fatalf("GET %s: status %d, %d bytes, err %v; want %d, %d bytes", tc.path, st, n, err, tc.status, len(tc.body))
			}
			st, n, _, err = hc.do(getRequest(addr, tc.path), nil)
			if err != nil || st != tc.status || n != int64(len(tc.body)) {
				t.Fatalf("GET %s discarding: status %d, %d bytes, err %v", tc.path, st, n, err)
			}
		}
	}
}
