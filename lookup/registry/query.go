package registry

import (
	"math"
	"slices"
	"time"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Producer is a copy of one producer's state as a query saw it.
type Producer struct {
	ID string
	wire.ProducerInfo
	// LastUpdate is the time of the last IDENTIFY or PING. It is not
	// covered by versions: a PING from an active producer moves it without
	// changing any version, so an answer cached by (version, ValidUntil)
	// must leave it out, as nsqlookupd's /lookup and /nodes do.
	LastUpdate time.Time
}

// LookupResult answers /lookup. Slices are fresh copies owned by the
// caller.
type LookupResult struct {
	// Channels of the topic, sorted.
	Channels []string
	// Producers of the topic that are active and not tombstoned, sorted by
	// broadcast address, TCP port, HTTP port and remote address.
	Producers []Producer
	// Version identifies the state the answer was computed from; see
	// TopicVersion.
	Version uint64
	// ValidUntil is the first instant at which the same state may give a
	// different answer (a producer going inactive or a tombstone expiring).
	ValidUntil time.Time
}

// Lookup returns the channels and live producers of topic, and false if
// the topic registration does not exist. Cost is proportional to the
// topic's producers and channels.
func (db *DB) Lookup(topic string) (LookupResult, bool) {
	now := db.now()
	db.mu.RLock()
	defer db.mu.RUnlock()
	t := db.topics[topic]
	if t == nil || !t.registered {
		return LookupResult{}, false
	}
	res := LookupResult{
		Channels:  sortedKeys(t.channels),
		Producers: make([]Producer, 0, len(t.producers)),
		Version:   t.version,
	}
	valid := int64(math.MaxInt64)
	for p, m := range t.producers {
		last := p.lastUpdate.Load()
		if now-last > db.inactiveNs {
			continue // comes back only through Touch, which bumps the version
		}
		if db.tombstoned(m, now) {
			valid = min(valid, m.tombAt+db.tombNs)
			continue
		}
		valid = min(valid, last+db.inactiveNs+1)
		res.Producers = append(res.Producers, Producer{ID: p.id, ProducerInfo: p.info, LastUpdate: time.Unix(0, last)})
	}
	slices.SortFunc(res.Producers, func(a, b Producer) int { return compareInfo(a.ProducerInfo, b.ProducerInfo) })
	res.ValidUntil = time.Unix(0, valid)
	return res, true
}

// TopicVersion returns the version of topic's state, which changes
// whenever its producers, channels or tombstones change or one of its
// producers comes back from inactivity, and false if the topic
// registration does not exist. With Lookup's ValidUntil it lets a caller
// reuse an answer without recomputing it. It costs one map lookup.
func (db *DB) TopicVersion(topic string) (uint64, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t := db.topics[topic]
	if t == nil || !t.registered {
		return 0, false
	}
	return t.version, true
}

// Channels returns the sorted channel names registered under topic
// (whether or not the topic registration exists) and the topic's version
// (0 when nothing is registered under that name).
func (db *DB) Channels(topic string) ([]string, uint64) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	t := db.topics[topic]
	if t == nil {
		return []string{}, 0
	}
	return sortedKeys(t.channels), t.version
}

// ChannelsVersion returns the version Channels would report for topic.
func (db *DB) ChannelsVersion(topic string) uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if t := db.topics[topic]; t != nil {
		return t.version
	}
	return 0
}

