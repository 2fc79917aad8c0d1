package interop

import (
	"net/http"
	"os"
	"slices"
	"testing"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/wire"
)

// registeredEverywhere reports whether l lists d as a producer of topic and
// of channel in /topics, /channels, /lookup, /nodes and /debug.
func registeredEverywhere(t *testing.T, l lookupdNode, d *nsqdNode, topic, channel string) bool {
	t.Helper()
	if !slices.Contains(l.topics(t), topic) || !slices.Contains(l.channels(t, topic), channel) {
		return false
	}
	res, ok := l.lookup(t, topic)
	if !ok || !slices.Contains(res.Channels, channel) {
		return false
	}
	if !slices.ContainsFunc(res.Producers, func(p listedProducer) bool { return p.key() == d.key() }) {
		return false
	}
	n, ok := l.node(t, d)
	if !ok || !slices.Contains(n.Topics, topic) {
		return false
	}
	return l.registered(t, d, "topic:"+topic+":") && l.registered(t, d, "channel:"+topic+":"+channel)
}

// TestNSQD_RegistersWithEveryLookupd: nsqd identifies itself to each lookupd
// as soon as it starts, and each topic and channel it creates is listed by
// both lookupds at once, with the producer fields nsqd sent.
func TestNSQD_RegistersWithEveryLookupd(t *testing.T) {
	hostname, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)

		waitAll(t, ls, "nsqd listed in /nodes with no topics", func(l lookupdNode) bool {
			n, ok := l.node(t, d)
			return ok && len(n.Topics) == 0
		})
		for _, l := range ls {
			n, _ := l.node(t, d)
			want := listedProducer{ProducerInfo: wire.ProducerInfo{
				RemoteAddress:    n.RemoteAddress,
				Hostname:         hostname,
				BroadcastAddress: "127.0.0.1",
				TCPPort:          d.tcpPort,
				HTTPPort:         d.httpPort,
				Version:          "1.3.0",
			}}
			if n.listedProducer != want || n.RemoteAddress == "" {
				t.Errorf("%s /nodes entry = %+v, want %+v with a remote_address", l.http, n.listedProducer, want)
			}
			if topics := l.topics(t); len(topics) != 0 {
				t.Errorf("%s /topics = %q before nsqd has any topic", l.http, topics)
			}
		}

		d.createTopic("orders")
		d.createChannel("orders", "billing")
		waitAll(t, ls, "orders/billing registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing")
		})
		for _, l := range ls {
			res, _ := l.lookup(t, "orders")
			if len(res.Producers) != 1 || res.Producers[0].TCPPort != d.tcpPort ||
				res.Producers[0].HTTPPort != d.httpPort || res.Producers[0].Hostname != hostname {
				t.Errorf("%s /lookup?topic=orders producers = %+v, want only nsqd", l.http, res.Producers)
			}
			if !slices.Equal(res.Channels, []string{"billing"}) {
				t.Errorf("%s /lookup?topic=orders channels = %q, want [billing]", l.http, res.Channels)
			}
			n, _ := l.node(t, d)
			if !slices.Equal(n.Topics, []string{"orders"}) || !slices.Equal(n.Tombstones, []bool{false}) {
				t.Errorf("%s /nodes topics %q tombstones %v, want [orders] [false]", l.http, n.Topics, n.Tombstones)
			}
		}
	})
}

