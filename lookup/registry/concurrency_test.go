package registry_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// TestDB_Concurrent runs writers and readers on one DB at once (meant for
// -race), checks every answer a reader sees for internal consistency, then
// checks the database's invariants once everything has stopped.
func TestDB_Concurrent(t *testing.T) {
	const (
		writers            = 8
		producersPerWriter = 3
		writerOps          = 4000
		readers            = 4
		readerOps          = 1000
	)
	topicPool := []string{"a", "b", "c", "e#ephemeral", "f#ephemeral"}
	chanPool := []string{"x", "y", "z#ephemeral"}
	e := newEnv(0)
	db := e.db

	errs := make(chan error, 64)
	report := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default: // enough errors already
		}
	}

	var allProducers []string
	var wg sync.WaitGroup
	for w := range writers {
		ids := make([]string, producersPerWriter)
		for i := range ids {
			ids[i] = fmt.Sprintf("p%d", w*producersPerWriter+i)
		}
		allProducers = append(allProducers, ids...)
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range writerOps {
				id := pick(rng, ids)
				topic := pick(rng, topicPool)
				channel := ""
				if rng.IntN(2) == 0 {
					channel = pick(rng, chanPool)
				}
				switch k := rng.IntN(100); {
				case k < 8:
					db.Identify(id, infoFor(id)) // ErrProducerExists is fine
				case k < 45:
					if _, err := db.Register(id, topic, channel); err != nil && !errors.Is(err, registry.ErrUnknownProducer) {
						report("Register(%s, %s, %s): %v", id, topic, channel, err)
					}
				case k < 60:
					db.Unregister(id, topic, channel)
				case k < 72:
					db.Touch(id)
				case k < 76:
					db.RemoveProducer(id)
				case k < 82:
					db.Tombstone(topic, nodeOf(id))
				case k < 85:
					db.CreateChannel(pick(rng, topicPool[:3]), "x")
				case k < 87:
					db.DeleteTopic(topic)
				case k < 89:
					db.DeleteChannel(topic, pick(rng, chanPool))
				default:
					e.clk.Advance(200 * time.Millisecond)
				}
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			var lastVersion, lastTopics uint64
			lastTopic := map[string]uint64{}
			for i := range readerOps {
				before := e.clk.Now()
				topic := topicPool[(i+r)%len(topicPool)]
				if res, ok := db.Lookup(topic); ok {
					checkAnswer(report, "Lookup "+topic, res.Channels, res.Producers, res.ValidUntil, before)
					if res.Version < lastTopic[topic] {
						report("Lookup(%s) version went back from %d to %d", topic, lastTopic[topic], res.Version)
					}
					lastTopic[topic] = res.Version
				}
				ch, _ := db.Channels(topic)
				if !isSortedUnique(ch) {
					report("Channels(%s) = %q", topic, ch)
				}
				tops, tv := db.Topics()
				if !isSortedUnique(tops) || tv < lastTopics {
					report("Topics() = %q version %d after %d", tops, tv, lastTopics)
				}
				lastTopics = tv
				n := db.Nodes()
				if n.Version < lastVersion {
					report("Nodes version went back from %d to %d", lastVersion, n.Version)
				}
				lastVersion = n.Version
				if !n.ValidUntil.After(before) {
					report("Nodes ValidUntil %v not after %v", n.ValidUntil, before)
				}
				var infos []wire.ProducerInfo
				var ids []string
				for _, nd := range n.Nodes {
					infos, ids = append(infos, nd.ProducerInfo), append(ids, nd.ID)
					if !isSortedUnique(nd.Topics) || len(nd.Tombstones) != len(nd.Topics) {
						report("node %s: topics %q tombstones %v", nd.ID, nd.Topics, nd.Tombstones)
					}
				}
				if err := sortedProducers(infos, ids); err != nil {
					report("Nodes: %v", err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Quiescent invariants. Revive everyone and let tombstones expire, so
	// Lookup and Nodes must show exactly what Debug holds.
	e.clk.Advance(testTombstone)
	for _, id := range allProducers {
		db.Touch(id)
	}
	debug := db.Debug()
	st := db.Stats()
	if got := len(debug[registry.Registration{Category: registry.CategoryClient}]); got != st.Producers {
		t.Errorf("Debug lists %d clients, Stats %d producers", got, st.Producers)
	}
	regs := 0
	topicHolders := map[string][]string{}
	producerTopics := map[string][]string{}
	for k, ps := range debug {
		for _, p := range ps {
			switch k.Category {
			case registry.CategoryTopic:
				regs++
				topicHolders[k.Key] = append(topicHolders[k.Key], p.ID)
				producerTopics[p.ID] = append(producerTopics[p.ID], k.Key)
			case registry.CategoryChannel:
				regs++
				topicKey := registry.Registration{Category: registry.CategoryTopic, Key: k.Key}
				if !slices.ContainsFunc(debug[topicKey], func(q registry.DebugProducer) bool { return q.ID == p.ID }) {
					t.Errorf("%s holds channel %s/%s but not its topic", p.ID, k.Key, k.SubKey)
				}
			}
		}
	}
	if regs != st.Registrations {
		t.Errorf("Debug holds %d registrations, Stats %d", regs, st.Registrations)
	}
	sumProducer := 0
	for _, id := range allProducers {
		if n, ok := db.ProducerRegistrations(id); ok {
			sumProducer += n
		}
	}
	if sumProducer != st.Registrations {
		t.Errorf("ProducerRegistrations sum to %d, Stats %d", sumProducer, st.Registrations)
	}
	tops, _ := db.Topics()
	if len(tops) != st.Topics {
		t.Errorf("Topics() = %q, Stats %d", tops, st.Topics)
	}
	nChan := 0
	for _, topic := range topicPool {
		ch, _ := db.Channels(topic)
		nChan += len(ch)
		res, ok := db.Lookup(topic)
		if ok != slices.Contains(tops, topic) {
			t.Errorf("Lookup(%s) found %v, Topics %q", topic, ok, tops)
		}
		got := producerIDs(res.Producers)
		want := topicHolders[topic]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, nonNil(want)) {
			t.Errorf("Lookup(%s) producers %q, Debug %q", topic, got, want)
		}
	}
	if nChan != st.Channels {
		t.Errorf("Channels over the pool sum to %d, Stats %d", nChan, st.Channels)
	}
	for _, n := range db.Nodes().Nodes {
		want := producerTopics[n.ID]
		slices.Sort(want)
		if !slices.Equal(n.Topics, nonNil(want)) || slices.Contains(n.Tombstones, true) {
			t.Errorf("node %s: topics %q tombstones %v, Debug %q", n.ID, n.Topics, n.Tombstones, want)
		}
	}

	// Disconnect everyone: no registration and no ephemeral topic is left.
	for _, id := range allProducers {
		db.RemoveProducer(id)
	}
	if st := db.Stats(); st.Producers != 0 || st.Registrations != 0 {
		t.Errorf("after removing every producer, Stats = %+v", st)
	}
	tops, _ = db.Topics()
	for _, topic := range tops {
		if strings.HasSuffix(topic, "#ephemeral") {
			t.Errorf("ephemeral topic %s outlived its producers", topic)
		}
	}
	if n := db.Nodes(); len(n.Nodes) != 0 {
		t.Errorf("Nodes after removing every producer: %d", len(n.Nodes))
	}
}

func checkAnswer(report func(string, ...any), what string, channels []string, ps []registry.Producer, validUntil, before time.Time) {
	if !isSortedUnique(channels) {
		report("%s: channels %q", what, channels)
	}
	infos := make([]wire.ProducerInfo, len(ps))
	for i, p := range ps {
		infos[i] = p.ProducerInfo
		if p.ProducerInfo != infoFor(p.ID) {
			report("%s: producer %s has info %+v", what, p.ID, p.ProducerInfo)
		}
	}
	if err := sortedProducers(infos, producerIDs(ps)); err != nil {
		report("%s: %v", what, err)
	}
	if !validUntil.After(before) {
		report("%s: ValidUntil %v not after %v", what, validUntil, before)
	}
}

func sortedProducers(infos []wire.ProducerInfo, ids []string) error {
	for i := 1; i < len(infos); i++ {
		if compareInfo(infos[i-1], infos[i]) > 0 {
			return fmt.Errorf("not sorted at %d: %+v before %+v", i, infos[i-1], infos[i])
		}
	}
	if !isSortedUnique(slices.Sorted(slices.Values(ids))) {
		return fmt.Errorf("duplicate ids in %q", ids)
	}
	return nil
}
