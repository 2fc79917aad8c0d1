package ctl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// lookupdJSON is a lookupd's status in JSON output.
type lookupdJSON struct {
	Address   string  `json:"address"`
	Up        bool    `json:"up"`
	Error     string  `json:"error,omitempty"`
	LatencyMS float64 `json:"latency_ms"`
}

func lookupdsJSON(states []LookupdState) []lookupdJSON {
	out := make([]lookupdJSON, len(states))
	for i, s := range states {
		out[i] = lookupdJSON{Address: s.Addr, Up: s.Up(), Error: errText(s.Err), LatencyMS: ms(s.Latency)}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// presenceJSON says which lookupds list something. Missing are answering
// lookupds that do not list it; Unknown are lookupds that did not answer.
type presenceJSON struct {
	SeenBy   int      `json:"seen_by"`
	Of       int      `json:"of"`
	Lookupds []string `json:"lookupds"`
	Missing  []string `json:"missing"`
	Unknown  []string `json:"unknown,omitempty"`
}

// presenceOf counts only the lookupds that answered (see Set.And): one
// that is down is unknown, whatever it listed last.
func presenceOf(by, up Set, addrs []string) presenceJSON {
	p := presenceJSON{SeenBy: by.And(up).Count(), Of: len(addrs), Lookupds: []string{}, Missing: []string{}}
	for i, a := range addrs {
		switch {
		case !up[i]:
			p.Unknown = append(p.Unknown, a)
		case by[i]:
			p.Lookupds = append(p.Lookupds, a)
		default:
			p.Missing = append(p.Missing, a)
		}
	}
	return p
}

// seenBy renders "2/3".
func (p presenceJSON) seenBy() string { return fmt.Sprintf("%d/%d", p.SeenBy, p.Of) }

// missing renders the lookupds missing an entry, down ones marked.
func (p presenceJSON) missing() string {
	parts := append([]string{}, p.Missing...)
	for _, u := range p.Unknown {
		parts = append(parts, u+" (down)")
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// producerJSON is a producer in JSON output.
type producerJSON struct {
	Address          string `json:"address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
	presenceJSON
}

func cmdLookup(e *cmdEnv) int {
	topic := e.args[0]
	res, err := e.cl.merged.Lookup(e.ctx, topic)
	states := statesOf(e.cl.Refresh(e.ctx), res, err)
	addrs := stateAddrs(states)
	if res == nil {
		e.warnDown(states)
		if !anyDown(states) {
			e.err = err
		}
		return ExitUnreachable
	}
	up := upOf(states)
	out := struct {
		Topic     string         `json:"topic"`
		Channels  []string       `json:"channels"`
		Producers []producerJSON `json:"producers"`
		Lookupds  []lookupdJSON  `json:"lookupds"`
	}{Topic: topic, Channels: res.Channels, Producers: []producerJSON{}, Lookupds: lookupdsJSON(states)}
	for _, p := range res.Producers {
		by := make(Set, len(addrs))
		for _, a := range p.Lookupds {
			for i, b := range addrs {
				if a == b {
					by[i] = true
				}
			}
		}
		out.Producers = append(out.Producers, producerJSON{
			Address: p.TCPAddr(), Hostname: p.Hostname, BroadcastAddress: p.BroadcastAddress,
			TCPPort: p.TCPPort, HTTPPort: p.HTTPPort, Version: p.Version, presenceJSON: presenceOf(by, up, addrs),
		})
	}
	if e.opts.Output == "json" {
		e.writeJSON(out)
	} else {
		e.printf("topic %s: %s; channels: %s\n", topic, count(len(out.Producers), "producer"), list(out.Channels))
		t := e.table("PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM")
		for _, p := range out.Producers {
			t.row(p.Address, p.Hostname, p.Version, p.seenBy(), p.missing())
		}
		t.flush()
	}
	return e.warnDown(states)
}

// statesOf turns a merged call's outcome into per-lookupd states: one per
// Response, or without a result one per lookupd of addrs.
func statesOf(addrs []string, res *clientmerge.LookupResult, err error) []LookupdState {
	if res != nil {
		states := make([]LookupdState, len(res.Responses))
		for i, r := range res.Responses {
			states[i] = LookupdState{Addr: r.Addr, Err: cause(r.Err), Latency: r.Latency}
		}
		return states
	}
	states := make([]LookupdState, len(addrs))
	for i, a := range addrs {
		states[i].Addr = a
	}
	var ue *clientmerge.UnavailableError
	if errors.As(err, &ue) {
		for _, f := range ue.Failed {
			for i := range states {
				if states[i].Addr == f.Addr {
					states[i].Err = cause(f.Err)
				}
			}
		}
	}
	return states
}

// stateAddrs returns the lookupds of states, in order.
func stateAddrs(states []LookupdState) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.Addr
	}
	return out
}

func upOf(states []LookupdState) Set {
	up := make(Set, len(states))
	for i, s := range states {
		up[i] = s.Up()
	}
	return up
}

func anyDown(states []LookupdState) bool {
	for _, s := range states {
		if !s.Up() {
			return true
		}
	}
	return false
}

func list(names []string) string {
	if len(names) == 0 {
		return "-"
	}
	return strings.Join(names, ", ")
}

// listedJSON is a topic or channel in JSON output.
type listedJSON struct {
	Name string `json:"name"`
	presenceJSON
}

func (e *cmdEnv) printListed(title, noun string, items []Listed, states []LookupdState) {
	up := upOf(states)
	rows := make([]listedJSON, len(items))
	for i, it := range items {
		rows[i] = listedJSON{Name: it.Name, presenceJSON: presenceOf(it.By, up, stateAddrs(states))}
	}
	if e.opts.Output == "json" {
		e.writeJSON(map[string]any{title: rows, "lookupds": lookupdsJSON(states)})
		return
	}
	t := e.table(strings.ToUpper(noun), "SEEN BY", "MISSING FROM")
	for _, r := range rows {
		t.row(r.Name, r.seenBy(), r.missing())
	}
	t.flush()
}

func cmdTopics(e *cmdEnv) int {
	s := e.cl.Survey(e.ctx)
	e.printListed("topics", "topic", s.Topics, s.Lookupds)
	return e.warnDown(s.Lookupds)
}

func cmdChannels(e *cmdEnv) int {
	chans, states := e.cl.Channels(e.ctx, e.args[0])
	e.printListed("channels", "channel", chans, states)
	return e.warnDown(states)
}

func cmdNodes(e *cmdEnv) int {
	s := e.cl.Survey(e.ctx)
	up, addrs := s.Up(), stateAddrs(s.Lookupds)
	type topicJSON struct {
		Name       string   `json:"name"`
		Tombstoned []string `json:"tombstoned,omitempty"`
		presenceJSON
	}
	type nodeJSON struct {
		producerJSON
		Topics []topicJSON `json:"topics"`
	}
	nodes := make([]nodeJSON, 0, len(s.Producers))
	for _, p := range s.Producers {
		n := nodeJSON{producerJSON: producerJSON{
			Address: p.Addr, Hostname: p.Hostname, BroadcastAddress: p.BroadcastAddress,
			TCPPort: p.TCPPort, HTTPPort: p.HTTPPort, Version: p.Version, presenceJSON: presenceOf(p.By, up, addrs),
		}, Topics: []topicJSON{}}
		for _, t := range p.Topics {
			tj := topicJSON{Name: t.Name, presenceJSON: presenceOf(t.By, up, addrs)}
			for i, ts := range t.Tombstoned {
				if ts {
					tj.Tombstoned = append(tj.Tombstoned, addrs[i])
				}
			}
			n.Topics = append(n.Topics, tj)
		}
		nodes = append(nodes, n)
	}
	if e.opts.Output == "json" {
		e.writeJSON(map[string]any{"producers": nodes, "lookupds": lookupdsJSON(s.Lookupds)})
		return e.warnDown(s.Lookupds)
	}
	t := e.table("PRODUCER", "HOSTNAME", "VERSION", "SEEN BY", "MISSING FROM", "TOPICS")
	for _, n := range nodes {
		var topics []string
		for _, tp := range n.Topics {
			name := tp.Name
			if tp.SeenBy != n.SeenBy {
				name += " (" + tp.seenBy() + ")"
			}
			if len(tp.Tombstoned) > 0 {
				name += " [tombstoned]"
			}
			topics = append(topics, name)
		}
		t.row(n.Address, n.Hostname, n.Version, n.seenBy(), n.missing(), list(topics))
	}
	t.flush()
	return e.warnDown(s.Lookupds)
}

func cmdHealth(e *cmdEnv) int {
	hs := e.cl.Health(e.ctx)
	type healthJSON struct {
		lookupdJSON
		Version string `json:"version,omitempty"`
		Stats   *Stats `json:"stats,omitempty"`
	}
	out := make([]healthJSON, len(hs))
	states := make([]LookupdState, len(hs))
	for i, h := range hs {
		states[i] = LookupdState{Addr: h.Addr, Err: h.Err, Latency: h.Latency}
		out[i] = healthJSON{lookupdJSON: lookupdsJSON(states[i : i+1])[0], Version: h.Version, Stats: h.Stats}
	}
	if e.opts.Output == "json" {
		e.writeJSON(map[string]any{"lookupds": out})
	} else {
		t := e.table("LOOKUPD", "STATUS", "LATENCY", "VERSION", "PRODUCERS", "TOPICS", "CHANNELS", "REGISTRATIONS", "ERROR")
		for _, h := range hs {
			status, version := "up", h.Version
			if h.Err != nil {
				status = "down"
			}
			if version == "" {
				version = "-"
			}
			counts := []string{"-", "-", "-", "-"}
			if h.Stats != nil {
				counts = []string{fmt.Sprint(h.Stats.Producers), fmt.Sprint(h.Stats.Topics), fmt.Sprint(h.Stats.Channels), fmt.Sprint(h.Stats.Registrations)}
			}
			errs := "-"
			if h.Err != nil {
				errs = h.Err.Error()
			}
			t.row(append(append([]string{h.Addr, status, h.Latency.Round(10 * time.Microsecond).String(), version}, counts...), errs)...)
		}
		t.flush()
	}
	if anyDown(states) {
		return ExitUnreachable
	}
	return ExitOK
}

// diffWorkers bounds the channel queries diff has in flight (each asks
// every lookupd).
const diffWorkers = 8

func cmdDiff(e *cmdEnv) int {
	s := e.cl.Survey(e.ctx)
	channels := make(map[string][]Listed, len(s.Topics))
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for range diffWorkers {
		wg.Go(func() {
			for topic := range work {
				ch, states := e.cl.Channels(e.ctx, topic)
				mu.Lock()
				channels[topic] = ch
				for i, st := range states {
					if !st.Up() && s.Lookupds[i].Up() {
						s.Lookupds[i].Err = fmt.Errorf("channels of %s: %w", topic, st.Err)
					}
				}
				mu.Unlock()
			}
		})
	}
	for _, t := range s.Topics {
		if e.ctx.Err() != nil {
			break
		}
		work <- t.Name
	}
	close(work)
	wg.Wait()
	if err := e.ctx.Err(); err != nil {
		e.err = err
		return ExitFailed
	}
	up := s.Up()
	diffs := Diff(s, channels, up)
	type diffJSON struct {
		Kind     DiffKind `json:"kind"`
		Topic    string   `json:"topic,omitempty"`
		Channel  string   `json:"channel,omitempty"`
		Producer string   `json:"producer,omitempty"`
		presenceJSON
	}
	rows := make([]diffJSON, len(diffs))
	for i, d := range diffs {
		rows[i] = diffJSON{Kind: d.Kind, Topic: d.Topic, Channel: d.Channel, Producer: d.Producer, presenceJSON: presenceOf(d.By, up, stateAddrs(s.Lookupds))}
	}
	code := ExitOK
	switch {
	case anyDown(s.Lookupds):
		code = ExitUnreachable
	case len(diffs) > 0:
		code = ExitDiverged
	}
	if e.opts.Output == "json" {
		e.writeJSON(struct {
			Consistent  bool          `json:"consistent"`
			Differences []diffJSON    `json:"differences"`
			Lookupds    []lookupdJSON `json:"lookupds"`
		}{code == ExitOK, rows, lookupdsJSON(s.Lookupds)})
		return code
	}
	channelCount := 0
	for _, c := range channels {
		channelCount += len(c)
	}
	t := e.table("KIND", "NAME", "SEEN BY", "LISTED BY", "MISSING FROM")
	for _, l := range s.Lookupds {
		if !l.Up() {
			t.row("lookupd", l.Addr, "-", "-", "unreachable: "+l.Err.Error())
		}
	}
	for _, r := range rows {
		name := r.Topic
		switch r.Kind {
		case DiffChannel:
			name = r.Topic + "/" + r.Channel
		case DiffProducer, DiffTombstone:
			name = r.Producer
			if r.Topic != "" {
				name = r.Topic + " " + r.Producer
			}
		}
		t.row(string(r.Kind), name, r.seenBy(), list(r.Lookupds), r.missing())
	}
	if len(rows) > 0 || code != ExitOK {
		t.flush()
	}
	switch code {
	case ExitOK:
		e.printf("consistent: %s agree on %s, %s, %s\n", count(up.Count(), "lookupd"), count(len(s.Topics), "topic"), count(channelCount, "channel"), count(len(s.Producers), "producer"))
	case ExitDiverged:
		e.printf("diverged: %s between %s\n", count(len(rows), "difference"), count(up.Count(), "lookupd"))
	default:
		e.printf("incomplete: %d of %s unreachable; %s between the others\n", len(up)-up.Count(), count(len(up), "lookupd"), count(len(rows), "difference"))
	}
	return code
}

// watchEvent is an Event in JSON output.
type watchEvent struct {
	Time     time.Time `json:"time"`
	Event    EventKind `json:"event"`
	Topic    string    `json:"topic,omitempty"`
	Producer string    `json:"producer,omitempty"`
	Hostname string    `json:"hostname,omitempty"`
	Lookupd  string    `json:"lookupd,omitempty"`
	Error    string    `json:"error,omitempty"`
	SeenBy   int       `json:"seen_by"`
	Of       int       `json:"of"`
	TookMS   float64   `json:"took_ms"`
	// Up and Producers: the "watching" line only.
	Up        int `json:"up,omitempty"`
	Producers int `json:"producers,omitempty"`
}

// timeFormat is the timestamp of watch lines.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// formatEvent renders one watch line (without the newline).
func formatEvent(ev Event) string {
	ts := ev.At.Format(timeFormat)
	what := "producer " + ev.Producer
	if ev.Hostname != "" {
		what += " (" + ev.Hostname + ")"
	}
	if ev.Topic != "" {
		what += " topic " + ev.Topic
	}
	switch ev.Kind {
	case EventJoined:
		return fmt.Sprintf("%s joined   %s: seen by %d/%d", ts, what, ev.SeenBy(), ev.Of)
	case EventReached:
		return fmt.Sprintf("%s reached  %s: seen by %d/%d after %s", ts, what, ev.SeenBy(), ev.Of, ev.Took.Round(time.Millisecond))
	case EventLeft:
		if ev.Took > 0 {
			return fmt.Sprintf("%s left     %s: gone from every lookupd after %s", ts, what, ev.Took.Round(time.Millisecond))
		}
		return fmt.Sprintf("%s left     %s: gone from every lookupd", ts, what)
	case EventDown:
		return fmt.Sprintf("%s down     lookupd %s: %s", ts, ev.Lookupd, ev.Err)
	case EventBack:
		return fmt.Sprintf("%s back     lookupd %s after %s", ts, ev.Lookupd, ev.Took.Round(time.Millisecond))
	case EventAdded:
		return fmt.Sprintf("%s added    lookupd %s: a name stands for it now (%d lookupds)", ts, ev.Lookupd, ev.Of)
	case EventRemoved:
		return fmt.Sprintf("%s removed  lookupd %s: no name stands for it any more (%d lookupds)", ts, ev.Lookupd, ev.Of)
	}
	return fmt.Sprintf("%s %s", ts, ev.Kind)
}

func cmdWatch(e *cmdEnv) int {
	topic := ""
	if len(e.args) == 1 {
		topic = e.args[0]
	}
	tr := NewTracker()
	first := true
	e.cl.Live(e.ctx, topic, e.opts.Interval, func(s *Survey, _ []Health, changed bool) {
		if !changed {
			return
		}
		events := tr.Update(s)
		if first && e.opts.Output == "json" {
			e.writeJSON(watchEvent{Time: s.At, Event: "watching", Topic: topic, Of: len(s.Lookupds), Up: s.Up().Count(), Producers: len(s.Producers)})
		} else if first {
			what := count(len(s.Producers), "producer")
			if topic != "" {
				what = fmt.Sprintf("topic %s: %s", topic, count(len(s.Producers), "producer"))
			}
			e.printf("%s watching %d lookupds (%d up), every %s; %s\n", s.At.Format(timeFormat), len(s.Lookupds), s.Up().Count(), e.opts.Interval, what)
		}
		first = false
		for _, ev := range events {
			if ev.Lookupd == "" && ev.Topic != topic {
				continue
			}
			if e.opts.Output == "json" {
				e.writeJSON(watchEvent{Time: ev.At, Event: ev.Kind, Topic: ev.Topic, Producer: ev.Producer, Hostname: ev.Hostname,
					Lookupd: ev.Lookupd, Error: ev.Err, SeenBy: ev.SeenBy(), Of: ev.Of, TookMS: ms(ev.Took)})
			} else {
				e.printf("%s\n", formatEvent(ev))
			}
		}
	})
	return ExitOK
}
