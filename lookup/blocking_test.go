package lookup_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/fakeclock"
)

// reply is one HTTP answer as a blocking-query client sees it.
type reply struct {
	status int
	index  uint64
	body   string
	close  bool  // the server asked to close the connection
	reused bool  // the request went over a connection used before
	err    error // transport error
}

// blockingEnv is a running lookupd on a fake clock: waits and expiries
// move only when the test advances the clock, so every early return is a
// wake-up, never a timeout.
type blockingEnv struct {
	t   *testing.T
	d   *lookuptest.Daemon
	clk *fakeclock.Clock
	hc  *http.Client

	settles int
}

func startBlocking(t *testing.T, tweak func(*lookup.Options)) *blockingEnv {
	t.Helper()
	clk := fakeclock.New()
	o := lookuptest.Options(t)
	o.Now, o.AfterFunc = clk.Now, clk.AfterFunc
	if tweak != nil {
		tweak(o)
	}
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &blockingEnv{t: t, d: lookuptest.StartDaemon(t, o), clk: clk, hc: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

func (e *blockingEnv) url(path string) string { return e.d.HTTPURL() + path }

// fetch performs one GET and never fails the test, so any goroutine may
// call it.
func (e *blockingEnv) fetch(path string) reply {
	var r reply
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { r.reused = i.Reused },
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.url(path), nil)
	if err != nil {
		r.err = err
		return r
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		r.err = err
		return r
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	r.status, r.body, r.close, r.err = resp.StatusCode, string(b), resp.Close, err
	if v := resp.Header.Get(httpapi.HeaderIndex); v != "" {
		r.index, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			r.err = fmt.Errorf("%s %q: %w", httpapi.HeaderIndex, v, err)
		}
	}
	return r
}

// get is fetch from the test goroutine, failing on transport errors and
// on answers without an index.
func (e *blockingEnv) get(path string) reply {
	e.t.Helper()
	r := e.fetch(path)
	if r.err != nil {
		e.t.Fatalf("GET %s: %v", path, r.err)
	}
	if r.index == 0 && r.status != http.StatusBadRequest {
		e.t.Fatalf("GET %s: %d without %s", path, r.status, httpapi.HeaderIndex)
	}
	return r
}

// block starts a blocking GET of path at index and waits until the
// lookupd holds it (waiting blocked queries in all).
func (e *blockingEnv) block(path string, index uint64, waiting int) <-chan reply {
	e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	ch := make(chan reply, 1)
	go func() { ch <- e.fetch(fmt.Sprintf("%s%sindex=%d&wait=10m", path, sep, index)) }()
	e.waitBlocked(waiting)
	return ch
}

func (e *blockingEnv) waitBlocked(n int) {
	e.t.Helper()
	lookuptest.WaitFor(e.t, 5*time.Second, fmt.Sprintf("%d blocked queries", n), func() bool {
		return e.d.BlockingStats().Waiting == n
	})
}

// recv returns the reply of a blocking GET, failing if none comes within
// 5 s (a wait of 10 minutes on a fake clock never ends by itself).
func (e *blockingEnv) recv(ch <-chan reply, what string) reply {
	e.t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			e.t.Fatalf("%s: %v", what, r.err)
		}
		return r
	case <-time.After(5 * time.Second):
		e.t.Fatalf("%s: no answer within 5s", what)
		return reply{}
	}
}

// settle returns once the lookupd has dealt with every change made before
// the call, so that a wake-up they wrongly caused would have happened: it
// twice creates a topic and waits for a blocked /topics to see it. The
// lookupd recomputes changed answers in batches; the second round's
// batch starts after the first round's has ended. waiting is the number
// of other blocked queries held.
func (e *blockingEnv) settle(waiting int) {
	e.t.Helper()
	for range 2 {
		e.settles++
		ch := e.block("/topics", e.get("/topics").index, waiting+1)
		lookuptest.Post(e.t, e.url(fmt.Sprintf("/topic/create?topic=settle%d", e.settles)))
		e.recv(ch, "settle")
		e.waitBlocked(waiting)
	}
}

