package httpapi_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// Expected bodies are built here from the registry's uncached answers,
// with nsqlookupd's field order, independently of the handler's types.
type wantProducer struct {
	RemoteAddress    string `json:"remote_address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
}

type wantNode struct {
	wantProducer
	Tombstones []bool   `json:"tombstones"`
	Topics     []string `json:"topics"`
}

func toWantProducer(p wire.ProducerInfo) wantProducer {
	return wantProducer{
		RemoteAddress:    p.RemoteAddress,
		Hostname:         p.Hostname,
		BroadcastAddress: p.BroadcastAddress,
		TCPPort:          p.TCPPort,
		HTTPPort:         p.HTTPPort,
		Version:          p.Version,
	}
}

// orEmpty turns nil into an empty slice, so that expected bodies say []
// and a null from the handler is caught.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantLookup is the expected /lookup answer for topic, from the registry.
func wantLookup(t testing.TB, db *registry.DB, topic string) (int, string) {
	res, ok := db.Lookup(topic)
	if !ok {
		return 404, `{"message":"TOPIC_NOT_FOUND"}`
	}
	ps := make([]wantProducer, 0, len(res.Producers))
	for _, p := range res.Producers {
		ps = append(ps, toWantProducer(p.ProducerInfo))
	}
	return 200, mustJSON(t, struct {
		Channels  []string       `json:"channels"`
		Producers []wantProducer `json:"producers"`
	}{orEmpty(res.Channels), ps})
}

func wantChannels(t testing.TB, db *registry.DB, topic string) string {
	chans, _ := db.Channels(topic)
	return mustJSON(t, struct {
		Channels []string `json:"channels"`
	}{orEmpty(chans)})
}

func wantTopics(t testing.TB, db *registry.DB) string {
	topics, _ := db.Topics()
	return mustJSON(t, struct {
		Topics []string `json:"topics"`
	}{orEmpty(topics)})
}

func wantNodes(t testing.TB, db *registry.DB) string {
	res := db.Nodes()
	ns := make([]wantNode, 0, len(res.Nodes))
	for _, n := range res.Nodes {
		ns = append(ns, wantNode{wantProducer: toWantProducer(n.ProducerInfo), Tombstones: orEmpty(n.Tombstones), Topics: orEmpty(n.Topics)})
	}
	return mustJSON(t, struct {
		Producers []wantNode `json:"producers"`
	}{ns})
}

// checkCoherent requires /lookup, /channels, /topics and /nodes to equal
// the registry's uncached answers, asking each twice so that the second,
// cached answer is checked too. It returns the first mismatch.
func checkCoherent(t testing.TB, e *env, topics ...string) error {
	t.Helper()
	known, _ := e.db.Topics()
	all := append(slices.Clone(topics), known...)
	slices.Sort(all)
	all = slices.Compact(all)
	for range 2 {
		for _, topic := range all {
			q := "?topic=" + url.QueryEscape(topic)
			status, body := wantLookup(t, e.db, topic)
			if rec := e.do("GET", "/lookup"+q); rec.Code != status || rec.Body.String() != body {
				return fmt.Errorf("/lookup%s: got %d %s, registry says %d %s", q, rec.Code, rec.Body, status, body)
			}
			body = wantChannels(t, e.db, topic)
			if rec := e.do("GET", "/channels"+q); rec.Code != 200 || rec.Body.String() != body {
				return fmt.Errorf("/channels%s: got %d %s, registry says %s", q, rec.Code, rec.Body, body)
			}
		}
		if body, rec := wantTopics(t, e.db), e.do("GET", "/topics"); rec.Code != 200 || rec.Body.String() != body {
			return fmt.Errorf("/topics: got %d %s, registry says %s", rec.Code, rec.Body, body)
		}
		if body, rec := wantNodes(t, e.db), e.do("GET", "/nodes"); rec.Code != 200 || rec.Body.String() != body {
			return fmt.Errorf("/nodes: got %d %s, registry says %s", rec.Code, rec.Body, body)
		}
	}
	return nil
}

// lookupProducers returns the broadcast addresses /lookup lists for topic.
func lookupProducers(t testing.TB, e *env, topic string) []string {
	t.Helper()
	rec := e.do("GET", "/lookup?topic="+url.QueryEscape(topic))
	if rec.Code == 404 {
		return nil
	}
	var out struct {
		Producers []wantProducer `json:"producers"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("/lookup body %s: %v", rec.Body, err)
	}
	var addrs []string
	for _, p := range out.Producers {
		addrs = append(addrs, p.BroadcastAddress)
	}
	return orEmpty(addrs)
}

