package difftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup"
)

// knownDifference is a place where we answer differently from nsqlookupd
// v1.3.0 on purpose.
type knownDifference struct {
	name   string
	reason string
	sc     scenario
	// want lists, in order, every transcript line that differs: theirs
	// (nsqlookupd) against ours. All other lines must be equal.
	want []diffLine
	// theirsNotRun, if set, says why the scenario is not run against
	// nsqlookupd in this process and what it does instead; wantOurs is
	// then our whole transcript.
	theirsNotRun string
	wantOurs     []string
	// check, if set, replaces the transcript comparison.
	check func(t *testing.T)
}

const (
	ct200  = "200 [Content-Type: application/json; charset=utf-8] [X-NSQ-Content-Type: nsq; version=1.0] "
	ct404  = "404 [Content-Type: application/json; charset=utf-8] [X-NSQ-Content-Type: nsq; version=1.0] "
	nodeA  = `{"remote_address":<conn a>,"hostname":"host-a","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}`
	nodeB  = `{"remote_address":<conn b>,"hostname":"host-b","broadcast_address":"127.0.0.1","tcp_port":4160,"http_port":4161,"version":"1.3.0"}`
	reply  = `{"broadcast_address":"127.0.0.1","hostname":<hostname>,"http_port":<lookupd http port>,"tcp_port":<lookupd tcp port>,"version":"1.3.0"}`
	bigLen = 64*1024 + 1 // one byte over our default IDENTIFY body limit
)

const ct400 = "400 [Content-Type: application/json; charset=utf-8] [X-NSQ-Content-Type: nsq; version=1.0] "

// rawLine is what rawHTTPIndex records for a GET of path answered with
// status and a JSON body that normalisation leaves alone, with
// X-Lookupd-Index: index unless index is 0.
func rawLine(path string, status, index int, body string) string {
	idx := ""
	if index > 0 {
		idx = fmt.Sprintf(" | X-Lookupd-Index: %d", index)
	}
	return fmt.Sprintf("raw GET %s → HTTP/1.1 %d %s | Connection: close | Content-Length: %d | "+
		"Content-Type: application/json; charset=utf-8%s | X-Nsq-Content-Type: nsq; version=1.0 | %s",
		path, status, http.StatusText(status), len(body), idx, body)
}

// paddedIdentify is a valid IDENTIFY body of exactly n bytes.
func paddedIdentify(label string, port, n int) string {
	b := identifyBody(label, port)
	return b + strings.Repeat(" ", n-len(b))
}

