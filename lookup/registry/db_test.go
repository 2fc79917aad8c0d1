package registry_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// A step is one action or expectation in a scenario.
type step struct {
	desc string
	run  func(t *testing.T, e *env)
}

type scenario struct {
	name    string
	maxRegs int
	steps   []step
}

func runScenarios(t *testing.T, scenarios []scenario) {
	t.Helper()
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(sc.maxRegs)
			for i, s := range sc.steps {
				s.run(t, e)
				if t.Failed() {
					t.Fatalf("failed at step %d: %s", i, s.desc)
				}
			}
		})
	}
}

// Actions.

func identify(ids ...string) step {
	return step{desc: fmt.Sprintf("identify %v", ids), run: func(t *testing.T, e *env) {
		for _, id := range ids {
			if err := e.db.Identify(id, infoFor(id)); err != nil {
				t.Errorf("Identify(%q): %v", id, err)
			}
		}
	}}
}

func identifyAs(id string, info wire.ProducerInfo) step {
	return step{desc: "identify " + id, run: func(t *testing.T, e *env) {
		if err := e.db.Identify(id, info); err != nil {
			t.Errorf("Identify(%q): %v", id, err)
		}
	}}
}

func identifyErr(id string, want error) step {
	return step{desc: "identify " + id + " fails", run: func(t *testing.T, e *env) {
		if err := e.db.Identify(id, infoFor(id)); !errors.Is(err, want) {
			t.Errorf("Identify(%q) = %v, want %v", id, err, want)
		}
	}}
}

func regWant(id, topic, channel string, wantAdded bool, wantErr error) step {
	return step{desc: fmt.Sprintf("register %s %s %q", id, topic, channel), run: func(t *testing.T, e *env) {
		added, err := e.db.Register(id, topic, channel)
		if !errors.Is(err, wantErr) || added != wantAdded {
			t.Errorf("Register(%q, %q, %q) = %v, %v; want %v, %v", id, topic, channel, added, err, wantAdded, wantErr)
		}
	}}
}

func reg(id, topic, channel string) step     { return regWant(id, topic, channel, true, nil) }
func regNoop(id, topic, channel string) step { return regWant(id, topic, channel, false, nil) }
func regErr(id, topic, channel string, err error) step {
	return regWant(id, topic, channel, false, err)
}

func unregWant(id, topic, channel string, wantRemoved bool, wantErr error) step {
	return step{desc: fmt.Sprintf("unregister %s %s %q", id, topic, channel), run: func(t *testing.T, e *env) {
		removed, err := e.db.Unregister(id, topic, channel)
		if !errors.Is(err, wantErr) || removed != wantRemoved {
			t.Errorf("Unregister(%q, %q, %q) = %v, %v; want %v, %v", id, topic, channel, removed, err, wantRemoved, wantErr)
		}
	}}
}

func unreg(id, topic, channel string, wantRemoved bool) step {
	return unregWant(id, topic, channel, wantRemoved, nil)
}

func touch(id string, want bool) step {
	return step{desc: "touch " + id, run: func(t *testing.T, e *env) {
		if got := e.db.Touch(id); got != want {
			t.Errorf("Touch(%q) = %v, want %v", id, got, want)
		}
	}}
}

func removeProducer(id string, want bool) step {
	return step{desc: "remove producer " + id, run: func(t *testing.T, e *env) {
		if got := e.db.RemoveProducer(id); got != want {
			t.Errorf("RemoveProducer(%q) = %v, want %v", id, got, want)
		}
	}}
}

func createTopic(topic string) step {
	return step{desc: "create topic " + topic, run: func(t *testing.T, e *env) { e.db.CreateTopic(topic) }}
}

func createChannel(topic, channel string) step {
	return step{desc: "create channel " + topic + "/" + channel, run: func(t *testing.T, e *env) {
		e.db.CreateChannel(topic, channel)
	}}
}

func deleteTopic(topic string, want bool) step {
	return step{desc: "delete topic " + topic, run: func(t *testing.T, e *env) {
		if got := e.db.DeleteTopic(topic); got != want {
			t.Errorf("DeleteTopic(%q) = %v, want %v", topic, got, want)
		}
	}}
}

func deleteChannel(topic, channel string, want bool) step {
	return step{desc: "delete channel " + topic + "/" + channel, run: func(t *testing.T, e *env) {
		if got := e.db.DeleteChannel(topic, channel); got != want {
			t.Errorf("DeleteChannel(%q, %q) = %v, want %v", topic, channel, got, want)
		}
	}}
}

func tombstone(topic, node string, want int) step {
	return step{desc: "tombstone " + topic + " " + node, run: func(t *testing.T, e *env) {
		if got := e.db.Tombstone(topic, node); got != want {
			t.Errorf("Tombstone(%q, %q) = %d, want %d", topic, node, got, want)
		}
	}}
}

func advance(d time.Duration) step {
	return step{desc: "advance " + d.String(), run: func(t *testing.T, e *env) { e.clk.Advance(d) }}
}

// Expectations.

