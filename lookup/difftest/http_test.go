package difftest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nsqio/nsq/nsqlookupd"

	"github.com/lookupd/lookupd/lookup"
)

// callAll calls method on each path in turn.
func callAll(method string, paths ...string) step {
	return func(r *runner) {
		for _, p := range paths {
			call(method, p)(r)
		}
	}
}

var httpScenarios = []scenario{
	{name: "empty daemon", steps: seq(
		get("/ping"), get("/info"), get("/debug"), get("/topics"), get("/nodes"),
		get("/channels?topic=t"), get("/lookup?topic=t"),
	)},
	{name: "query errors", steps: seq(
		get("/lookup"), get("/lookup?topic="), get("/lookup?Topic=t"), get("/lookup?topic=%zz"), get("/lookup?%zz"),
		get("/channels"), get("/channels?topic="), get("/channels?topic=%zz"),
		get("/ping?%zz"), get("/info?%zz"), get("/topics?%zz"), get("/nodes?%zz"), get("/debug?%zz"),
	)},
	{name: "topic create", steps: seq(
		callAll(http.MethodPost,
			"/topic/create", "/topic/create?topic=", "/topic/create?topic=bad!", "/topic/create?topic=%zz",
			"/topic/create?topic="+strings.Repeat("t", 65), "/topic/create?topic=%23ephemeral",
			"/topic/create?topic=t", "/topic/create?topic=t", "/topic/create?topic=e%23ephemeral",
			"/topic/create?topic=a&topic=b", "/topic/create?topic=t&channel=ignored",
		),
		state("t", "e#ephemeral", "a", "b"),
	)},
	{name: "topic delete", steps: seq(
		post("/channel/create?topic=t&channel=c"), post("/topic/create?topic=u"),
		callAll(http.MethodPost,
			"/topic/delete", "/topic/delete?topic=%zz", "/topic/delete?topic=nope", "/topic/delete?topic=bad!",
			"/topic/delete?topic=", "/topic/delete?topic=t",
		),
		state("t", "u"),
	)},
	{name: "channel create", steps: seq(
		callAll(http.MethodPost,
			"/channel/create", "/channel/create?channel=c", "/channel/create?topic=bad!&channel=c",
			"/channel/create?topic=t", "/channel/create?topic=t&channel=", "/channel/create?topic=t&channel=bad!",
			"/channel/create?topic=t&channel=%zz", "/channel/create?topic=t&channel="+strings.Repeat("c", 65),
			"/channel/create?topic=t&channel=c", "/channel/create?topic=t&channel=c",
			"/channel/create?topic=t&channel=d%23ephemeral",
		),
		state("t"),
	)},
	{name: "channel delete", steps: seq(
		post("/channel/create?topic=t&channel=c"), post("/channel/create?topic=t&channel=d"),
		callAll(http.MethodPost,
			"/channel/delete", "/channel/delete?topic=t", "/channel/delete?topic=bad!&channel=c",
			"/channel/delete?topic=t&channel=bad!", "/channel/delete?topic=%zz",
			"/channel/delete?topic=t&channel=nope", "/channel/delete?topic=nope&channel=c",
			"/channel/delete?topic=t&channel=c", "/channel/delete?topic=t&channel=c",
		),
		state("t"),
	)},
	{name: "tombstone errors", steps: seq(
		callAll(http.MethodPost,
			"/topic/tombstone", "/topic/tombstone?node=127.0.0.1:4151", "/topic/tombstone?topic=t",
			"/topic/tombstone?topic=%zz", "/topic/tombstone?topic=nope&node=127.0.0.1:4151",
			"/topic/tombstone?topic=t&node=", "/topic/tombstone?topic=bad!&node=x",
		),
		state(),
	)},
	{name: "tombstone hides producer from lookup only", steps: seq(
		producer("a", 4150, "t c", "u"), producer("b", 4160, "t"),
		post("/topic/tombstone?topic=t&node=127.0.0.1:4150"), // the TCP port: no match
		state("t"),
		post("/topic/tombstone?topic=t&node=127.0.0.1:4151"),
		state("t", "u"),
		cmd("a", "REGISTER t d"), get("/lookup?topic=t"), get("/nodes"),
		cmd("a", "UNREGISTER t"), cmd("a", "REGISTER t"), state("t"),
	)},
	{name: "tombstone matches every connection of a node", steps: seq(
		producer("a", 4150, "t"), connect("b"), send("b", identifyMsg(identifyBody("a", 4150))), recv("b", 1),
		cmd("b", "REGISTER t"), producer("c", 4160, "t"),
		post("/topic/tombstone?topic=t&node=127.0.0.1:4151"), state("t"),
	)},
	{name: "tombstone expires", theirs: func(o *nsqlookupd.Options) { o.TombstoneLifetime = clockWindow },
		ours: func(o *lookup.Options) { o.TombstoneLifetime = clockWindow },
		steps: seq(
			producer("a", 4150, "t"),
			post("/topic/tombstone?topic=t&node=127.0.0.1:4151"),
			get("/lookup?topic=t"),
			pollGet("/nodes", `{"producers":[{"remote_address":<conn a>,"hostname":"host-a","broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0","tombstones":[false],"topics":["t"]}]}`),
			get("/lookup?topic=t"), get("/debug"),
		)},
	{name: "inactive producer hidden until it pings", theirs: func(o *nsqlookupd.Options) { o.InactiveProducerTimeout = clockWindow },
		ours: func(o *lookup.Options) {
			o.InactiveProducerTimeout = clockWindow
			// Ours also closes a connection silent for twice the
			// inactive timeout ("idle connection closed" in
			// differences_test.go); a and b stay silent longer than
			// that while /nodes is polled on a slow machine.
			o.ClientIdleTimeout = time.Minute
		},
		steps: seq(
			producer("a", 4150, "t c"), producer("b", 4160, "t"), get("/lookup?topic=t"),
			cmd("b", "PING"),
			pollGet("/nodes", `{"producers":[]}`),
			state("t"),
			cmd("a", "PING"), cmd("b", "REGISTER u"),
			state("t", "u"),
		)},
	{name: "http registrations and producers", steps: seq(
		post("/channel/create?topic=t&channel=c"), producer("a", 4150, "t d"), state("t"),
		post("/channel/delete?topic=t&channel=d"), state("t"),
		post("/topic/delete?topic=t"), state("t"),
		cmd("a", "UNREGISTER t d"), cmd("a", "UNREGISTER t"), state("t"),
		cmd("a", "REGISTER t e"), state("t"),
	)},
	{name: "unregister of an empty ephemeral registration by a non-member", steps: seq(
		post("/channel/create?topic=t&channel=c%23ephemeral"), post("/topic/create?topic=e%23ephemeral"),
		producer("a", 4150), state("t", "e#ephemeral"),
		cmd("a", "UNREGISTER t c#ephemeral"), cmd("a", "UNREGISTER e#ephemeral"),
		state("t", "e#ephemeral"),
	)},
	{name: "unknown paths", steps: seq(
		get("/"), get("/nope"), post("/nope"), get("/lookup/x"), get("/topic"), call(http.MethodDelete, "/x"),
	)},
	{name: "wrong methods", steps: seq(
		post("/ping"), post("/info"), post("/lookup?topic=t"), call(http.MethodPut, "/topics"),
		call(http.MethodDelete, "/nodes"), get("/topic/create?topic=t"), get("/topic/delete?topic=t"),
		get("/channel/create?topic=t&channel=c"), get("/channel/delete?topic=t&channel=c"),
		get("/topic/tombstone?topic=t&node=n"), call(http.MethodPatch, "/debug"),
		callStatus(http.MethodHead, "/ping"), call(http.MethodOptions, "/lookup"),
		call(http.MethodOptions, "/topic/create"),
		state(),
	)},
	{name: "redirects", steps: seq(
		get("/ping/"), get("/lookup/?topic=t"), get("/topics/"), get("/nodes/"), post("/topic/create/?topic=t"),
		get("/LOOKUP?topic=t"), get("//topics"), get("/Topics/"), get("/debug/pprof/"),
		state(),
	)},
	{name: "pprof", steps: seq(
		callStatus(http.MethodGet, "/debug/pprof"), callStatus(http.MethodGet, "/debug/pprof/cmdline"),
		callStatus(http.MethodGet, "/debug/pprof/goroutine"), callStatus(http.MethodGet, "/debug/pprof/nope"),
	)},
	{name: "wire spelling of headers", steps: seq(
		rawHTTP(http.MethodGet, "/ping"), rawHTTP(http.MethodGet, "/info"), rawHTTP(http.MethodGet, "/topics"),
		rawHTTP(http.MethodGet, "/lookup?topic=t"), rawHTTP(http.MethodGet, "/nope"), rawHTTP(http.MethodPost, "/lookup"),
		rawHTTP(http.MethodPost, "/topic/create?topic=t"), rawHTTP(http.MethodGet, "/lookup?topic=t"),
		rawHTTP(http.MethodGet, "/lookup/?topic=t"), rawHTTP(http.MethodHead, "/ping"),
	)},
	{name: "topics and channels lists", steps: seq(
		post("/topic/create?topic=z"), post("/channel/create?topic=a&channel=c2"), post("/channel/create?topic=a&channel=c1"),
		producer("a", 4150, "m x", "a c3", "m#ephemeral"),
		state("z", "a", "m", "m#ephemeral"), get("/lookup?topic=a&topic=z"), get("/channels?topic=m&topic=a"),
	)},
}

func TestCompat_HTTP(t *testing.T) {
	runScenarios(t, httpScenarios)
}
