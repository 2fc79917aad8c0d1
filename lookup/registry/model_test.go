package registry_test

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

var seedFlag = flag.Uint64("seed", 0, "seed for TestDB_Model (0: REGISTRY_SEED or the fixed default)")

// The reference model below is a deliberately naive transcription of
// nsqlookupd v1.3.0: one map from registration to producers keyed by connection
// id (registration_db.go), the command handlers of lookup_protocol_v1.go and
// the HTTP handlers of http.go, plus our documented difference in
// RemoveProducer. It scans everything and is obviously slow; it only has to be
// obviously right.

type mreg struct{ cat, key, sub string }

type mconn struct {
	id   string
	info wire.ProducerInfo
	last int64
}

type mprod struct {
	conn   *mconn
	tomb   bool
	tombAt int64
}

type model struct {
	regs     map[mreg]map[string]*mprod
	now      int64
	inactive int64
	lifetime int64
	maxRegs  int
}

func newModel(now time.Time, maxRegs int) *model {
	return &model{
		regs:     map[mreg]map[string]*mprod{},
		now:      now.UnixNano(),
		inactive: int64(testInactive),
		lifetime: int64(testTombstone),
		maxRegs:  maxRegs,
	}
}

var clientReg = mreg{cat: "client"}

// RegistrationDB primitives.

func (m *model) addRegistration(k mreg) {
	if m.regs[k] == nil {
		m.regs[k] = map[string]*mprod{}
	}
}

func (m *model) addProducer(k mreg, p *mprod) bool {
	m.addRegistration(k)
	if _, ok := m.regs[k][p.conn.id]; ok {
		return false
	}
	m.regs[k][p.conn.id] = p
	return true
}

func (m *model) removeProducer(k mreg, id string) (bool, int) {
	ps, ok := m.regs[k]
	if !ok {
		return false, 0
	}
	_, removed := ps[id]
	delete(ps, id)
	return removed, len(ps)
}

func (m *model) findRegistrations(cat, key, sub string) []mreg {
	var out []mreg
	for k := range m.regs {
		if k.cat == cat && (key == "*" || k.key == key) && (sub == "*" || k.sub == sub) {
			out = append(out, k)
		}
	}
	return out
}

func (m *model) lookupRegistrations(id string) []mreg {
	var out []mreg
	for k, ps := range m.regs {
		if _, ok := ps[id]; ok {
			out = append(out, k)
		}
	}
	return out
}

func (m *model) conn(id string) *mconn {
	if p, ok := m.regs[clientReg][id]; ok {
		return p.conn
	}
	return nil
}

func (m *model) producerRegs(id string) int {
	n := 0
	for _, k := range m.lookupRegistrations(id) {
		if k.cat != "client" {
			n++
		}
	}
	return n
}

func (m *model) active(p *mconn) bool { return m.now-p.last <= m.inactive }

func (m *model) tombstoned(p *mprod) bool { return p.tomb && m.now-p.tombAt < m.lifetime }

// Operations.

func (m *model) identify(id string, info wire.ProducerInfo) error {
	if m.conn(id) != nil {
		return registry.ErrProducerExists
	}
	m.addProducer(clientReg, &mprod{conn: &mconn{id: id, info: info, last: m.now}})
	return nil
}

func (m *model) register(id, topic, channel string) (bool, error) {
	p := m.conn(id)
	if p == nil {
		return false, registry.ErrUnknownProducer
	}
	tk, ck := mreg{cat: "topic", key: topic}, mreg{cat: "channel", key: topic, sub: channel}
	need := 0
	if _, ok := m.regs[tk][id]; !ok {
		need++
	}
	if _, ok := m.regs[ck][id]; channel != "" && !ok {
		need++
	}
	if m.maxRegs > 0 && need > 0 && m.producerRegs(id)+need > m.maxRegs {
		return false, registry.ErrTooManyRegistrations
	}
	added := false
	if channel != "" {
		added = m.addProducer(ck, &mprod{conn: p}) || added
	}
	added = m.addProducer(tk, &mprod{conn: p}) || added
	return added, nil
}