// pending fails if a blocking GET has already been answered.
func (e *blockingEnv) pending(ch <-chan reply, what string) {
	e.t.Helper()
	select {
	case r := <-ch:
		e.t.Fatalf("%s: answered %d %s (index %d), want still waiting", what, r.status, r.body, r.index)
	default:
	}
}

// producer connects a producer on tcpPort and registers topic/channel
// pairs ("t" or "t c").
func (e *blockingEnv) producer(tcpPort int, regs ...string) *lookuptest.Conn {
	e.t.Helper()
	p := lookuptest.Dial(e.t, e.d.TCPAddr().String())
	p.Identify(lookuptest.ProducerInfo(tcpPort))
	for _, r := range regs {
		topic, channel, _ := strings.Cut(r, " ")
		if got := string(p.Register(topic, channel)); got != "OK" {
			e.t.Fatalf("register %s: %q", r, got)
		}
	}
	return p
}

func TestBlocking_IndexPerAnswer(t *testing.T) {
	e := startBlocking(t, nil)
	a := e.producer(4150, "a c1", "b")
	paths := []string{"/lookup?topic=a", "/lookup?topic=b", "/channels?topic=a", "/channels?topic=b",
		"/topics", "/nodes", "/lookup?topic=missing", "/channels?topic=missing"}
	index := func() map[string]uint64 {
		m := make(map[string]uint64)
		for _, p := range paths {
			m[p] = e.get(p).index
		}
		return m
	}
	before := index()
	if r := e.get("/lookup?topic=missing"); r.status != http.StatusNotFound {
		t.Fatalf("missing topic: %d %s", r.status, r.body)
	}
	if again := index(); fmt.Sprint(again) != fmt.Sprint(before) {
		t.Fatalf("indexes moved without a change:\n%v\n%v", before, again)
	}
	expect := func(step string, moved ...string) {
		t.Helper()
		after := index()
		for _, p := range paths {
			want := false
			for _, m := range moved {
				want = want || m == p
			}
			if got := after[p] != before[p]; got != want {
				t.Errorf("%s: %s index %d -> %d, want moved=%v", step, p, before[p], after[p], want)
			}
		}
		before = after
	}

	a.Ping()
	expect("PING")
	a.Register("b", "c2")
	expect("new channel of b", "/lookup?topic=b", "/channels?topic=b")
	e.producer(4160, "a c1")
	expect("second producer of a, no new channel", "/lookup?topic=a", "/nodes")
	a.Register("a", "c1")
	expect("registering what is registered")
	e.producer(4170, "new")
	expect("new topic", "/topics", "/nodes")
	lookuptest.Post(t, e.url("/channel/create?topic=missing&channel=x"))
	expect("topic created by a channel", "/topics", "/lookup?topic=missing", "/channels?topic=missing")
	if r := e.get("/lookup?topic=missing"); r.status != http.StatusOK {
		t.Fatalf("created topic: %d %s", r.status, r.body)
	}
	lookuptest.Post(t, e.url("/topic/delete?topic=missing"))
	expect("topic deleted", "/topics", "/lookup?topic=missing", "/channels?topic=missing")
	// Its index is new, not the one it had before it existed.
	if r := e.get("/lookup?topic=missing"); r.status != http.StatusNotFound {
		t.Fatalf("deleted topic: %d %s", r.status, r.body)
	}
}