// TestNSQD_DeleteChannel: deleting a channel on nsqd unregisters nsqd from
// it on both lookupds. As in nsqlookupd, a plain channel stays listed with
// no producer while an ephemeral one disappears.
func TestNSQD_DeleteChannel(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createTopic("orders")
		d.createChannel("orders", "billing")
		d.createChannel("orders", "audit#ephemeral")
		waitAll(t, ls, "both channels registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") &&
				registeredEverywhere(t, l, d, "orders", "audit#ephemeral")
		})

		d.post("/channel/delete", "topic", "orders", "channel", "billing")
		waitAll(t, ls, "nsqd unregistered from orders/billing", func(l lookupdNode) bool {
			return !l.registered(t, d, "channel:orders:billing")
		})
		for _, l := range ls {
			if got := l.channels(t, "orders"); !slices.Contains(got, "billing") {
				t.Errorf("%s /channels?topic=orders = %q; a plain channel stays listed after its last producer leaves", l.http, got)
			}
			if !slices.Contains(l.producers(t, "orders"), d.key()) {
				t.Errorf("%s: deleting a channel removed nsqd from its topic", l.http)
			}
			if !l.registered(t, d, "channel:orders:audit#ephemeral") {
				t.Errorf("%s: deleting billing also removed audit#ephemeral", l.http)
			}
		}

		d.post("/channel/delete", "topic", "orders", "channel", "audit#ephemeral")
		waitAll(t, ls, "audit#ephemeral gone", func(l lookupdNode) bool {
			res, _ := l.lookup(t, "orders")
			return !slices.Contains(l.channels(t, "orders"), "audit#ephemeral") &&
				!slices.Contains(res.Channels, "audit#ephemeral")
		})
		for _, l := range ls {
			if l.registered(t, d, "channel:orders:audit#ephemeral") {
				t.Errorf("%s /debug still lists nsqd under audit#ephemeral", l.http)
			}
			if !slices.Contains(l.producers(t, "orders"), d.key()) {
				t.Errorf("%s: deleting an ephemeral channel removed nsqd from its topic", l.http)
			}
		}
	})
}

// TestNSQD_DeleteTopic: deleting a topic on nsqd removes nsqd from the
// topic and its channels on both lookupds and from the topics of its /nodes
// entry; another topic is untouched. The deleted (non-ephemeral) topic and
// its channel stay listed with no producer, as in nsqlookupd.
func TestNSQD_DeleteTopic(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createChannel("orders", "billing")
		d.createChannel("users", "mailer")
		waitAll(t, ls, "two topics registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") &&
				registeredEverywhere(t, l, d, "users", "mailer")
		})

		d.post("/topic/delete", "topic", "orders")
		waitAll(t, ls, "orders unregistered", func(l lookupdNode) bool {
			n, ok := l.node(t, d)
			return ok && slices.Equal(n.Topics, []string{"users"}) &&
				len(l.producers(t, "orders")) == 0 &&
				!l.registered(t, d, "topic:orders:") &&
				!l.registered(t, d, "channel:orders:billing")
		})
		for _, l := range ls {
			if res, ok := l.lookup(t, "orders"); !ok || !slices.Equal(res.Channels, []string{"billing"}) {
				t.Errorf("%s /lookup?topic=orders = %+v found %v, want 200 with channels [billing] and no producers", l.http, res, ok)
			}
			if got := l.topics(t); !slices.Contains(got, "orders") {
				t.Errorf("%s /topics = %q; a plain topic stays listed after its last producer leaves", l.http, got)
			}
			if !registeredEverywhere(t, l, d, "users", "mailer") {
				t.Errorf("%s: deleting orders disturbed users/mailer", l.http)
			}
		}
	})
}

// TestNSQD_Exit: when nsqd stops, both lookupds drop it from /lookup and
// /nodes. Plain topics and channels stay listed. Ephemeral ones show the
// one deliberate difference: nsqlookupd keeps them forever (nsq issue
// 1101), ours drops them with the connection of their last producer.
func TestNSQD_Exit(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createChannel("orders", "billing")
		d.createChannel("orders", "audit#ephemeral")
		d.createChannel("scratch#ephemeral", "tail#ephemeral")
		waitAll(t, ls, "topics registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") &&
				registeredEverywhere(t, l, d, "orders", "audit#ephemeral") &&
				registeredEverywhere(t, l, d, "scratch#ephemeral", "tail#ephemeral")
		})

		d.stop()
		waitAll(t, ls, "nsqd gone", func(l lookupdNode) bool {
			_, listed := l.node(t, d)
			if listed || len(l.producers(t, "orders")) != 0 || len(l.producers(t, "scratch#ephemeral")) != 0 {
				return false
			}
			for _, ps := range l.debug(t) {
				if slices.Contains(ps, d.key()) {
					return false
				}
			}
			return true
		})
		for _, l := range ls {
			if got := l.channels(t, "orders"); !slices.Contains(got, "billing") {
				t.Errorf("%s /channels?topic=orders = %q, want billing still listed", l.http, got)
			}
			if got := l.topics(t); !slices.Contains(got, "orders") {
				t.Errorf("%s /topics = %q, want orders still listed", l.http, got)
			}
			ephemeralKept := slices.Contains(l.topics(t), "scratch#ephemeral") &&
				slices.Contains(l.channels(t, "orders"), "audit#ephemeral") &&
				slices.Contains(l.channels(t, "scratch#ephemeral"), "tail#ephemeral")
			ephemeralGone := !slices.Contains(l.topics(t), "scratch#ephemeral") &&
				!slices.Contains(l.channels(t, "orders"), "audit#ephemeral") &&
				len(l.channels(t, "scratch#ephemeral")) == 0
			switch {
			case k.ours && !ephemeralGone:
				t.Errorf("%s kept ephemeral registrations of a gone producer: topics %q, orders channels %q",
					l.http, l.topics(t), l.channels(t, "orders"))
			case !k.ours && !ephemeralKept:
				t.Errorf("nsqlookupd %s no longer keeps ephemeral registrations of a gone producer (nsq issue 1101): topics %q, orders channels %q",
					l.http, l.topics(t), l.channels(t, "orders"))
			}
		}
	})
}