func (m *model) unregister(id, topic, channel string) (bool, error) {
	if m.conn(id) == nil {
		return false, registry.ErrUnknownProducer
	}
	removedAny := false
	if channel != "" {
		k := mreg{cat: "channel", key: topic, sub: channel}
		removed, left := m.removeProducer(k, id)
		removedAny = removed
		if left == 0 && strings.HasSuffix(channel, "#ephemeral") {
			delete(m.regs, k)
		}
		return removedAny, nil
	}
	for _, k := range m.findRegistrations("channel", topic, "*") {
		if removed, _ := m.removeProducer(k, id); removed {
			removedAny = true
		}
	}
	k := mreg{cat: "topic", key: topic}
	removed, left := m.removeProducer(k, id)
	removedAny = removedAny || removed
	if left == 0 && strings.HasSuffix(topic, "#ephemeral") {
		delete(m.regs, k)
	}
	return removedAny, nil
}

func (m *model) touch(id string) bool {
	p := m.conn(id)
	if p == nil {
		return false
	}
	p.last = m.now
	return true
}

// disconnect is nsqlookupd's end of IOLoop plus our difference: ephemeral
// registrations the connection leaves without producers are removed, and so are
// the empty channels of an ephemeral topic removed that way.
func (m *model) disconnect(id string) bool {
	if m.conn(id) == nil {
		return false
	}
	held := m.lookupRegistrations(id)
	for _, k := range held {
		m.removeProducer(k, id)
	}
	for _, k := range held {
		if len(m.regs[k]) > 0 {
			continue
		}
		switch {
		case k.cat == "channel" && strings.HasSuffix(k.sub, "#ephemeral"):
			delete(m.regs, k)
		case k.cat == "topic" && strings.HasSuffix(k.key, "#ephemeral"):
			delete(m.regs, k)
			for _, ck := range m.findRegistrations("channel", k.key, "*") {
				if len(m.regs[ck]) == 0 {
					delete(m.regs, ck)
				}
			}
		}
	}
	return true
}

func (m *model) createTopic(topic string) { m.addRegistration(mreg{cat: "topic", key: topic}) }

func (m *model) createChannel(topic, channel string) {
	m.addRegistration(mreg{cat: "channel", key: topic, sub: channel})
	m.addRegistration(mreg{cat: "topic", key: topic})
}

func (m *model) deleteTopic(topic string) bool {
	existed := false
	for _, k := range m.findRegistrations("channel", topic, "*") {
		delete(m.regs, k)
		existed = true
	}
	k := mreg{cat: "topic", key: topic}
	if _, ok := m.regs[k]; ok {
		delete(m.regs, k)
		existed = true
	}
	return existed
}

func (m *model) deleteChannel(topic, channel string) bool {
	k := mreg{cat: "channel", key: topic, sub: channel}
	if _, ok := m.regs[k]; !ok {
		return false
	}
	delete(m.regs, k)
	return true
}

func (m *model) tombstone(topic, node string) int {
	n := 0
	for _, p := range m.regs[mreg{cat: "topic", key: topic}] {
		if p.conn.info.BroadcastAddress+":"+strconv.Itoa(p.conn.info.HTTPPort) == node {
			p.tomb, p.tombAt = true, m.now
			n++
		}
	}
	return n
}

// Views: comparable forms of the answers. Last is zeroed for the cache
// check, since heartbeat times are not part of the HTTP answers.

type prodView struct {
	ID   string
	Info wire.ProducerInfo
	Last int64
}

type lookupView struct {
	Found     bool
	Channels  []string
	Producers []prodView
}

type nodeView struct {
	prodView
	Topics []string
	Tombs  []bool
}

func sortProds(ps []prodView) {
	slices.SortFunc(ps, func(a, b prodView) int { return compareInfo(a.Info, b.Info) })
}

func (m *model) lookup(topic string) lookupView {
	if _, ok := m.regs[mreg{cat: "topic", key: topic}]; !ok {
		return lookupView{}
	}
	v := lookupView{Found: true, Channels: m.channels(topic), Producers: []prodView{}}
	for _, p := range m.regs[mreg{cat: "topic", key: topic}] {
		if m.active(p.conn) && !m.tombstoned(p) {
			v.Producers = append(v.Producers, prodView{ID: p.conn.id, Info: p.conn.info, Last: p.conn.last})
		}
	}
	sortProds(v.Producers)
	return v
}

func (m *model) channels(topic string) []string {
	out := []string{}
	for _, k := range m.findRegistrations("channel", topic, "*") {
		out = append(out, k.sub)
	}
	slices.Sort(out)
	return out
}

func (m *model) topics() []string {
	out := []string{}
	for _, k := range m.findRegistrations("topic", "*", "") {
		out = append(out, k.key)
	}
	slices.Sort(out)
	return out
}

