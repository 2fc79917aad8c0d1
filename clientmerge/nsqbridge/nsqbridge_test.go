package nsqbridge

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"
	"github.com/nsqio/nsq/nsqd"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/clientmerge/internal/cmtest"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// fakeConsumer records Run's calls; its function fields decide the
// answers.
type fakeConsumer struct {
	connect    func(addr string) error
	disconnect func(addr string) error
	mu         sync.Mutex
	calls      []string
}

var _ Consumer = (*fakeConsumer)(nil)

func (f *fakeConsumer) ConnectToNSQD(addr string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "connect "+addr)
	f.mu.Unlock()
	return f.connect(addr)
}

func (f *fakeConsumer) DisconnectFromNSQD(addr string) error {
	f.mu.Lock()
	f.calls = append(f.calls, "disconnect "+addr)
	f.mu.Unlock()
	return f.disconnect(addr)
}

func (f *fakeConsumer) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// TestRun_Reconcile drives Run with a scripted lookupd and a fake
// consumer, covering retries and go-nsq's sentinel errors.
func TestRun_Reconcile(t *testing.T) {
	var answer atomic.Pointer[string]
	set := func(body string) { answer.Store(&body) }
	set(cmtest.ProducersJSON(t, nil, "127.0.0.1:1", "127.0.0.1:2"))
	var down atomic.Bool
	addr, polls := cmtest.FakeLookupd(t, func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			cmtest.RespondV1(w, http.StatusInternalServerError, `{"message":"INTERNAL_ERROR"}`)
			return
		}
		cmtest.RespondV1(w, http.StatusOK, *answer.Load())
	})
	var failsLeft atomic.Int32
	failsLeft.Store(1)
	fc := &fakeConsumer{
		connect: func(a string) error {
			switch a {
			case "127.0.0.1:2":
				if failsLeft.Add(-1) >= 0 {
					return errors.New("dial refused")
				}
			case "127.0.0.1:3":
				return nsq.ErrAlreadyConnected
			}
			return nil
		},
		disconnect: func(a string) error {
			if a == "127.0.0.1:3" {
				return nsq.ErrNotConnected
			}
			return nil
		},
	}
	cl := newClient(t, []string{addr})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() { done <- Run(ctx, cl, fc, "orders", 10*time.Millisecond) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	expect := func(want ...string) {
		t.Helper()
		lookuptest.WaitFor(t, 5*time.Second, "calls "+want[len(want)-1], func() bool { return len(fc.callLog()) >= len(want) })
		// A few more polls must add nothing.
		from := polls.Load()
		lookuptest.WaitFor(t, 5*time.Second, "polls", func() bool { return polls.Load() >= from+4 })
		if got := fc.callLog(); !reflect.DeepEqual(got, want) {
			t.Fatalf("calls:\n got %q\nwant %q", got, want)
		}
	}
	// :2 fails once and is retried on the next interval.
	calls := []string{"connect 127.0.0.1:1", "connect 127.0.0.1:2", "connect 127.0.0.1:2"}
	expect(calls...)

	// :3 is already connected (go-nsq reconnected it itself): no retry.
	set(cmtest.ProducersJSON(t, nil, "127.0.0.1:1", "127.0.0.1:3"))
	calls = append(calls, "connect 127.0.0.1:3", "disconnect 127.0.0.1:2")
	expect(calls...)

	// Lookupds failing changes nothing.
	down.Store(true)
	expect(calls...)
	down.Store(false)

	// Everything gone: both disconnected, ErrNotConnected is fine.
	set(cmtest.ProducersJSON(t, nil))
	calls = append(calls, "disconnect 127.0.0.1:1", "disconnect 127.0.0.1:3")
	expect(calls...)

	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

// newClient builds a clientmerge.Client logging to the test's output.
func newClient(t *testing.T, addrs []string, opts ...clientmerge.Option) *clientmerge.Client {
	t.Helper()
	c, err := clientmerge.New(addrs, append([]clientmerge.Option{clientmerge.WithLogger(cmtest.Logger(t))}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestRun_Args(t *testing.T) {
	cl := newClient(t, []string{"127.0.0.1:1"})
	fc := &fakeConsumer{}
	if err := Run(t.Context(), nil, fc, "t", time.Second); err == nil {
		t.Error("nil client accepted")
	}
	if err := Run(t.Context(), cl, nil, "t", time.Second); err == nil {
		t.Error("nil consumer accepted")
	}
	if err := Run(t.Context(), cl, fc, "t", 0); err == nil {
		t.Error("zero interval accepted")
	}
	if err := Run(t.Context(), cl, fc, "", time.Second); !errors.Is(err, clientmerge.ErrEmptyTopic) {
		t.Errorf("empty topic: %v, want ErrEmptyTopic", err)
	}
	if err := Run(t.Context(), cl, fc, "", time.Second); !errors.Is(err, clientmerge.ErrEmptyTopic) {
		t.Errorf("empty topic: %v, want ErrEmptyTopic", err)
	}
}

// startNSQD runs a real nsqd v1.3.0 that registers with the given lookupd
// TCP addresses.
func startNSQD(t *testing.T, lookupdTCP ...string) (tcpAddr, httpAddr string) {
	t.Helper()
	opts := nsqd.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.HTTPSAddress = ""
	opts.BroadcastAddress = "127.0.0.1"
	opts.DataPath = t.TempDir()
	opts.NSQLookupdTCPAddresses = lookupdTCP
	opts.Logger = nsqref.NopLogger{}
	n, err := nsqd.New(opts)
	if err != nil {
		t.Fatalf("nsqd.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Main() }()
	t.Cleanup(func() {
		n.Exit()
		<-done
	})
	return n.RealTCPAddr().String(), n.RealHTTPAddr().String()
}

// TestRun_EndToEnd: a real nsqd registered with only the second of
// three lookupds; a go-nsq consumer driven by Run over all three gets a
// published message, and is disconnected once that lookupd forgets the
// nsqd, while the nsqd keeps running.
func TestRun_EndToEnd(t *testing.T) {
	for _, im := range cmtest.Impls() {
		t.Run(im.Name, func(t *testing.T) {
			t.Parallel()
			const topic, channel = "e2e", "ch"
			ls := cmtest.StartN(t, im, 3)
			fs := cmtest.Fronts(t, ls)
			nsqdTCP, nsqdHTTP := startNSQD(t, ls[1].TCPAddr)
			cmtest.HTTPPost(t, "http://"+nsqdHTTP+"/topic/create?topic="+topic, "")

			cl := newClient(t, cmtest.FrontAddrs(fs), clientmerge.WithTimeout(2*time.Second))
			lookuptest.WaitFor(t, 10*time.Second, "nsqd registered with lookupd B", func() bool {
				res, _ := cl.Lookup(t.Context(), topic)
				return res != nil && len(res.Producers) == 1 && res.Producers[0].TCPAddr() == nsqdTCP
			})

			cfg := nsq.NewConfig()
			cfg.LookupdPollInterval = 50 * time.Millisecond // go-nsq's own redial period
			consumer, err := nsq.NewConsumer(topic, channel, cfg)
			if err != nil {
				t.Fatal(err)
			}
			consumer.SetLogger(nsqref.NopLogger{}, nsq.LogLevelError)
			msgs := make(chan string, 4)
			consumer.AddHandler(nsq.HandlerFunc(func(m *nsq.Message) error {
				msgs <- string(m.Body)
				return nil
			}))

			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			var wg sync.WaitGroup
			wg.Go(func() { done <- Run(ctx, cl, consumer, topic, 20*time.Millisecond) })
			t.Cleanup(func() {
				cancel()
				wg.Wait()
				consumer.Stop()
				<-consumer.StopChan
			})

			lookuptest.WaitFor(t, 10*time.Second, "consumer connected", func() bool {
				return consumer.Stats().Connections == 1
			})
			cmtest.HTTPPost(t, "http://"+nsqdHTTP+"/pub?topic="+topic, "hello")
			select {
			case m := <-msgs:
				if m != "hello" {
					t.Fatalf("message %q", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no message delivered")
			}

			// Let nsqd's channel registration land first, so that nothing
			// re-adds the topic after the delete.
			lookuptest.WaitFor(t, 10*time.Second, "channel registered", func() bool {
				res, _ := cl.Channels(t.Context(), topic)
				return res != nil && len(res.Channels) == 1
			})
			cmtest.HTTPPost(t, "http://"+ls[1].HTTPAddr+"/topic/delete?topic="+topic, "")
			lookuptest.WaitFor(t, 10*time.Second, "consumer disconnected", func() bool {
				return consumer.Stats().Connections == 0
			})
			// DisconnectFromNSQD also stopped go-nsq's own redialling:
			// still disconnected after a number of its 50 ms periods,
			// measured by bridge polls.
			from := fs[2].Count.Load()
			lookuptest.WaitFor(t, 10*time.Second, "bridge polls", func() bool { return fs[2].Count.Load() >= from+10 })
			if n := consumer.Stats().Connections; n != 0 {
				t.Errorf("consumer reconnected: %d connections", n)
			}

			// Stopping the consumer ends Run with nil.
			consumer.Stop()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after consumer stop, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after consumer stop")
			}
		})
	}
}
