package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/wire"
)

var screenshot = flag.String("ui.screenshot", "", "save the browser test's screenshot to this PNG file (default: the test's temporary directory)")

// startUI runs the web view over c until the test ends.
func startUI(t *testing.T, c *testCluster, actions bool, interval time.Duration) *Server {
	t.Helper()
	opts := NewOptions()
	opts.LookupdHTTPAddresses = c.addrs
	opts.HTTPAddress = "127.0.0.1:0"
	opts.Interval = interval
	opts.EnableActions = actions
	cl, err := NewCluster(c.addrs, opts.Timeout, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	return serveUI(t, cl, opts)
}

// serveUI runs the web view over cl until the test ends, then closes cl.
func serveUI(t *testing.T, cl *Cluster, opts *Options) *Server {
	t.Helper()
	s, err := NewServer(cl, opts, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ui Run: %v", err)
		}
		cl.Close()
	})
	return s
}

// sseReader reads named events from the web view's stream.
type sseReader struct {
	body io.Closer
	r    *bufio.Reader
}

func openEvents(t *testing.T, s *Server) *sseReader {
	t.Helper()
	resp, err := http.Get(s.URL() + "api/events")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	return &sseReader{body: resp.Body, r: bufio.NewReader(resp.Body)}
}

// next returns the next event's name and data.
func (r *sseReader) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for {
		line, err := r.r.ReadString('\n')
		if err != nil {
			t.Fatalf("read event: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && name != "":
			return name, data
		}
	}
}

// until reads events until one named name satisfies ok, or fails after
// the timeout.
func (r *sseReader) until(t *testing.T, name string, timeout time.Duration, ok func(data string) bool) {
	t.Helper()
	timer := time.AfterFunc(timeout, func() { r.body.Close() })
	defer timer.Stop()
	for {
		n, d := r.next(t)
		if n == name && ok(d) {
			return
		}
	}
}

func TestUI_EventsAndActions(t *testing.T) {
	c := divergent(t)
	s := startUI(t, c, true, 20*time.Millisecond)
	ev := openEvents(t, s)
	ev.until(t, "cluster", 10*time.Second, func(d string) bool {
		var cu clusterUI
		json.Unmarshal([]byte(d), &cu)
		return reflect.DeepEqual(cu.Topics, [][2]string{{"clicks", "001"}, {"orders", "111"}, {"payments", "110"}}) && len(cu.Producers) == 3 &&
			reflect.DeepEqual(cu.Producers[1].Topics, [][3]string{{"orders", "110", "000"}, {"payments", "110", "000"}})
	})
	// A join on one lookupd reaches the feed; once on all, its convergence
	// time is filled in.
	p := c.announce(0, 4450, "p4", "orders")
	ev.until(t, "feed", 10*time.Second, func(d string) bool {
		return strings.Contains(d, `"kind":"joined","topic":"orders","producer":"127.0.0.1:4450","hostname":"p4","by":"100","reached":false`)
	})
	c.announceOn([]int{1, 2}, 4450, "p4", "orders")
	ev.until(t, "feed", 10*time.Second, func(d string) bool {
		return strings.Contains(d, `"kind":"joined","topic":"orders","producer":"127.0.0.1:4450","hostname":"p4","by":"111","reached":true`)
	})
	p.Close()

	// Topic details: channels per lookupd.
	var topic struct {
		Channels  [][2]string
		Producers [][2]string
	}
	lookuptest.GetJSON(t, s.URL()+"api/topic?name=orders", &topic)
	if !reflect.DeepEqual(topic.Channels, [][2]string{{"audit", "110"}, {"billing", "111"}}) {
		t.Errorf("topic channels %v", topic.Channels)
	}

	// Actions need the header; with it, the tombstone reaches every lookupd.
	if code, body := lookuptest.Post(t, s.URL()+"api/action/tombstone?topic=orders&node=127.0.0.1:4151"); code != http.StatusForbidden || !strings.Contains(string(body), "MISSING_ACTION_HEADER") {
		t.Errorf("action without header: %d %s", code, body)
	}
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"api/action/tombstone?topic=orders&node=127.0.0.1:4151", nil)
	req.Header.Set(actionHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("tombstone: status %d", resp.StatusCode)
	}
	for _, a := range c.addrs {
		if got := lookuptest.LookupProducers(t, a, "orders"); len(got) != 1 || got[0] != "127.0.0.1:4250" && got[0] != "127.0.0.1:4450" {
			// p1 (4150) is hidden by the tombstone everywhere.
			for _, g := range got {
				if g == "127.0.0.1:4150" {
					t.Errorf("lookupd %s still lists the tombstoned producer: %v", a, got)
				}
			}
		}
	}
	ev.until(t, "cluster", 10*time.Second, func(d string) bool { return strings.Contains(d, `["orders","111","111"]`) })
}

