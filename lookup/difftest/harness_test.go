package difftest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/httpapi"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
)

// Timeouts of the harness. Replies arrive in milliseconds; these only bound
// a broken daemon, and are long because a loaded 2-core machine running
// the race detector can stall one reply for seconds.
const (
	ioTimeout   = 10 * time.Second
	pollTimeout = 15 * time.Second
	maxFrame    = 1 << 20
	// clockWindow is the inactive timeout or tombstone lifetime of the
	// scripts that watch the daemon's clock: the few steps between an
	// event (a PING, a tombstone) and the reads that must still see its
	// effect have to fit in it.
	clockWindow = time.Second
)

// errNotYet is what a polled condition returns until it holds.
var errNotYet = errors.New("not yet")

// target is one daemon under test.
type target interface {
	// Name is "theirs" or "ours".
	Name() string
	TCPAddr() string
	HTTPAddr() string
}

type daemon struct {
	name       string
	tcp, httpA string
}

func (d *daemon) Name() string     { return d.name }
func (d *daemon) TCPAddr() string  { return d.tcp }
func (d *daemon) HTTPAddr() string { return d.httpA }

// startTheirs runs nsqlookupd v1.3.0 in-process until the test ends.
func startTheirs(t testing.TB, tweak func(*nsqlookupd.Options)) target {
	t.Helper()
	d := nsqref.Start(t, tweak)
	return &daemon{name: "theirs", tcp: d.TCPAddr, httpA: d.HTTPAddr}
}

// startOurs runs our lookupd in-process until the test ends.
func startOurs(t testing.TB, tweak func(*lookup.Options)) target {
	t.Helper()
	opts := lookuptest.Options(t)
	if tweak != nil {
		tweak(opts)
	}
	s := lookuptest.Start(t, opts)
	return &daemon{name: "ours", tcp: s.TCPAddr().String(), httpA: s.HTTPAddr().String()}
}

// scenario is a script run against fresh instances of both daemons.
type scenario struct {
	name   string
	steps  []step
	ours   func(*lookup.Options)     // option changes for ours, may be nil
	theirs func(*nsqlookupd.Options) // option changes for theirs, may be nil
}

// step is one action of a script; it appends what it saw to the transcript.
type step func(r *runner)

// runner runs one script against one target and keeps the transcript.
type runner struct {
	t     testing.TB
	tg    target
	hc    *http.Client
	conns map[string]*tconn
	norm  *normaliser
	lines []string
}

type tconn struct {
	c *net.TCPConn
	r *bufio.Reader
}

func newRunner(t testing.TB, tg target) *runner {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	host, _ := os.Hostname()
	tcpPort, httpPort := portOf(t, tg.TCPAddr()), portOf(t, tg.HTTPAddr())
	return &runner{
		t:  t,
		tg: tg,
		hc: &http.Client{
			Transport:     tr,
			Timeout:       ioTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		conns: make(map[string]*tconn),
		norm: &normaliser{
			addrs:    make(map[string]string),
			tcpPort:  tcpPort,
			httpPort: httpPort,
			hostname: host,
			start:    time.Now().Add(-time.Second),
		},
	}
}

func portOf(t testing.TB, addr string) int64 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("split %q: %v", addr, err)
	}
	n, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	return n
}

func (r *runner) logf(format string, args ...any) {
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *runner) conn(label string) *tconn {
	c, ok := r.conns[label]
	if !ok {
		r.t.Fatalf("script error: connection %q not dialled", label)
	}
	return c
}

// run executes steps and returns the transcript so far. Connections stay
// open until the test ends.
func (r *runner) run(steps []step) []string {
	for _, s := range steps {
		s(r)
	}
	return r.lines
}

// transcript runs steps against tg and returns what it saw.
func transcript(t testing.TB, tg target, steps []step) []string {
	t.Helper()
	return newRunner(t, tg).run(steps)
}

