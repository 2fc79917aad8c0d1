package bench

// In-process benchmarks of the registration database, ours
// (lookup/registry) beside nsqlookupd v1.3.0's RegistrationDB driven the
// way its TCP and HTTP handlers drive it. Each benchmark is named by size,
// producers x topics per producer x channels per topic, and uses Layout
// with about rbShare producers per topic, so growing the producer count
// grows the topic pool while a topic keeps the same number of producers.
//
// Run them with a time bound (each benchmark then takes about that long,
// plus the untimed restore work of Unregister and RemoveProducer); the machine
// is shared, so take the minimum over a few counts:
//
//	go test -run '^$' -bench '_[0-9]+x' -benchtime 100ms -count 3 ./bench/
//
// A fixed count such as -benchtime 2000x also works but makes the large
// Nodes and Topics cases slow. nsqlookupd's /nodes is quadratic, so its
// Nodes benchmark runs only at the smallest size unless -bench.nsqnodes is
// given.

import (
	"flag"
	"fmt"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

const rbShare = 10 // producers per topic

var rbNSQNodes = flag.Bool("bench.nsqnodes", false, "run nsqlookupd's quadratic Nodes benchmark at every size")

// nsqlookupd's defaults, used by both databases.
const (
	rbInactive  = 300 * time.Second
	rbTombstone = 45 * time.Second
)

type rbSize struct{ p, t, c int }

func (s rbSize) String() string { return fmt.Sprintf("%dx%dx%d", s.p, s.t, s.c) }

// Sink results so the compiler keeps every call.
var (
	rbSinkInt  int
	rbSinkBool bool
)

// Our database, populated.

type rbOurs struct {
	layout Layout
	db     *registry.DB
	ids    []string
	infos  []wire.ProducerInfo
	used   []string // topic names that have producers
}

func rbInfo(l Layout, p int) wire.ProducerInfo {
	w := l.Identity(p)
	return wire.ProducerInfo{
		RemoteAddress: "10.0." + strconv.Itoa(p/250) + "." + strconv.Itoa(p%250) + ":40000",
		Hostname:      w.Hostname, BroadcastAddress: w.BroadcastAddress,
		TCPPort: w.TCPPort, HTTPPort: w.HTTPPort, Version: w.Version,
	}
}

func (f *rbOurs) register(b testing.TB, p int) {
	id := f.ids[p]
	for i := range f.layout.Topics {
		topic := TopicName(f.layout.Topic(p, i))
		if _, err := f.db.Register(id, topic, ""); err != nil {
			b.Fatal(err)
		}
		for j := range f.layout.Channels {
			if _, err := f.db.Register(id, topic, ChannelName(j)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func usedTopics(l Layout) []string {
	var used []string
	for idx, n := range l.ProducerCounts() {
		if n > 0 {
			used = append(used, TopicName(idx))
		}
	}
	return used
}

var (
	rbOursMu    sync.Mutex
	rbOursCache = map[rbSize]*rbOurs{}
)

// oursFor returns the populated DB of size s, built once and shared by the
// benchmarks, which all leave it as they found it.
func oursFor(b testing.TB, s rbSize) *rbOurs {
	rbOursMu.Lock()
	defer rbOursMu.Unlock()
	if f := rbOursCache[s]; f != nil {
		return f
	}
	l := NewLayout(s.p, s.t, s.c, rbShare)
	f := &rbOurs{
		layout: l,
		db:     registry.New(registry.Options{InactiveTimeout: rbInactive, TombstoneLifetime: rbTombstone}),
		used:   usedTopics(l),
	}
	for p := range s.p {
		f.ids = append(f.ids, "peer-"+strconv.Itoa(p))
		f.infos = append(f.infos, rbInfo(l, p))
		if err := f.db.Identify(f.ids[p], f.infos[p]); err != nil {
			b.Fatal(err)
		}
		f.register(b, p)
	}
	if st := f.db.Stats(); st.Registrations != l.Registrations() {
		b.Fatalf("populated %d registrations, want %d", st.Registrations, l.Registrations())
	}
	rbOursCache[s] = f
	return f
}

// nsqlookupd's database, populated. Producer and PeerInfo keep the peer
// pointer, the id and the heartbeat in unexported fields that only
// nsqlookupd's own package sets, so they are reached through their offsets
// (checked against the field types once). This touches nothing but the
// objects built here.

var (
	rbProducerPeer = rbField(reflect.TypeFor[nsqlookupd.Producer](), "peerInfo", reflect.TypeFor[*nsqlookupd.PeerInfo]())
	rbPeerID       = rbField(reflect.TypeFor[nsqlookupd.PeerInfo](), "id", reflect.TypeFor[string]())
	rbPeerLast     = rbField(reflect.TypeFor[nsqlookupd.PeerInfo](), "lastUpdate", reflect.TypeFor[int64]())
)

func rbField(t reflect.Type, name string, want reflect.Type) uintptr {
	f, ok := t.FieldByName(name)
	if !ok || f.Type != want {
		panic(fmt.Sprintf("nsqlookupd.%s.%s is not a %s", t.Name(), name, want))
	}
	return f.Offset
}

func nsqPeerOf(p *nsqlookupd.Producer) *nsqlookupd.PeerInfo {
	return *(**nsqlookupd.PeerInfo)(unsafe.Add(unsafe.Pointer(p), rbProducerPeer))
}

func nsqIDOf(pi *nsqlookupd.PeerInfo) string {
	return *(*string)(unsafe.Add(unsafe.Pointer(pi), rbPeerID))
}

func nsqLastOf(pi *nsqlookupd.PeerInfo) *int64 {
	return (*int64)(unsafe.Add(unsafe.Pointer(pi), rbPeerLast))
}

// nsqProducer is what nsqlookupd builds per REGISTER: &Producer{peerInfo: pi}.
func nsqProducer(pi *nsqlookupd.PeerInfo) *nsqlookupd.Producer {
	p := &nsqlookupd.Producer{}
	*(**nsqlookupd.PeerInfo)(unsafe.Add(unsafe.Pointer(p), rbProducerPeer)) = pi
	return p
}

type rbNSQ struct {
	layout Layout
	db     *nsqlookupd.RegistrationDB
	peers  []*nsqlookupd.PeerInfo
	ids    []string
	used   []string
}

var rbClient = nsqlookupd.Registration{Category: "client"}

func nsqTopic(t string) nsqlookupd.Registration {
	return nsqlookupd.Registration{Category: "topic", Key: t}
}

func nsqChannel(t, c string) nsqlookupd.Registration {
	return nsqlookupd.Registration{Category: "channel", Key: t, SubKey: c}
}

// nsqRegister is lookup_protocol_v1.go's REGISTER.
func (f *rbNSQ) nsqRegister(pi *nsqlookupd.PeerInfo, topic, channel string) {
	if channel != "" {
		f.db.AddProducer(nsqChannel(topic, channel), nsqProducer(pi))
	}
	f.db.AddProducer(nsqTopic(topic), nsqProducer(pi))
}

// nsqUnregister is lookup_protocol_v1.go's UNREGISTER.
func (f *rbNSQ) nsqUnregister(id, topic, channel string) {
	if channel != "" {
		k := nsqChannel(topic, channel)
		if _, left := f.db.RemoveProducer(k, id); left == 0 && wire.IsEphemeral(channel) {
			f.db.RemoveRegistration(k)
		}
		return
	}
	for _, r := range f.db.FindRegistrations("channel", topic, "*") {
		f.db.RemoveProducer(r, id)
	}
	k := nsqTopic(topic)
	if _, left := f.db.RemoveProducer(k, id); left == 0 && wire.IsEphemeral(topic) {
		f.db.RemoveRegistration(k)
	}
}

// nsqIdentify adds the client registration as IDENTIFY does.
func (f *rbNSQ) nsqIdentify(p int) {
	atomic.StoreInt64(nsqLastOf(f.peers[p]), time.Now().UnixNano())
	f.db.AddProducer(rbClient, nsqProducer(f.peers[p]))
}

func (f *rbNSQ) register(p int) {
	for i := range f.layout.Topics {
		topic := TopicName(f.layout.Topic(p, i))
		f.nsqRegister(f.peers[p], topic, "")
		for j := range f.layout.Channels {
			f.nsqRegister(f.peers[p], topic, ChannelName(j))
		}
	}
}

var (
	rbNSQMu    sync.Mutex
	rbNSQCache = map[rbSize]*rbNSQ{}
)

func nsqFor(b testing.TB, s rbSize) *rbNSQ {
	rbNSQMu.Lock()
	defer rbNSQMu.Unlock()
	if f := rbNSQCache[s]; f != nil {
		return f
	}
	l := NewLayout(s.p, s.t, s.c, rbShare)
	f := &rbNSQ{layout: l, db: nsqlookupd.NewRegistrationDB(), used: usedTopics(l)}
	for p := range s.p {
		info := rbInfo(l, p)
		pi := &nsqlookupd.PeerInfo{
			RemoteAddress: info.RemoteAddress, Hostname: info.Hostname, BroadcastAddress: info.BroadcastAddress,
			TCPPort: info.TCPPort, HTTPPort: info.HTTPPort, Version: info.Version,
		}
		id := info.RemoteAddress // nsqlookupd's peer id
		*(*string)(unsafe.Add(unsafe.Pointer(pi), rbPeerID)) = id
		f.peers, f.ids = append(f.peers, pi), append(f.ids, id)
		f.nsqIdentify(p)
		f.register(p)
	}
	n := 0
	for _, k := range f.db.FindRegistrations("topic", "*", "") {
		n += len(f.db.FindProducers("topic", k.Key, ""))
	}
	for _, k := range f.db.FindRegistrations("channel", "*", "*") {
		n += len(f.db.FindProducers("channel", k.Key, k.SubKey))
	}
	if n != l.Registrations() {
		b.Fatalf("populated %d registrations, want %d", n, l.Registrations())
	}
	rbNSQCache[s] = f
	return f
}

// rbRun runs one operation on both databases as sub-benchmarks "lookupd"
// and "nsqlookupd".
func rbRun(b *testing.B, s rbSize, ours func(*testing.B, *rbOurs), theirs func(*testing.B, *rbNSQ)) {
	b.Run("lookupd", func(b *testing.B) {
		f := oursFor(b, s)
		runtime.GC() // pay for the setup's garbage before timing
		b.ReportAllocs()
		ours(b, f)
	})
	if theirs != nil {
		b.Run("nsqlookupd", func(b *testing.B) {
			f := nsqFor(b, s)
			runtime.GC()
			b.ReportAllocs()
			theirs(b, f)
		})
	}
}

const rbExtra = "bench-extra#ephemeral"

// Register: a producer registers one more (ephemeral) channel on a topic
// it carries and unregisters it again, which leaves the DB as it was.
func benchRegister(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			topic := TopicName(f.layout.Topic(p, 0))
			if ok, err := f.db.Register(f.ids[p], topic, rbExtra); !ok || err != nil {
				b.Fatalf("Register: %v, %v", ok, err)
			}
			if ok, _ := f.db.Unregister(f.ids[p], topic, rbExtra); !ok {
				b.Fatal("Unregister removed nothing")
			}
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			topic := TopicName(f.layout.Topic(p, 0))
			f.nsqRegister(f.peers[p], topic, rbExtra)
			f.nsqUnregister(f.ids[p], topic, rbExtra)
			i++
		}
	})
}

// Unregister: UNREGISTER of a whole topic (and so its channels); the
// registrations are put back with the timer stopped.
func benchUnregister(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			topic := TopicName(f.layout.Topic(p, i/len(f.ids)%f.layout.Topics))
			if ok, _ := f.db.Unregister(f.ids[p], topic, ""); !ok {
				b.Fatal("Unregister removed nothing")
			}
			b.StopTimer()
			f.db.Register(f.ids[p], topic, "")
			for j := range f.layout.Channels {
				f.db.Register(f.ids[p], topic, ChannelName(j))
			}
			b.StartTimer()
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			topic := TopicName(f.layout.Topic(p, i/len(f.ids)%f.layout.Topics))
			f.nsqUnregister(f.ids[p], topic, "")
			b.StopTimer()
			f.nsqRegister(f.peers[p], topic, "")
			for j := range f.layout.Channels {
				f.nsqRegister(f.peers[p], topic, ChannelName(j))
			}
			b.StartTimer()
			i++
		}
	})
}