func (m *model) nodes() []nodeView {
	out := []nodeView{}
	for _, p := range m.regs[clientReg] {
		if !m.active(p.conn) {
			continue
		}
		n := nodeView{prodView: prodView{ID: p.conn.id, Info: p.conn.info, Last: p.conn.last}, Topics: []string{}}
		for _, k := range m.lookupRegistrations(p.conn.id) {
			if k.cat == "topic" {
				n.Topics = append(n.Topics, k.key)
			}
		}
		slices.Sort(n.Topics)
		n.Tombs = make([]bool, len(n.Topics))
		for i, topic := range n.Topics {
			n.Tombs[i] = m.tombstoned(m.regs[mreg{cat: "topic", key: topic}][p.conn.id])
		}
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b nodeView) int { return compareInfo(a.Info, b.Info) })
	return out
}

func (m *model) stats() registry.Stats {
	var s registry.Stats
	for k, ps := range m.regs {
		switch k.cat {
		case "client":
			s.Producers = len(ps)
		case "topic":
			s.Topics++
			s.Registrations += len(ps)
		case "channel":
			s.Channels++
			s.Registrations += len(ps)
		}
	}
	return s
}

// debug renders registrations with producers as "cat:key:sub" to
// "id/tombstoned@at id/...".
func (m *model) debug() map[string]string {
	out := map[string]string{}
	for k, ps := range m.regs {
		var items []string
		for _, p := range ps {
			items = append(items, debugItem(p.conn.id, p.tomb, p.tombAt, p.conn.last))
		}
		if len(items) > 0 {
			slices.Sort(items)
			out[k.cat+":"+k.key+":"+k.sub] = strings.Join(items, " ")
		}
	}
	return out
}

func debugItem(id string, tomb bool, at, last int64) string {
	if !tomb {
		at = 0
	}
	return fmt.Sprintf("%s/%v@%d/%d", id, tomb, at, last)
}

// DB views.

func dbLookup(db *registry.DB, topic string) (lookupView, uint64, time.Time) {
	res, ok := db.Lookup(topic)
	if !ok {
		return lookupView{}, 0, time.Time{}
	}
	v := lookupView{Found: true, Channels: res.Channels, Producers: []prodView{}}
	for _, p := range res.Producers {
		v.Producers = append(v.Producers, prodView{ID: p.ID, Info: p.ProducerInfo, Last: p.LastUpdate.UnixNano()})
	}
	return v, res.Version, res.ValidUntil
}

func dbNodes(db *registry.DB) ([]nodeView, uint64, time.Time) {
	res := db.Nodes()
	out := []nodeView{}
	for _, n := range res.Nodes {
		out = append(out, nodeView{
			prodView: prodView{ID: n.ID, Info: n.ProducerInfo, Last: n.LastUpdate.UnixNano()},
			Topics:   n.Topics, Tombs: n.Tombstones,
		})
	}
	return out, res.Version, res.ValidUntil
}

func dbDebug(db *registry.DB) map[string]string {
	out := map[string]string{}
	for k, ps := range db.Debug() {
		var items []string
		for _, p := range ps {
			at := int64(0)
			if p.Tombstoned {
				at = p.TombstonedAt.UnixNano()
			}
			items = append(items, debugItem(p.ID, p.Tombstoned, at, p.LastUpdate.UnixNano()))
		}
		slices.Sort(items)
		out[k.Category+":"+k.Key+":"+k.SubKey] = strings.Join(items, " ")
	}
	return out
}

// stripLast zeroes heartbeat times (recursively in slices of views).
func stripLast(v any) any {
	switch x := v.(type) {
	case lookupView:
		x.Producers = slices.Clone(x.Producers)
		for i := range x.Producers {
			x.Producers[i].Last = 0
		}
		return x
	case []nodeView:
		x = slices.Clone(x)
		for i := range x {
			x[i].Last = 0
		}
		return x
	}
	return v
}

// cached is one remembered answer, as the HTTP layer would keep it.
type cached struct {
	answer     any
	version    uint64
	validUntil time.Time
	at         int // step that computed it
}

// modelRun drives one random sequence against the DB and the model.
type modelRun struct {
	t     *testing.T
	rng   *rand.Rand
	e     *env
	m     *model
	cache map[string]cached
	step  int
	op    string
}

var (
	modelProducers = []string{"p0", "p1", "p2", "p3", "p4", "p5"}
	modelTopics    = []string{"a", "b", "e#ephemeral", "f#ephemeral"}
	modelChannels  = []string{"x", "y", "z#ephemeral"}
	modelNodes     = []string{"h0:4151", "h1:4151", "h2:4151"}
	modelAdvances  = []time.Duration{
		0, 1, time.Second, 2 * time.Second, testTombstone - 1, testTombstone,
		testInactive - time.Second, testInactive, testInactive + 1, 15 * time.Second,
	}
)