// runBoth runs sc against fresh instances of both daemons. With
// DIFFTEST_SHOW=1 in the environment it logs both transcripts.
func runBoth(t testing.TB, sc scenario) (theirs, ours []string) {
	t.Helper()
	theirs = transcript(t, startTheirs(t, sc.theirs), sc.steps)
	ours = transcript(t, startOurs(t, sc.ours), sc.steps)
	if os.Getenv("DIFFTEST_SHOW") == "1" {
		t.Logf("transcripts (- nsqlookupd, + ours):\n%s", render(theirs, ours))
	}
	return theirs, ours
}

// runScenarios runs each scenario as a parallel subtest of t, against
// fresh instances of both daemons, and requires equal transcripts.
func runScenarios(t *testing.T, scs []scenario) {
	t.Parallel()
	for _, sc := range scs {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			theirs, ours := runBoth(t, sc)
			if d := differences(theirs, ours); len(d) > 0 {
				t.Errorf("%d line(s) differ (- nsqlookupd, + ours):\n%s", len(d), render(theirs, ours))
			}
		})
	}
}

// diffLine is one position where the transcripts differ.
type diffLine struct{ theirs, ours string }

// differences returns the positions where the transcripts differ. Both run
// the same script, so each step writes the same number of lines.
func differences(theirs, ours []string) []diffLine {
	var out []diffLine
	for i := range max(len(theirs), len(ours)) {
		var a, b string
		if i < len(theirs) {
			a = theirs[i]
		}
		if i < len(ours) {
			b = ours[i]
		}
		if a != b {
			out = append(out, diffLine{theirs: a, ours: b})
		}
	}
	return out
}

// render shows both transcripts line by line, marking the lines that
// differ: "-" is theirs (nsqlookupd), "+" is ours.
func render(theirs, ours []string) string {
	var b strings.Builder
	for i := range max(len(theirs), len(ours)) {
		var a, o string
		if i < len(theirs) {
			a = theirs[i]
		}
		if i < len(ours) {
			o = ours[i]
		}
		if a == o {
			fmt.Fprintf(&b, "  %s\n", a)
			continue
		}
		fmt.Fprintf(&b, "- %s\n+ %s\n", a, o)
	}
	return b.String()
}

// ---- TCP steps ----

// dial opens a raw TCP connection named label (nothing is sent).
func dial(label string) step {
	return func(r *runner) {
		c, err := net.DialTimeout("tcp", r.tg.TCPAddr(), ioTimeout)
		if err != nil {
			r.t.Fatalf("%s: dial %s: %v", r.tg.Name(), r.tg.TCPAddr(), err)
		}
		tc := c.(*net.TCPConn)
		r.t.Cleanup(func() { tc.Close() })
		r.conns[label] = &tconn{c: tc, r: bufio.NewReader(tc)}
		r.norm.addrs[tc.LocalAddr().String()] = "conn " + label
		r.logf("%s: connect", label)
	}
}

// send writes raw bytes on label's connection.
func send(label string, data string) step {
	return func(r *runner) {
		c := r.conn(label)
		c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
		_, err := c.c.Write([]byte(data))
		if err != nil {
			r.logf("%s> %s: write error %s", label, quote(data), errClass(err))
			return
		}
		r.logf("%s> %s", label, quote(data))
	}
}

// sendMayFail is send for bytes the server may refuse to read: it closes
// the connection early, so whether the write fails depends on timing. The
// transcript records the bytes, not the outcome; the replies tell.
func sendMayFail(label string, data string) step {
	return func(r *runner) {
		c := r.conn(label)
		c.c.SetWriteDeadline(time.Now().Add(ioTimeout))
		c.c.Write([]byte(data))
		r.logf("%s> %s (write may fail)", label, quote(data))
	}
}