// RemoveProducer: a producer's connection ends and all its registrations go;
// it identifies and registers again with the timer stopped.
func benchRemoveProducer(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			if !f.db.RemoveProducer(f.ids[p]) {
				b.Fatal("RemoveProducer: unknown producer")
			}
			b.StopTimer()
			if err := f.db.Identify(f.ids[p], f.infos[p]); err != nil {
				b.Fatal(err)
			}
			f.register(b, p)
			b.StartTimer()
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			p := i % len(f.ids)
			// The end of LookupProtocolV1.IOLoop.
			for _, r := range f.db.LookupRegistrations(f.ids[p]) {
				f.db.RemoveProducer(r, f.ids[p])
			}
			b.StopTimer()
			f.nsqIdentify(p)
			f.register(p)
			b.StartTimer()
			i++
		}
	})
}

// Lookup: GET /lookup?topic= for topics in turn.
func benchLookup(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			res, ok := f.db.Lookup(f.used[i%len(f.used)])
			if !ok || len(res.Producers) == 0 {
				b.Fatal("Lookup found nothing")
			}
			rbSinkInt += len(res.Producers) + len(res.Channels)
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			// http.go doLookup.
			topic := f.used[i%len(f.used)]
			if len(f.db.FindRegistrations("topic", topic, "")) == 0 {
				b.Fatal("topic not found")
			}
			channels := f.db.FindRegistrations("channel", topic, "*").SubKeys()
			producers := f.db.FindProducers("topic", topic, "").FilterByActive(rbInactive, rbTombstone)
			if len(producers) == 0 {
				b.Fatal("Lookup found nothing")
			}
			rbSinkInt += len(producers.PeerInfo()) + len(channels)
			i++
		}
	})
}