// Topics returns the sorted names of all topic registrations and the
// version of that set.
func (db *DB) Topics() ([]string, uint64) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make([]string, 0, db.nTopicRegs)
	for name, t := range db.topics {
		if t.registered {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, db.topicsVersion
}

// TopicsVersion returns the version Topics would report.
func (db *DB) TopicsVersion() uint64 {
	db.mu.RLock()
	defer db.mu.RUnlock()
	return db.topicsVersion
}

// Version returns the database's version, which changes with every
// mutation. It takes no lock (one atomic load), so a caller can check
// cheaply whether anything at all has changed.
func (db *DB) Version() uint64 {
	return db.version.Load()
}

// Node is one identified, active producer with its topics, as /nodes lists
// it.
type Node struct {
	Producer
	// Topics the producer is registered under, sorted.
	Topics []string
	// Tombstones[i] says whether the producer is tombstoned for Topics[i].
	Tombstones []bool
}

// NodesResult answers /nodes.
type NodesResult struct {
	// Nodes sorted like LookupResult.Producers.
	Nodes []Node
	// Version and ValidUntil as in LookupResult, for the whole database.
	Version    uint64
	ValidUntil time.Time
}

// Nodes returns every active identified producer with its topics and
// tombstone flags. Tombstoned producers are listed. Cost is proportional to
// the number of producers plus their topic registrations.
func (db *DB) Nodes() NodesResult {
	now := db.now()
	db.mu.RLock()
	defer db.mu.RUnlock()
	res := NodesResult{Nodes: make([]Node, 0, len(db.producers)), Version: db.version.Load()}
	valid := int64(math.MaxInt64)
	for _, p := range db.producers {
		last := p.lastUpdate.Load()
		if now-last > db.inactiveNs {
			continue
		}
		valid = min(valid, last+db.inactiveNs+1)
		n := Node{
			Producer: Producer{ID: p.id, ProducerInfo: p.info, LastUpdate: time.Unix(0, last)},
			Topics:   make([]string, 0, len(p.topics)),
		}
		for name, m := range p.topics {
			if m.inTopic {
				n.Topics = append(n.Topics, name)
			}
		}
		slices.Sort(n.Topics)
		n.Tombstones = make([]bool, len(n.Topics))
		for i, name := range n.Topics {
			m := p.topics[name]
			if db.tombstoned(m, now) {
				n.Tombstones[i] = true
				valid = min(valid, m.tombAt+db.tombNs)
			}
		}
		res.Nodes = append(res.Nodes, n)
	}
	slices.SortFunc(res.Nodes, func(a, b Node) int { return compareInfo(a.ProducerInfo, b.ProducerInfo) })
	res.ValidUntil = time.Unix(0, valid)
	return res
}

// DebugProducer is one producer of one registration in Debug's dump.
type DebugProducer struct {
	Producer
	Tombstoned   bool
	TombstonedAt time.Time
}

// Registration names one registration: Category is "client", "topic" or
// "channel".
type Registration struct {
	Category string
	Key      string
	SubKey   string
}

// Category names as nsqlookupd spells them.
const (
	CategoryClient  = "client"
	CategoryTopic   = "topic"
	CategoryChannel = "channel"
)

// Debug dumps every registration that has producers, including the
// "client" registration of all identified producers, with each producer's
// state. It scans the whole database: for debugging only.
func (db *DB) Debug() map[Registration][]DebugProducer {
	db.mu.RLock()
	defer db.mu.RUnlock()
	out := make(map[Registration][]DebugProducer)
	prod := func(p *producer) Producer {
		return Producer{ID: p.id, ProducerInfo: p.info, LastUpdate: time.Unix(0, p.lastUpdate.Load())}
	}
	for _, p := range db.producers {
		k := Registration{Category: CategoryClient}
		out[k] = append(out[k], DebugProducer{Producer: prod(p)})
	}
	for name, t := range db.topics {
		for p, m := range t.producers {
			k := Registration{Category: CategoryTopic, Key: name}
			dp := DebugProducer{Producer: prod(p), Tombstoned: m.tomb}
			if m.tomb {
				dp.TombstonedAt = time.Unix(0, m.tombAt)
			}
			out[k] = append(out[k], dp)
		}
		for chName, c := range t.channels {
			for p := range c.producers {
				k := Registration{Category: CategoryChannel, Key: name, SubKey: chName}
				out[k] = append(out[k], DebugProducer{Producer: prod(p)})
			}
		}
	}
	return out
}

// Stats counts what the database holds.
type Stats struct {
	Producers     int
	Topics        int // topic registrations
	Channels      int // channel registrations
	Registrations int // producer memberships of topics and channels
}

// Stats returns counts. It walks topics, not producers: use it for
// metrics, not on a hot path.
func (db *DB) Stats() Stats {
	db.mu.RLock()
	defer db.mu.RUnlock()
	s := Stats{Producers: len(db.producers), Topics: db.nTopicRegs}
	for _, t := range db.topics {
		s.Channels += len(t.channels)
	}
	for _, p := range db.producers {
		s.Registrations += p.nRegs
	}
	return s
}

// ProducerRegistrations returns the number of topic and channel registrations
// the producer holds, and false if the producer is unknown.
func (db *DB) ProducerRegistrations(id string) (int, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	p, ok := db.producers[id]
	if !ok {
		return 0, false
	}
	return p.nRegs, true
}