func TestBlocking_WakesOnChangeOnly(t *testing.T) {
	e := startBlocking(t, nil)
	e.producer(4150, "a", "b")
	la, lb, nodes := e.get("/lookup?topic=a"), e.get("/lookup?topic=b"), e.get("/nodes")
	chA := e.block("/lookup?topic=a", la.index, 1)
	chB := e.block("/lookup?topic=b", lb.index, 2)
	chCh := e.block("/channels?topic=a", e.get("/channels?topic=a").index, 3)
	chN := e.block("/nodes", nodes.index, 4)

	// A change to b's producers: b and /nodes wake, a and a's channels do
	// not, however long one waits for them (the wake-ups happen inside the
	// change that causes them, counted by Woken).
	p := e.producer(4160, "b")
	rb := e.recv(chB, "lookup b")
	rn := e.recv(chN, "nodes")
	if rb.index == lb.index || !strings.Contains(rb.body, `"tcp_port":4160`) {
		t.Fatalf("lookup b woke with index %d (was %d) body %s", rb.index, lb.index, rb.body)
	}
	if rn.index == nodes.index || !strings.Contains(rn.body, `"tcp_port":4160`) {
		t.Fatalf("nodes woke with index %d (was %d) body %s", rn.index, nodes.index, rn.body)
	}
	e.waitBlocked(2)
	e.settle(2)
	if w := e.d.BlockingStats().Woken; w != 2+2 {
		t.Fatalf("woken %d waiters, want 2 (lookup b and nodes)", w)
	}
	e.pending(chA, "lookup a after a change to b")
	e.pending(chCh, "channels a after a change to b")

	// A producer of a with no new channel wakes /lookup but not /channels.
	p.Register("a", "")
	ra := e.recv(chA, "lookup a")
	if ra.index == la.index || ra.status != http.StatusOK || !strings.Contains(ra.body, `"tcp_port":4160`) {
		t.Fatalf("lookup a woke with %d index %d body %s", ra.status, ra.index, ra.body)
	}
	e.waitBlocked(1)
	e.settle(1)
	e.pending(chCh, "channels a after a producer joined a")
	p.Register("a", "c")
	if rc := e.recv(chCh, "channels a"); rc.body != `{"channels":["c"]}` {
		t.Fatalf("channels a woke with %s", rc.body)
	}
	if w := e.d.BlockingStats().Woken; w != 2+2+1+2+1 {
		t.Fatalf("woken %d waiters in all, want 8 (4 of them by settle)", w)
	}
}

func TestBlocking_MissingTopicWakesWhenCreated(t *testing.T) {
	e := startBlocking(t, nil)
	r := e.get("/lookup?topic=later")
	if r.status != http.StatusNotFound {
		t.Fatalf("status %d", r.status)
	}
	ch := e.block("/lookup?topic=later", r.index, 1)
	e.producer(4150, "other")
	e.settle(1)
	e.pending(ch, "lookup of a missing topic after another topic appeared")
	e.producer(4160, "later")
	got := e.recv(ch, "lookup later")
	if got.status != http.StatusOK || got.index == r.index || !strings.Contains(got.body, `"tcp_port":4160`) {
		t.Fatalf("woke with %d index %d body %s", got.status, got.index, got.body)
	}
}

func TestBlocking_WaitExpires(t *testing.T) {
	e := startBlocking(t, nil)
	e.producer(4150, "a")
	r := e.get("/lookup?topic=a")
	ch := make(chan reply, 1)
	go func() { ch <- e.fetch(fmt.Sprintf("/lookup?topic=a&index=%d&wait=32s", r.index)) }()
	e.waitBlocked(1)
	e.clk.Advance(31 * time.Second)
	e.pending(ch, "before the wait ran out")
	// The wait is 32 s plus up to 2 s of jitter.
	e.clk.Advance(3*time.Second + time.Millisecond)
	got := e.recv(ch, "after the wait ran out")
	if got.status != http.StatusOK || got.index != r.index || got.body != r.body {
		t.Fatalf("got %d index %d %s, want the unchanged answer %d %s", got.status, got.index, got.body, r.index, r.body)
	}
}

