package clientmerge

import (
	"reflect"
	"slices"
	"testing"

	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
)

// summary is the comparable part of a merged producer.
type summary struct {
	Addr     string
	HTTPPort int
	SeenBy   int
	Lookupds []string
}

// summarize keeps SeenBy only when it agrees with Lookupds, so that a
// mismatch shows up as a difference.
func summarize(ps []Producer) []summary {
	out := make([]summary, len(ps))
	for i, p := range ps {
		out[i] = summary{Addr: p.TCPAddr(), HTTPPort: p.HTTPPort, SeenBy: -1, Lookupds: p.Lookupds}
		if len(p.Lookupds) == p.SeenBy {
			out[i].SeenBy = p.SeenBy
		}
	}
	return out
}

// TestClient_Union has three lookupds that each know a different subset
// of producers and checks every query's merged answer, against each
// implementation.
func TestClient_Union(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			ls := cmtest.StartN(t, im, 3)
			a, b, c := ls[0].HTTPAddr, ls[1].HTTPAddr, ls[2].HTTPAddr
			// Producers: p1 on A; p2 on A and B; p3 on all; p4 on B;
			// p5 (same port as p1, other host) on C.
			reg := func(l *cmtest.Lookupd, host string, port int, regs ...string) {
				cmtest.Announce(t, l.TCPAddr, host, port, regs...)
			}
			reg(ls[0], "127.0.0.1", 4001, "orders/a", "other")
			reg(ls[0], "127.0.0.1", 4002, "orders")
			reg(ls[1], "127.0.0.1", 4002, "orders/b")
			for _, l := range ls {
				reg(l, "127.0.0.1", 4003, "orders")
			}
			reg(ls[1], "127.0.0.1", 4004, "orders/b", "only-b/x")
			reg(ls[2], "localhost", 4001, "orders/a", "orders/c")

			cl := newClient(t, cmtest.HTTPAddrs(ls))
			want := []summary{
				{Addr: "127.0.0.1:4001", HTTPPort: 5001, SeenBy: 1, Lookupds: []string{a}},
				{Addr: "127.0.0.1:4002", HTTPPort: 5002, SeenBy: 2, Lookupds: []string{a, b}},
				{Addr: "127.0.0.1:4003", HTTPPort: 5003, SeenBy: 3, Lookupds: []string{a, b, c}},
				{Addr: "127.0.0.1:4004", HTTPPort: 5004, SeenBy: 1, Lookupds: []string{b}},
				{Addr: "localhost:4001", HTTPPort: 5001, SeenBy: 1, Lookupds: []string{c}},
			}

			t.Run("lookup", func(t *testing.T) {
				var first *LookupResult
				for i := range 3 {
					res, err := cl.Lookup(t.Context(), "orders")
					if err != nil {
						t.Fatalf("Lookup: %v", err)
					}
					if got := summarize(res.Producers); !reflect.DeepEqual(got, want) {
						t.Fatalf("producers:\n got %+v\nwant %+v", got, want)
					}
					if !slices.Equal(res.Channels, []string{"a", "b", "c"}) {
						t.Errorf("channels = %q, want [a b c]", res.Channels)
					}
					if res.Topic != "orders" || res.Answered != 3 || res.Stale || len(res.Responses) != 3 {
						t.Errorf("meta = %+v, topic %q", res.Meta, res.Topic)
					}
					for j, r := range res.Responses {
						if r.Addr != ls[j].HTTPAddr || r.Err != nil || r.Latency <= 0 || r.TopicNotFound {
							t.Errorf("response %d = %+v", j, r)
						}
					}
					if i == 0 {
						first = res
					} else if !reflect.DeepEqual(res.Producers, first.Producers) {
						t.Fatalf("call %d order differs:\n%+v\n%+v", i, res.Producers, first.Producers)
					}
				}
			})

			t.Run("lookup topic known to one lookupd", func(t *testing.T) {
				res, err := cl.Lookup(t.Context(), "only-b")
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				want := []summary{{Addr: "127.0.0.1:4004", HTTPPort: 5004, SeenBy: 1, Lookupds: []string{b}}}
				if got := summarize(res.Producers); !reflect.DeepEqual(got, want) {
					t.Errorf("producers = %+v, want %+v", got, want)
				}
				if !slices.Equal(res.Channels, []string{"x"}) {
					t.Errorf("channels = %q", res.Channels)
				}
				nf := []bool{res.Responses[0].TopicNotFound, res.Responses[1].TopicNotFound, res.Responses[2].TopicNotFound}
				if !slices.Equal(nf, []bool{true, false, true}) || res.Answered != 3 {
					t.Errorf("TopicNotFound = %v, answered %d", nf, res.Answered)
				}
			})

			t.Run("lookup unknown topic", func(t *testing.T) {
				res, err := cl.Lookup(t.Context(), "nowhere")
				if err != nil {
					t.Fatalf("Lookup: %v", err)
				}
				if len(res.Producers) != 0 || len(res.Channels) != 0 || res.Answered != 3 {
					t.Errorf("result = %+v", res)
				}
			})

			t.Run("topics", func(t *testing.T) {
				res, err := cl.Topics(t.Context())
				if err != nil {
					t.Fatalf("Topics: %v", err)
				}
				if want := []string{"only-b", "orders", "other"}; !slices.Equal(res.Topics, want) {
					t.Errorf("topics = %q, want %q", res.Topics, want)
				}
			})

			t.Run("channels", func(t *testing.T) {
				res, err := cl.Channels(t.Context(), "orders")
				if err != nil {
					t.Fatalf("Channels: %v", err)
				}
				if want := []string{"a", "b", "c"}; !slices.Equal(res.Channels, want) || res.Topic != "orders" {
					t.Errorf("channels = %q, want %q", res.Channels, want)
				}
			})

			t.Run("nodes", func(t *testing.T) {
				res, err := cl.Nodes(t.Context())
				if err != nil {
					t.Fatalf("Nodes: %v", err)
				}
				type node struct {
					Addr     string
					Topics   []string
					Tombs    []bool
					Lookupds []string
				}
				var got []node
				for _, n := range res.Nodes {
					if n.SeenBy != len(n.Lookupds) {
						t.Errorf("node %s SeenBy %d, lookupds %v", n.TCPAddr(), n.SeenBy, n.Lookupds)
					}
					got = append(got, node{Addr: n.TCPAddr(), Topics: n.Topics, Tombs: n.Tombstones, Lookupds: n.Lookupds})
				}
				want := []node{
					{Addr: "127.0.0.1:4001", Topics: []string{"orders", "other"}, Tombs: []bool{false, false}, Lookupds: []string{a}},
					{Addr: "127.0.0.1:4002", Topics: []string{"orders"}, Tombs: []bool{false}, Lookupds: []string{a, b}},
					{Addr: "127.0.0.1:4003", Topics: []string{"orders"}, Tombs: []bool{false}, Lookupds: []string{a, b, c}},
					{Addr: "127.0.0.1:4004", Topics: []string{"only-b", "orders"}, Tombs: []bool{false, false}, Lookupds: []string{b}},
					{Addr: "localhost:4001", Topics: []string{"orders"}, Tombs: []bool{false}, Lookupds: []string{c}},
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("nodes:\n got %+v\nwant %+v", got, want)
				}
			})

			// Tombstones: one lookupd's tombstone hides nothing from the
			// union; all three hide the producer, and Nodes says so.
			t.Run("tombstones", func(t *testing.T) {
				tombstone := func(l *cmtest.Lookupd) {
					cmtest.HTTPPost(t, "http://"+l.HTTPAddr+"/topic/tombstone?topic=orders&node=127.0.0.1:5003", "")
				}
				tombFor := func(res *NodesResult, addr string) []bool {
					for _, n := range res.Nodes {
						if n.TCPAddr() == addr {
							return n.Tombstones
						}
					}
					t.Fatalf("node %s missing", addr)
					return nil
				}
				tombstone(ls[0])
				res, err := cl.Lookup(t.Context(), "orders")
				if err != nil {
					t.Fatal(err)
				}
				if got := summarize(res.Producers)[2]; got.Addr != "127.0.0.1:4003" || got.SeenBy != 2 || !slices.Equal(got.Lookupds, []string{b, c}) {
					t.Errorf("after one tombstone: %+v", got)
				}
				nodes, err := cl.Nodes(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if got := tombFor(nodes, "127.0.0.1:4003"); !slices.Equal(got, []bool{false}) {
					t.Errorf("tombstones after one = %v", got)
				}
				tombstone(ls[1])
				tombstone(ls[2])
				res, err = cl.Lookup(t.Context(), "orders")
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range res.Producers {
					if p.TCPAddr() == "127.0.0.1:4003" {
						t.Errorf("tombstoned everywhere but still listed: %+v", p)
					}
				}
				if len(res.Producers) != 4 {
					t.Errorf("producers = %+v", summarize(res.Producers))
				}
				nodes, err = cl.Nodes(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if got := tombFor(nodes, "127.0.0.1:4003"); !slices.Equal(got, []bool{true}) {
					t.Errorf("tombstones after all = %v", got)
				}
			})
		})
	}
}