// Touch: a PING.
func benchTouch(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			rbSinkBool = f.db.Touch(f.ids[i%len(f.ids)])
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			// lookup_protocol_v1.go PING, without its log line: the
			// connection holds the PeerInfo pointer.
			atomic.StoreInt64(nsqLastOf(f.peers[i%len(f.peers)]), time.Now().UnixNano())
			i++
		}
	})
}

// Topics: GET /topics. Reports ns per listed topic.
func benchTopics(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		n := 0
		for b.Loop() {
			topics, _ := f.db.Topics()
			n = len(topics)
			rbSinkInt += n
		}
		perItem(b, n)
	}, func(b *testing.B, f *rbNSQ) {
		n := 0
		for b.Loop() {
			n = len(f.db.FindRegistrations("topic", "*", "").Keys())
			rbSinkInt += n
		}
		perItem(b, n)
	})
}

// Channels: GET /channels?topic= for topics in turn.
func benchChannels(b *testing.B, s rbSize) {
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		i := 0
		for b.Loop() {
			ch, _ := f.db.Channels(f.used[i%len(f.used)])
			rbSinkInt += len(ch)
			i++
		}
	}, func(b *testing.B, f *rbNSQ) {
		i := 0
		for b.Loop() {
			rbSinkInt += len(f.db.FindRegistrations("channel", f.used[i%len(f.used)], "*").SubKeys())
			i++
		}
	})
}

