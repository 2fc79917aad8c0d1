package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nsqio/nsq/nsqd"
	"go.uber.org/goleak"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/wire"
)

// waitTimeout bounds every poll in this package. Registration is pushed by
// nsqd as it happens, so a healthy run needs milliseconds; the bound only
// decides how long a broken run takes to fail.
const waitTimeout = 10 * time.Second

// lookupdNode is a running lookupd of either kind.
type lookupdNode struct {
	tcp  string // TCP address producers connect to
	http string // HTTP address, host:port
	// stop shuts it down early and waits; the test's cleanup calls it too.
	stop func()
}

// kind starts lookupds of one implementation.
type kind struct {
	name  string
	ours  bool
	start func(t *testing.T) lookupdNode
}

var kinds = []kind{
	{name: "lookupd", ours: true, start: startOurs},
	{name: "nsqlookupd", ours: false, start: startNSQLookupd},
}

// forEachKind runs f as a subtest for our lookupd and for nsqlookupd.
//
// Runs against our lookupd end with a goroutine-leak check, made after
// every cleanup of the subtest (nsqd, consumers, lookupds) has run.
// Runs against nsqlookupd are not checked: its Exit leaves open the HTTP
// keep-alive connections that nsqd's channel pre-creation query made, and
// their goroutines live on for the 90 s idle timeout of nsqd's client.
func forEachKind(t *testing.T, f func(t *testing.T, k kind)) {
	t.Helper()
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			if k.ours {
				before := goleak.IgnoreCurrent()
				t.Cleanup(func() {
					if err := goleak.Find(before); err != nil {
						t.Errorf("goroutines left after the test: %v", err)
					}
				})
			}
			// Runs before the leak check: idle keep-alive connections of the
			// test's own HTTP helpers (lookuptest uses the default transport)
			// hold goroutines on both ends until closed.
			t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections)
			f(t, k)
		})
	}
}

// startN starts n independent lookupds of kind k.
func (k kind) startN(t *testing.T, n int) []lookupdNode {
	t.Helper()
	out := make([]lookupdNode, n)
	for i := range out {
		out[i] = k.start(t)
	}
	return out
}

func startOurs(t *testing.T) lookupdNode {
	t.Helper()
	d := lookuptest.StartDaemon(t, nil)
	return lookupdNode{tcp: d.TCPAddr().String(), http: d.HTTPAddr().String(), stop: d.Stop}
}

func startNSQLookupd(t *testing.T) lookupdNode {
	t.Helper()
	d := nsqref.Start(t, nil)
	return lookupdNode{tcp: d.TCPAddr, http: d.HTTPAddr, stop: d.Stop}
}

// relay forwards every connection accepted on its own loopback listener to
// its target. nsqd reaches each lookupd through one, because nsqd v1.3.0's
// Exit leaves its lookupd connections open (the kernel closes them when a
// real nsqd process ends); closing the relay is how a test ends them. A
// relay can also be pointed at a new lookupd, which nsqd then sees as the
// old address coming back.
type relay struct {
	*lookuptest.Listener

	mu     sync.Mutex
	target string
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	r := &relay{target: target}
	r.Listener = lookuptest.Listen(t, r.pipe)
	return r
}

// retarget sends connections accepted from now on to target.
func (r *relay) retarget(target string) {
	r.mu.Lock()
	r.target = target
	r.mu.Unlock()
}

// pipe copies both ways between down, an accepted connection, and a new
// one to the target, until either side ends; the listener closes down
// when the relay closes, which ends both copies.
func (r *relay) pipe(down net.Conn) {
	r.mu.Lock()
	target := r.target
	r.mu.Unlock()
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		return
	}
	var wg sync.WaitGroup
	copyThenClose := func(dst, src net.Conn) {
		io.Copy(dst, src)
		down.Close()
		up.Close()
	}
	wg.Go(func() { copyThenClose(up, down) })
	wg.Go(func() { copyThenClose(down, up) })
	wg.Wait()
}

// nsqdNode is a running in-process nsqd v1.3.0.
type nsqdNode struct {
	t        *testing.T
	n        *nsqd.NSQD
	tcpPort  int
	httpPort int
	http     string // host:port of its HTTP API
	relays   []*relay
	done     chan error
	stopOnce sync.Once
}

// startNSQD runs an nsqd that announces itself to every lookupd in ls (each
// through its own relay) until the test ends.
func startNSQD(t *testing.T, ls ...lookupdNode) *nsqdNode {
	t.Helper()
	d := &nsqdNode{t: t, done: make(chan error, 1)}
	opts := nsqd.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	opts.DataPath = t.TempDir()
	opts.Logger = nsqref.TestLogger(t, "[nsqd] ")
	opts.LogLevel = nsqd.LOG_WARN
	for _, l := range ls {
		r := startRelay(t, l.tcp)
		d.relays = append(d.relays, r)
		opts.NSQLookupdTCPAddresses = append(opts.NSQLookupdTCPAddresses, r.Addr())
	}
	n, err := nsqd.New(opts)
	if err != nil {
		t.Fatalf("start nsqd: %v", err)
	}
	d.n = n
	d.tcpPort = n.RealTCPAddr().(*net.TCPAddr).Port
	d.httpPort = n.RealHTTPAddr().(*net.TCPAddr).Port
	d.http = n.RealHTTPAddr().String()
	go func() { d.done <- n.Main() }()
	t.Cleanup(d.stop)
	return d
}