var knownDifferences = []knownDifference{
	{
		name: "identify negative body length",
		reason: "nsqlookupd v1.3.0 calls make([]byte, n) with the signed length it read, so " +
			"0xffffffff (-1) panics with 'makeslice: len out of range' in the connection goroutine and, " +
			"unrecovered, kills the whole daemon (a 17-byte denial of service). Ours checks sign and bound " +
			"before allocating, replies E_BAD_BODY, closes that connection and keeps serving everyone else.",
		theirsNotRun: "crashes the process: verified in a child process by TestKnownDifference_TheirsDiesOnNegativeBodyLength",
		sc: scenario{steps: seq(
			producer("b", 4160, "t"),
			connect("a"), send("a", "IDENTIFY\n\xff\xff\xff\xff"), recv("a", 1), closed("a"),
			connect("c"), cmd("c", "PING"), get("/lookup?topic=t"),
		)},
		wantOurs: []string{
			"b: connect", `b> "  V1"`, `b> ` + quote(identifyMsg(identifyBody("b", 4160))), "b< " + reply,
			`b> "REGISTER t\n"`, `b< "OK"`,
			"a: connect", `a> "  V1"`, `a> "IDENTIFY\n\xff\xff\xff\xff"`,
			`a< "E_BAD_BODY IDENTIFY invalid body size -1"`, "a: closed by server",
			"c: connect", `c> "  V1"`, `c> "PING\n"`, `c< "OK"`,
			"GET /lookup?topic=t → " + ct200 + `{"channels":[],"producers":[` + nodeB + `]}`,
		},
	},
	{
		name: "identify huge body length",
		reason: "nsqlookupd allocates whatever length the client declares (up to 2 GiB) before reading a " +
			"byte of the body. Ours refuses a length above --max-identify-body-size (64 KiB) at once.",
		theirsNotRun: "would allocate 2 GiB in the test binary and then wait for the body",
		sc: scenario{steps: seq(
			connect("a"), send("a", "IDENTIFY\n\x7f\xff\xff\xff"), recv("a", 1), closed("a"),
		)},
		wantOurs: []string{
			"a: connect", `a> "  V1"`, `a> "IDENTIFY\n\x7f\xff\xff\xff"`,
			`a< "E_BAD_BODY IDENTIFY invalid body size 2147483647"`, "a: closed by server",
		},
	},
	{
		name: "identify body over the size limit",
		reason: "the same bound, checked against nsqlookupd with a harmless size: one byte over 64 KiB " +
			"is a valid IDENTIFY to nsqlookupd and E_BAD_BODY to ours.",
		sc: scenario{steps: seq(
			connect("a"), sendMayFail("a", identifyMsg(paddedIdentify("a", 4150, bigLen))), recv("a", 1),
		)},
		want: []diffLine{{theirs: "a< " + reply, ours: `a< "E_BAD_BODY IDENTIFY invalid body size 65537"`}},
	},
	{
		name: "command line over the length limit",
		reason: "nsqlookupd reads a command line of any length into memory. Ours stops at " +
			"--max-command-length (4096 bytes) and closes the connection with E_INVALID.",
		sc: scenario{steps: seq(
			producer("a", 4150), cmd("a", "REGISTER t "+strings.Repeat("c", 5000)), closed("a"),
		)},
		want: []diffLine{{
			theirs: `a< "E_BAD_CHANNEL REGISTER channel name '` + strings.Repeat("c", 5000) + `' is not valid"`,
			ours:   `a< "E_INVALID command exceeds 4096 bytes"`,
		}},
	},
	{
		name: "identify port out of range",
		reason: "nsqlookupd only checks that tcp_port and http_port are not zero, so it lists producers " +
			"at ports like -1 or 70000 that no consumer can reach. Ours requires 1..65535 (E_BAD_BODY).",
		sc: scenario{steps: seq(
			connect("a"), send("a", identifyMsg(`{"broadcast_address":"h","tcp_port":-1,"http_port":2,"version":"1.3.0"}`)), recv("a", 1),
			connect("b"), send("b", identifyMsg(`{"broadcast_address":"h","tcp_port":1,"http_port":65536,"version":"1.3.0"}`)), recv("b", 1),
			get("/nodes"),
		)},
		want: []diffLine{
			{theirs: "a< " + reply, ours: `a< "E_BAD_BODY IDENTIFY invalid port"`},
			{theirs: "b< " + reply, ours: `b< "E_BAD_BODY IDENTIFY invalid port"`},
			{
				theirs: "GET /nodes → " + ct200 + `{"producers":[` +
					`{"remote_address":<conn a>,"hostname":"","broadcast_address":"h","tcp_port":-1,"http_port":2,"version":"1.3.0","tombstones":[],"topics":[]},` +
					`{"remote_address":<conn b>,"hostname":"","broadcast_address":"h","tcp_port":1,"http_port":65536,"version":"1.3.0","tombstones":[],"topics":[]}]}`,
				ours: "GET /nodes → " + ct200 + `{"producers":[]}`,
			},
		},
	},
	{
		name: "ephemeral registrations removed when the connection ends",
		reason: "nsqlookupd removes an ephemeral topic or channel only on an explicit UNREGISTER, so one " +
			"whose producer crashed or was cut off stays listed forever (nsq issue 1101). Ours also removes " +
			"it when its last producer's connection ends, together with the empty channels of an ephemeral topic.",
		sc: scenario{steps: seq(
			producer("a", 4150, "e#ephemeral x", "t c#ephemeral", "t d"), producer("b", 4160, "t"),
			hangup("a"), get("/topics"), get("/channels?topic=t"), get("/channels?topic=e%23ephemeral"),
			get("/lookup?topic=e%23ephemeral"), get("/lookup?topic=t"),
		)},
		want: []diffLine{
			{theirs: "GET /topics → " + ct200 + `{"topics":["e#ephemeral","t"]}`, ours: "GET /topics → " + ct200 + `{"topics":["t"]}`},
			{theirs: "GET /channels?topic=t → " + ct200 + `{"channels":["c#ephemeral","d"]}`, ours: "GET /channels?topic=t → " + ct200 + `{"channels":["d"]}`},
			{theirs: "GET /channels?topic=e%23ephemeral → " + ct200 + `{"channels":["x"]}`, ours: "GET /channels?topic=e%23ephemeral → " + ct200 + `{"channels":[]}`},
			{theirs: "GET /lookup?topic=e%23ephemeral → " + ct200 + `{"channels":["x"],"producers":[]}`, ours: "GET /lookup?topic=e%23ephemeral → " + ct404 + `{"message":"TOPIC_NOT_FOUND"}`},
			{theirs: "GET /lookup?topic=t → " + ct200 + `{"channels":["c#ephemeral","d"],"producers":[` + nodeB + `]}`, ours: "GET /lookup?topic=t → " + ct200 + `{"channels":["d"],"producers":[` + nodeB + `]}`},
		},
	},
	{
		name: "idle connection closed",
		reason: "nsqlookupd never times out a connection, so a producer that vanished without a FIN (host " +
			"powered off, partition) stays in /debug and its ephemeral registrations stay for ever. Ours " +
			"closes a connection silent for --client-idle-timeout (default twice the inactive timeout) and " +
			"removes its registrations. Here ours uses 250 ms; nsqlookupd keeps the connection past that.",
		sc: scenario{
			ours: func(o *lookup.Options) {
				o.InactiveProducerTimeout = 200 * time.Millisecond
				o.ClientIdleTimeout = 250 * time.Millisecond
			},
			steps: seq(producer("a", 4150, "t"), closedWithin("a", time.Second), get("/lookup?topic=t")),
		},
		want: []diffLine{
			{theirs: "a: still open after 1s", ours: "a: closed by server"},
			{theirs: "GET /lookup?topic=t → " + ct200 + `{"channels":[],"producers":[` + nodeA + `]}`, ours: "GET /lookup?topic=t → " + ct200 + `{"channels":[],"producers":[]}`},
		},
	},
	{
		name: "registrations per connection capped",
		reason: "nsqlookupd lets one connection register without limit. Ours caps it " +
			"(--max-registrations-per-producer, default 100000; 2 here) and refuses more with a " +
			"non-fatal E_INVALID, keeping the connection and what it already registered.",
		sc: scenario{
			ours:  func(o *lookup.Options) { o.MaxRegistrationsPerProducer = 2 },
			steps: seq(producer("a", 4150, "t c", "u"), cmd("a", "PING"), get("/topics")),
		},
		want: []diffLine{
			{theirs: `a< "OK"`, ours: `a< "E_INVALID REGISTER too many registrations"`},
			{theirs: "GET /topics → " + ct200 + `{"topics":["t","u"]}`, ours: "GET /topics → " + ct200 + `{"topics":["t"]}`},
		},
	},
	{
		name: "extra HTTP endpoints",
		reason: "ours adds /metrics (Prometheus text) and /stats (JSON counters) for operators; " +
			"nsqlookupd answers 404 NOT_FOUND there. No nsqlookupd path changes meaning.",
		sc:   scenario{steps: seq(statusOf(http.MethodGet, "/metrics"), statusOf(http.MethodGet, "/stats"))},
		want: []diffLine{{theirs: "GET /metrics → 404", ours: "GET /metrics → 200"}, {theirs: "GET /stats → 404", ours: "GET /stats → 200"}},
	},
	{
		name: "X-Lookupd-Index and blocking queries",
		reason: "ours adds the header X-Lookupd-Index to every answer of /lookup, /channels, /topics and " +
			"/nodes, 404 included: the index of that answer, which ?index=N&wait=D uses to wait for the next " +
			"one (Consul's blocking queries; their semantics are tested in package lookup). Without index " +
			"nothing else changes. nsqlookupd ignores index and wait, so a client that sends them to it " +
			"polls; ours rejects malformed values with 400 INVALID_ARG_INDEX or INVALID_ARG_WAIT. An index " +
			"that is not the current one is answered at once by both.",
		sc: scenario{steps: seq(
			post("/channel/create?topic=t&channel=c"),
			rawHTTPIndex(http.MethodGet, "/lookup?topic=t"), rawHTTPIndex(http.MethodGet, "/channels?topic=t"),
			rawHTTPIndex(http.MethodGet, "/topics"), rawHTTPIndex(http.MethodGet, "/nodes"),
			rawHTTPIndex(http.MethodGet, "/lookup?topic=nope"), rawHTTPIndex(http.MethodGet, "/info"),
			get("/topics?index=x"), get("/lookup?topic=t&wait=5"), get("/topics?index=99999&wait=10m"),
		)},
		want: []diffLine{
			{theirs: rawLine("/lookup?topic=t", 200, 0, `{"channels":["c"],"producers":[]}`), ours: rawLine("/lookup?topic=t", 200, 1, `{"channels":["c"],"producers":[]}`)},
			{theirs: rawLine("/channels?topic=t", 200, 0, `{"channels":["c"]}`), ours: rawLine("/channels?topic=t", 200, 2, `{"channels":["c"]}`)},
			{theirs: rawLine("/topics", 200, 0, `{"topics":["t"]}`), ours: rawLine("/topics", 200, 3, `{"topics":["t"]}`)},
			{theirs: rawLine("/nodes", 200, 0, `{"producers":[]}`), ours: rawLine("/nodes", 200, 4, `{"producers":[]}`)},
			{theirs: rawLine("/lookup?topic=nope", 404, 0, `{"message":"TOPIC_NOT_FOUND"}`), ours: rawLine("/lookup?topic=nope", 404, 5, `{"message":"TOPIC_NOT_FOUND"}`)},
			{theirs: "GET /topics?index=x → " + ct200 + `{"topics":["t"]}`, ours: "GET /topics?index=x → " + ct400 + `{"message":"INVALID_ARG_INDEX"}`},
			{theirs: "GET /lookup?topic=t&wait=5 → " + ct200 + `{"channels":["c"],"producers":[]}`, ours: "GET /lookup?topic=t&wait=5 → " + ct400 + `{"message":"INVALID_ARG_WAIT"}`},
		},
	},
	{
		name: "wildcard topic in queries",
		reason: "nsqlookupd passes the topic query parameter to its registry matcher unchecked, so " +
			"topic=* matches every topic: /lookup?topic=* lists every producer of every topic and " +
			"/channels?topic=* every channel, each answered by a full scan. \"*\" is not a valid topic " +
			"name, no client documents the behaviour, and ours answers every query from an index, so " +
			"ours treats \"*\" as the (unregistered) topic it names.",
		sc: scenario{steps: seq(producer("a", 4150, "t c"), get("/lookup?topic=*"), get("/channels?topic=*"))},
		want: []diffLine{
			{theirs: "GET /lookup?topic=* → " + ct200 + `{"channels":["c"],"producers":[` + nodeA + `]}`, ours: "GET /lookup?topic=* → " + ct404 + `{"message":"TOPIC_NOT_FOUND"}`},
			{theirs: "GET /channels?topic=* → " + ct200 + `{"channels":["c"]}`, ours: "GET /channels?topic=* → " + ct200 + `{"channels":[]}`},
		},
	},
	{
		name: "deterministic order",
		reason: "nsqlookupd builds every list (topics, channels, producers, a node's topics) by iterating " +
			"Go maps, so the order changes from one request to the next. Ours sorts them: names " +
			"lexically, producers by broadcast address, TCP port, HTTP port and remote address, so " +
			"answers are stable and cacheable. The sets are the same.",
		check: checkOrder,
	},
}

