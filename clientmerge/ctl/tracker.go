package ctl

import (
	"cmp"
	"slices"
	"time"
)

// EventKind names what an Event reports.
type EventKind string

// The kinds of Event.
const (
	// EventJoined: a producer is listed (for Topic, or in /nodes when Topic
	// is empty) by at least one lookupd, where before none listed it.
	EventJoined EventKind = "joined"
	// EventReached: a producer that joined earlier is now listed by every
	// answering lookupd; Took is the time since it joined.
	EventReached EventKind = "reached"
	// EventLeft: no answering lookupd lists the producer any more; Took is
	// the time since the first lookupd stopped listing it.
	EventLeft EventKind = "left"
	// EventDown: a lookupd stopped answering; Err says why.
	EventDown EventKind = "down"
	// EventBack: a lookupd answers again; Took is how long it was down.
	EventBack EventKind = "back"
	// EventAdded: a lookupd joined the Survey (a name now stands for
	// it). What only it lists is taken in silently, as at the baseline.
	EventAdded EventKind = "added"
	// EventRemoved: a lookupd left the Survey (no name stands for it any
	// more). A producer only it listed leaves.
	EventRemoved EventKind = "removed"
)

// Event is one change seen between two surveys. Times are those of the
// surveys, so they are accurate to the polling interval.
type Event struct {
	At   time.Time
	Kind EventKind
	// Topic is the producer's topic, empty for a producer's presence in
	// /nodes and for lookupd events.
	Topic string
	// Producer (broadcast_address:tcp_port) and Hostname: producer events.
	Producer string
	Hostname string
	// Lookupd and Err: lookupd events.
	Lookupd string
	Err     string
	// By marks the lookupds that list the producer after the change.
	By Set
	// Up marks the lookupds that answered the Survey of the change.
	Up Set
	// Of is the number of lookupds.
	Of   int
	Took time.Duration
	// Complete is set on EventJoined when every answering lookupd listed
	// the producer at once (no EventReached follows).
	Complete bool
}

// SeenBy returns how many lookupds that answered list the producer (see
// Set.And).
func (e Event) SeenBy() int { return e.By.And(e.Up).Count() }

type trackKey struct{ topic, producer string }

type tracked struct {
	by        Set
	hostname  string
	joinedAt  time.Time // set until the producer reaches every answering lookupd
	leavingAt time.Time // set when some lookupd stopped listing it
	gen       uint64    // the last Update that saw it listed
}