// key is how lookupds and go-nsq name this nsqd: broadcast_address:tcp_port.
func (d *nsqdNode) key() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.tcpPort)) }

// tcpAddr is the address clients connect to.
func (d *nsqdNode) tcpAddr() string { return d.key() }

// stop ends nsqd the way a process exit does: Exit, then the sockets it
// left open to the lookupds are closed. Safe to call more than once.
func (d *nsqdNode) stop() {
	d.stopOnce.Do(func() {
		d.n.Exit()
		if err := <-d.done; err != nil {
			d.t.Errorf("nsqd Main: %v", err)
		}
		for _, r := range d.relays {
			r.Close()
		}
	})
}

// post calls nsqd's HTTP API with the given query pairs and requires 200.
func (d *nsqdNode) post(path string, kv ...string) {
	d.t.Helper()
	u := "http://" + d.http + path + "?" + query(kv...)
	if code, body := lookuptest.Post(d.t, u); code != http.StatusOK {
		d.t.Fatalf("POST %s: status %d body %s", u, code, body)
	}
}

// createTopic creates topic on nsqd through its HTTP API.
func (d *nsqdNode) createTopic(topic string) {
	d.t.Helper()
	d.post("/topic/create", "topic", topic)
}

// createChannel creates topic (nsqd's /channel/create needs it to exist)
// and then channel on nsqd through its HTTP API.
func (d *nsqdNode) createChannel(topic, channel string) {
	d.t.Helper()
	d.createTopic(topic)
	d.post("/channel/create", "topic", topic, "channel", channel)
}

func query(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// listedProducer is a producer as /lookup and /nodes show it: the fields of its
// IDENTIFY under the same JSON names, plus remote_address.
type listedProducer struct{ wire.ProducerInfo }

func (p listedProducer) key() string {
	return net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.TCPPort))
}

type node struct {
	listedProducer
	Tombstones []bool   `json:"tombstones"`
	Topics     []string `json:"topics"`
}

type lookupResult struct {
	Channels  []string         `json:"channels"`
	Producers []listedProducer `json:"producers"`
}

func (l lookupdNode) url(path string, kv ...string) string {
	u := "http://" + l.http + path
	if len(kv) > 0 {
		u += "?" + query(kv...)
	}
	return u
}

func (l lookupdNode) topics(t *testing.T) []string {
	t.Helper()
	var out struct {
		Topics []string `json:"topics"`
	}
	lookuptest.GetJSON(t, l.url("/topics"), &out)
	return out.Topics
}

func (l lookupdNode) channels(t *testing.T, topic string) []string {
	t.Helper()
	var out struct {
		Channels []string `json:"channels"`
	}
	lookuptest.GetJSON(t, l.url("/channels", "topic", topic), &out)
	return out.Channels
}

// lookup returns /lookup?topic= and whether the topic was found (200 rather
// than 404).
func (l lookupdNode) lookup(t *testing.T, topic string) (lookupResult, bool) {
	t.Helper()
	var out lookupResult
	u := l.url("/lookup", "topic", topic)
	code, body := lookuptest.Get(t, u)
	if code == http.StatusNotFound {
		return out, false
	}
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d body %s", u, code, body)
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: decode %s: %v", u, body, err)
	}
	return out, true
}

func (l lookupdNode) nodes(t *testing.T) []node {
	t.Helper()
	var out struct {
		Producers []node `json:"producers"`
	}
	lookuptest.GetJSON(t, l.url("/nodes"), &out)
	return out.Producers
}

// node returns the /nodes entry for d, if listed.
func (l lookupdNode) node(t *testing.T, d *nsqdNode) (node, bool) {
	t.Helper()
	for _, n := range l.nodes(t) {
		if n.key() == d.key() {
			return n, true
		}
	}
	return node{}, false
}

// debug returns /debug: "category:key:subkey" to the producers registered
// under it, as "broadcast_address:tcp_port".
func (l lookupdNode) debug(t *testing.T) map[string][]string {
	t.Helper()
	var raw map[string][]listedProducer
	lookuptest.GetJSON(t, l.url("/debug"), &raw)
	out := make(map[string][]string, len(raw))
	for k, ps := range raw {
		for _, p := range ps {
			out[k] = append(out[k], p.key())
		}
	}
	return out
}

// registered reports whether d is a producer of registration reg
// ("topic:T:" or "channel:T:C") according to /debug.
func (l lookupdNode) registered(t *testing.T, d *nsqdNode, reg string) bool {
	t.Helper()
	return slices.Contains(l.debug(t)[reg], d.key())
}

// producers returns the keys of /lookup?topic='s producers (nil if 404).
func (l lookupdNode) producers(t *testing.T, topic string) []string {
	t.Helper()
	res, ok := l.lookup(t, topic)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(res.Producers))
	for _, p := range res.Producers {
		keys = append(keys, p.key())
	}
	return keys
}

// waitAll polls cond against every lookupd in ls until it holds for each.
func waitAll(t *testing.T, ls []lookupdNode, msg string, cond func(l lookupdNode) bool) {
	t.Helper()
	for i, l := range ls {
		lookuptest.WaitFor(t, waitTimeout, fmt.Sprintf("%s on lookupd %d (%s)", msg, i, l.http), func() bool {
			return cond(l)
		})
	}
}