func TestKnownDifferences(t *testing.T) {
	t.Parallel()
	for _, kd := range knownDifferences {
		t.Run(kd.name, func(t *testing.T) {
			t.Parallel()
			if kd.reason == "" {
				t.Fatal("a known difference needs its reason")
			}
			switch {
			case kd.check != nil:
				kd.check(t)
			case kd.theirsNotRun != "":
				ours := transcript(t, startOurs(t, kd.sc.ours), kd.sc.steps)
				if !slices.Equal(ours, kd.wantOurs) {
					t.Errorf("ours (nsqlookupd not run: %s):\n%s", kd.theirsNotRun, render(kd.wantOurs, ours))
				}
			default:
				theirs, ours := runBoth(t, kd.sc)
				got := differences(theirs, ours)
				if len(kd.want) == 0 {
					t.Fatal("a known difference must name the lines that differ")
				}
				if !slices.Equal(got, kd.want) {
					var b strings.Builder
					for _, d := range kd.want {
						fmt.Fprintf(&b, "  want theirs: %s\n  want ours:   %s\n", d.theirs, d.ours)
					}
					t.Errorf("differences are not the named ones\nnamed:\n%sgot (- nsqlookupd, + ours):\n%s", b.String(), render(theirs, ours))
				}
			}
		})
	}
}

