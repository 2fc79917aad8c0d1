package registry

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lookupd/lookupd/lookup/wire"
)

const ephemeralSuffix = "#ephemeral"

// Errors returned by DB methods; callers branch on them with errors.Is.
var (
	// ErrUnknownProducer: the connection id was never identified or was
	// removed.
	ErrUnknownProducer = errors.New("unknown producer")
	// ErrProducerExists: Identify was called twice for one id.
	ErrProducerExists = errors.New("producer already identified")
	// ErrTooManyRegistrations: the producer reached
	// Options.MaxRegistrationsPerProducer.
	ErrTooManyRegistrations = errors.New("too many registrations for one producer")
	// ErrTooManyTopics: CreateTopic or CreateChannel would add a topic
	// past Options.MaxTopics.
	ErrTooManyTopics = errors.New("too many topics")
	// ErrTooManyChannels: CreateChannel would add a channel past
	// Options.MaxChannelsPerTopic.
	ErrTooManyChannels = errors.New("too many channels in the topic")
)

// Options configure a DB. The zero value of a field means its default.
type Options struct {
	// InactiveTimeout hides a producer whose last heartbeat (IDENTIFY or
	// PING) is older than this. Default 300 s.
	InactiveTimeout time.Duration
	// TombstoneLifetime hides a tombstoned topic producer from Lookup for
	// this long. Default 45 s.
	TombstoneLifetime time.Duration
	// MaxRegistrationsPerProducer caps the topic and channel registrations one
	// producer may hold; 0 means no cap.
	MaxRegistrationsPerProducer int
	// MaxTopics caps the topic registrations that CreateTopic and
	// CreateChannel may add to: past it they refuse a new topic with
	// ErrTooManyTopics. Register (a producer) is never refused by it. 0
	// means no cap.
	MaxTopics int
	// MaxChannelsPerTopic caps the channels of a topic that CreateChannel
	// may add to, as MaxTopics does (ErrTooManyChannels). 0 means no cap.
	MaxChannelsPerTopic int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnChange, if set, is called after every mutation that changed the
	// database, once the lock is released, from the goroutine that made
	// the mutation. It must not block for long; it may call back into the
	// DB. Concurrent mutations may report in either order, so it should
	// read the current state rather than trust the order of calls.
	OnChange func(Change)
}

// Change tells OnChange which answers a mutation may have changed. Every
// change may change Nodes.
type Change struct {
	// Topics whose Lookup or Channels answer may have changed. The slice
	// belongs to the callee.
	Topics []string
	// TopicList reports that the set of topic registrations (Topics) may
	// have changed.
	TopicList bool
}

// nodeOf returns "broadcast_address:http_port", the node name
// /topic/tombstone matches.
func nodeOf(info wire.ProducerInfo) string {
	return info.BroadcastAddress + ":" + strconv.Itoa(info.HTTPPort)
}

// DB is the registration database. Create it with New.
type DB struct {
	opts       Options
	inactiveNs int64
	tombNs     int64

	mu            sync.RWMutex
	producers     map[string]*producer
	topics        map[string]*topicEntry
	nTopicRegs    int           // topic registrations (topicEntry.registered)
	seq           uint64        // source of versions
	version       atomic.Uint64 // bumped by every change (under mu); read without it
	topicsVersion uint64        // bumped when the set of topic registrations changes
	pending       Change        // what the mutation under way changed, for OnChange
	changed       bool
}

type producer struct {
	id         string
	info       wire.ProducerInfo
	lastUpdate atomic.Int64 // unix nanoseconds of the last IDENTIFY or PING
	topics     map[string]*membership
	nRegs      int
}

// membership is one producer's registration under one topic: the topic
// registration itself (with its tombstone) and the channels of that topic
// the producer is registered under. It is shared by the producer's index and the
// topic's producer map.
type membership struct {
	inTopic bool // the producer is a producer of the topic registration
	tomb    bool
	tombAt  int64
	chans   chanSet
}

type topicEntry struct {
	name       string
	registered bool // the topic registration exists
	producers  map[*producer]*membership
	channels   map[string]*channelReg
	version    uint64
}

type channelReg struct {
	name      string
	producers map[*producer]struct{}
}