// lookup expects topic to exist with these channels and visible producers.
func lookup(topic string, channels []string, producers ...string) step {
	return step{desc: "expect lookup " + topic, run: func(t *testing.T, e *env) {
		res, ok := e.db.Lookup(topic)
		if !ok {
			t.Errorf("Lookup(%q): topic not found", topic)
			return
		}
		if !slices.Equal(res.Channels, nonNil(channels)) {
			t.Errorf("Lookup(%q) channels = %q, want %q", topic, res.Channels, channels)
		}
		if got := producerIDs(res.Producers); !slices.Equal(got, nonNil(producers)) {
			t.Errorf("Lookup(%q) producers = %q, want %q", topic, got, producers)
		}
		for _, p := range res.Producers {
			if p.ProducerInfo != infoFor(p.ID) && strings.HasPrefix(p.ID, "p") {
				t.Errorf("Lookup(%q) producer %q info = %+v", topic, p.ID, p.ProducerInfo)
			}
		}
		if v, ok := e.db.TopicVersion(topic); !ok || v != res.Version {
			t.Errorf("TopicVersion(%q) = %d, %v; Lookup said %d", topic, v, ok, res.Version)
		}
	}}
}

func lookupMissing(topic string) step {
	return step{desc: "expect no topic " + topic, run: func(t *testing.T, e *env) {
		if res, ok := e.db.Lookup(topic); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", topic, res)
		}
		if v, ok := e.db.TopicVersion(topic); ok {
			t.Errorf("TopicVersion(%q) = %d, true; want not found", topic, v)
		}
	}}
}

func topics(want ...string) step {
	return step{desc: fmt.Sprintf("expect topics %q", want), run: func(t *testing.T, e *env) {
		got, v := e.db.Topics()
		if !slices.Equal(got, nonNil(want)) {
			t.Errorf("Topics() = %q, want %q", got, want)
		}
		if tv := e.db.TopicsVersion(); tv != v {
			t.Errorf("TopicsVersion() = %d, Topics said %d", tv, v)
		}
	}}
}

func channels(topic string, want ...string) step {
	return step{desc: fmt.Sprintf("expect channels %s %q", topic, want), run: func(t *testing.T, e *env) {
		got, v := e.db.Channels(topic)
		if !slices.Equal(got, nonNil(want)) {
			t.Errorf("Channels(%q) = %q, want %q", topic, got, want)
		}
		if cv := e.db.ChannelsVersion(topic); cv != v {
			t.Errorf("ChannelsVersion(%q) = %d, Channels said %d", topic, cv, v)
		}
	}}
}

type nodeWant struct {
	id     string
	topics []string
	tombs  []bool
}

func node(id string, topics ...string) nodeWant {
	return nodeWant{id: id, topics: topics, tombs: make([]bool, len(topics))}
}

func (n nodeWant) tomb(i int) nodeWant {
	n.tombs = slices.Clone(n.tombs)
	n.tombs[i] = true
	return n
}

func nodes(want ...nodeWant) step {
	return step{desc: "expect nodes", run: func(t *testing.T, e *env) {
		res := e.db.Nodes()
		if len(res.Nodes) != len(want) {
			var ids []string
			for _, n := range res.Nodes {
				ids = append(ids, n.ID)
			}
			t.Errorf("Nodes() lists %q, want %d nodes", ids, len(want))
			return
		}
		for i, w := range want {
			n := res.Nodes[i]
			if n.ID != w.id || !slices.Equal(n.Topics, nonNil(w.topics)) || !slices.Equal(n.Tombstones, nonNil(w.tombs)) {
				t.Errorf("Nodes()[%d] = %s %q %v, want %s %q %v", i, n.ID, n.Topics, n.Tombstones, w.id, w.topics, w.tombs)
			}
		}
		if v := e.db.Version(); v != res.Version {
			t.Errorf("Version() = %d, Nodes said %d", v, res.Version)
		}
	}}
}

func regs(id string, want int) step {
	return step{desc: fmt.Sprintf("expect %s holds %d registrations", id, want), run: func(t *testing.T, e *env) {
		if got, ok := e.db.ProducerRegistrations(id); !ok || got != want {
			t.Errorf("ProducerRegistrations(%q) = %d, %v; want %d, true", id, got, ok, want)
		}
	}}
}

func regsUnknown(id string) step {
	return step{desc: "expect unknown producer " + id, run: func(t *testing.T, e *env) {
		if got, ok := e.db.ProducerRegistrations(id); ok {
			t.Errorf("ProducerRegistrations(%q) = %d, true; want unknown", id, got)
		}
	}}
}

func stats(want registry.Stats) step {
	return step{desc: fmt.Sprintf("expect stats %+v", want), run: func(t *testing.T, e *env) {
		if got := e.db.Stats(); got != want {
			t.Errorf("Stats() = %+v, want %+v", got, want)
		}
	}}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func none() []string { return nil }

func TestDB_Identify(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "new producer is a node without topics", steps: []step{
			identify("p1"), nodes(node("p1")), regs("p1", 0), stats(registry.Stats{Producers: 1}),
		}},
		{name: "twice is an error", steps: []step{
			identify("p1"), identifyErr("p1", registry.ErrProducerExists), nodes(node("p1")),
		}},
		{name: "again after removal", steps: []step{
			identify("p1"), removeProducer("p1", true), identify("p1"), nodes(node("p1")),
		}},
	})
}

