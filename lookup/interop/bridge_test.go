package interop

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/nsqbridge"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// TestBridge_FindsLateNSQDAtOnce: a go-nsq v1.1.0 consumer driven by
// nsqbridge over three of our lookupds, with a poll interval of an hour
// (and go-nsq's own redial period at its maximum, 5 minutes), receives a message from a real
// nsqd started after it: the bridge's blocking queries return when nsqd
// registers the topic, so no poll interval is waited out.
func TestBridge_FindsLateNSQDAtOnce(t *testing.T) {
	const topic, channel, interval = "late", "c", time.Hour
	var ls []lookupdNode
	var daemons []*lookuptest.Daemon
	for range 3 {
		d := lookuptest.StartDaemon(t, nil)
		daemons = append(daemons, d)
		ls = append(ls, lookupdNode{tcp: d.TCPAddr().String(), http: d.HTTPAddr().String(), stop: d.Stop})
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	cl, err := clientmerge.New([]string{ls[0].http, ls[1].http, ls[2].http},
		clientmerge.WithHTTPClient(&http.Client{Transport: tr}),
		clientmerge.WithLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}

	cfg := nsq.NewConfig()
	cfg.LookupdPollInterval = 5 * time.Minute
	consumer, err := nsq.NewConsumer(topic, channel, cfg)
	if err != nil {
		t.Fatal(err)
	}
	consumer.SetLogger(nsqref.TestLogger(t, "[go-nsq] "), nsq.LogLevelWarning)
	msgs := make(chan string, 4)
	consumer.AddHandler(nsq.HandlerFunc(func(m *nsq.Message) error {
		msgs <- string(m.Body)
		return nil
	}))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { nsqbridge.Run(ctx, cl, consumer, topic, interval) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		consumer.Stop()
		<-consumer.StopChan
	})
	for _, d := range daemons {
		lookuptest.WaitFor(t, waitTimeout, "the bridge's blocking query", func() bool { return d.BlockingStats().Waiting == 1 })
	}

	begin := time.Now()
	n := startNSQD(t, ls...)
	n.createTopic(topic)
	lookuptest.WaitFor(t, waitTimeout, "consumer connected to nsqd", func() bool { return consumer.Stats().Connections == 1 })
	publish(t, n, topic, "hello")
	select {
	case m := <-msgs:
		if m != "hello" {
			t.Fatalf("message %q", m)
		}
	case <-time.After(waitTimeout):
		t.Fatal("no message delivered")
	}
	t.Logf("nsqd started to message received: %s (poll interval %s)", time.Since(begin), interval)
}