// nodeTombstones returns /nodes' tombstone flags of the node with the given
// broadcast address, by topic.
func nodeTombstones(t testing.TB, e *env, addr string) map[string]bool {
	t.Helper()
	var out struct {
		Producers []wantNode `json:"producers"`
	}
	if err := json.Unmarshal(e.do("GET", "/nodes").Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, n := range out.Producers {
		if n.BroadcastAddress == addr {
			m := map[string]bool{}
			for i, topic := range n.Topics {
				m[topic] = n.Tombstones[i]
			}
			return m
		}
	}
	return nil
}

// TestHandler_CacheCoherence applies every kind of change to a registry
// whose answers are cached and requires the HTTP answers to reflect each
// change at once.
func TestHandler_CacheCoherence(t *testing.T) {
	e := newEnv(t, nil)
	topics := []string{"orders", "events#ephemeral", "created", "missing"}
	var a, b string
	post := func(target string) func(t *testing.T) {
		return func(t *testing.T) {
			if rec := e.do("POST", target); rec.Code != 200 {
				t.Fatalf("POST %s: %d %s", target, rec.Code, rec.Body)
			}
		}
	}
	expectProducers := func(topic string, want ...string) func(t *testing.T) {
		return func(t *testing.T) {
			t.Helper()
			if got := lookupProducers(t, e, topic); !slices.Equal(got, orEmpty(want)) {
				t.Fatalf("/lookup %s producers %v, want %v", topic, got, want)
			}
		}
	}
	steps := []struct {
		name   string
		change func(t *testing.T)
		then   func(t *testing.T) // an explicit expectation, beyond coherence
	}{
		{"identify A", func(t *testing.T) { a = e.producer(t, 1) }, nil},
		{"register A orders/billing", func(t *testing.T) { e.register(t, a, "orders", "billing") }, expectProducers("orders", "10.0.0.1")},
		{"identify and register B", func(t *testing.T) {
			b = e.producer(t, 2)
			e.register(t, b, "orders", "")
		}, expectProducers("orders", "10.0.0.1", "10.0.0.2")},
		{"register A ephemeral", func(t *testing.T) { e.register(t, a, "events#ephemeral", "x#ephemeral") }, nil},
		{"create topic", post("/topic/create?topic=created"), nil},
		{"create channel", post("/channel/create?topic=created&channel=c1"), nil},
		{"tombstone B", post("/topic/tombstone?topic=orders&node=10.0.0.2:4151"), func(t *testing.T) {
			expectProducers("orders", "10.0.0.1")(t)
			if !nodeTombstones(t, e, "10.0.0.2")["orders"] {
				t.Fatal("/nodes does not show B's tombstone")
			}
		}},
		{"almost expire tombstone", func(*testing.T) { e.clk.Advance(tombLife - time.Nanosecond) }, expectProducers("orders", "10.0.0.1")},
		{"tombstone expires", func(*testing.T) { e.clk.Advance(time.Nanosecond) }, func(t *testing.T) {
			expectProducers("orders", "10.0.0.1", "10.0.0.2")(t)
			if nodeTombstones(t, e, "10.0.0.2")["orders"] {
				t.Fatal("/nodes still shows B's expired tombstone")
			}
		}},
		{"A pings while active", func(*testing.T) { e.db.Touch(a) }, nil},
		{"B about to go inactive", func(*testing.T) { e.clk.Advance(inactive - tombLife) }, expectProducers("orders", "10.0.0.1", "10.0.0.2")},
		{"B goes inactive", func(*testing.T) { e.clk.Advance(time.Nanosecond) }, func(t *testing.T) {
			expectProducers("orders", "10.0.0.1")(t)
			if nodeTombstones(t, e, "10.0.0.2") != nil {
				t.Fatal("/nodes lists inactive B")
			}
		}},
		{"inactive B pings back", func(*testing.T) { e.db.Touch(b) }, expectProducers("orders", "10.0.0.1", "10.0.0.2")},
		{"A goes inactive", func(*testing.T) { e.clk.Advance(inactive - tombLife + time.Nanosecond) }, expectProducers("orders", "10.0.0.2")},
		{"inactive A pings back", func(*testing.T) { e.db.Touch(a) }, expectProducers("orders", "10.0.0.1", "10.0.0.2")},
		{"tombstone A then unregister and register again", func(t *testing.T) {
			post("/topic/tombstone?topic=orders&node=10.0.0.1:4151")(t)
			if err := checkCoherent(t, e, topics...); err != nil {
				t.Fatalf("after tombstone: %v", err)
			}
			if _, err := e.db.Unregister(a, "orders", ""); err != nil {
				t.Fatal(err)
			}
			if err := checkCoherent(t, e, topics...); err != nil {
				t.Fatalf("after unregister: %v", err)
			}
			e.register(t, a, "orders", "billing")
		}, expectProducers("orders", "10.0.0.1", "10.0.0.2")},
		{"unregister A channel", func(t *testing.T) {
			if _, err := e.db.Unregister(a, "orders", "billing"); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"unregister A ephemeral topic", func(t *testing.T) {
			if _, err := e.db.Unregister(a, "events#ephemeral", ""); err != nil {
				t.Fatal(err)
			}
		}, expectProducers("events#ephemeral")},
		{"delete channel", post("/channel/delete?topic=created&channel=c1"), nil},
		{"delete topic with producers", post("/topic/delete?topic=orders"), expectProducers("orders")},
		{"register again after delete", func(t *testing.T) { e.register(t, b, "orders", "again") }, expectProducers("orders", "10.0.0.2")},
		{"remove producer A", func(*testing.T) { e.db.RemoveProducer(a) }, nil},
		{"B inactive, then removed", func(t *testing.T) {
			e.clk.Advance(2 * inactive)
			if err := checkCoherent(t, e, topics...); err != nil {
				t.Fatalf("after B went inactive: %v", err)
			}
			e.db.RemoveProducer(b)
		}, nil},
		{"delete created topic", post("/topic/delete?topic=created"), nil},
	}
	// Warm every cache before the first change.
	if err := checkCoherent(t, e, topics...); err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.change(t)
			if err := checkCoherent(t, e, topics...); err != nil {
				t.Fatal(err)
			}
			if s.then != nil {
				s.then(t)
			}
		})
	}
	expectBody(t, e.do("GET", "/topics"), 200, `{"topics":["orders"]}`)
	expectBody(t, e.do("GET", "/nodes"), 200, `{"producers":[]}`)
}