func TestBlocking_DefaultAndCappedWait(t *testing.T) {
	for _, tc := range []struct {
		name, wait string
		max        time.Duration
	}{
		{"absent means 60s", "", 60 * time.Second},
		{"zero means 60s", "&wait=0s", 60 * time.Second},
		{"capped at 10m", "&wait=1h", 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startBlocking(t, nil)
			r := e.get("/topics")
			ch := make(chan reply, 1)
			go func() { ch <- e.fetch(fmt.Sprintf("/topics?index=%d%s", r.index, tc.wait)) }()
			e.waitBlocked(1)
			e.clk.Advance(tc.max - time.Second)
			e.pending(ch, "before the wait ran out")
			e.clk.Advance(time.Second + tc.max/16 + time.Millisecond)
			if got := e.recv(ch, "after the wait ran out"); got.index != r.index {
				t.Fatalf("index %d, want %d", got.index, r.index)
			}
		})
	}
}

func TestBlocking_StaleOrZeroIndexAnswersAtOnce(t *testing.T) {
	e := startBlocking(t, nil)
	r := e.get("/topics")
	for _, idx := range []uint64{0, r.index - 1, r.index + 1, 1 << 62} {
		if idx == r.index {
			continue
		}
		got := e.get(fmt.Sprintf("/topics?index=%d&wait=10m", idx))
		if got.index != r.index || got.body != r.body {
			t.Fatalf("index=%d: got index %d %s", idx, got.index, got.body)
		}
	}
	if n := e.d.BlockingStats().Total; n != 0 {
		t.Fatalf("%d queries blocked, want none", n)
	}
}

// A lookupd that restarted counts again from 1, so the index a client
// kept from the old one is greater than the new one's: answered at once.
func TestBlocking_IndexResetAfterRestart(t *testing.T) {
	old := startBlocking(t, nil)
	p := old.producer(4150, "a")
	for i := range 5 {
		p.Register("a", fmt.Sprintf("c%d", i))
		old.get("/lookup?topic=a")
	}
	kept := old.get("/lookup?topic=a")
	old.d.Stop()

	e := startBlocking(t, nil)
	e.producer(4150, "a")
	r := e.get(fmt.Sprintf("/lookup?topic=a&index=%d&wait=10m", kept.index))
	if r.index >= kept.index || r.status != http.StatusOK {
		t.Fatalf("restarted lookupd answered %d with index %d, want at once with one below %d", r.status, r.index, kept.index)
	}
	if n := e.d.BlockingStats().Total; n != 0 {
		t.Fatalf("%d queries blocked, want none", n)
	}
}