// recv reads n framed responses from label's connection.
func recv(label string, n int) step {
	return func(r *runner) {
		c := r.conn(label)
		for range n {
			resp, err := readFrame(c)
			if err != nil {
				r.logf("%s< read error: %s", label, errClass(err))
				return
			}
			r.logf("%s< %s", label, r.norm.body(resp))
		}
	}
}

// connect dials label and sends the V1 magic.
func connect(label string) step {
	return func(r *runner) {
		dial(label)(r)
		send(label, "  V1")(r)
	}
}

// cmd sends one command line (a newline is added) and reads one response.
func cmd(label, line string) step {
	return func(r *runner) {
		send(label, line+"\n")(r)
		recv(label, 1)(r)
	}
}

// identifyBody is the IDENTIFY JSON of the fake producer behind label.
func identifyBody(label string, tcpPort int) string {
	return fmt.Sprintf(`{"broadcast_address":"127.0.0.1","hostname":%q,"tcp_port":%d,"http_port":%d,"version":"1.3.0"}`,
		"host-"+label, tcpPort, tcpPort+1)
}

// identifyMsg returns "IDENTIFY\n", the 4-byte length and body.
func identifyMsg(body string) string {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	return "IDENTIFY\n" + string(n[:]) + body
}

// identify sends a valid IDENTIFY for a fake producer on 127.0.0.1 with
// tcpPort (HTTP port tcpPort+1) and reads the reply.
func identify(label string, tcpPort int) step {
	return func(r *runner) {
		send(label, identifyMsg(identifyBody(label, tcpPort)))(r)
		recv(label, 1)(r)
	}
}

// producer connects label, identifies it and registers each "topic" or
// "topic channel" in regs.
func producer(label string, tcpPort int, regs ...string) step {
	return func(r *runner) {
		connect(label)(r)
		identify(label, tcpPort)(r)
		for _, reg := range regs {
			cmd(label, "REGISTER "+reg)(r)
		}
	}
}

// closed waits for the server to close label's connection.
func closed(label string) step { return closedWithin(label, ioTimeout) }

// closedWithin waits up to d for the server to close label's connection.
func closedWithin(label string, d time.Duration) step {
	return func(r *runner) {
		c := r.conn(label)
		c.c.SetReadDeadline(time.Now().Add(d))
		b, err := c.r.ReadByte()
		switch {
		case err == nil:
			r.logf("%s: still open, read %q", label, b)
		case errors.Is(err, os.ErrDeadlineExceeded):
			r.logf("%s: still open after %s", label, d)
		default:
			// EOF or a reset (the server closed with unread input):
			// either way the server closed the connection.
			r.logf("%s: closed by server", label)
		}
	}
}

// shutWrite half-closes label's connection: the server reads EOF but can
// still answer.
func shutWrite(label string) step {
	return func(r *runner) {
		if err := r.conn(label).c.CloseWrite(); err != nil {
			r.t.Fatalf("close write: %v", err)
		}
		r.logf("%s: shut write", label)
	}
}

// hangup closes label's connection from the client side and waits until
// the daemon has dropped every registration the connection held (its
// address is gone from /debug).
func hangup(label string) step {
	return func(r *runner) {
		c := r.conn(label)
		addr := strconv.Quote(c.c.LocalAddr().String())
		c.c.Close()
		if _, err := lookuptest.Poll(pollTimeout, func() error {
			resp := r.do(http.MethodGet, "/debug")
			if resp.err == nil && resp.status == http.StatusOK && !bytes.Contains(resp.body, []byte(addr)) {
				return nil
			}
			return errNotYet
		}); err != nil {
			r.logf("%s: hang up: still in /debug after %s", label, pollTimeout)
			return
		}
		r.logf("%s: hang up", label)
	}
}