func TestUI_ActionsOffByDefault(t *testing.T) {
	c := startCluster(t, 1)
	c.announce(0, 4150, "p1", "orders")
	s := startUI(t, c, false, time.Second)
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"api/action/delete-topic?topic=orders", nil)
	req.Header.Set(actionHeader, "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "ACTIONS_DISABLED") {
		t.Errorf("status %d %s", resp.StatusCode, body)
	}
	if got := lookuptest.LookupProducers(t, c.addrs[0], "orders"); len(got) != 1 {
		t.Errorf("topic changed: %v", got)
	}
	code, page := lookuptest.Get(t, s.URL())
	if code != http.StatusOK || !strings.Contains(string(page), "new EventSource(\"/api/events\")") {
		t.Errorf("page: %d", code)
	}
	// Offline: the page loads nothing from elsewhere.
	for _, bad := range []string{"http://", "https://", "//cdn", "<link "} {
		if strings.Contains(string(page), bad) {
			t.Errorf("page refers to %q", bad)
		}
	}
}

// registerMany registers topics prefix-00000… on lookupd i for a producer,
// pipelining the commands, and returns once all are answered.
func (c *testCluster) registerMany(i, port int, prefix string, n int) *lookuptest.Conn {
	c.t.Helper()
	p := c.announce(i, port, "bulk", prefix+"-first")
	var b strings.Builder
	for k := range n {
		b.Write(wire.EncodeRegister(fmt.Sprintf("%s-%05d", prefix, k), ""))
	}
	go p.Conn.Write([]byte(b.String()))
	for range n {
		if resp := p.Read(); string(resp) != "OK" {
			c.t.Fatalf("register: %q", resp)
		}
	}
	return p
}

// browser starts headless Chromium (Debian's chromium package) and
// returns a chromedp context.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not installed (.ci/run installs it): %v", err)
		}
		t.Skip("chromium not installed: apt-get install -y chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.WindowSize(1500, 1100), chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	return ctx
}