func TestDB_Register(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "topic", steps: []step{
			identify("p1"), reg("p1", "t", ""),
			lookup("t", none(), "p1"), topics("t"), channels("t"), nodes(node("p1", "t")), regs("p1", 1),
		}},
		{name: "channel registers its topic", steps: []step{
			identify("p1"), reg("p1", "t", "c"),
			lookup("t", []string{"c"}, "p1"), topics("t"), channels("t", "c"), nodes(node("p1", "t")), regs("p1", 2),
		}},
		{name: "repeat is a no-op", steps: []step{
			identify("p1"), reg("p1", "t", "c"), regNoop("p1", "t", "c"), regNoop("p1", "t", ""), regs("p1", 2),
		}},
		{name: "second channel", steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "t", "d"),
			lookup("t", []string{"c", "d"}, "p1"), regs("p1", 3),
		}},
		{name: "channel after topic", steps: []step{
			identify("p1"), reg("p1", "t", ""), reg("p1", "t", "c"), lookup("t", []string{"c"}, "p1"), regs("p1", 2),
		}},
		{name: "unknown producer", steps: []step{
			regErr("p9", "t", "", registry.ErrUnknownProducer), lookupMissing("t"), topics(), channels("t"),
		}},
		{name: "removed producer", steps: []step{
			identify("p1"), removeProducer("p1", true), regErr("p1", "t", "c", registry.ErrUnknownProducer), lookupMissing("t"),
		}},
		{name: "producers sorted", steps: []step{
			identify("p3", "p1", "p2"), reg("p3", "t", ""), reg("p1", "t", ""), reg("p2", "t", "c"),
			lookup("t", []string{"c"}, "p1", "p2", "p3"),
		}},
		{name: "producers sorted by port and remote address", steps: []step{
			identifyAs("b", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 2, HTTPPort: 1, RemoteAddress: "a"}),
			identifyAs("a", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 1, HTTPPort: 9, RemoteAddress: "z"}),
			identifyAs("d", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 2, HTTPPort: 2, RemoteAddress: "b"}),
			identifyAs("c", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 2, HTTPPort: 2, RemoteAddress: "a"}),
			reg("a", "t", ""), reg("b", "t", ""), reg("c", "t", ""), reg("d", "t", ""),
			lookup("t", none(), "a", "b", "c", "d"),
		}},
		{name: "topics sorted", steps: []step{
			identify("p1"), reg("p1", "t2", ""), reg("p1", "t1", "c"), reg("p1", "t3", ""),
			topics("t1", "t2", "t3"), nodes(node("p1", "t1", "t2", "t3")),
		}},
		{name: "registers an existing created topic", steps: []step{
			createChannel("t", "c"), identify("p1"), reg("p1", "t", ""), lookup("t", []string{"c"}, "p1"), regs("p1", 1),
		}},
	})
}

func TestDB_Unregister(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "channel keeps topic membership and listing", steps: []step{
			identify("p1"), reg("p1", "t", "c"), unreg("p1", "t", "c", true),
			lookup("t", []string{"c"}, "p1"), regs("p1", 1), nodes(node("p1", "t")),
		}},
		{name: "topic leaves its channels too", steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "t", "d"), unreg("p1", "t", "", true),
			lookup("t", []string{"c", "d"}), topics("t"), nodes(node("p1")), regs("p1", 0),
		}},
		{name: "other producers stay", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c"), reg("p2", "t", "c"), unreg("p1", "t", "", true),
			lookup("t", []string{"c"}, "p2"), nodes(node("p1"), node("p2", "t")),
		}},
		{name: "not registered", steps: []step{
			identify("p1"), createChannel("t", "c"),
			unreg("p1", "t", "", false), unreg("p1", "t", "c", false), lookup("t", []string{"c"}),
		}},
		{name: "unknown topic", steps: []step{
			identify("p1"), unreg("p1", "nope", "", false), unreg("p1", "nope", "c", false), lookupMissing("nope"),
		}},
		{name: "unknown producer", steps: []step{
			identify("p1"), reg("p1", "t", ""), unregWant("p9", "t", "", false, registry.ErrUnknownProducer),
			lookup("t", none(), "p1"),
		}},
		{name: "register again", steps: []step{
			identify("p1"), reg("p1", "t", "c"), unreg("p1", "t", "", true), reg("p1", "t", "c"),
			lookup("t", []string{"c"}, "p1"), regs("p1", 2),
		}},
		{name: "twice", steps: []step{
			identify("p1"), reg("p1", "t", "c"), unreg("p1", "t", "c", true), unreg("p1", "t", "c", false),
			unreg("p1", "t", "", true), unreg("p1", "t", "", false),
		}},
	})
}