func readFrame(c *tconn) ([]byte, error) {
	c.c.SetReadDeadline(time.Now().Add(ioTimeout))
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(hdr[:]))
	if n < 0 || n > maxFrame {
		return nil, fmt.Errorf("frame size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

func errClass(err error) string {
	switch {
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected EOF"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout"
	}
	return err.Error()
}

// quote shows bytes in Go syntax, shortening long runs.
func quote(s string) string {
	q := strconv.Quote(s)
	if len(q) > 160 {
		return fmt.Sprintf("%s…%s (%d bytes)", q[:100], q[len(q)-40:], len(s))
	}
	return q
}

// ---- HTTP steps ----

type httpResp struct {
	status int
	header http.Header
	body   []byte
	err    error
}

func (r *runner) do(method, path string) httpResp {
	req, err := http.NewRequest(method, "http://"+r.tg.HTTPAddr()+path, nil)
	if err != nil {
		r.t.Fatalf("request %s %s: %v", method, path, err)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return httpResp{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxFrame))
	return httpResp{status: resp.StatusCode, header: resp.Header, body: body, err: err}
}

// headerLine formats the status and the headers clients rely on.
func headerLine(resp httpResp) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", resp.status)
	for _, h := range []string{"Content-Type", "X-NSQ-Content-Type", "Location", "Allow"} {
		v := resp.header.Get(h)
		if v == "" {
			continue
		}
		if h == "Allow" {
			// httprouter builds it from a map: order varies per call.
			parts := strings.Split(v, ", ")
			slices.Sort(parts)
			v = strings.Join(parts, ", ")
		}
		fmt.Fprintf(&b, " [%s: %s]", h, v)
	}
	return b.String()
}

// call performs an HTTP request and records status, headers and the
// normalised body.
func call(method, path string) step {
	return func(r *runner) {
		resp := r.do(method, path)
		if resp.err != nil {
			r.logf("%s %s → error %v", method, path, resp.err)
			return
		}
		r.logf("%s %s → %s %s", method, path, headerLine(resp), r.norm.body(resp.body))
	}
}

// callStatus is call without the body (for pages whose body is not ours to
// compare, such as pprof).
func callStatus(method, path string) step {
	return func(r *runner) {
		resp := r.do(method, path)
		if resp.err != nil {
			r.logf("%s %s → error %v", method, path, resp.err)
			return
		}
		r.logf("%s %s → %s", method, path, headerLine(resp))
	}
}

// statusOf records only the status code (for bodies and headers that are
// not part of the nsqlookupd contract).
func statusOf(method, path string) step {
	return func(r *runner) {
		resp := r.do(method, path)
		if resp.err != nil {
			r.logf("%s %s → error %v", method, path, resp.err)
			return
		}
		r.logf("%s %s → %d", method, path, resp.status)
	}
}

// rawHTTP sends a request over a plain TCP connection and records the
// status line and every header but Date and X-Lookupd-Index as they
// appear on the wire: the spelling of header names, which Go's client
// canonicalises away, is compared too. Header order carries no meaning in
// HTTP, so headers are sorted. X-Lookupd-Index, which only ours sends, is
// the named difference "X-Lookupd-Index and blocking queries", which
// records it with rawHTTPIndex.
func rawHTTP(method, path string) step { return rawStep(method, path, false) }

// rawHTTPIndex is rawHTTP keeping X-Lookupd-Index.
func rawHTTPIndex(method, path string) step { return rawStep(method, path, true) }

func rawStep(method, path string, withIndex bool) step {
	return func(r *runner) {
		c, err := net.DialTimeout("tcp", r.tg.HTTPAddr(), ioTimeout)
		if err != nil {
			r.t.Fatalf("%s: dial %s: %v", r.tg.Name(), r.tg.HTTPAddr(), err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(ioTimeout))
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: lookupd\r\nConnection: close\r\n\r\n", method, path)
		resp, err := io.ReadAll(io.LimitReader(c, maxFrame))
		if err != nil {
			r.logf("raw %s %s → read error %s", method, path, errClass(err))
			return
		}
		head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
		status, fields, _ := strings.Cut(head, "\r\n")
		keep := []string{status}
		for _, line := range strings.Split(fields, "\r\n") {
			if !strings.HasPrefix(line, "Date: ") && (withIndex || !strings.HasPrefix(line, httpapi.HeaderIndex+": ")) {
				keep = append(keep, line)
			}
		}
		slices.Sort(keep[1:])
		r.logf("raw %s %s → %s | %s", method, path, strings.Join(keep, " | "), r.norm.body([]byte(body)))
	}
}

func get(path string) step  { return call(http.MethodGet, path) }
func post(path string) step { return call(http.MethodPost, path) }

// pollGet repeats GET path until its normalised body equals want or the
// poll times out, and records the outcome. It waits for effects driven by
// the daemon's clock (inactivity, tombstone expiry).
func pollGet(path, want string) step {
	return func(r *runner) {
		var last string
		if _, err := lookuptest.Poll(pollTimeout, func() error {
			resp := r.do(http.MethodGet, path)
			if resp.err == nil {
				last = r.norm.body(resp.body)
				if last == want {
					return nil
				}
			}
			return errNotYet
		}); err != nil {
			r.logf("GET %s until %s: timed out, last %s", path, want, last)
			return
		}
		r.logf("GET %s until %s: reached", path, want)
	}
}

// ---- normalisation ----

var uEscapes = regexp.MustCompile(`\\u[0-9a-fA-F]{4}`)

// normaliser rewrites what differs between two daemons for reasons that
// do not matter: connection addresses (each daemon sees its own client
// ports), the daemon's own ports and hostname, wall-clock times, and the
// order of arrays that nsqlookupd builds from map iteration.
type normaliser struct {
	addrs             map[string]string // client address -> "conn label"
	tcpPort, httpPort int64
	hostname          string
	start             time.Time
}

// body returns a normalised rendering of a response body: JSON is parsed
// (keeping key order), rewritten and re-encoded; anything else is quoted.
func (n *normaliser) body(b []byte) string {
	if len(b) == 0 {
		return `""`
	}
	if b[0] != '{' && b[0] != '[' {
		return strconv.Quote(string(b))
	}
	v, err := parseJSON(b)
	if err != nil {
		return fmt.Sprintf("invalid JSON %q: %v", b, err)
	}
	n.walk(v)
	var sb strings.Builder
	v.encode(&sb)
	if !bytes.Equal(bytes.TrimSpace(b), b) {
		sb.WriteString(" (+whitespace)")
	}
	// Re-encoding hides how strings were escaped; note the \u escapes
	// the daemon wrote.
	if esc := uEscapes.FindAll(b, -1); len(esc) > 0 {
		fmt.Fprintf(&sb, " (escapes %s)", bytes.Join(esc, []byte(" ")))
	}
	return sb.String()
}

func (n *normaliser) plausibleTime(v *jv) bool {
	if v.kind != jNum {
		return false
	}
	ns, err := strconv.ParseInt(v.s, 10, 64)
	return err == nil && ns >= n.start.UnixNano() && ns <= time.Now().Add(time.Minute).UnixNano()
}

func (n *normaliser) walk(v *jv) {
	switch v.kind {
	case jStr:
		if label, ok := n.addrs[v.s]; ok {
			v.placeholder(label)
		}
	case jArr:
		for _, e := range v.elems {
			n.walk(e)
		}
		v.sortElems()
	case jObj:
		// /nodes: topics and tombstones are parallel arrays; sort them as
		// pairs before anything sorts them alone.
		topics, tombs := v.get("topics"), v.get("tombstones")
		if topics != nil && tombs != nil && topics.kind == jArr && tombs.kind == jArr && len(topics.elems) == len(tombs.elems) {
			idx := make([]int, len(topics.elems))
			for i := range idx {
				idx[i] = i
			}
			slices.SortStableFunc(idx, func(a, b int) int {
				return strings.Compare(topics.elems[a].String(), topics.elems[b].String())
			})
			ts, bs := make([]*jv, len(idx)), make([]*jv, len(idx))
			for i, j := range idx {
				ts[i], bs[i] = topics.elems[j], tombs.elems[j]
			}
			topics.elems, tombs.elems = ts, bs
			topics.sorted, tombs.sorted = true, true
		}
		for i, k := range v.keys {
			e := v.elems[i]
			n.walk(e)
			switch k {
			case "tcp_port":
				if e.kind == jNum && e.s == strconv.FormatInt(n.tcpPort, 10) {
					e.placeholder("lookupd tcp port")
				}
			case "http_port":
				if e.kind == jNum && e.s == strconv.FormatInt(n.httpPort, 10) {
					e.placeholder("lookupd http port")
				}
			case "hostname":
				if e.kind == jStr && e.s == n.hostname {
					e.placeholder("hostname")
				}
			case "last_update":
				if n.plausibleTime(e) {
					e.placeholder("now")
				}
			case "tombstoned_at":
				if t := v.get("tombstoned"); t != nil && t.s == "true" && n.plausibleTime(e) {
					e.placeholder("now")
				}
			}
		}
	}
}

// ---- an order-preserving JSON tree ----

type jkind int

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
	jPlaceholder
)

// jv is a JSON value that remembers the order of object keys, so that key
// order is compared too.
type jv struct {
	kind   jkind
	s      string // string, number literal, "true"/"false", placeholder
	keys   []string
	elems  []*jv // array elements or object values
	sorted bool  // order already fixed
}

func (v *jv) placeholder(s string) { *v = jv{kind: jPlaceholder, s: s} }

func (v *jv) get(key string) *jv {
	if i := slices.Index(v.keys, key); i >= 0 {
		return v.elems[i]
	}
	return nil
}

// sortElems sorts an array by the encoding of its elements; arrays of
// booleans are positional (tombstones) and keep their order.
func (v *jv) sortElems() {
	if v.sorted {
		return
	}
	for _, e := range v.elems {
		if e.kind == jBool {
			return
		}
	}
	slices.SortStableFunc(v.elems, func(a, b *jv) int { return strings.Compare(a.String(), b.String()) })
}

func (v *jv) String() string {
	var b strings.Builder
	v.encode(&b)
	return b.String()
}

func (v *jv) encode(b *strings.Builder) {
	switch v.kind {
	case jNull:
		b.WriteString("null")
	case jBool, jNum:
		b.WriteString(v.s)
	case jStr:
		q, _ := json.Marshal(v.s)
		b.Write(q)
	case jPlaceholder:
		b.WriteString("<" + v.s + ">")
	case jArr:
		b.WriteByte('[')
		for i, e := range v.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.encode(b)
		}
		b.WriteByte(']')
	case jObj:
		b.WriteByte('{')
		for i, k := range v.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			q, _ := json.Marshal(k)
			b.Write(q)
			b.WriteByte(':')
			v.elems[i].encode(b)
		}
		b.WriteByte('}')
	}
}

func parseJSON(b []byte) (*jv, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

func parseValue(dec *json.Decoder, depth int) (*jv, error) {
	if depth > 32 {
		return nil, errors.New("JSON nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch x := tok.(type) {
	case nil:
		return &jv{kind: jNull}, nil
	case bool:
		return &jv{kind: jBool, s: strconv.FormatBool(x)}, nil
	case json.Number:
		return &jv{kind: jNum, s: x.String()}, nil
	case string:
		return &jv{kind: jStr, s: x}, nil
	case json.Delim:
		v := &jv{kind: jArr}
		if x == '{' {
			v.kind = jObj
		}
		for dec.More() {
			if v.kind == jObj {
				k, err := dec.Token()
				if err != nil {
					return nil, err
				}
				v.keys = append(v.keys, k.(string))
			}
			e, err := parseValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			v.elems = append(v.elems, e)
		}
		if _, err := dec.Token(); err != nil { // closing delimiter
			return nil, err
		}
		return v, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}