// TestNSQD_LookupdRestart: a lookupd that comes back empty (a restart, or
// a new one on the old address) learns every topic and channel of nsqd as
// soon as nsqd reconnects. nsqd notices the lost connection on its next
// command, which fails, and reconnects on the one after, registering all it
// has from its connect callback; two channel creations stand in for the
// 15 s heartbeats that do this in production. (Channels, not topics: nsqd
// v1.3.0 reads the lookupd's IDENTIFY reply while creating a topic without
// a lock, racing with the reconnect that rewrites it.)
func TestNSQD_LookupdRestart(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createChannel("orders", "billing")
		d.createTopic("users")
		waitAll(t, ls, "registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") && slices.Contains(l.producers(t, "users"), d.key())
		})

		ls[1].stop()
		fresh := k.start(t)
		d.relays[1].retarget(fresh.tcp)
		if nodes := fresh.nodes(t); len(nodes) != 0 {
			t.Fatalf("new lookupd lists %+v before any producer connected", nodes)
		}

		d.post("/channel/create", "topic", "orders", "channel", "wake1")
		d.post("/channel/create", "topic", "orders", "channel", "wake2")
		all := []lookupdNode{ls[0], fresh}
		waitAll(t, all, "nsqd has everything registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") &&
				registeredEverywhere(t, l, d, "orders", "wake1") &&
				registeredEverywhere(t, l, d, "orders", "wake2") &&
				slices.Contains(l.producers(t, "users"), d.key())
		})
		for _, l := range all {
			n, _ := l.node(t, d)
			slices.Sort(n.Topics)
			if want := []string{"orders", "users"}; !slices.Equal(n.Topics, want) {
				t.Errorf("%s /nodes topics = %q, want %q", l.http, n.Topics, want)
			}
		}
	})
}

// TestNSQD_PrecreatesChannelsKnownToLookupds: when nsqd creates a topic it
// asks every lookupd it is connected to for the topic's channels (at the
// broadcast_address and http_port of the lookupd's IDENTIFY reply) and
// creates the union of them, except ephemeral ones, so no message is lost
// before a consumer arrives; it then registers them on both lookupds.
func TestNSQD_PrecreatesChannelsKnownToLookupds(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		// A registration seen by the lookupds went out after nsqd had read
		// their IDENTIFY replies, so nsqd knows their HTTP addresses now.
		d.createTopic("warmup")
		waitAll(t, ls, "warmup registered", func(l lookupdNode) bool {
			return slices.Contains(l.producers(t, "warmup"), d.key())
		})

		for _, c := range []struct {
			l       lookupdNode
			channel string
		}{{l: ls[0], channel: "billing"}, {l: ls[1], channel: "audit"}, {l: ls[1], channel: "tail#ephemeral"}} {
			u := c.l.url("/channel/create", "topic", "orders", "channel", c.channel)
			if code, body := lookuptest.Post(t, u); code != http.StatusOK {
				t.Fatalf("POST %s: status %d body %s", u, code, body)
			}
		}

		d.createTopic("orders")
		waitAll(t, ls, "pre-created channels registered", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "orders", "billing") &&
				registeredEverywhere(t, l, d, "orders", "audit")
		})
		for _, l := range ls {
			if l.registered(t, d, "channel:orders:tail#ephemeral") {
				t.Errorf("%s: nsqd pre-created the ephemeral channel", l.http)
			}
		}
	})
}