// Nodes: GET /nodes. Reports ns per listed topic membership.
func benchNodes(b *testing.B, s rbSize) {
	theirs := func(b *testing.B, f *rbNSQ) {
		n := 0
		for b.Loop() {
			n = nsqNodes(f.db)
			rbSinkInt += n
		}
		perItem(b, n)
	}
	if s.p > 100 && !*rbNSQNodes {
		theirs = func(b *testing.B, _ *rbNSQ) {
			b.Skip("nsqlookupd's /nodes is quadratic; run with -bench.nsqnodes and a small -benchtime")
		}
	}
	rbRun(b, s, func(b *testing.B, f *rbOurs) {
		n := 0
		for b.Loop() {
			res := f.db.Nodes()
			n = 0
			for _, nd := range res.Nodes {
				n += len(nd.Topics)
			}
			rbSinkInt += n
		}
		perItem(b, n)
	}, theirs)
}

// nsqNodes is http.go doNodes; it returns the number of topic memberships
// listed.
func nsqNodes(db *nsqlookupd.RegistrationDB) int {
	type node struct {
		pi         *nsqlookupd.PeerInfo
		tombstones []bool
		topics     []string
	}
	producers := db.FindProducers("client", "", "").FilterByActive(rbInactive, 0)
	nodes := make([]*node, len(producers))
	topicProducersMap := make(map[string]nsqlookupd.Producers)
	n := 0
	for i, p := range producers {
		pi := nsqPeerOf(p)
		topics := db.LookupRegistrations(nsqIDOf(pi)).Filter("topic", "*", "").Keys()
		tombstones := make([]bool, len(topics))
		for j, t := range topics {
			if _, exists := topicProducersMap[t]; !exists {
				topicProducersMap[t] = db.FindProducers("topic", t, "")
			}
			for _, tp := range topicProducersMap[t] {
				if nsqPeerOf(tp) == pi {
					tombstones[j] = tp.IsTombstoned(rbTombstone)
					break
				}
			}
		}
		nodes[i] = &node{pi: pi, tombstones: tombstones, topics: topics}
		n += len(topics)
	}
	return n
}