// checkOrder registers lists in unsorted order and requires ours to answer
// sorted, the same way every time, and nsqlookupd to answer the same sets.
func checkOrder(t *testing.T) {
	var regs []string
	for i := 12; i >= 1; i-- {
		regs = append(regs, fmt.Sprintf("t%02d c%02d", i, i), fmt.Sprintf("t01 c%02d", i))
	}
	setup := seq(producer("a", 4170, regs...), producer("b", 4150, "t01", "t07"), producer("c", 4160, "t01", "t03"))
	queries := []string{"/topics", "/channels?topic=t01", "/lookup?topic=t01", "/nodes"}

	run := func(tg target) (*runner, map[string][]byte) {
		r := newRunner(t, tg)
		r.run(setup)
		raw := make(map[string][]byte)
		for _, q := range queries {
			resp := r.do(http.MethodGet, q)
			if resp.err != nil || resp.status != http.StatusOK {
				t.Fatalf("%s GET %s: %d %v", tg.Name(), q, resp.status, resp.err)
			}
			raw[q] = resp.body
		}
		return r, raw
	}
	rt, theirs := run(startTheirs(t, nil))
	ro, ours := run(startOurs(t, nil))

	for _, q := range queries {
		if a, b := rt.norm.body(theirs[q]), ro.norm.body(ours[q]); a != b {
			t.Errorf("GET %s: sets differ\n- %s\n+ %s", q, a, b)
		}
		if again := ro.do(http.MethodGet, q); string(again.body) != string(ours[q]) {
			t.Errorf("ours GET %s changed between two reads:\n%s\n%s", q, ours[q], again.body)
		}
	}

	var doc struct {
		Topics    []string `json:"topics"`
		Channels  []string `json:"channels"`
		Producers []struct {
			TCPPort int      `json:"tcp_port"`
			Topics  []string `json:"topics"`
		} `json:"producers"`
	}
	sortedPorts := func(q string) {
		ports := make([]int, len(doc.Producers))
		for i, p := range doc.Producers {
			ports[i] = p.TCPPort
		}
		if !slices.IsSorted(ports) || len(ports) != 3 {
			t.Errorf("ours GET %s: producers by tcp_port %v, want 3 sorted", q, ports)
		}
	}
	for _, q := range queries {
		doc.Topics, doc.Channels, doc.Producers = nil, nil, nil
		if err := json.Unmarshal(ours[q], &doc); err != nil {
			t.Fatalf("ours GET %s: %v", q, err)
		}
		switch q {
		case "/topics":
			if !slices.IsSorted(doc.Topics) || len(doc.Topics) != 12 {
				t.Errorf("ours GET %s: %v, want 12 sorted", q, doc.Topics)
			}
		case "/channels?topic=t01":
			if !slices.IsSorted(doc.Channels) || len(doc.Channels) != 12 {
				t.Errorf("ours GET %s: %v, want 12 sorted", q, doc.Channels)
			}
		case "/lookup?topic=t01":
			if !slices.IsSorted(doc.Channels) || len(doc.Channels) != 12 {
				t.Errorf("ours GET %s: channels %v, want 12 sorted", q, doc.Channels)
			}
			sortedPorts(q)
		case "/nodes":
			sortedPorts(q)
			for _, p := range doc.Producers {
				if !slices.IsSorted(p.Topics) {
					t.Errorf("ours GET %s: topics of %d not sorted: %v", q, p.TCPPort, p.Topics)
				}
			}
		}
	}

	// nsqlookupd's order is map order. With 12 topics, five sorted answers
	// in a row would take odds far below one in a billion.
	unsorted := false
	for range 5 {
		resp := rt.do(http.MethodGet, "/topics")
		doc.Topics = nil
		if err := json.Unmarshal(resp.body, &doc); err != nil {
			t.Fatalf("theirs GET /topics: %v", err)
		}
		if !slices.IsSorted(doc.Topics) {
			unsorted = true
			break
		}
	}
	if !unsorted {
		t.Errorf("nsqlookupd answered /topics sorted five times: is its order really unspecified?")
	}
}

const childEnv = "DIFFTEST_NSQLOOKUPD_CHILD"

// TestKnownDifference_TheirsDiesOnNegativeBodyLength verifies the reason
// given for "identify negative body length" against nsqlookupd itself. The
// attack would kill this test binary, so it re-runs the binary as a child
// process that starts nsqlookupd and sends the 17 bytes; the child must
// die of the panic.
func TestKnownDifference_TheirsDiesOnNegativeBodyLength(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		tg := startTheirs(t, nil)
		r := newRunner(t, tg)
		r.run(seq(connect("a"), send("a", "IDENTIFY\n\xff\xff\xff\xff")))
		// The panic ends this process; reaching the end of the wait means
		// nsqlookupd survived, which the parent reports.
		r.run(seq(closedWithin("a", 10*time.Second)))
		t.Logf("nsqlookupd survived: %v", r.lines)
		return
	}
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKnownDifference_TheirsDiesOnNegativeBodyLength$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("child: err %v, want exit status 2 (a Go panic); output:\n%s", err, out)
	}
	for _, want := range []string{"panic: runtime error: makeslice: len out of range", "nsqlookupd.(*LookupProtocolV1).IDENTIFY"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("child output lacks %q:\n%s", want, out)
		}
	}
}