// js evaluates expr in the page and decodes its value.
func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls expr (a JSON-returning expression) until it equals want.
func waitJS(t *testing.T, ctx context.Context, c *testCluster, what, expr, want string) time.Duration {
	t.Helper()
	var got string
	took, err := lookuptest.Poll(60*time.Second, func() error {
		got = c.name(js[string](t, ctx, expr))
		if got != want {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: page shows %s, want %s", what, got, want)
	}
	return took
}

const matrixJS = `JSON.stringify([...document.querySelectorAll('#producer-matrix tr[data-producer]')].map(tr =>
	[tr.dataset.producer, ...[...tr.querySelectorAll('td[data-lookupd]')].map(td => td.className)]))`
const channelsJS = `JSON.stringify([...document.querySelectorAll('#channel-matrix tr[data-channel]')].map(tr =>
	[tr.dataset.channel, ...[...tr.querySelectorAll('td[data-lookupd]')].map(td => td.className)]))`
const cardsJS = `JSON.stringify([...document.querySelectorAll('#cards .card')].map(c =>
	[c.dataset.lookupd, c.className, c.querySelector('.status').textContent]))`

func TestUI_Browser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	ctx := browser(t)
	c := divergent(t)
	// 10,000 topics on every lookupd, to show the lists stay fast.
	for i := range c.ds {
		c.registerMany(i, 4550, "events", 10000)
	}
	s := startUI(t, c, true, 500*time.Millisecond)

	if _, err := chromedp.Run(ctx, chromedp.Navigate(s.URL()+"#topic=orders")); err != nil {
		t.Fatal(err)
	}
	js[any](t, ctx, `window.notReloaded = true`)
	waitJS(t, ctx, c, "matrix", matrixJS, `[["127.0.0.1:4150","yes","yes","yes"],["127.0.0.1:4250","yes","yes","no"]]`)
	waitJS(t, ctx, c, "channels", channelsJS, `[["audit","yes","yes","no"],["billing","yes","yes","yes"]]`)
	waitJS(t, ctx, c, "cards", cardsJS, `[["A","card up","up"],["B","card up","up"],["C","card up","up"]]`)
	waitJS(t, ctx, c, "topic count", `JSON.stringify(document.getElementById('topic-count').textContent)`, `"10004 (3 divergent)"`)

	// The topic list is virtualised: 10,004 topics, a few dozen rows in
	// the DOM; search narrows it.
	if rows := js[int](t, ctx, `document.querySelectorAll('#topic-list .row').length`); rows < 5 || rows > 100 {
		t.Errorf("topic list has %d rows in the DOM", rows)
	}
	js[any](t, ctx, `(() => { const i = document.getElementById('topic-search'); i.value = 'events-0999'; i.dispatchEvent(new Event('input')); })()`)
	waitJS(t, ctx, c, "search", `JSON.stringify([...document.querySelectorAll('#topic-list .row')].map(r => r.dataset.topic))`,
		`["events-09990","events-09991","events-09992","events-09993","events-09994","events-09995","events-09996","events-09997","events-09998","events-09999"]`)
	js[any](t, ctx, `(() => { const i = document.getElementById('topic-search'); i.value = ''; i.dispatchEvent(new Event('input')); })()`)

	// A producer that joins on A, then on B, shows up without a reload.
	start := time.Now()
	c.announce(0, 4650, "p5", "orders/billing")
	took := waitJS(t, ctx, c, "joined producer", matrixJS,
		`[["127.0.0.1:4150","yes","yes","yes"],["127.0.0.1:4250","yes","yes","no"],["127.0.0.1:4650","yes","no","no"]]`)
	t.Logf("a join reached the page %s after REGISTER (polling every 500ms)", time.Since(start).Round(time.Millisecond))
	_ = took
	c.announce(1, 4650, "p5", "orders/billing")
	waitJS(t, ctx, c, "second lookupd", matrixJS,
		`[["127.0.0.1:4150","yes","yes","yes"],["127.0.0.1:4250","yes","yes","no"],["127.0.0.1:4650","yes","yes","no"]]`)
	c.announce(2, 4650, "p5", "orders/billing")
	// The feed shows the join with how long it took to reach all three.
	waitJS(t, ctx, c, "feed", `JSON.stringify([...document.querySelectorAll('#feed .ev[data-kind=joined]')].map(e => e.textContent).filter(s =>
		s.includes('127.0.0.1:4650 p5 · topic orders') && /on every lookupd after \d+(\.\d+)? m?s$/.test(s)).length)`, `1`)
	c.announce(0, 4750, "p6", "orders")
	waitJS(t, ctx, c, "another join", matrixJS,
		`[["127.0.0.1:4150","yes","yes","yes"],["127.0.0.1:4250","yes","yes","no"],["127.0.0.1:4650","yes","yes","yes"],["127.0.0.1:4750","yes","no","no"]]`)
	if !js[bool](t, ctx, `window.notReloaded === true`) {
		t.Error("the page was reloaded")
	}
	save(t, ctx, "")

	// A stopped lookupd is shown as down, its cells unknown.
	c.ds[2].Stop()
	waitJS(t, ctx, c, "down card", cardsJS, `[["A","card up","up"],["B","card up","up"],["C","card down","down"]]`)
	// What only C listed stays, unknown rather than divergent: clicks is
	// still a topic, and only orders (p6 missing on B) diverges.
	waitJS(t, ctx, c, "topics with C down", `JSON.stringify(document.getElementById('topic-count').textContent)`, `"10004 (1 divergent)"`)
	waitJS(t, ctx, c, "down column", matrixJS,
		`[["127.0.0.1:4150","yes","yes","down"],["127.0.0.1:4250","yes","yes","down"],["127.0.0.1:4650","yes","yes","down"],["127.0.0.1:4750","yes","no","down"]]`)
	// The Producers list counts as lookupctl nodes does: a down lookupd
	// does not see anything, whatever it listed last.
	waitJS(t, ctx, c, "producer seen with C down", `JSON.stringify(document.querySelector('#node-list .row[data-producer="127.0.0.1:4150"] .pill').textContent)`, `"seen by 2/3"`)
	if got := js[string](t, ctx, `document.getElementById('summary').textContent`); !strings.Contains(got, "blocking queries") || !strings.Contains(got, "health probed every 500 ms") {
		t.Errorf("header %q", got)
	}
	if !js[bool](t, ctx, `window.notReloaded === true`) {
		t.Error("the page was reloaded")
	}
	save(t, ctx, "-down")
}

// save writes a full-page screenshot to -ui.screenshot (with suffix
// before its extension) or the test's temporary directory.
func save(t *testing.T, ctx context.Context, suffix string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := *screenshot
	if path == "" {
		path = t.TempDir() + "/ui.png"
	}
	path = strings.TrimSuffix(path, ".png") + suffix + ".png"
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(png))
}