// Readers and writers race on the caches; once the writers stop, every
// answer must be the registry's. Run with -race.
func TestHandler_CacheConcurrent(t *testing.T) {
	e := newEnvLog(discardLogger(), nil)
	topics := []string{"t0", "t1", "t2", "t3"}
	var ids []string
	for i := range 4 {
		ids = append(ids, e.producer(t, i+1))
	}
	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		writers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 2000 {
				id, topic := ids[r.IntN(len(ids))], topics[r.IntN(len(topics))]
				switch r.IntN(8) {
				case 0, 1:
					e.db.Register(id, topic, fmt.Sprintf("c%d", r.IntN(3)))
				case 2:
					e.db.Unregister(id, topic, "")
				case 3:
					e.db.Touch(id)
				case 4:
					e.do("POST", "/topic/tombstone?topic="+topic+"&node=10.0.0."+itoa(r.IntN(4)+1)+":4151")
				case 5:
					e.do("POST", "/channel/delete?topic="+topic+"&channel=c0")
				case 6:
					e.clk.Advance(time.Duration(r.IntN(20)) * time.Second)
				case 7:
					e.do("POST", "/topic/create?topic="+topic)
				}
			}
		})
	}
	for range 4 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, topic := range topics {
					e.do("GET", "/lookup?topic="+topic)
					e.do("GET", "/channels?topic="+topic)
				}
				e.do("GET", "/nodes")
				e.do("GET", "/topics")
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if err := checkCoherent(t, e, topics...); err != nil {
		t.Fatal(err)
	}
	// Time-driven changes after the race are seen too.
	for _, id := range ids {
		e.db.Touch(id)
	}
	if err := checkCoherent(t, e, topics...); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(inactive + time.Second)
	if err := checkCoherent(t, e, topics...); err != nil {
		t.Fatal(err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