func TestDB_Ephemeral(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "channel removed with its last producer", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c#ephemeral"), reg("p2", "t", "c#ephemeral"),
			unreg("p1", "t", "c#ephemeral", true), channels("t", "c#ephemeral"),
			unreg("p2", "t", "c#ephemeral", true), channels("t"), lookup("t", none(), "p1", "p2"),
		}},
		{name: "topic removed with its last producer", steps: []step{
			identify("p1", "p2"), reg("p1", "t#ephemeral", ""), reg("p2", "t#ephemeral", ""),
			unreg("p1", "t#ephemeral", "", true), lookup("t#ephemeral", none(), "p2"),
			unreg("p2", "t#ephemeral", "", true), lookupMissing("t#ephemeral"), topics(),
			nodes(node("p1"), node("p2")), stats(registry.Stats{Producers: 2}),
		}},
		{name: "topic unregister keeps the topic's channels", steps: []step{
			// nsqlookupd removes only the topic registration.
			identify("p1"), reg("p1", "t#ephemeral", "c"), reg("p1", "t#ephemeral", "d#ephemeral"),
			unreg("p1", "t#ephemeral", "", true),
			lookupMissing("t#ephemeral"), topics(), channels("t#ephemeral", "c", "d#ephemeral"),
			stats(registry.Stats{Producers: 1, Channels: 2}),
		}},
		{name: "topic unregister leaves empty ephemeral channels", steps: []step{
			// As in nsqlookupd: only UNREGISTER of the channel itself drops it.
			identify("p1"), reg("p1", "t", "c#ephemeral"), unreg("p1", "t", "", true),
			lookup("t", []string{"c#ephemeral"}),
		}},
		{name: "channel unregister by a non-producer drops an empty ephemeral channel", steps: []step{
			// nsqlookupd removes the registration whenever no producer is left.
			createChannel("t", "c#ephemeral"), identify("p1"),
			unreg("p1", "t", "c#ephemeral", false), lookup("t", none()),
		}},
		{name: "topic unregister by a non-producer drops an empty ephemeral topic", steps: []step{
			createTopic("t#ephemeral"), identify("p1"),
			unreg("p1", "t#ephemeral", "", false), lookupMissing("t#ephemeral"), topics(),
		}},
		{name: "non-producer unregister keeps an ephemeral channel with producers", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c#ephemeral"),
			unreg("p2", "t", "c#ephemeral", false), lookup("t", []string{"c#ephemeral"}, "p1"),
		}},
		{name: "non-ephemeral stays listed", steps: []step{
			identify("p1"), reg("p1", "t", "c"), unreg("p1", "t", "c", true), unreg("p1", "t", "", true),
			lookup("t", []string{"c"}), topics("t"),
		}},
		{name: "created ephemeral topic stays until unregistered", steps: []step{
			createTopic("t#ephemeral"), lookup("t#ephemeral", none()), topics("t#ephemeral"),
		}},
	})
}

func TestDB_RemoveProducer(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "forgets every registration", steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "u", ""), removeProducer("p1", true),
			lookup("t", []string{"c"}), lookup("u", none()), topics("t", "u"), nodes(), regsUnknown("p1"),
			stats(registry.Stats{Topics: 2, Channels: 1}),
		}},
		{name: "unknown producer", steps: []step{removeProducer("p9", false)}},
		{name: "twice", steps: []step{identify("p1"), removeProducer("p1", true), removeProducer("p1", false)}},
		{name: "other producers stay", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c"), reg("p2", "t", "c"), removeProducer("p1", true),
			lookup("t", []string{"c"}, "p2"), nodes(node("p2", "t")),
		}},
		{name: "ephemeral topic removed with its empty channels", steps: []step{
			// Our documented difference: nsqlookupd keeps it forever.
			identify("p1"), reg("p1", "t#ephemeral", "c"), createChannel("t#ephemeral", "d"),
			removeProducer("p1", true), lookupMissing("t#ephemeral"), channels("t#ephemeral"), topics(),
			stats(registry.Stats{}),
		}},
		{name: "ephemeral topic kept while it has producers", steps: []step{
			identify("p1", "p2"), reg("p1", "t#ephemeral", "c#ephemeral"), reg("p2", "t#ephemeral", "c#ephemeral"),
			removeProducer("p1", true), lookup("t#ephemeral", []string{"c#ephemeral"}, "p2"),
		}},
		{name: "ephemeral channel removed, topic stays", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c#ephemeral"), reg("p2", "t", "d#ephemeral"), reg("p1", "t", "e"),
			removeProducer("p1", true), lookup("t", []string{"d#ephemeral", "e"}, "p2"),
		}},
		{name: "ephemeral channel kept while it has producers", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c#ephemeral"), reg("p2", "t", "c#ephemeral"),
			removeProducer("p1", true), lookup("t", []string{"c#ephemeral"}, "p2"),
		}},
		{name: "empty ephemeral channel it never held stays", steps: []step{
			identify("p1"), reg("p1", "t", ""), createChannel("t", "c#ephemeral"),
			removeProducer("p1", true), lookup("t", []string{"c#ephemeral"}),
		}},
		{name: "identify again starts clean", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1), removeProducer("p1", true),
			identify("p1"), nodes(node("p1")), lookup("t", none()), reg("p1", "t", ""), lookup("t", none(), "p1"),
		}},
	})
}

func TestDB_DeleteTopic(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "removes topic, channels and memberships", steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "u", ""), deleteTopic("t", true),
			lookupMissing("t"), channels("t"), topics("u"), nodes(node("p1", "u")), regs("p1", 1),
		}},
		{name: "missing", steps: []step{deleteTopic("nope", false)}},
		{name: "created topic", steps: []step{createTopic("t"), deleteTopic("t", true), lookupMissing("t"), topics()}},
		{name: "channels without a topic registration", steps: []step{
			identify("p1"), reg("p1", "t#ephemeral", "c"), unreg("p1", "t#ephemeral", "", true),
			deleteTopic("t#ephemeral", true), channels("t#ephemeral"), deleteTopic("t#ephemeral", false),
		}},
		{name: "register again starts fresh", steps: []step{
			identify("p1"), reg("p1", "t", "c"), tombstone("t", nodeOf("p1"), 1), deleteTopic("t", true),
			reg("p1", "t", ""), lookup("t", none(), "p1"), nodes(node("p1", "t")), regs("p1", 1),
		}},
		{name: "other producers removed too", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c"), reg("p2", "t", "d"), deleteTopic("t", true),
			nodes(node("p1"), node("p2")), regs("p1", 0), regs("p2", 0), stats(registry.Stats{Producers: 2}),
		}},
	})
}

