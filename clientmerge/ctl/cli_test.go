package ctl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lookupd/lookupd/lookup/lookuptest"
)

// divergent starts three lookupds that each see the producers
// differently:
//
//	p1 127.0.0.1:4150  orders/billing               on A, B, C
//	p2 127.0.0.1:4250  orders/audit, payments       on A, B
//	p3 127.0.0.1:4350  clicks                       on C
func divergent(t *testing.T) *testCluster {
	c := startCluster(t, 3)
	c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders/billing")
	c.announceOn([]int{0, 1}, 4250, "p2", "orders/audit", "payments")
	c.announceOn([]int{2}, 4350, "p3", "clicks")
	return c
}

func checkRows(t *testing.T, c *testCluster, out string, want [][]string) {
	t.Helper()
	if got := c.rows(out); !reflect.DeepEqual(got, want) {
		t.Errorf("table:\n%s\nwant:\n%s\noutput:\n%s", fmtRows(got), fmtRows(want), out)
	}
}

func TestCommands_Table(t *testing.T) {
	c := divergent(t)
	for _, tc := range []struct {
		name string
		args []string
		want [][]string
	}{
		{name: "lookup", args: []string{"lookup", "orders"}, want: [][]string{
			{"topic orders: 2 producers; channels: audit, billing"},
			{"PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM"},
			{"127.0.0.1:4150", "p1", "1.3.0", "3/3", "-"},
			{"127.0.0.1:4250", "p2", "1.3.0", "2/3", "C"},
		}},
		{name: "topics", args: []string{"topics"}, want: [][]string{
			{"TOPIC", "SEEN BY", "MISSING FROM"},
			{"clicks", "1/3", "A, B"},
			{"orders", "3/3", "-"},
			{"payments", "2/3", "C"},
		}},
		{name: "channels", args: []string{"channels", "orders"}, want: [][]string{
			{"CHANNEL", "SEEN BY", "MISSING FROM"},
			{"audit", "2/3", "C"},
			{"billing", "3/3", "-"},
		}},
		{name: "nodes", args: []string{"nodes"}, want: [][]string{
			{"PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM", "TOPICS"},
			{"127.0.0.1:4150", "p1", "1.3.0", "3/3", "-", "orders"},
			{"127.0.0.1:4250", "p2", "1.3.0", "2/3", "C", "orders, payments"},
			{"127.0.0.1:4350", "p3", "1.3.0", "1/3", "A, B", "clicks"},
		}},
		{name: "diff", args: []string{"diff"}, want: [][]string{
			{"KIND", "NAME", "SEEN BY", "LISTED BY", "MISSING FROM"},
			{"topic", "clicks", "1/3", "C", "A, B"},
			{"topic", "payments", "2/3", "A, B", "C"},
			{"channel", "orders/audit", "2/3", "A, B", "C"},
			{"producer", "clicks 127.0.0.1:4350", "1/3", "C", "A, B"},
			{"producer", "orders 127.0.0.1:4250", "2/3", "A, B", "C"},
			{"producer", "payments 127.0.0.1:4250", "2/3", "A, B", "C"},
			{"diverged: 6 differences between 3 lookupds"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := c.run(tc.args...)
			wantCode := ExitOK
			if tc.name == "diff" {
				wantCode = ExitDiverged
			}
			if code != wantCode || errs != "" {
				t.Errorf("exit %d, stderr %q; want %d and nothing", code, errs, wantCode)
			}
			checkRows(t, c, out, tc.want)
		})
	}
}

func TestCommands_JSON(t *testing.T) {
	c := divergent(t)
	type presence struct {
		SeenBy   int      `json:"seen_by"`
		Of       int      `json:"of"`
		Lookupds []string `json:"lookupds"`
		Missing  []string `json:"missing"`
		Unknown  []string `json:"unknown"`
	}
	t.Run("lookup", func(t *testing.T) {
		var got struct {
			Topic     string
			Channels  []string
			Producers []struct {
				Address  string
				Hostname string
				TCPPort  int `json:"tcp_port"`
				HTTPPort int `json:"http_port"`
				presence
			}
			Lookupds []struct {
				Address string
				Up      bool
			}
		}
		if code := c.runJSON(&got, "lookup", "orders"); code != ExitOK {
			t.Fatalf("exit %d", code)
		}
		if got.Topic != "orders" || !reflect.DeepEqual(got.Channels, []string{"audit", "billing"}) || len(got.Producers) != 2 || len(got.Lookupds) != 3 {
			t.Fatalf("got %+v", got)
		}
		p := got.Producers[1]
		if p.Address != "127.0.0.1:4250" || p.Hostname != "p2" || p.TCPPort != 4250 || p.HTTPPort != 4251 ||
			p.SeenBy != 2 || p.Of != 3 || !reflect.DeepEqual(p.Lookupds, c.addrs[:2]) || !reflect.DeepEqual(p.Missing, c.addrs[2:]) {
			t.Errorf("producer 2: %+v", p)
		}
		for i, l := range got.Lookupds {
			if l.Address != c.addrs[i] || !l.Up {
				t.Errorf("lookupd %d: %+v", i, l)
			}
		}
	})
	t.Run("topics", func(t *testing.T) {
		var got struct {
			Topics []struct {
				Name string
				presence
			}
		}
		c.runJSON(&got, "topics")
		if len(got.Topics) != 3 || got.Topics[0].Name != "clicks" || got.Topics[0].SeenBy != 1 ||
			!reflect.DeepEqual(got.Topics[0].Missing, c.addrs[:2]) {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("nodes", func(t *testing.T) {
		var got struct {
			Producers []struct {
				Address string
				presence
				Topics []struct {
					Name string
					presence
				}
			}
		}
		c.runJSON(&got, "nodes")
		if len(got.Producers) != 3 || got.Producers[2].Address != "127.0.0.1:4350" || got.Producers[2].SeenBy != 1 ||
			len(got.Producers[1].Topics) != 2 || got.Producers[1].Topics[1].Name != "payments" || got.Producers[1].Topics[1].SeenBy != 2 {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("health", func(t *testing.T) {
		var got struct {
			Lookupds []struct {
				Address   string
				Up        bool
				LatencyMS float64 `json:"latency_ms"`
				Version   string
				Stats     *Stats
			}
		}
		if code := c.runJSON(&got, "health"); code != ExitOK {
			t.Fatalf("exit %d", code)
		}
		// A and B know p1 and p2 (orders, payments; billing, audit), C
		// knows p1 and p3 (orders, clicks; billing).
		want := []Stats{
			{Producers: 2, Topics: 2, Channels: 2},
			{Producers: 2, Topics: 2, Channels: 2},
			{Producers: 2, Topics: 2, Channels: 1},
		}
		for i, l := range got.Lookupds {
			if l.Address != c.addrs[i] || !l.Up || l.LatencyMS <= 0 || l.Version == "" || l.Stats == nil {
				t.Fatalf("lookupd %d: %+v", i, l)
			}
			s := *l.Stats
			s.Registrations, s.UptimeSeconds = 0, 0
			if s != want[i] {
				t.Errorf("lookupd %d stats %+v, want %+v", i, s, want[i])
			}
		}
	})
	t.Run("diff", func(t *testing.T) {
		var got struct {
			Consistent  bool
			Differences []struct {
				Kind     string
				Topic    string
				Channel  string
				Producer string
				presence
			}
		}
		if code := c.runJSON(&got, "diff"); code != ExitDiverged {
			t.Fatalf("exit %d", code)
		}
		if got.Consistent || len(got.Differences) != 6 {
			t.Fatalf("got %+v", got)
		}
		d := got.Differences[2]
		if d.Kind != "channel" || d.Topic != "orders" || d.Channel != "audit" || !reflect.DeepEqual(d.Missing, c.addrs[2:]) {
			t.Errorf("difference 2: %+v", d)
		}
	})
}

func TestDiff_ExitCodes(t *testing.T) {
	t.Run("consistent", func(t *testing.T) {
		c := startCluster(t, 3)
		c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders/billing", "payments")
		code, out, errs := c.run("diff")
		if code != ExitOK || errs != "" || !strings.Contains(out, "consistent: 3 lookupds agree on 2 topics, 1 channel, 1 producer") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, out, errs)
		}
	})
	t.Run("diverged", func(t *testing.T) {
		c := startCluster(t, 3)
		c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders")
		c.announceOn([]int{0, 2}, 4250, "p2", "orders")
		var got struct {
			Differences []struct{ Kind, Topic, Producer string }
		}
		if code := c.runJSON(&got, "diff"); code != ExitDiverged || len(got.Differences) != 1 || got.Differences[0].Producer != "127.0.0.1:4250" {
			t.Errorf("exit %d, %+v", code, got)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		c := startCluster(t, 3)
		c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders")
		c.announceOn([]int{0}, 4250, "p2", "orders")
		c.ds[2].Stop()
		code, out, _ := c.run("diff")
		rows := c.rows(out)
		if code != ExitUnreachable || len(rows) < 3 || rows[1][0] != "lookupd" || rows[1][1] != "C" ||
			!strings.HasPrefix(rows[1][4], "unreachable: ") || rows[2][1] != "orders 127.0.0.1:4250" ||
			!strings.HasPrefix(rows[len(rows)-1][0], "incomplete: 1 of 3 lookupds unreachable; 1 difference") {
			t.Errorf("exit %d\n%s", code, fmtRows(rows))
		}
	})
}

func TestCommands_LookupdDown(t *testing.T) {
	c := divergent(t)
	c.ds[1].Stop()
	code, out, errs := c.run("lookup", "orders")
	if code != ExitUnreachable {
		t.Errorf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(c.name(errs)), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "lookupctl: lookupd B unreachable: dial tcp B: connect: connection refused") {
		t.Errorf("stderr %q", errs)
	}
	checkRows(t, c, out, [][]string{
		{"topic orders: 2 producers; channels: audit, billing"},
		{"PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM"},
		{"127.0.0.1:4150", "p1", "1.3.0", "2/3", "B (down)"},
		{"127.0.0.1:4250", "p2", "1.3.0", "1/3", "C, B (down)"},
	})
	code, out, _ = c.run("health")
	if rows := c.rows(out); code != ExitUnreachable || rows[2][1] != "down" || rows[1][1] != "up" {
		t.Errorf("health exit %d\n%s", code, out)
	}
}

func TestWatch_JoinReachLeaveDown(t *testing.T) {
	c := startCluster(t, 3)
	c.announceOn([]int{0, 1, 2}, 4150, "p1", "orders")
	out, errw, stop := c.startMain("watch", "orders", "--interval=20ms")
	waitOutput(t, c, out, `watching 3 lookupds (3 up), every 20ms; topic orders: 1 producer`)

	peers := []*lookuptest.Conn{c.announce(0, 4250, "p2", "orders")}
	waitOutput(t, c, out, ` joined   producer 127.0.0.1:4250 (p2) topic orders: seen by 1/3`)
	peers = append(peers, c.announceOn([]int{1, 2}, 4250, "p2", "orders")...)
	waitOutput(t, c, out, ` reached  producer 127.0.0.1:4250 (p2) topic orders: seen by 3/3 after `)
	for _, p := range peers {
		p.Close()
	}
	waitOutput(t, c, out, ` left     producer 127.0.0.1:4250 (p2) topic orders: gone from every lookupd`)
	c.ds[2].Stop()
	waitOutput(t, c, out, ` down     lookupd C: dial tcp C: connect: connection refused`)
	if code := stop(); code != ExitOK {
		t.Errorf("exit %d, stderr %q", code, errw.String())
	}
	// Every line is timestamped, and p1, present from the start, never
	// shows up as a change.
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if _, err := time.Parse(timeFormat, strings.Fields(line)[0]); err != nil || strings.Contains(line, "4150") {
			t.Errorf("line %q: %v", line, err)
		}
	}
}

func TestWatch_JSON(t *testing.T) {
	c := startCluster(t, 2)
	out, _, _ := c.startMain("watch", "-o", "json", "--interval=20ms")
	waitOutput(t, c, out, `"event":"watching","seen_by":0,"of":2,"took_ms":0,"up":2}`)
	p := c.announce(0, 4250, "p2", "orders")
	waitOutput(t, c, out, `"event":"joined","producer":"127.0.0.1:4250","hostname":"p2","seen_by":1,"of":2`)
	p.Close()
	waitOutput(t, c, out, `"event":"left","producer":"127.0.0.1:4250","hostname":"p2","seen_by":0,"of":2`)
	if strings.Contains(out.String(), `"topic"`) {
		t.Errorf("watch without a topic reported topic events:\n%s", out.String())
	}
}

// waitOutput waits until out (with lookupd addresses as letters) contains
// want.
func waitOutput(t *testing.T, c *testCluster, out *lookuptest.SyncBuffer, want string) {
	t.Helper()
	lookuptest.WaitFor(t, 10*time.Second, "output "+want+"\ngot:\n"+c.name(out.String()), func() bool {
		return strings.Contains(c.name(out.String()), want)
	})
}

func TestMain_Usage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  string
		code int
		err  string
	}{
		{name: "no command", args: []string{"--lookupd-http-address=127.0.0.1:1"}, code: ExitUsage, err: "lookupctl: no command given\n"},
		{name: "unknown command", args: []string{"lookupds"}, env: "127.0.0.1:1", code: ExitUsage, err: `lookupctl: unknown command "lookupds"` + "\n"},
		{name: "missing topic", args: []string{"lookup"}, env: "127.0.0.1:1", code: ExitUsage, err: "lookupctl: lookup takes one argument, the topic\n"},
		{name: "no addresses", args: []string{"topics"}, code: ExitUsage, err: "lookupctl: no lookupd addresses: give --lookupd-http-address or set LOOKUPD_HTTP_ADDRESSES\n"},
		{name: "bad output", args: []string{"topics", "-o", "yaml"}, env: "127.0.0.1:1", code: ExitUsage, err: `lookupctl: --output: want table or json, got "yaml"` + "\n"},
		{name: "flag of another command", args: []string{"topics", "--enable-actions"}, env: "127.0.0.1:1", code: ExitUsage, err: "lookupctl: flag --enable-actions does not apply to topics\n"},
		{name: "refresh on a one-shot command", args: []string{"health", "--lookupd-dns-refresh=2s"}, env: "127.0.0.1:1", code: ExitUsage, err: "lookupctl: flag --lookupd-dns-refresh does not apply to health\n"},
		{name: "unknown flag", args: []string{"topics", "--bogus"}, env: "127.0.0.1:1", code: ExitUsage, err: "lookupctl: flag provided but not defined: -bogus\n"},
		{name: "repeated address", args: []string{"topics"}, env: "127.0.0.1:1, 127.0.0.1:1", code: ExitUsage, err: `lookupctl: clientmerge: lookupd address "127.0.0.1:1" given twice` + "\n"},
		{name: "env addresses", args: []string{"health"}, env: "127.0.0.1:1,", code: ExitUnreachable},
		{name: "help needs no addresses", args: []string{"help"}, code: ExitOK},
		{name: "config needs the loader", args: []string{"health", "--config", "x.toml"}, env: "127.0.0.1:1", code: ExitUsage, err: "lookupctl: --config needs the lookupctl binary's loader\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errw bytes.Buffer
			code := Main(t.Context(), tc.args, func(k string) string {
				if k == EnvAddresses {
					return tc.env
				}
				return ""
			}, &out, &errw)
			errs := errw.String()
			if tc.code == ExitUsage {
				errs = strings.TrimSuffix(errs, "lookupctl: see lookupctl --help\n")
			}
			if code != tc.code || (tc.err != "" && errs != tc.err) {
				t.Errorf("exit %d, stderr %q; want %d, %q", code, errw.String(), tc.code, tc.err)
			}
		})
	}
	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"lookup", "--help"}} {
			var out, errw bytes.Buffer
			if code := Main(t.Context(), args, nil, &out, &errw); code != ExitOK || out.String() != Usage || errw.Len() != 0 {
				t.Errorf("%v: exit %d, stderr %q", args, code, errw.String())
			}
		}
		for _, want := range []string{"lookup TOPIC", "topics", "channels TOPIC", "nodes", "health", "diff", "watch [TOPIC]", "ui",
			"--lookupd-http-address", "LOOKUPD_HTTP_ADDRESSES", "--output", "--timeout", "--interval", "--http-address", "--enable-actions", "--feed-size", "--config", "--version",
			"--auth-token-file", "--tls-ca-file", "--tls-cert", "--tls-key", "--tls-server-name",
			"\n  0 ", "\n  1 ", "\n  2 ", "\n  3 ", "\n  64 "} {
			if !strings.Contains(Usage, want) {
				t.Errorf("usage lacks %q", want)
			}
		}
	})
}