func TestBlocking_TimeDrivenWake(t *testing.T) {
	t.Run("producer goes inactive", func(t *testing.T) {
		e := startBlocking(t, func(o *lookup.Options) { o.InactiveProducerTimeout = time.Minute })
		e.producer(4150, "a")
		r := e.get("/lookup?topic=a")
		n := e.get("/nodes")
		ch := e.block("/lookup?topic=a", r.index, 1)
		chN := e.block("/nodes", n.index, 2)
		e.clk.Advance(time.Minute)
		e.pending(ch, "lookup at the inactive timeout")
		e.clk.Advance(time.Millisecond)
		got := e.recv(ch, "lookup after the inactive timeout")
		if got.index == r.index || got.body != `{"channels":[],"producers":[]}` {
			t.Fatalf("woke with index %d (was %d) body %s", got.index, r.index, got.body)
		}
		if got := e.recv(chN, "nodes after the inactive timeout"); got.body != `{"producers":[]}` {
			t.Fatalf("nodes woke with %s", got.body)
		}
	})
	t.Run("tombstone expires", func(t *testing.T) {
		e := startBlocking(t, func(o *lookup.Options) { o.TombstoneLifetime = 30 * time.Second })
		e.producer(4150, "a")
		lookuptest.Post(t, e.url("/topic/tombstone?topic=a&node=127.0.0.1:4151"))
		r := e.get("/lookup?topic=a")
		n := e.get("/nodes")
		if r.body != `{"channels":[],"producers":[]}` || !strings.Contains(n.body, `"tombstones":[true]`) {
			t.Fatalf("tombstoned: lookup %s nodes %s", r.body, n.body)
		}
		ch := e.block("/lookup?topic=a", r.index, 1)
		chN := e.block("/nodes", n.index, 2)
		e.clk.Advance(29 * time.Second)
		e.pending(ch, "lookup before the tombstone expired")
		e.clk.Advance(time.Second)
		got := e.recv(ch, "lookup after the tombstone expired")
		if got.index == r.index || !strings.Contains(got.body, `"tcp_port":4150`) {
			t.Fatalf("woke with index %d (was %d) body %s", got.index, r.index, got.body)
		}
		if got := e.recv(chN, "nodes after the tombstone expired"); !strings.Contains(got.body, `"tombstones":[false]`) {
			t.Fatalf("nodes woke with %s", got.body)
		}
	})
	t.Run("pings move the expiry without waking", func(t *testing.T) {
		e := startBlocking(t, func(o *lookup.Options) { o.InactiveProducerTimeout = time.Minute })
		p := e.producer(4150, "a")
		r := e.get("/lookup?topic=a")
		ch := e.block("/lookup?topic=a", r.index, 1)
		e.clk.Advance(50 * time.Second)
		p.Ping()
		e.clk.Advance(20 * time.Second) // past the first expiry, not the second
		e.settle(1)
		e.pending(ch, "lookup after a ping moved the expiry")
		e.clk.Advance(40*time.Second + time.Millisecond)
		if got := e.recv(ch, "lookup after the second expiry"); got.body != `{"channels":[],"producers":[]}` {
			t.Fatalf("woke with %s", got.body)
		}
	})
}

// A graceful shutdown answers every blocked query at once, with the
// current answer, and closes their connections.
func TestBlocking_ShutdownAnswersWaiters(t *testing.T) {
	e := startBlocking(t, func(o *lookup.Options) { o.ShutdownTimeout = 10 * time.Second })
	e.producer(4150, "a c")
	paths := []string{"/lookup?topic=a", "/channels?topic=a", "/topics", "/nodes"}
	var before []reply
	var chs []<-chan reply
	for i, p := range paths {
		r := e.get(p)
		before = append(before, r)
		chs = append(chs, e.block(p, r.index, i+1))
	}
	begin := time.Now()
	e.d.Stop()
	if el := time.Since(begin); el > 5*time.Second {
		t.Fatalf("shutdown took %s", el)
	}
	for i, ch := range chs {
		got := e.recv(ch, paths[i])
		if got.status != http.StatusOK || got.index != before[i].index || got.body != before[i].body || !got.close {
			t.Fatalf("%s: got %d index %d close=%v %s, want the current answer %d %s and Connection: close",
				paths[i], got.status, got.index, got.close, got.body, before[i].index, before[i].body)
		}
	}
}