func TestDB_DeleteChannel(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "removes channel and memberships", steps: []step{
			identify("p1", "p2"), reg("p1", "t", "c"), reg("p2", "t", "c"), reg("p1", "t", "d"),
			deleteChannel("t", "c", true), lookup("t", []string{"d"}, "p1", "p2"), regs("p1", 2), regs("p2", 1),
		}},
		{name: "missing channel", steps: []step{createTopic("t"), deleteChannel("t", "c", false)}},
		{name: "missing topic", steps: []step{deleteChannel("nope", "c", false)}},
		{name: "topic stays", steps: []step{
			createChannel("t", "c"), deleteChannel("t", "c", true), lookup("t", none()), topics("t"),
			deleteChannel("t", "c", false),
		}},
		{name: "register again", steps: []step{
			identify("p1"), reg("p1", "t", "c"), deleteChannel("t", "c", true), reg("p1", "t", "c"),
			lookup("t", []string{"c"}, "p1"), regs("p1", 2),
		}},
		{name: "last channel of an unregistered topic", steps: []step{
			identify("p1"), reg("p1", "t#ephemeral", "c"), unreg("p1", "t#ephemeral", "", true),
			deleteChannel("t#ephemeral", "c", true), channels("t#ephemeral"), deleteTopic("t#ephemeral", false),
		}},
	})
}

func TestDB_Tombstone(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "hidden from lookup, flagged in nodes", steps: []step{
			identify("p1", "p2"), reg("p1", "t", ""), reg("p2", "t", ""), tombstone("t", nodeOf("p1"), 1),
			lookup("t", none(), "p2"), nodes(node("p1", "t").tomb(0), node("p2", "t")),
		}},
		{name: "expires after the lifetime", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1),
			advance(testTombstone - 1), lookup("t", none()), nodes(node("p1", "t").tomb(0)),
			advance(1), lookup("t", none(), "p1"), nodes(node("p1", "t")),
		}},
		{name: "per topic", steps: []step{
			identify("p1"), reg("p1", "t", ""), reg("p1", "u", ""), tombstone("u", nodeOf("p1"), 1),
			lookup("t", none(), "p1"), lookup("u", none()), nodes(node("p1", "t", "u").tomb(1)),
		}},
		{name: "no match", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", "nobody:4151", 0), tombstone("t", "host-p1:4150", 0),
			tombstone("nope", nodeOf("p1"), 0), lookup("t", none(), "p1"),
		}},
		{name: "every producer on the node", steps: []step{
			identifyAs("a", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 1, HTTPPort: 80, RemoteAddress: "r1"}),
			identifyAs("b", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 2, HTTPPort: 80, RemoteAddress: "r2"}),
			identifyAs("c", wire.ProducerInfo{BroadcastAddress: "h", TCPPort: 3, HTTPPort: 81, RemoteAddress: "r3"}),
			reg("a", "t", ""), reg("b", "t", ""), reg("c", "t", ""),
			tombstone("t", "h:80", 2), lookup("t", none(), "c"),
		}},
		{name: "channel-only registration is not a topic producer", steps: []step{
			identify("p1"), reg("p1", "t", "c"), unreg("p1", "t", "c", true), tombstone("t", nodeOf("p1"), 1),
			reg("p1", "t", "c"), lookup("t", []string{"c"}),
		}},
		{name: "survives registering again", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1),
			regNoop("p1", "t", ""), reg("p1", "t", "c"), lookup("t", []string{"c"}),
		}},
		{name: "cleared by unregister and register", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1),
			unreg("p1", "t", "", true), reg("p1", "t", ""), lookup("t", none(), "p1"), nodes(node("p1", "t")),
		}},
		{name: "renewed by a second tombstone", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1),
			advance(3 * time.Second), tombstone("t", nodeOf("p1"), 1),
			advance(2 * time.Second), lookup("t", none()),
			advance(2 * time.Second), lookup("t", none(), "p1"),
		}},
		{name: "new producer on a tombstoned node is not hidden", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1),
			identify("p2"), reg("p2", "t", ""), lookup("t", none(), "p2"),
		}},
	})
}

func TestDB_InactiveProducer(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "visible at exactly the timeout", steps: []step{
			identify("p1"), reg("p1", "t", ""), advance(testInactive),
			lookup("t", none(), "p1"), nodes(node("p1", "t")),
		}},
		{name: "hidden after the timeout, still registered", steps: []step{
			identify("p1"), reg("p1", "t", ""), advance(testInactive + 1),
			lookup("t", none()), nodes(), topics("t"), regs("p1", 1),
		}},
		{name: "touch revives", steps: []step{
			identify("p1"), reg("p1", "t", ""), advance(testInactive + time.Second), touch("p1", true),
			lookup("t", none(), "p1"), nodes(node("p1", "t")),
		}},
		{name: "touch keeps alive", steps: []step{
			identify("p1"), reg("p1", "t", ""), advance(6 * time.Second), touch("p1", true),
			advance(6 * time.Second), lookup("t", none(), "p1"),
			advance(5 * time.Second), lookup("t", none()),
		}},
		{name: "register is not a heartbeat", steps: []step{
			identify("p1"), advance(testInactive + 1), reg("p1", "t", ""), lookup("t", none()),
		}},
		{name: "touch unknown", steps: []step{touch("p9", false), identify("p1"), removeProducer("p1", true), touch("p1", false)}},
		{name: "inactive and tombstoned", steps: []step{
			identify("p1"), reg("p1", "t", ""), tombstone("t", nodeOf("p1"), 1), advance(testInactive + 1),
			lookup("t", none()), touch("p1", true), lookup("t", none(), "p1"),
		}},
	})
}