// modelInfo: producers p0, p2, p4 share node h0:4151 and p1, p3, p5 share
// h1:4151, so one tombstone can hit several producers.
func modelInfo(id string) wire.ProducerInfo {
	i, _ := strconv.Atoi(id[1:])
	return wire.ProducerInfo{
		RemoteAddress:    "192.0.2.1:" + strconv.Itoa(50000+i),
		Hostname:         "host" + id,
		BroadcastAddress: "h" + strconv.Itoa(i%2),
		TCPPort:          4150 + i,
		HTTPPort:         4151,
		Version:          "1.3.0",
	}
}

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func (r *modelRun) failf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d (%s): %s", r.step, r.op, fmt.Sprintf(format, args...))
}

func (r *modelRun) do() {
	db, m, rng := r.e.db, r.m, r.rng
	id := pick(rng, modelProducers)
	topic := pick(rng, modelTopics)
	channel := ""
	if rng.IntN(3) > 0 {
		channel = pick(rng, modelChannels)
	}
	switch k := rng.IntN(100); {
	case k < 10:
		r.op = "identify " + id
		got, want := db.Identify(id, modelInfo(id)), m.identify(id, modelInfo(id))
		if !errors.Is(got, want) {
			r.failf("Identify = %v, model %v", got, want)
		}
	case k < 38:
		r.op = fmt.Sprintf("register %s %s %q", id, topic, channel)
		added, err := db.Register(id, topic, channel)
		wAdded, wErr := m.register(id, topic, channel)
		if added != wAdded || !errors.Is(err, wErr) {
			r.failf("Register = %v, %v; model %v, %v", added, err, wAdded, wErr)
		}
	case k < 50:
		if rng.IntN(2) == 0 {
			channel = ""
		}
		r.op = fmt.Sprintf("unregister %s %s %q", id, topic, channel)
		removed, err := db.Unregister(id, topic, channel)
		wRemoved, wErr := m.unregister(id, topic, channel)
		if removed != wRemoved || !errors.Is(err, wErr) {
			r.failf("Unregister = %v, %v; model %v, %v", removed, err, wRemoved, wErr)
		}
	case k < 60:
		r.op = "touch " + id
		if got, want := db.Touch(id), m.touch(id); got != want {
			r.failf("Touch = %v, model %v", got, want)
		}
	case k < 65:
		r.op = "remove producer " + id
		if got, want := db.RemoveProducer(id), m.disconnect(id); got != want {
			r.failf("RemoveProducer = %v, model %v", got, want)
		}
	case k < 68:
		r.op = "create topic " + topic
		db.CreateTopic(topic)
		m.createTopic(topic)
	case k < 71:
		channel = pick(rng, modelChannels)
		r.op = "create channel " + topic + " " + channel
		db.CreateChannel(topic, channel)
		m.createChannel(topic, channel)
	case k < 73:
		r.op = "delete topic " + topic
		if got, want := db.DeleteTopic(topic), m.deleteTopic(topic); got != want {
			r.failf("DeleteTopic = %v, model %v", got, want)
		}
	case k < 76:
		channel = pick(rng, modelChannels)
		r.op = "delete channel " + topic + " " + channel
		if got, want := db.DeleteChannel(topic, channel), m.deleteChannel(topic, channel); got != want {
			r.failf("DeleteChannel = %v, model %v", got, want)
		}
	case k < 84:
		node := pick(rng, modelNodes)
		r.op = "tombstone " + topic + " " + node
		if got, want := db.Tombstone(topic, node), m.tombstone(topic, node); got != want {
			r.failf("Tombstone = %d, model %d", got, want)
		}
	default:
		d := pick(rng, modelAdvances)
		r.op = "advance " + d.String()
		r.e.clk.Advance(d)
		m.now += int64(d)
	}
}