// Past --max-blocking-queries a query is answered at once, as if it had
// no index, and counted.
func TestBlocking_Cap(t *testing.T) {
	e := startBlocking(t, func(o *lookup.Options) { o.MaxBlockingQueries = 2 })
	r := e.get("/topics")
	ch1 := e.block("/topics", r.index, 1)
	ch2 := e.block("/topics", r.index, 2)
	got := e.get(fmt.Sprintf("/topics?index=%d&wait=10m", r.index))
	if got.status != http.StatusOK || got.index != r.index || got.body != r.body {
		t.Fatalf("past the cap: %d index %d %s", got.status, got.index, got.body)
	}
	if s := e.d.BlockingStats(); s.Capped != 1 || s.Waiting != 2 {
		t.Fatalf("stats %+v, want 1 capped and 2 waiting", s)
	}
	_, metrics := lookuptest.Get(t, e.url("/metrics"))
	for _, want := range []string{"lookupd_blocking_queries_capped_total 1", "lookupd_blocking_queries 2"} {
		if !strings.Contains(string(metrics), want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	e.producer(4150, "a")
	e.recv(ch1, "first")
	e.recv(ch2, "second")

	t.Run("zero disables blocking", func(t *testing.T) {
		e := startBlocking(t, func(o *lookup.Options) { o.MaxBlockingQueries = 0 })
		r := e.get("/topics")
		if got := e.get(fmt.Sprintf("/topics?index=%d", r.index)); got.index != r.index {
			t.Fatalf("index %d", got.index)
		}
		if s := e.d.BlockingStats(); s.Capped != 1 || s.Total != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestBlocking_BadValues(t *testing.T) {
	e := startBlocking(t, nil)
	e.producer(4150, "a c")
	before := e.get("/nodes")
	for _, path := range []string{"/lookup?topic=a&", "/channels?topic=a&", "/topics?", "/nodes?"} {
		for _, tc := range []struct{ query, code string }{
			{"index=abc", "INVALID_ARG_INDEX"},
			{"index=-1", "INVALID_ARG_INDEX"},
			{"index=1.5", "INVALID_ARG_INDEX"},
			{"index=18446744073709551616", "INVALID_ARG_INDEX"},
			{"index=1&wait=abc", "INVALID_ARG_WAIT"},
			{"index=1&wait=5", "INVALID_ARG_WAIT"},
			{"index=1&wait=-1s", "INVALID_ARG_WAIT"},
			{"wait=1x", "INVALID_ARG_WAIT"},
		} {
			r := e.fetch(path + tc.query)
			if r.err != nil || r.status != http.StatusBadRequest || r.body != `{"message":"`+tc.code+`"}` || r.index != 0 {
				t.Errorf("GET %s%s: %d %s index %d err %v, want 400 %s", path, tc.query, r.status, r.body, r.index, r.err, tc.code)
			}
		}
	}
	// Empty values count as absent, as in Consul.
	if r := e.get("/topics?index=&wait="); r.status != http.StatusOK {
		t.Errorf("empty index and wait: %d %s", r.status, r.body)
	}
	// The topic is checked first, as nsqlookupd checks it.
	if r := e.fetch("/lookup?index=abc"); r.body != `{"message":"MISSING_ARG_TOPIC"}` {
		t.Errorf("missing topic and bad index: %s", r.body)
	}
	if after := e.get("/nodes"); after.body != before.body || after.index != before.index {
		t.Errorf("registrations changed: %s -> %s", before.body, after.body)
	}
}

// A blocked query outlives the server's read and write timeouts, and its
// connection serves the next request (keep-alive), on the real clock.
func TestBlocking_LongerThanServerTimeouts(t *testing.T) {
	o := lookuptest.Options(t)
	o.HTTPReadTimeout, o.HTTPWriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	e := &blockingEnv{t: t, d: lookuptest.StartDaemon(t, o), hc: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	r := e.get("/topics")
	begin := time.Now()
	got := e.get(fmt.Sprintf("/topics?index=%d&wait=400ms", r.index))
	if el := time.Since(begin); el < 400*time.Millisecond || got.status != http.StatusOK || got.index != r.index || got.close {
		t.Fatalf("after %s: %d index %d close=%v %s", el, got.status, got.index, got.close, got.body)
	}
	if again := e.get("/topics"); !again.reused {
		t.Fatal("the connection of a blocked query was not reused")
	}
}

func TestBlocking_ClientGoneReleasesWaiter(t *testing.T) {
	e := startBlocking(t, nil)
	r := e.get("/topics")
	c, err := net.Dial("tcp", e.d.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /topics?index=%d HTTP/1.1\r\nHost: lookupd\r\n\r\n", r.index)
	e.waitBlocked(1)
	c.Close()
	e.waitBlocked(0)
}

// A client that sends its next request while the first one waits gets
// the first answered at once, then the second, on the same connection.
func TestBlocking_PipelinedRequest(t *testing.T) {
	e := startBlocking(t, nil)
	r := e.get("/topics")
	c, err := net.Dial("tcp", e.d.HTTPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /topics?index=%d HTTP/1.1\r\nHost: lookupd\r\n\r\n", r.index)
	e.waitBlocked(1)
	fmt.Fprintf(c, "GET /ping HTTP/1.1\r\nHost: lookupd\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{r.body, "OK"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading the answer %q: %v", want, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, b, want)
		}
	}
}

// A blocked query and the next request reuse one connection, and the
// blocked answer has exactly the bytes of an immediate one.
func TestBlocking_AnswerBytesAndKeepAlive(t *testing.T) {
	e := startBlocking(t, nil)
	e.producer(4150, "a c")
	r := e.get("/lookup?topic=a")
	ch := e.block("/lookup?topic=a", r.index, 1)
	e.producer(4160, "a")
	got := e.recv(ch, "lookup a")
	now := e.get("/lookup?topic=a")
	if got.body != now.body || got.index != now.index || !now.reused {
		t.Fatalf("blocked answer %d %s, immediate %d %s (reused=%v)", got.index, got.body, now.index, now.body, now.reused)
	}
	ch = e.block("/lookup?topic=a", now.index, 1)
	e.producer(4170, "a")
	if got := e.recv(ch, "second wait"); !got.reused || got.close {
		t.Fatalf("second blocked query: reused=%v close=%v", got.reused, got.close)
	}
}

// rawConn is one client connection read and written as bytes.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(req string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, req); err != nil {
		r.t.Fatal(err)
	}
}

// recv reads one response and returns its status, its header lines as
// sent (Date left out) and its body.
func (r *rawConn) recv() (string, string) {
	r.t.Helper()
	var head strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			r.t.Fatalf("read response: %v (so far %q)", err, head.String())
		}
		if line == "\r\n" {
			break
		}
		if !strings.HasPrefix(line, "Date: ") {
			head.WriteString(line)
		}
	}
	var n int
	for _, l := range strings.Split(head.String(), "\r\n") {
		if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		r.t.Fatal(err)
	}
	return head.String(), string(body)
}

func get11(target string, extra ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: lookupd\r\n" + strings.Join(extra, "") + "\r\n"
}

// After a blocked query is answered, its connection serves the client's
// next requests: reads of the four endpoints in place, with the bytes the
// HTTP server would send, and anything else through the HTTP server.
func TestBlocking_ConnectionAfterAnswer(t *testing.T) {
	e := startBlocking(t, nil)
	e.producer(4150, "a c")
	addr := e.d.HTTPAddr().String()
	c := dialRaw(t, addr)
	idx := func(head string) string {
		for _, l := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(l, httpapi.HeaderIndex+": "); ok {
				return v
			}
		}
		t.Fatalf("no index in %q", head)
		return ""
	}
	// A plain read through the server, then a blocked one answered by a
	// change.
	c.send(get11("/topics"))
	head, _ := c.recv()
	c.send(get11("/topics?index=" + idx(head) + "&wait=10m"))
	e.waitBlocked(1)
	lookuptest.Post(t, e.url("/topic/create?topic=b"))
	if _, body := c.recv(); body != `{"topics":["a","b"]}` {
		t.Fatalf("blocked answer %q", body)
	}

	// Reads now come from the connection's own loop; each must equal
	// the server's answer byte for byte, Date aside.
	for _, target := range []string{"/topics", "/lookup?topic=a", "/lookup?topic=nope", "/channels?topic=a", "/nodes", "/topics?index=1&wait=1s"} {
		c.send(get11(target))
		gotHead, gotBody := c.recv()
		fresh := dialRaw(t, addr)
		fresh.send(get11(target))
		wantHead, wantBody := fresh.recv()
		if gotHead != wantHead || gotBody != wantBody {
			t.Errorf("GET %s on the answered connection:\n%s%s\nfrom the server:\n%s%s", target, gotHead, gotBody, wantHead, wantBody)
		}
	}
	// Blocking again in place.
	c.send(get11("/topics"))
	head, _ = c.recv()
	c.send(get11("/topics?index=" + idx(head)))
	e.waitBlocked(1)
	lookuptest.Post(t, e.url("/topic/create?topic=c"))
	if _, body := c.recv(); body != `{"topics":["a","b","c"]}` {
		t.Fatalf("second blocked answer %q", body)
	}
	// What the loop does not serve goes to the server, in order, on the
	// same connection: another path, a bad index, a POST.
	c.send(get11("/ping") + get11("/topics?index=x") + "POST /topic/create?topic=d HTTP/1.1\r\nHost: lookupd\r\nContent-Length: 0\r\n\r\n")
	for _, want := range []string{"OK", `{"message":"INVALID_ARG_INDEX"}`, ""} {
		if _, body := c.recv(); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	// And blocking once more after the server had it back; then
	// Connection: close is honoured in place.
	c.send(get11("/topics"))
	head, _ = c.recv()
	c.send(get11("/topics?index=" + idx(head)))
	e.waitBlocked(1)
	lookuptest.Post(t, e.url("/topic/create?topic=e"))
	c.recv()
	c.send(get11("/topics", "Connection: close\r\n"))
	if head, _ := c.recv(); !strings.Contains(head, "Connection: close") {
		t.Fatalf("no Connection: close in %q", head)
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open after Connection: close (%v)", err)
	}
}

// The requests an answered connection serves in place are authorised and
// counted as the server's are: with --auth-reads, one without a read
// token is handed to the server, which refuses it (and counts it once);
// one with a token is answered in place and counted in the HTTP metrics.
func TestBlocking_ConnectionAfterAnswerAuthAndMetrics(t *testing.T) {
	e := startBlocking(t, func(o *lookup.Options) {
		o.AuthFile = writeAuthFile(t, authFile)
		o.AuthReads = true
	})
	c := dialRaw(t, e.d.HTTPAddr().String())
	read := "Authorization: Bearer " + tokRead + "\r\n"
	index := func(head string) string {
		for _, l := range strings.Split(head, "\r\n") {
			if v, ok := strings.CutPrefix(l, httpapi.HeaderIndex+": "); ok {
				return v
			}
		}
		t.Fatalf("no index in %q", head)
		return ""
	}
	c.send(get11("/topics", read))
	head, _ := c.recv()
	c.send(get11("/topics?index="+index(head), read))
	e.waitBlocked(1)
	code, body, _ := request(t, http.MethodPost, e.url("/topic/create?topic=t"), tokAdmin)
	if code != http.StatusOK {
		t.Fatalf("create: %d %s", code, body)
	}
	if _, body := c.recv(); body != `{"topics":["t"]}` {
		t.Fatalf("blocked answer %q", body)
	}
	c.send(get11("/topics", read) + get11("/topics") + get11("/topics", "Authorization: Bearer "+tokRegister+"\r\n"))
	for _, want := range []string{`{"topics":["t"]}`, `{"message":"UNAUTHORIZED"}`, `{"message":"FORBIDDEN"}`} {
		if _, body := c.recv(); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	_, metrics, _ := request(t, http.MethodGet, e.url("/metrics"), tokRead)
	// Three answered /topics: the first plain one, the blocked one and
	// the one in place; each refusal counted once.
	for _, want := range []string{
		`lookupd_http_requests_total{route="/topics",status="200"} 3`,
		`lookupd_auth_refused_total{port="http",reason="unauthorized"} 1`,
		`lookupd_auth_refused_total{port="http",reason="forbidden"} 1`,
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
}