func TestDB_Nodes(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "empty", steps: []step{nodes(), createTopic("t"), nodes()}},
		{name: "sorted, with topics and tombstones", steps: []step{
			identify("p3", "p1", "p2"), reg("p1", "b", ""), reg("p1", "a", "c"), reg("p2", "a", ""),
			tombstone("a", nodeOf("p2"), 1),
			nodes(node("p1", "a", "b"), node("p2", "a").tomb(0), node("p3")),
		}},
		{name: "inactive left out, tombstoned kept", steps: []step{
			identify("p1"), advance(8 * time.Second), identify("p2"), reg("p1", "t", ""), reg("p2", "t", ""),
			advance(time.Second), tombstone("t", nodeOf("p2"), 1), advance(2 * time.Second),
			nodes(node("p2", "t").tomb(0)), lookup("t", none()),
		}},
		{name: "follows unregister and delete", steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "u", ""), reg("p1", "v", ""),
			unreg("p1", "t", "c", true), nodes(node("p1", "t", "u", "v")),
			unreg("p1", "u", "", true), nodes(node("p1", "t", "v")),
			deleteTopic("v", true), nodes(node("p1", "t")),
		}},
	})
}

func TestDB_Limits(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "cap reached", maxRegs: 3, steps: []step{
			identify("p1"), reg("p1", "t", "c"), reg("p1", "u", ""),
			regErr("p1", "v", "", registry.ErrTooManyRegistrations), lookupMissing("v"), regs("p1", 3),
			regErr("p1", "t", "d", registry.ErrTooManyRegistrations), lookup("t", []string{"c"}, "p1"),
		}},
		{name: "all or nothing", maxRegs: 3, steps: []step{
			identify("p1"), reg("p1", "t", "c"),
			regErr("p1", "u", "d", registry.ErrTooManyRegistrations), lookupMissing("u"), channels("u"), regs("p1", 2),
			reg("p1", "u", ""), regs("p1", 3),
		}},
		{name: "existing registrations allowed at the cap", maxRegs: 2, steps: []step{
			identify("p1"), reg("p1", "t", "c"), regNoop("p1", "t", "c"), regNoop("p1", "t", ""),
		}},
		{name: "room again after unregister", maxRegs: 2, steps: []step{
			identify("p1"), reg("p1", "t", "c"), regErr("p1", "u", "", registry.ErrTooManyRegistrations),
			unreg("p1", "t", "c", true), reg("p1", "u", ""),
			unreg("p1", "t", "", true), reg("p1", "v", ""), regs("p1", 2),
		}},
		{name: "room again after delete", maxRegs: 2, steps: []step{
			identify("p1"), reg("p1", "t", "c"), deleteChannel("t", "c", true), reg("p1", "u", ""),
			deleteTopic("t", true), deleteTopic("u", true), reg("p1", "v", "w"), regs("p1", 2),
		}},
		{name: "room again after an ephemeral topic is dropped", maxRegs: 2, steps: []step{
			identify("p1"), reg("p1", "t#ephemeral", "c"), unreg("p1", "t#ephemeral", "", true), regs("p1", 0),
			reg("p1", "u", "d"),
		}},
		{name: "per producer", maxRegs: 1, steps: []step{
			identify("p1", "p2"), reg("p1", "t", ""), regErr("p1", "u", "", registry.ErrTooManyRegistrations),
			reg("p2", "u", ""), lookup("u", none(), "p2"),
		}},
		{name: "a new connection starts from zero", maxRegs: 1, steps: []step{
			identify("p1"), reg("p1", "t", ""), removeProducer("p1", true), identify("p1"), reg("p1", "u", ""),
		}},
	})
}

func TestDB_Unlimited(t *testing.T) {
	e := newEnv(0)
	if err := e.db.Identify("p1", infoFor("p1")); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if added, err := e.db.Register("p1", fmt.Sprintf("t%d", i%50), fmt.Sprintf("c%d", i)); !added || err != nil {
			t.Fatalf("Register #%d = %v, %v", i, added, err)
		}
	}
	if n, _ := e.db.ProducerRegistrations("p1"); n != 550 {
		t.Fatalf("ProducerRegistrations = %d, want 550", n)
	}
}