func perItem(b *testing.B, items int) {
	if items > 0 && b.N > 0 {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(items), "ns/item")
	}
}

// Sizes. 1000x10x2 -> 10000x10x2 and 100x100x2 -> 1000x100x2 (the target
// scale) each grow the database tenfold with the same shape per producer
// and per topic.

var (
	rbS100   = rbSize{p: 100, t: 10, c: 2}
	rbS1000  = rbSize{p: 1000, t: 10, c: 2}
	rbS10000 = rbSize{p: 10000, t: 10, c: 2}
	rbS100T  = rbSize{p: 100, t: 100, c: 2}
	rbS1000T = rbSize{p: 1000, t: 100, c: 2}
)

func BenchmarkRegister_100x10x2(b *testing.B)   { benchRegister(b, rbS100) }
func BenchmarkRegister_1000x10x2(b *testing.B)  { benchRegister(b, rbS1000) }
func BenchmarkRegister_10000x10x2(b *testing.B) { benchRegister(b, rbS10000) }
func BenchmarkRegister_100x100x2(b *testing.B)  { benchRegister(b, rbS100T) }
func BenchmarkRegister_1000x100x2(b *testing.B) { benchRegister(b, rbS1000T) }

func BenchmarkUnregister_100x10x2(b *testing.B)   { benchUnregister(b, rbS100) }
func BenchmarkUnregister_1000x10x2(b *testing.B)  { benchUnregister(b, rbS1000) }
func BenchmarkUnregister_10000x10x2(b *testing.B) { benchUnregister(b, rbS10000) }
func BenchmarkUnregister_100x100x2(b *testing.B)  { benchUnregister(b, rbS100T) }
func BenchmarkUnregister_1000x100x2(b *testing.B) { benchUnregister(b, rbS1000T) }

func BenchmarkRemoveProducer_100x10x2(b *testing.B)   { benchRemoveProducer(b, rbS100) }
func BenchmarkRemoveProducer_1000x10x2(b *testing.B)  { benchRemoveProducer(b, rbS1000) }
func BenchmarkRemoveProducer_10000x10x2(b *testing.B) { benchRemoveProducer(b, rbS10000) }
func BenchmarkRemoveProducer_100x100x2(b *testing.B)  { benchRemoveProducer(b, rbS100T) }
func BenchmarkRemoveProducer_1000x100x2(b *testing.B) { benchRemoveProducer(b, rbS1000T) }

func BenchmarkLookup_100x10x2(b *testing.B)   { benchLookup(b, rbS100) }
func BenchmarkLookup_1000x10x2(b *testing.B)  { benchLookup(b, rbS1000) }
func BenchmarkLookup_10000x10x2(b *testing.B) { benchLookup(b, rbS10000) }
func BenchmarkLookup_100x100x2(b *testing.B)  { benchLookup(b, rbS100T) }
func BenchmarkLookup_1000x100x2(b *testing.B) { benchLookup(b, rbS1000T) }