// check compares every answer with the model and checks the cache rule.
func (r *modelRun) check() {
	db, m := r.e.db, r.m
	now := r.e.clk.Now()
	for _, topic := range modelTopics {
		got, version, until := dbLookup(db, topic)
		if want := m.lookup(topic); !reflect.DeepEqual(got, want) {
			r.failf("Lookup(%q) = %+v\nmodel %+v", topic, got, want)
		}
		if tv, ok := db.TopicVersion(topic); ok != got.Found || tv != version {
			r.failf("TopicVersion(%q) = %d, %v; Lookup said %d, %v", topic, tv, ok, version, got.Found)
		}
		if got.Found {
			r.cacheCheck("lookup "+topic, stripLast(got), version, until, now)
		} else {
			r.cacheCheck("lookup "+topic, stripLast(got), 0, farFuture, now)
		}

		chans, cv := db.Channels(topic)
		if want := m.channels(topic); !slices.Equal(chans, want) {
			r.failf("Channels(%q) = %q, model %q", topic, chans, want)
		}
		if v := db.ChannelsVersion(topic); v != cv {
			r.failf("ChannelsVersion(%q) = %d, Channels said %d", topic, v, cv)
		}
		r.cacheCheck("channels "+topic, chans, cv, farFuture, now)
	}

	tops, tv := db.Topics()
	if want := m.topics(); !slices.Equal(tops, want) {
		r.failf("Topics() = %q, model %q", tops, want)
	}
	if v := db.TopicsVersion(); v != tv {
		r.failf("TopicsVersion() = %d, Topics said %d", v, tv)
	}
	r.cacheCheck("topics", tops, tv, farFuture, now)

	nodes, nv, nuntil := dbNodes(db)
	if want := m.nodes(); !reflect.DeepEqual(nodes, want) {
		r.failf("Nodes() = %+v\nmodel %+v", nodes, want)
	}
	if v := db.Version(); v != nv {
		r.failf("Version() = %d, Nodes said %d", v, nv)
	}
	r.cacheCheck("nodes", stripLast(nodes), nv, nuntil, now)

	for _, id := range modelProducers {
		n, ok := db.ProducerRegistrations(id)
		if p := m.conn(id); ok != (p != nil) || ok && n != m.producerRegs(id) {
			r.failf("ProducerRegistrations(%q) = %d, %v; model %d, %v", id, n, ok, m.producerRegs(id), p != nil)
		}
	}
	if got, want := db.Stats(), m.stats(); got != want {
		r.failf("Stats() = %+v, model %+v", got, want)
	}
	if got, want := dbDebug(db), m.debug(); !reflect.DeepEqual(got, want) {
		r.failf("Debug() = %q\nmodel %q", got, want)
	}
}

var farFuture = time.Unix(1<<62, 0)

// cacheCheck applies the caching rule: an answer remembered with version v
// and ValidUntil u must equal the fresh answer while the version is still v
// and now < u. Once the entry is stale, the fresh answer replaces it.
func (r *modelRun) cacheCheck(key string, answer any, version uint64, validUntil, now time.Time) {
	r.t.Helper()
	if !validUntil.After(now) {
		r.failf("%s: ValidUntil %v is not after now %v", key, validUntil, now)
	}
	c, ok := r.cache[key]
	if ok && c.version == version && now.Before(c.validUntil) {
		if !reflect.DeepEqual(c.answer, answer) {
			r.failf("%s: version %d unchanged since step %d and before ValidUntil %v, but the answer changed:\nthen %+v\nnow  %+v",
				key, version, c.at, c.validUntil, c.answer, answer)
		}
		return
	}
	r.cache[key] = cached{answer: answer, version: version, validUntil: validUntil, at: r.step}
}

func modelSeed(t *testing.T) uint64 {
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("REGISTRY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("REGISTRY_SEED=%q: %v", s, err)
		}
		return v
	}
	return 20250101
}

// TestDB_Model runs random operation sequences against the DB and the
// reference model, comparing every answer after every step and checking
// that (version, ValidUntil) caching never serves a stale answer. Rerun a
// failure with -seed N or REGISTRY_SEED=N.
func TestDB_Model(t *testing.T) {
	seed := modelSeed(t)
	t.Logf("seed %d (override with -seed or REGISTRY_SEED)", seed)
	const (
		sequences = 8
		steps     = 800
	)
	for s := range uint64(sequences) {
		maxRegs := 0
		if s%2 == 1 {
			maxRegs = 4
		}
		t.Run(fmt.Sprintf("seq%d_max%d", s, maxRegs), func(t *testing.T) {
			e := newEnv(maxRegs)
			r := &modelRun{
				t:     t,
				rng:   rand.New(rand.NewPCG(seed, s)),
				e:     e,
				m:     newModel(e.clk.Now(), maxRegs),
				cache: map[string]cached{},
			}
			r.op = "start"
			r.check()
			for r.step = 1; r.step <= steps; r.step++ {
				r.do()
				r.check()
			}
		})
	}
}