// TestDB_ManyChannels crosses the size at which a producer's channel set under
// one topic changes representation.
func TestDB_ManyChannels(t *testing.T) {
	e := newEnv(0)
	for _, id := range []string{"p1", "p2"} {
		if err := e.db.Identify(id, infoFor(id)); err != nil {
			t.Fatal(err)
		}
	}
	var all []string
	for i := range 40 {
		ch := fmt.Sprintf("c%02d", i)
		if i%2 == 1 {
			ch += "#ephemeral"
		}
		all = append(all, ch)
		if _, err := e.db.Register("p1", "t", ch); err != nil {
			t.Fatal(err)
		}
		if i < 4 {
			if _, err := e.db.Register("p2", "t", ch); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(all)
	if got, _ := e.db.Channels("t"); !slices.Equal(got, all) {
		t.Fatalf("Channels = %q, want %q", got, all)
	}
	// Unregister the first ten channels one by one: the ephemeral ones
	// that p2 does not hold go away.
	var want []string
	for i, ch := range all {
		if i < 10 {
			if removed, err := e.db.Unregister("p1", "t", ch); !removed || err != nil {
				t.Fatalf("Unregister %s = %v, %v", ch, removed, err)
			}
			if strings.HasSuffix(ch, "#ephemeral") && ch != "c01#ephemeral" && ch != "c03#ephemeral" {
				continue
			}
		}
		want = append(want, ch)
	}
	if got, _ := e.db.Channels("t"); !slices.Equal(got, want) {
		t.Fatalf("after unregister, Channels = %q, want %q", got, want)
	}
	if n, _ := e.db.ProducerRegistrations("p1"); n != 31 {
		t.Fatalf("p1 holds %d registrations, want 31", n)
	}
	if _, err := e.db.Register("p1", "t", all[0]); err != nil {
		t.Fatal(err)
	}
	// Disconnect: the remaining ephemeral channels only p1 held go away.
	e.db.RemoveProducer("p1")
	want = want[:0]
	for i, ch := range all {
		if !strings.HasSuffix(ch, "#ephemeral") || i < 4 && (ch == "c01#ephemeral" || ch == "c03#ephemeral") {
			want = append(want, ch)
		}
	}
	if got, _ := e.db.Channels("t"); !slices.Equal(got, want) {
		t.Fatalf("after disconnect, Channels = %q, want %q", got, want)
	}
	if st := e.db.Stats(); st.Registrations != 5 || st.Channels != len(want) {
		t.Fatalf("Stats = %+v, want 5 registrations and %d channels", st, len(want))
	}
}

func TestDB_Defaults(t *testing.T) {
	clk := fakeclock.New()
	db := registry.New(registry.Options{Now: clk.Now})
	if err := db.Identify("p1", infoFor("p1")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Register("p1", "t", ""); err != nil {
		t.Fatal(err)
	}
	db.Tombstone("t", nodeOf("p1"))
	clk.Advance(45*time.Second - 1)
	if res, _ := db.Lookup("t"); len(res.Producers) != 0 {
		t.Fatal("tombstone lifetime shorter than the 45 s default")
	}
	clk.Advance(1)
	if res, _ := db.Lookup("t"); len(res.Producers) != 1 {
		t.Fatal("tombstone lifetime longer than the 45 s default")
	}
	clk.Advance(300*time.Second - 45*time.Second)
	if res, _ := db.Lookup("t"); len(res.Producers) != 1 {
		t.Fatal("inactive timeout shorter than the 300 s default")
	}
	clk.Advance(1)
	if res, _ := db.Lookup("t"); len(res.Producers) != 0 {
		t.Fatal("inactive timeout longer than the 300 s default")
	}

	// The default clock is the real one.
	dflt := registry.New(registry.Options{})
	before := time.Now()
	if err := dflt.Identify("p1", infoFor("p1")); err != nil {
		t.Fatal(err)
	}
	n := dflt.Nodes()
	if len(n.Nodes) != 1 || n.Nodes[0].LastUpdate.Before(before.Add(-time.Second)) || n.Nodes[0].LastUpdate.After(time.Now()) {
		t.Fatalf("with the default clock, Nodes = %+v", n)
	}
}

// TestDB_Versions checks when versions change and the ValidUntil times.
func TestDB_Versions(t *testing.T) {
	e := newEnv(0)
	db := e.db
	t0 := e.clk.Now()
	seen := map[uint64]bool{}
	tv := func() uint64 {
		t.Helper()
		v, ok := db.TopicVersion("t")
		if !ok {
			t.Fatal("topic t missing")
		}
		return v
	}
	// fresh requires v to be a version never returned before for t.
	fresh := func(what string, v uint64) {
		t.Helper()
		if seen[v] {
			t.Fatalf("%s: version %d seen before", what, v)
		}
		seen[v] = true
	}
	same := func(what string, a, b uint64) {
		t.Helper()
		if a != b {
			t.Fatalf("%s: version changed from %d to %d", what, a, b)
		}
	}

	if _, ok := db.TopicVersion("t"); ok {
		t.Fatal("TopicVersion of a missing topic reports true")
	}
	if ch, v := db.Channels("t"); len(ch) != 0 || v != 0 || db.ChannelsVersion("t") != 0 {
		t.Fatalf("Channels of a missing topic = %q, %d", ch, v)
	}

	if err := db.Identify("p1", infoFor("p1")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Register("p1", "t", ""); err != nil {
		t.Fatal(err)
	}
	v1, top1, all1 := tv(), db.TopicsVersion(), db.Version()
	fresh("register", v1)

	if err := db.Identify("p2", infoFor("p2")); err != nil {
		t.Fatal(err)
	}
	same("identify another producer", v1, tv())
	same("identify another producer (topics)", top1, db.TopicsVersion())
	if db.Version() == all1 {
		t.Fatal("identify did not change Version")
	}

	db.Register("p1", "t", "c")
	v2 := tv()
	fresh("register channel", v2)
	same("register channel (topics)", top1, db.TopicsVersion())
	if ch, cv := db.Channels("t"); cv != v2 || !slices.Equal(ch, []string{"c"}) {
		t.Fatalf("Channels = %q, %d; want [c], %d", ch, cv, v2)
	}

	all2 := db.Version()
	db.Register("p1", "t", "c")
	same("repeated register", v2, tv())
	same("repeated register (db)", all2, db.Version())

	db.Register("p1", "u", "")
	same("register of another topic", v2, tv())
	if db.TopicsVersion() == top1 {
		t.Fatal("a new topic did not change TopicsVersion")
	}

	e.clk.Advance(time.Second)
	db.Touch("p1")
	same("touch of an active producer", v2, tv())

	res, _ := db.Lookup("t")
	if want := t0.Add(time.Second + testInactive + 1); !res.ValidUntil.Equal(want) {
		t.Fatalf("ValidUntil = %v, want %v (last heartbeat + timeout + 1ns)", res.ValidUntil, want)
	}

	db.Tombstone("t", nodeOf("p1"))
	v3 := tv()
	fresh("tombstone", v3)
	res, _ = db.Lookup("t")
	if want := e.clk.Now().Add(testTombstone); !res.ValidUntil.Equal(want) || len(res.Producers) != 0 {
		t.Fatalf("tombstoned: ValidUntil = %v, producers %d; want %v, 0", res.ValidUntil, len(res.Producers), want)
	}
	db.Tombstone("t", "nobody:1")
	same("tombstone without match", v3, tv())

	e.clk.Advance(testInactive + time.Second)
	res, _ = db.Lookup("t")
	if len(res.Producers) != 0 || res.ValidUntil.Year() < 2200 {
		t.Fatalf("nothing visible: producers %d, ValidUntil %v; want 0 and the far future", len(res.Producers), res.ValidUntil)
	}
	same("time passing", v3, tv())
	all3 := db.Version()
	db.Touch("p1")
	v4 := tv()
	fresh("touch of an inactive producer", v4)
	if db.Version() == all3 {
		t.Fatal("touch of an inactive producer did not change Version")
	}

	db.Unregister("p1", "t", "c")
	fresh("unregister channel", tv())
	db.DeleteChannel("t", "c")
	same("delete of a missing channel", tv(), tv())
	db.CreateChannel("t", "d")
	fresh("create channel", tv())
	top2 := db.TopicsVersion()
	db.CreateTopic("t")
	same("create existing topic (topics)", top2, db.TopicsVersion())
	db.DeleteChannel("t", "d")
	fresh("delete channel", tv())
	db.DeleteTopic("t")
	if db.TopicsVersion() == top2 {
		t.Fatal("delete topic did not change TopicsVersion")
	}
	db.CreateTopic("t")
	fresh("topic created again", tv())
	db.Register("p2", "t", "")
	fresh("register p2", tv())
	db.RemoveProducer("p2")
	fresh("remove producer", tv())

	nres := db.Nodes()
	if nres.Version != db.Version() {
		t.Fatalf("Nodes version %d, Version %d", nres.Version, db.Version())
	}
	lastTouch := e.clk.Now()
	if want := lastTouch.Add(testInactive + 1); !nres.ValidUntil.Equal(want) {
		t.Fatalf("Nodes ValidUntil = %v, want %v", nres.ValidUntil, want)
	}
}

// TestDB_Copies: callers own what queries return.
func TestDB_Copies(t *testing.T) {
	e := newEnv(0)
	e.db.Identify("p1", infoFor("p1"))
	e.db.Register("p1", "t", "c")
	res, _ := e.db.Lookup("t")
	res.Channels[0] = "x"
	res.Producers[0].BroadcastAddress = "x"
	ch, _ := e.db.Channels("t")
	ch[0] = "x"
	tp, _ := e.db.Topics()
	tp[0] = "x"
	n := e.db.Nodes()
	n.Nodes[0].Topics[0] = "x"
	n.Nodes[0].Tombstones[0] = true
	for _, d := range e.db.Debug() {
		d[0].BroadcastAddress = "x"
	}
	lookup("t", []string{"c"}, "p1").run(t, e)
	channels("t", "c").run(t, e)
	topics("t").run(t, e)
	nodes(node("p1", "t")).run(t, e)
	if res, _ := e.db.Lookup("t"); res.Producers[0].BroadcastAddress != "host-p1" {
		t.Error("Lookup returned shared producer state")
	}
	for _, d := range e.db.Debug() {
		if d[0].BroadcastAddress != "host-p1" {
			t.Error("Debug returned shared producer state")
		}
	}
}

func TestDB_Debug(t *testing.T) {
	e := newEnv(0)
	e.db.Identify("p1", infoFor("p1"))
	e.db.Identify("p2", infoFor("p2"))
	e.db.Register("p1", "t", "c")
	e.db.Register("p2", "t", "")
	e.db.CreateChannel("u", "d") // no producers: not listed
	e.db.Tombstone("t", nodeOf("p2"))
	at := e.clk.Now()

	got := map[string]string{}
	for k, ps := range e.db.Debug() {
		var b strings.Builder
		slices.SortFunc(ps, func(a, b registry.DebugProducer) int { return cmpStr(a.ID, b.ID) })
		for _, p := range ps {
			fmt.Fprintf(&b, "%s/%v ", p.ID, p.Tombstoned)
			if p.Tombstoned != !p.TombstonedAt.IsZero() || p.Tombstoned && !p.TombstonedAt.Equal(at) {
				t.Errorf("%v: producer %s tombstoned %v at %v", k, p.ID, p.Tombstoned, p.TombstonedAt)
			}
			if p.ProducerInfo != infoFor(p.ID) {
				t.Errorf("%v: producer %s info %+v", k, p.ID, p.ProducerInfo)
			}
		}
		got[k.Category+":"+k.Key+":"+k.SubKey] = b.String()
	}
	want := map[string]string{
		"client::":    "p1/false p2/false ",
		"topic:t:":    "p1/false p2/true ",
		"channel:t:c": "p1/false ",
	}
	if len(got) != len(want) {
		t.Errorf("Debug() = %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Debug()[%s] = %q, want %q", k, got[k], v)
		}
	}
	if st := e.db.Stats(); st != (registry.Stats{Producers: 2, Topics: 2, Channels: 2, Registrations: 3}) {
		t.Errorf("Stats() = %+v", st)
	}
}