func BenchmarkTouch_100x10x2(b *testing.B)   { benchTouch(b, rbS100) }
func BenchmarkTouch_1000x10x2(b *testing.B)  { benchTouch(b, rbS1000) }
func BenchmarkTouch_10000x10x2(b *testing.B) { benchTouch(b, rbS10000) }
func BenchmarkTouch_100x100x2(b *testing.B)  { benchTouch(b, rbS100T) }
func BenchmarkTouch_1000x100x2(b *testing.B) { benchTouch(b, rbS1000T) }

func BenchmarkTopics_100x10x2(b *testing.B)   { benchTopics(b, rbS100) }
func BenchmarkTopics_1000x10x2(b *testing.B)  { benchTopics(b, rbS1000) }
func BenchmarkTopics_10000x10x2(b *testing.B) { benchTopics(b, rbS10000) }
func BenchmarkTopics_100x100x2(b *testing.B)  { benchTopics(b, rbS100T) }
func BenchmarkTopics_1000x100x2(b *testing.B) { benchTopics(b, rbS1000T) }

func BenchmarkChannels_100x10x2(b *testing.B)   { benchChannels(b, rbS100) }
func BenchmarkChannels_1000x10x2(b *testing.B)  { benchChannels(b, rbS1000) }
func BenchmarkChannels_10000x10x2(b *testing.B) { benchChannels(b, rbS10000) }
func BenchmarkChannels_100x100x2(b *testing.B)  { benchChannels(b, rbS100T) }
func BenchmarkChannels_1000x100x2(b *testing.B) { benchChannels(b, rbS1000T) }

func BenchmarkNodes_100x10x2(b *testing.B)   { benchNodes(b, rbS100) }
func BenchmarkNodes_1000x10x2(b *testing.B)  { benchNodes(b, rbS1000) }
func BenchmarkNodes_10000x10x2(b *testing.B) { benchNodes(b, rbS10000) }
func BenchmarkNodes_100x100x2(b *testing.B)  { benchNodes(b, rbS100T) }
func BenchmarkNodes_1000x100x2(b *testing.B) { benchNodes(b, rbS1000T) }

// TestRegistryBenchFixtures checks that both populated databases hold the
// layout and give the same answers, so the benchmarks compare like with
// like.
func TestRegistryBenchFixtures(t *testing.T) {
	for _, s := range []rbSize{rbS100} {
		ours, theirs := oursFor(t, s), nsqFor(t, s)
		for _, topic := range ours.used[:20] {
			res, ok := ours.db.Lookup(topic)
			if !ok {
				t.Fatalf("%s: ours lacks %s", s, topic)
			}
			ps := theirs.db.FindProducers("topic", topic, "").FilterByActive(rbInactive, rbTombstone)
			if len(ps) != len(res.Producers) || len(ps) == 0 {
				t.Errorf("%s %s: ours %d producers, nsqlookupd %d", s, topic, len(res.Producers), len(ps))
			}
			ch := theirs.db.FindRegistrations("channel", topic, "*")
			if len(ch) != len(res.Channels) || len(ch) != s.c {
				t.Errorf("%s %s: ours %d channels, nsqlookupd %d", s, topic, len(res.Channels), len(ch))
			}
		}
		nodeTopics := 0
		for _, n := range ours.db.Nodes().Nodes {
			nodeTopics += len(n.Topics)
		}
		if got := nsqNodes(theirs.db); got != nodeTopics || got != s.p*s.t {
			t.Errorf("%s: nodes list %d topic memberships in ours, %d in nsqlookupd, want %d", s, nodeTopics, got, s.p*s.t)
		}
		topics, _ := ours.db.Topics()
		if n := len(theirs.db.FindRegistrations("topic", "*", "")); n != len(topics) || n != len(ours.used) {
			t.Errorf("%s: ours %d topics, nsqlookupd %d, layout %d", s, len(topics), n, len(ours.used))
		}
	}
}
