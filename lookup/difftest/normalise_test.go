package difftest

import (
	"strconv"
	"testing"
	"time"
)

// TestNormaliser pins what normalisation hides and, as important, what it
// keeps: a normaliser that erased real differences would make every
// comparison pass.
func TestNormaliser(t *testing.T) {
	now := time.Now()
	n := &normaliser{
		addrs:    map[string]string{"127.0.0.1:50000": "conn a"},
		tcpPort:  40000,
		httpPort: 40001,
		hostname: "box",
		start:    now.Add(-time.Second),
	}
	ts := strconv.FormatInt(now.UnixNano(), 10)
	tests := []struct {
		name, in, want string
	}{
		{"plain text", `OK`, `"OK"`},
		{"empty", ``, `""`},
		{"string arrays sorted", `{"topics":["b","a","c"]}`, `{"topics":["a","b","c"]}`},
		{"key order kept", `{"b":1,"a":2}`, `{"b":1,"a":2}`},
		{"object arrays sorted", `[{"x":2},{"x":1}]`, `[{"x":1},{"x":2}]`},
		{"bool arrays keep order", `[true,false]`, `[true,false]`},
		{"topics and tombstones sorted as pairs", `{"tombstones":[true,false,false],"topics":["c","a","b"]}`,
			`{"tombstones":[false,false,true],"topics":["a","b","c"]}`},
		{"client address", `{"remote_address":"127.0.0.1:50000","id":"127.0.0.1:50001"}`,
			`{"remote_address":<conn a>,"id":"127.0.0.1:50001"}`},
		{"own ports only", `{"tcp_port":40000,"http_port":40001,"x":{"tcp_port":40001,"http_port":40000}}`,
			`{"tcp_port":<lookupd tcp port>,"http_port":<lookupd http port>,"x":{"tcp_port":40001,"http_port":40000}}`},
		{"own hostname only", `[{"hostname":"box"},{"hostname":"other"}]`, `[{"hostname":"other"},{"hostname":<hostname>}]`},
		{"recent times", `{"last_update":` + ts + `,"tombstoned":true,"tombstoned_at":` + ts + `}`,
			`{"last_update":<now>,"tombstoned":true,"tombstoned_at":<now>}`},
		{"times kept when not tombstoned or implausible", `{"last_update":5,"tombstoned":false,"tombstoned_at":` + ts + `}`,
			`{"last_update":5,"tombstoned":false,"tombstoned_at":` + ts + `}`},
		{"numbers kept verbatim", `{"n":1.50,"m":-0}`, `{"n":1.50,"m":-0}`},
		{"null and empty", `{"a":null,"b":[],"c":{}}`, `{"a":null,"b":[],"c":{}}`},
		{"escapes noted", `{"h":"\u003cx"}`, `{"h":"\u003cx"} (escapes \u003c)`},
		{"whitespace noted", "{}\n", `{} (+whitespace)`},
		{"invalid JSON reported", `{"a":`, `invalid JSON "{\"a\":": EOF`},
		{"trailing data reported", `{} {}`, `invalid JSON "{} {}": trailing data after JSON value`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.body([]byte(tc.in)); got != tc.want {
				t.Errorf("body(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestDifferences(t *testing.T) {
	a := []string{"x", "y", "z"}
	b := []string{"x", "Y", "z", "w"}
	got := differences(a, b)
	want := []diffLine{{theirs: "y", ours: "Y"}, {theirs: "", ours: "w"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("differences = %q, want %q", got, want)
	}
	if d := differences(a, a); d != nil {
		t.Errorf("differences of equal transcripts = %q", d)
	}
}