// New returns an empty DB.
func New(opts Options) *DB {
	if opts.InactiveTimeout <= 0 {
		opts.InactiveTimeout = 300 * time.Second
	}
	if opts.TombstoneLifetime <= 0 {
		opts.TombstoneLifetime = 45 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &DB{
		opts:       opts,
		inactiveNs: int64(opts.InactiveTimeout),
		tombNs:     int64(opts.TombstoneLifetime),
		producers:  make(map[string]*producer),
		topics:     make(map[string]*topicEntry),
	}
}

func (db *DB) now() int64 { return db.opts.Now().UnixNano() }

// lock takes the write lock for a mutation.
func (db *DB) lock() { db.mu.Lock() }

// unlock releases the write lock and then reports what the mutation
// changed to OnChange.
func (db *DB) unlock() {
	c, changed := db.pending, db.changed
	db.pending, db.changed = Change{}, false
	db.mu.Unlock()
	if changed && db.opts.OnChange != nil {
		db.opts.OnChange(c)
	}
}

// bump marks a change; the caller holds the write lock.
func (db *DB) bump() uint64 {
	db.seq++
	db.version.Store(db.seq)
	db.changed = true
	return db.seq
}

func (db *DB) bumpTopic(t *topicEntry) {
	t.version = db.bump()
	if db.opts.OnChange != nil {
		db.pending.Topics = append(db.pending.Topics, t.name)
	}
}

func (db *DB) bumpTopics() {
	db.topicsVersion = db.bump()
	db.pending.TopicList = true
}

func isEphemeral(name string) bool { return strings.HasSuffix(name, ephemeralSuffix) }

// Identify adds a producer under id (the connection's identity, unique among
// live connections) with the heartbeat time set to now.
func (db *DB) Identify(id string, info wire.ProducerInfo) error {
	db.lock()
	defer db.unlock()
	if _, ok := db.producers[id]; ok {
		return ErrProducerExists
	}
	p := &producer{id: id, info: info, topics: make(map[string]*membership)}
	p.lastUpdate.Store(db.now())
	db.producers[id] = p
	db.bump()
	return nil
}

// Touch records a heartbeat from the producer. A producer that had gone inactive
// becomes visible again. It reports whether the producer is known.
func (db *DB) Touch(id string) bool {
	now := db.now()
	db.mu.RLock()
	p, ok := db.producers[id]
	if !ok {
		db.mu.RUnlock()
		return false
	}
	// Only move the heartbeat forward, even if two Touches race.
	prev := p.lastUpdate.Load()
	for prev < now && !p.lastUpdate.CompareAndSwap(prev, now) {
		prev = p.lastUpdate.Load()
	}
	db.mu.RUnlock()
	// A query that read prev did so with a clock reading taken before this
	// one; if the producer looked inactive to it, it looks inactive here too,
	// and the answers that left it out are marked stale.
	if db.now()-prev > db.inactiveNs {
		db.lock()
		if db.producers[id] == p {
			for name := range p.topics {
				db.bumpTopic(db.topics[name])
			}
			db.bump()
		}
		db.unlock()
	}
	return true
}

func (db *DB) topicFor(name string) *topicEntry {
	t, ok := db.topics[name]
	if !ok {
		// Keep a copy: a caller's name may be part of a larger string (a
		// whole command line) that would otherwise stay alive with it.
		name = strings.Clone(name)
		t = &topicEntry{name: name, producers: make(map[*producer]*membership), channels: make(map[string]*channelReg)}
		db.topics[name] = t
	}
	return t
}

// dropIfEmpty forgets a topic entry that holds no registration at all.
func (db *DB) dropIfEmpty(t *topicEntry) {
	if !t.registered && len(t.channels) == 0 {
		delete(db.topics, t.name)
	}
}

func (db *DB) registerTopic(t *topicEntry) {
	if !t.registered {
		t.registered = true
		db.nTopicRegs++
		db.bumpTopics()
	}
}

func (t *topicEntry) channel(name string) *channelReg {
	c, ok := t.channels[name]
	if !ok {
		name = strings.Clone(name) // as in DB.topicFor
		c = &channelReg{name: name, producers: make(map[*producer]struct{})}
		t.channels[name] = c
	}
	return c
}

// Register adds the producer as a producer of topic and, if channel is not
// empty, of that channel too (registering a channel registers its topic).
// It reports whether anything new was added. Names are not validated here.
func (db *DB) Register(id, topic, channel string) (bool, error) {
	db.lock()
	defer db.unlock()
	p, ok := db.producers[id]
	if !ok {
		return false, ErrUnknownProducer
	}
	m := p.topics[topic]
	need := 0
	if m == nil || !m.inTopic {
		need++
	}
	if channel != "" && (m == nil || !m.chans.has(channel)) {
		need++
	}
	if need == 0 {
		return false, nil
	}
	if limit := db.opts.MaxRegistrationsPerProducer; limit > 0 && p.nRegs+need > limit {
		return false, ErrTooManyRegistrations
	}
	t := db.topicFor(topic)
	if m == nil {
		m = &membership{}
		p.topics[t.name] = m
	}
	if channel != "" && !m.chans.has(channel) {
		c := t.channel(channel)
		c.producers[p] = struct{}{}
		m.chans.add(c.name)
		p.nRegs++
	}
	if !m.inTopic {
		m.inTopic = true
		t.producers[p] = m
		p.nRegs++
	}
	db.registerTopic(t)
	db.bumpTopic(t)
	return true, nil
}

// Unregister removes the producer from channel of topic, or, with an empty
// channel, from topic and every channel of it. A topic or channel whose name
// ends in "#ephemeral" is removed when it is left without producers (as in
// nsqlookupd, also when the producer was not one of them); others stay listed.
// Unregistering a topic does not remove its channels. It reports whether
// the producer was removed from anything.
func (db *DB) Unregister(id, topic, channel string) (bool, error) {
	db.lock()
	defer db.unlock()
	p, ok := db.producers[id]
	if !ok {
		return false, ErrUnknownProducer
	}
	t := db.topics[topic]
	if t == nil {
		return false, nil
	}
	m := p.topics[topic]
	removed, dropped := false, false
	if channel != "" {
		if m != nil && m.chans.has(channel) {
			db.leaveChannel(p, m, t, channel, true)
			removed = true
		} else if c := t.channels[channel]; c != nil && len(c.producers) == 0 && isEphemeral(channel) {
			// As in nsqlookupd, an ephemeral channel without producers goes
			// away on UNREGISTER even from a producer that did not hold it.
			delete(t.channels, channel)
			dropped = true
		}
	} else {
		if m != nil {
			for _, ch := range m.chans.list() {
				db.leaveChannel(p, m, t, ch, false)
				removed = true
			}
			if m.inTopic {
				m.inTopic = false
				m.tomb = false
				delete(t.producers, p)
				p.nRegs--
				removed = true
			}
		}
		// Likewise for an ephemeral topic, whoever sent the UNREGISTER.
		if t.registered && len(t.producers) == 0 && isEphemeral(topic) {
			db.unregisterTopic(t)
			dropped = true
		}
	}
	if m != nil && !m.inTopic && m.chans.len() == 0 {
		delete(p.topics, topic)
	}
	if removed || dropped {
		db.bumpTopic(t)
	}
	db.dropIfEmpty(t)
	return removed, nil
}

// leaveChannel removes p from one channel; with dropEphemeral, an
// ephemeral channel left without producers is removed.
func (db *DB) leaveChannel(p *producer, m *membership, t *topicEntry, ch string, dropEphemeral bool) {
	m.chans.remove(ch)
	p.nRegs--
	c := t.channels[ch]
	if c == nil {
		return
	}
	delete(c.producers, p)
	if dropEphemeral && len(c.producers) == 0 && isEphemeral(ch) {
		delete(t.channels, ch)
	}
}

// unregisterTopic removes the topic registration (not its channels).
func (db *DB) unregisterTopic(t *topicEntry) {
	if !t.registered {
		return
	}
	for p, m := range t.producers {
		m.inTopic = false
		m.tomb = false
		p.nRegs--
		if m.chans.len() == 0 {
			delete(p.topics, t.name)
		}
	}
	clear(t.producers)
	t.registered = false
	db.nTopicRegs--
	db.bumpTopics()
}

// RemoveProducer forgets the producer and all its registrations, as when its
// connection ends. Ephemeral topics and channels left without producers
// are removed, together with the empty channels of such a topic. It
// reports whether the producer was known.
func (db *DB) RemoveProducer(id string) bool {
	db.lock()
	defer db.unlock()
	p, ok := db.producers[id]
	if !ok {
		return false
	}
	delete(db.producers, id)
	for name, m := range p.topics {
		t := db.topics[name]
		for _, ch := range m.chans.list() {
			db.leaveChannel(p, m, t, ch, true)
		}
		if m.inTopic {
			delete(t.producers, p)
			if len(t.producers) == 0 && isEphemeral(name) {
				db.unregisterTopic(t)
				for chName, c := range t.channels {
					if len(c.producers) == 0 {
						delete(t.channels, chName)
					}
				}
			}
		}
		db.bumpTopic(t)
		db.dropIfEmpty(t)
	}
	p.topics = nil
	p.nRegs = 0
	db.bump()
	return true
}

// CreateTopic adds a topic registration with no producers and reports
// whether it was new. It returns ErrTooManyTopics, and changes nothing, if
// the topic is new and Options.MaxTopics are registered already.
func (db *DB) CreateTopic(topic string) (bool, error) {
	db.lock()
	defer db.unlock()
	if err := db.roomForTopic(topic); err != nil {
		return false, err
	}
	t := db.topicFor(topic)
	if t.registered {
		return false, nil
	}
	db.registerTopic(t)
	db.bumpTopic(t)
	return true, nil
}

// CreateChannel adds a channel registration and its topic registration,
// with no producers, and reports whether either was new. It returns
// ErrTooManyTopics or ErrTooManyChannels, and changes nothing, if either
// would pass its cap (Options).
func (db *DB) CreateChannel(topic, channel string) (bool, error) {
	db.lock()
	defer db.unlock()
	if err := db.roomForTopic(topic); err != nil {
		return false, err
	}
	old := db.topics[topic]
	if old != nil && old.registered && old.channels[channel] != nil {
		return false, nil
	}
	if db.opts.MaxChannelsPerTopic > 0 && old != nil && old.channels[channel] == nil &&
		len(old.channels) >= db.opts.MaxChannelsPerTopic {
		return false, ErrTooManyChannels
	}
	t := db.topicFor(topic)
	t.channel(channel)
	db.registerTopic(t)
	db.bumpTopic(t)
	return true, nil
}

// roomForTopic returns ErrTooManyTopics if registering topic would pass
// Options.MaxTopics.
func (db *DB) roomForTopic(topic string) error {
	if db.opts.MaxTopics <= 0 {
		return nil
	}
	if t := db.topics[topic]; t != nil && t.registered {
		return nil
	}
	if db.nTopicRegs >= db.opts.MaxTopics {
		return ErrTooManyTopics
	}
	return nil
}

// DeleteTopic removes the topic registration and all its channels,
// whatever producers they have. It reports whether anything existed.
func (db *DB) DeleteTopic(topic string) bool {
	db.lock()
	defer db.unlock()
	t := db.topics[topic]
	if t == nil {
		return false
	}
	for _, c := range t.channels {
		for p := range c.producers {
			m := p.topics[topic]
			m.chans.remove(c.name)
			p.nRegs--
			if !m.inTopic && m.chans.len() == 0 {
				delete(p.topics, topic)
			}
		}
	}
	clear(t.channels)
	db.unregisterTopic(t)
	db.bumpTopic(t)
	db.dropIfEmpty(t)
	return true
}

// DeleteChannel removes one channel registration whatever its producers.
// It reports false if the channel did not exist.
func (db *DB) DeleteChannel(topic, channel string) bool {
	db.lock()
	defer db.unlock()
	t := db.topics[topic]
	if t == nil {
		return false
	}
	c := t.channels[channel]
	if c == nil {
		return false
	}
	for p := range c.producers {
		m := p.topics[topic]
		m.chans.remove(channel)
		p.nRegs--
		if !m.inTopic && m.chans.len() == 0 {
			delete(p.topics, topic)
		}
	}
	delete(t.channels, channel)
	db.bumpTopic(t)
	db.dropIfEmpty(t)
	return true
}

// Tombstone marks every producer of topic whose node name
// ("broadcast_address:http_port") equals node as tombstoned from now on, hiding it from Lookup for the tombstone
// lifetime. It returns how many producers it marked.
func (db *DB) Tombstone(topic, node string) int {
	db.lock()
	defer db.unlock()
	t := db.topics[topic]
	if t == nil {
		return 0
	}
	now := db.now()
	n := 0
	for p, m := range t.producers {
		if nodeOf(p.info) == node {
			m.tomb = true
			m.tombAt = now
			n++
		}
	}
	if n > 0 {
		db.bumpTopic(t)
	}
	return n
}

func (db *DB) tombstoned(m *membership, now int64) bool {
	return m.tomb && now-m.tombAt < db.tombNs
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func compareInfo(a, b wire.ProducerInfo) int {
	return cmp.Or(
		cmp.Compare(a.BroadcastAddress, b.BroadcastAddress),
		cmp.Compare(a.TCPPort, b.TCPPort),
		cmp.Compare(a.HTTPPort, b.HTTPPort),
		cmp.Compare(a.RemoteAddress, b.RemoteAddress),
	)
}
