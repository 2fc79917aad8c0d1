package interop

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// consumer is a go-nsq v1.1.0 Consumer that finds nsqd through lookupds.
type consumer struct {
	t    *testing.T
	c    *nsq.Consumer
	tr   *http.Transport
	msgs chan string
	once sync.Once
}

// startConsumer subscribes to topic/channel, polling the lookupds in ls in
// that order (go-nsq asks the first one at once, then takes turns every
// 100 ms). It is stopped when the test ends if not before.
func startConsumer(t *testing.T, topic, channel string, ls ...lookupdNode) *consumer {
	t.Helper()
	return startConsumerWith(t, nsq.NewConfig(), topic, channel, ls...)
}

// startConsumerWith is startConsumer with the consumer's config (its
// lookupd poll interval is set to 100 ms).
func startConsumerWith(t *testing.T, cfg *nsq.Config, topic, channel string, ls ...lookupdNode) *consumer {
	t.Helper()
	cfg.LookupdPollInterval = 100 * time.Millisecond
	c, err := nsq.NewConsumer(topic, channel, cfg)
	if err != nil {
		t.Fatalf("new consumer %s/%s: %v", topic, channel, err)
	}
	c.SetLogger(nsqref.TestLogger(t, "[go-nsq] "), nsq.LogLevelWarning)
	// go-nsq's own lookupd client keeps idle connections for 90 s; owning the
	// transport lets the test close them (nsqlookupd's Exit does not).
	// A config with a TLS configuration gives it to the lookupd client.
	tr := &http.Transport{TLSClientConfig: cfg.TlsConfig}
	c.SetLookupdHttpClient(&http.Client{Transport: tr, Timeout: 5 * time.Second})
	cs := &consumer{t: t, c: c, tr: tr, msgs: make(chan string, 16)}
	c.AddHandler(nsq.HandlerFunc(func(m *nsq.Message) error {
		select {
		case cs.msgs <- string(m.Body):
		default:
		}
		return nil
	}))
	addrs := make([]string, 0, len(ls))
	for _, l := range ls {
		if cfg.TlsConfig != nil {
			addrs = append(addrs, "https://"+l.http)
		} else {
			addrs = append(addrs, l.http)
		}
	}
	t.Cleanup(cs.stop)
	if err := c.ConnectToNSQLookupds(addrs); err != nil {
		t.Fatalf("consumer %s/%s connect to lookupds: %v", topic, channel, err)
	}
	return cs
}

// stop stops the consumer and waits until it has closed its connections and
// goroutines. Safe to call more than once.
func (cs *consumer) stop() {
	cs.once.Do(func() {
		cs.c.Stop()
		timer := time.NewTimer(waitTimeout)
		defer timer.Stop()
		select {
		case <-cs.c.StopChan:
		case <-timer.C:
			cs.t.Errorf("consumer did not stop within %s", waitTimeout)
		}
		cs.tr.CloseIdleConnections()
	})
}

// expect waits for a message with body want.
func (cs *consumer) expect(want string) {
	cs.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case got := <-cs.msgs:
		if got != want {
			cs.t.Fatalf("consumer got %q, want %q", got, want)
		}
	case <-timer.C:
		cs.t.Fatalf("no message within %s", waitTimeout)
	}
}

// publish sends body to topic on d with a go-nsq Producer.
func publish(t *testing.T, d *nsqdNode, topic, body string) {
	t.Helper()
	p, err := nsq.NewProducer(d.tcpAddr(), nsq.NewConfig())
	if err != nil {
		t.Fatalf("new producer: %v", err)
	}
	p.SetLogger(nsqref.TestLogger(t, "[go-nsq] "), nsq.LogLevelWarning)
	defer p.Stop()
	if err := p.Publish(topic, []byte(body)); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

// TestConsumer_FindsNSQDThroughLookupds: go-nsq consumers that know only
// the two lookupds find nsqd through them, subscribe (which nsqd announces
// back to both lookupds) and receive a message published to nsqd. One
// consumer asks lookupd 0 first, the other lookupd 1.
func TestConsumer_FindsNSQDThroughLookupds(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createTopic("events")
		waitAll(t, ls, "events registered", func(l lookupdNode) bool {
			return slices.Contains(l.producers(t, "events"), d.key())
		})

		first := startConsumer(t, "events", "first", ls[0], ls[1])
		second := startConsumer(t, "events", "second", ls[1], ls[0])
		waitAll(t, ls, "both subscriptions announced", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "events", "first") &&
				registeredEverywhere(t, l, d, "events", "second")
		})

		publish(t, d, "events", "hello")
		first.expect("hello")
		second.expect("hello")
		first.stop()
		second.stop()
	})
}

// TestConsumer_EphemeralChannel: a consumer on an ephemeral channel makes
// nsqd create and announce it; when the consumer stops, nsqd deletes the
// channel and both lookupds drop it. On an ephemeral topic, the topic goes
// too once its last channel is gone.
func TestConsumer_EphemeralChannel(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createTopic("events")
		d.createTopic("scratch#ephemeral")
		waitAll(t, ls, "topics registered", func(l lookupdNode) bool {
			return slices.Contains(l.producers(t, "events"), d.key()) &&
				slices.Contains(l.producers(t, "scratch#ephemeral"), d.key())
		})

		onPlain := startConsumer(t, "events", "tail#ephemeral", ls...)
		onEphemeral := startConsumer(t, "scratch#ephemeral", "tail#ephemeral", ls[1], ls[0])
		waitAll(t, ls, "ephemeral channels announced", func(l lookupdNode) bool {
			return registeredEverywhere(t, l, d, "events", "tail#ephemeral") &&
				registeredEverywhere(t, l, d, "scratch#ephemeral", "tail#ephemeral")
		})
		publish(t, d, "events", "to the tail")
		onPlain.expect("to the tail")

		onPlain.stop()
		waitAll(t, ls, "events/tail#ephemeral dropped", func(l lookupdNode) bool {
			res, _ := l.lookup(t, "events")
			return !slices.Contains(l.channels(t, "events"), "tail#ephemeral") &&
				!slices.Contains(res.Channels, "tail#ephemeral") &&
				!l.registered(t, d, "channel:events:tail#ephemeral")
		})
		for _, l := range ls {
			if !slices.Contains(l.producers(t, "events"), d.key()) {
				t.Errorf("%s: dropping events/tail#ephemeral removed nsqd from events", l.http)
			}
			if !registeredEverywhere(t, l, d, "scratch#ephemeral", "tail#ephemeral") {
				t.Errorf("%s: the other consumer's channel went too", l.http)
			}
		}

		onEphemeral.stop()
		waitAll(t, ls, "scratch#ephemeral dropped", func(l lookupdNode) bool {
			n, ok := l.node(t, d)
			return !slices.Contains(l.topics(t), "scratch#ephemeral") &&
				len(l.channels(t, "scratch#ephemeral")) == 0 &&
				ok && slices.Equal(n.Topics, []string{"events"})
		})
		for _, l := range ls {
			if _, found := l.lookup(t, "scratch#ephemeral"); found {
				t.Errorf("%s /lookup?topic=scratch#ephemeral still answers 200", l.http)
			}
		}
	})
}