// Tracker turns successive Surveys into Events. The first Survey is the
// baseline: it yields only EventDown for lookupds already down. What a
// lookupd that does not answer listed is kept as it last was, so a
// lookupd going down is one EventDown, not a leave of everything it
// listed. An Update costs time linear in the Survey and allocates only for
// what changed. A Tracker is not safe for concurrent use.
type Tracker struct {
	started   bool
	gen       uint64
	addrs     []string // the lookupds of the last Survey
	up        Set
	known     Set // lookupds that have answered at least once
	downSince []time.Time
	keys      map[trackKey]*tracked
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker { return &Tracker{keys: map[trackKey]*tracked{}} }

// Update compares s with the previous Survey and returns the changes, in
// order: lookupd events, then producer events by topic and producer. The
// lookupds (s.Lookupds' addresses) may differ from the previous Survey's:
// those that joined or left are reported first, and what Update knows is
// carried over by address. The caller owns the returned slice.
func (t *Tracker) Update(s *Survey) []Event {
	n := len(s.Lookupds)
	up := s.Up()
	var out []Event
	addrs := make([]string, n)
	for i, l := range s.Lookupds {
		addrs[i] = l.Addr
	}
	remapped := false
	if t.started && !slices.Equal(addrs, t.addrs) {
		out, remapped = t.remap(s.At, addrs), true
	}
	t.addrs = addrs
	if t.downSince == nil {
		t.downSince = make([]time.Time, n)
		t.known = make(Set, n)
	}
	// A lookupd answering for the first time (down since the baseline)
	// has nothing to compare with: what only it lists is taken in
	// silently.
	fresh := make(Set, n)
	for i := range n {
		fresh[i] = t.started && up[i] && !t.known[i]
		t.known[i] = t.known[i] || up[i]
	}
	upChanged := !t.started || remapped
	for i, l := range s.Lookupds {
		was := !t.started || t.up[i]
		switch {
		case was && !up[i]:
			t.downSince[i] = s.At
			out = append(out, Event{At: s.At, Kind: EventDown, Lookupd: l.Addr, Err: errText(l.Err), Of: n})
		case !was && up[i]:
			out = append(out, Event{At: s.At, Kind: EventBack, Lookupd: l.Addr, Took: s.At.Sub(t.downSince[i]), Of: n})
		}
		if t.started && was != up[i] {
			upChanged = true
		}
	}
	t.gen++
	var changed []Event
	step := func(k trackKey, now Set, hostname string) {
		old := t.keys[k]
		// What each lookupd lists now: the answer of those that answered,
		// the last known state of the others.
		listed := func(i int) bool {
			if up[i] {
				return now != nil && now[i]
			}
			return old != nil && old.by[i]
		}
		if old != nil {
			if now != nil {
				old.gen = t.gen
			}
			same := true
			for i := range n {
				if listed(i) != old.by[i] {
					same = false
					break
				}
			}
			if same && !upChanged {
				return
			}
		}
		eff := make(Set, n)
		for i := range eff {
			eff[i] = listed(i)
		}
		count := eff.Count()
		switch {
		case old == nil && count == 0:
			return
		case old == nil:
			e := &tracked{by: eff, hostname: hostname, gen: t.gen}
			t.keys[k] = e
			if !t.started || fresh.Covers(eff) {
				return
			}
			if !eff.Covers(up) {
				e.joinedAt = s.At
			}
			changed = append(changed, Event{At: s.At, Kind: EventJoined, Topic: k.topic, Producer: k.producer, Hostname: hostname, By: eff, Of: n, Complete: e.joinedAt.IsZero()})
		case count == 0:
			delete(t.keys, k)
			ev := Event{At: s.At, Kind: EventLeft, Topic: k.topic, Producer: k.producer, Hostname: old.hostname, By: eff, Of: n}
			if !old.leavingAt.IsZero() {
				ev.Took = s.At.Sub(old.leavingAt)
			}
			changed = append(changed, ev)
		default:
			lost := false
			for i := range eff {
				if old.by[i] && !eff[i] {
					lost = true
				}
			}
			old.by = eff
			if lost && old.leavingAt.IsZero() {
				old.leavingAt = s.At
			}
			if eff.Covers(up) {
				old.leavingAt = time.Time{}
				if !old.joinedAt.IsZero() {
					changed = append(changed, Event{At: s.At, Kind: EventReached, Topic: k.topic, Producer: k.producer, Hostname: old.hostname, By: eff, Of: n, Took: s.At.Sub(old.joinedAt)})
					old.joinedAt = time.Time{}
				}
			}
		}
	}
	for _, p := range s.Producers {
		step(trackKey{producer: p.Addr}, p.By, p.Hostname)
		for _, tp := range p.Topics {
			step(trackKey{topic: tp.Name, producer: p.Addr}, tp.By, p.Hostname)
		}
	}
	for k, e := range t.keys {
		if e.gen != t.gen {
			step(k, nil, "")
		}
	}
	sortEvents(changed)
	t.started = true
	t.up = up
	out = append(out, changed...)
	for i := range out {
		out[i].Up = up
	}
	return out
}

// remap carries what t knows of each lookupd over to the lookupds addrs
// and returns an EventAdded or EventRemoved for each that joined or left.
// A lookupd that joined counts as up until the Survey says otherwise, and
// as never having answered.
func (t *Tracker) remap(at time.Time, addrs []string) []Event {
	n := len(addrs)
	was := make(map[string]int, len(t.addrs))
	for j, a := range t.addrs {
		was[a] = j
	}
	from := make([]int, n) // index in t.addrs, or -1
	up, known, downSince := make(Set, n), make(Set, n), make([]time.Time, n)
	var out []Event
	for i, a := range addrs {
		j, ok := was[a]
		if !ok {
			from[i], up[i] = -1, true
			out = append(out, Event{At: at, Kind: EventAdded, Lookupd: a, Of: n})
			continue
		}
		from[i] = j
		up[i], known[i], downSince[i] = t.up[j], t.known[j], t.downSince[j]
	}
	for _, a := range t.addrs {
		if !slices.Contains(addrs, a) {
			out = append(out, Event{At: at, Kind: EventRemoved, Lookupd: a, Of: n})
		}
	}
	for _, e := range t.keys {
		by := make(Set, n)
		for i, j := range from {
			by[i] = j >= 0 && e.by[j]
		}
		e.by = by
	}
	t.up, t.known, t.downSince = up, known, downSince
	return out
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// sortEvents orders producer events by topic, producer, then kind.
func sortEvents(es []Event) {
	slices.SortFunc(es, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Producer, b.Producer), cmp.Compare(a.Kind, b.Kind))
	})
}
