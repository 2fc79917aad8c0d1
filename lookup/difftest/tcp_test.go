package difftest

import (
	"strings"
	"testing"
)

// state queries the HTTP view a scenario ends with: /topics, /nodes,
// /debug and, for each topic, /lookup and /channels.
func state(topics ...string) step {
	return func(r *runner) {
		get("/topics")(r)
		get("/nodes")(r)
		get("/debug")(r)
		for _, t := range topics {
			q := strings.ReplaceAll(t, "#", "%23")
			get("/lookup?topic=" + q)(r)
			get("/channels?topic=" + q)(r)
		}
	}
}

// seq lists the steps of a script.
func seq(s ...step) []step { return s }

// fatalAfterIdentify identifies a fresh connection, sends line and expects
// one error reply and the close.
func fatalAfterIdentify(label string, port int, line string) step {
	return func(r *runner) {
		connect(label)(r)
		identify(label, port)(r)
		cmd(label, line)(r)
		closed(label)(r)
	}
}

var tcpScenarios = []scenario{
	{name: "bad magic V2", steps: seq(dial("a"), send("a", "  V2"), recv("a", 1), closed("a"))},
	{name: "bad magic XXXX", steps: seq(dial("a"), send("a", "XXXX"), recv("a", 1), closed("a"))},
	{name: "bad magic lower case", steps: seq(dial("a"), send("a", "  v1PING\n"), recv("a", 1), closed("a"))},
	{name: "short magic then EOF", steps: seq(dial("a"), send("a", "  V"), shutWrite("a"), closed("a"))},
	{name: "magic and command in one write", steps: seq(dial("a"), send("a", "  V1PING\n"), recv("a", 1))},
	{name: "ping before identify", steps: seq(connect("a"), cmd("a", "PING"), cmd("a", "PING x y"), get("/nodes"))},
	{name: "register before identify", steps: seq(
		connect("a"), cmd("a", "REGISTER t"), closed("a"),
		connect("b"), cmd("b", "REGISTER t c"), closed("b"),
		connect("c"), cmd("c", "UNREGISTER t"), closed("c"),
		state("t"),
	)},
	{name: "unknown command", steps: seq(
		connect("a"), cmd("a", "FOO bar"), closed("a"),
		connect("b"), cmd("b", "ping"), closed("b"),
		connect("c"), cmd("c", "REGISTER\tt"), closed("c"),
	)},
	{name: "unknown command after identify drops registrations", steps: seq(
		producer("a", 4150, "t c"), cmd("a", "NOPE"), closed("a"), state("t"),
	)},
	{name: "empty line", steps: seq(connect("a"), cmd("a", ""), closed("a"))},
	{name: "blank line with CR", steps: seq(connect("a"), cmd("a", "  \r"), closed("a"))},
	{name: "trailing CRLF and surrounding spaces", steps: seq(
		connect("a"), cmd("a", "  PING \r"), identify("a", 4150),
		cmd("a", "REGISTER t c\r"), cmd("a", " REGISTER u "), state("t", "u"),
	)},
	{name: "identify reply", steps: seq(connect("a"), identify("a", 4150), cmd("a", "PING"), state())},
	{name: "identify params ignored", steps: seq(
		connect("a"), send("a", "IDENTIFY x y\n\x00\x00\x00\x02{}"), recv("a", 1), closed("a"),
	)},
	{name: "identify bad JSON", steps: seq(
		connect("a"), send("a", identifyMsg("{")), recv("a", 1), closed("a"),
		connect("b"), send("b", identifyMsg(`{"tcp_port":"4150"}`)), recv("b", 1), closed("b"),
		connect("c"), send("c", identifyMsg(`[]`)), recv("c", 1), closed("c"),
		connect("d"), send("d", identifyMsg(`{"tcp_port":4150.5}`)), recv("d", 1), closed("d"),
		connect("e"), send("e", identifyMsg(`{} {}`)), recv("e", 1), closed("e"),
		state(),
	)},
	{name: "identify empty body", steps: seq(connect("a"), send("a", identifyMsg("")), recv("a", 1), closed("a"))},
	{name: "identify missing fields", steps: seq(
		connect("a"), send("a", identifyMsg(`{"tcp_port":1,"http_port":2,"version":"1.3.0"}`)), recv("a", 1), closed("a"),
		connect("b"), send("b", identifyMsg(`{"broadcast_address":"h","http_port":2,"version":"1.3.0"}`)), recv("b", 1), closed("b"),
		connect("c"), send("c", identifyMsg(`{"broadcast_address":"h","tcp_port":1,"version":"1.3.0"}`)), recv("c", 1), closed("c"),
		connect("d"), send("d", identifyMsg(`{"broadcast_address":"h","tcp_port":1,"http_port":2}`)), recv("d", 1), closed("d"),
		connect("e"), send("e", identifyMsg(`null`)), recv("e", 1), closed("e"),
		connect("f"), send("f", identifyMsg(`{"broadcast_address":"","tcp_port":1,"http_port":2,"version":"1.3.0"}`)), recv("f", 1), closed("f"),
		state(),
	)},
	{name: "identify without hostname, extra fields and remote_address", steps: seq(
		connect("a"),
		send("a", identifyMsg(`{"broadcast_address":"10.0.0.1","tcp_port":4150,"http_port":4151,"version":"0.3.8","remote_address":"1.2.3.4:5","extra":[1,{"x":null}]}`)),
		recv("a", 1), cmd("a", "REGISTER t"), state("t"),
	)},
	{name: "identify strings that need escaping", steps: seq(
		connect("a"),
		send("a", identifyMsg(`{"broadcast_address":"10.0.0.1","hostname":"<b>&\"ö\u2028\u0001","tcp_port":4150,"http_port":4151,"version":"1.3.0-ünï"}`)),
		recv("a", 1), cmd("a", "REGISTER t"), state("t"),
	)},
	{name: "identify truncated body", steps: seq(
		connect("a"), send("a", "IDENTIFY\n\x00\x00\x00\x64{\"broadcast"), shutWrite("a"), recv("a", 1), closed("a"),
	)},
	{name: "identify truncated size", steps: seq(
		connect("a"), send("a", "IDENTIFY\n\x00\x00"), shutWrite("a"), recv("a", 1), closed("a"),
	)},
	{name: "identify twice", steps: seq(
		producer("a", 4150, "t"), send("a", identifyMsg(identifyBody("a", 4150))), recv("a", 1), closed("a"), state("t"),
	)},
	{name: "register without params", steps: seq(
		fatalAfterIdentify("a", 4150, "REGISTER"),
		fatalAfterIdentify("b", 4152, "REGISTER "),
		fatalAfterIdentify("c", 4154, "UNREGISTER"),
		state(),
	)},
	{name: "bad topic names", steps: seq(
		fatalAfterIdentify("a", 4150, "REGISTER "+strings.Repeat("t", 65)),
		fatalAfterIdentify("b", 4152, "REGISTER bad!"),
		fatalAfterIdentify("c", 4154, "REGISTER #ephemeral"),
		fatalAfterIdentify("d", 4156, "REGISTER t#ephemeral#ephemeral"),
		fatalAfterIdentify("e", 4158, "REGISTER t#eph"),
		fatalAfterIdentify("f", 4160, "REGISTER tópico"),
		fatalAfterIdentify("g", 4162, "UNREGISTER a:b"),
		fatalAfterIdentify("h", 4164, "REGISTER "+strings.Repeat("t", 56)+"#ephemeral"),
		state(),
	)},
	{name: "longest names", steps: seq(
		producer("a", 4150,
			strings.Repeat("t", 64),
			strings.Repeat("u", 54)+"#ephemeral "+strings.Repeat("c", 54)+"#ephemeral",
			"v "+strings.Repeat("c", 64),
			"._-AZaz09 ._-AZaz09#ephemeral",
		),
		state(strings.Repeat("t", 64), strings.Repeat("u", 54)+"#ephemeral", "v", "._-AZaz09"),
	)},
	{name: "bad channel names", steps: seq(
		fatalAfterIdentify("a", 4150, "REGISTER t "+strings.Repeat("c", 65)),
		fatalAfterIdentify("b", 4152, "REGISTER t c/d"),
		fatalAfterIdentify("c", 4154, "REGISTER t #ephemeral"),
		fatalAfterIdentify("d", 4156, "UNREGISTER t c*"),
		state("t"),
	)},
	{name: "register topic", steps: seq(producer("a", 4150, "t"), cmd("a", "REGISTER t"), state("t"))},
	{name: "register topic channel", steps: seq(producer("a", 4150, "t c"), state("t"))},
	{name: "register channels one by one", steps: seq(producer("a", 4150, "t c1", "t c2", "t c1"), state("t"))},
	{name: "unregister channel keeps it listed", steps: seq(
		producer("a", 4150, "t c1", "t c2"), cmd("a", "UNREGISTER t c1"), state("t"),
	)},
	{name: "unregister topic removes channel producers", steps: seq(
		producer("a", 4150, "t c1", "t c2"), producer("b", 4152, "t c1"),
		cmd("a", "UNREGISTER t"), state("t"),
		cmd("b", "UNREGISTER t"), state("t"),
	)},
	{name: "unregister what was never registered", steps: seq(
		producer("a", 4150), cmd("a", "UNREGISTER t"), cmd("a", "UNREGISTER t c"),
		cmd("a", "UNREGISTER t#ephemeral c#ephemeral"), state("t"),
	)},
	{name: "ephemeral channel removed on unregister", steps: seq(
		producer("a", 4150, "t c#ephemeral", "t d"), producer("b", 4152, "t c#ephemeral"),
		cmd("a", "UNREGISTER t c#ephemeral"), state("t"),
		cmd("b", "UNREGISTER t c#ephemeral"), state("t"),
		cmd("a", "UNREGISTER t d"), state("t"),
	)},
	{name: "ephemeral topic removed on unregister", steps: seq(
		producer("a", 4150, "e#ephemeral c", "e#ephemeral d#ephemeral"), producer("b", 4152, "e#ephemeral"),
		cmd("a", "UNREGISTER e#ephemeral"), state("e#ephemeral"),
		cmd("b", "UNREGISTER e#ephemeral"), state("e#ephemeral"),
	)},
	{name: "doubled spaces", steps: seq(
		producer("a", 4150, "t  c"), state("t"),
		cmd("a", "REGISTER  t"), closed("a"), state("t"),
	)},
	{name: "extra params", steps: seq(producer("a", 4150, "t c x y", "u c "), cmd("a", "UNREGISTER t c z"), state("t", "u"))},
	{name: "pipelined commands", steps: seq(
		dial("a"),
		send("a", "  V1PING\n"+identifyMsg(identifyBody("a", 4150))+"REGISTER t\nREGISTER t c\nUNREGISTER t c\nPING\n"),
		recv("a", 6), state("t"),
	)},
	{name: "pipelined commands stop at a fatal error", steps: seq(
		producer("a", 4150, "t"),
		send("a", "PING\nREGISTER t c\nBAD\nREGISTER u\nPING\n"), recv("a", 3), closed("a"), state("t", "u"),
	)},
	{name: "disconnect removes producer", steps: seq(
		producer("a", 4150, "t c"), producer("b", 4152, "t c", "u"),
		hangup("a"), state("t", "u"),
		hangup("b"), state("t", "u"),
	)},
	{name: "same producer on two connections", steps: seq(
		producer("a", 4150, "t"), connect("b"), send("b", identifyMsg(identifyBody("a", 4150))), recv("b", 1),
		cmd("b", "REGISTER t"), state("t"),
	)},
	{name: "many producers and topics", steps: seq(
		producer("a", 4150, "t1 c1", "t2 c2", "t3"),
		producer("b", 4160, "t1 c2", "t2", "t4 c4"),
		producer("c", 4170, "t1 c1", "t3 c3"),
		state("t1", "t2", "t3", "t4"),
	)},
}

func TestCompat_TCP(t *testing.T) {
	runScenarios(t, tcpScenarios)
}
