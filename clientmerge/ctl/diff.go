package ctl

import (
	"cmp"
	"slices"
)

// DiffKind names what a Difference is about.
type DiffKind string

// The kinds of Difference, in the order Diff reports them.
const (
	// DiffTopic: a topic some lookupds list and others do not.
	DiffTopic DiffKind = "topic"
	// DiffChannel: a channel of a topic some lookupds list and others do
	// not.
	DiffChannel DiffKind = "channel"
	// DiffProducer: a producer some lookupds list for a topic (or, for a
	// producer with no topics, in /nodes at all) and others do not.
	DiffProducer DiffKind = "producer"
	// DiffTombstone: a producer of a topic that some of the lookupds
	// listing it have tombstoned and others have not.
	DiffTombstone DiffKind = "tombstone"
)

// Difference is one thing the answering lookupds disagree on.
type Difference struct {
	Kind     DiffKind
	Topic    string // empty for a producer with no topics
	Channel  string // DiffChannel only
	Producer string // DiffProducer and DiffTombstone: broadcast_address:tcp_port
	// By marks the lookupds that list it (for DiffTombstone: that mark it
	// tombstoned). Only lookupds that answered are ever marked.
	By Set
}

// Diff returns every topic, channel and producer on which the lookupds
// marked in up disagree, sorted by kind, then topic, channel and producer.
// Lookupds outside up are ignored: what a lookupd that did not answer
// lists is unknown. channels maps a topic to its channels as listed per
// lookupd; topics missing from it are not compared for channels. Diff
// does no I/O and does not modify its arguments.
func Diff(s *Survey, channels map[string][]Listed, up Set) []Difference {
	differs := func(by Set) bool {
		seen := false
		for i, u := range up {
			if u && by[i] {
				seen = true
			}
		}
		return seen && !by.Covers(up)
	}
	var out []Difference
	for _, t := range s.Topics {
		if differs(t.By) {
			out = append(out, Difference{Kind: DiffTopic, Topic: t.Name, By: t.By})
		}
	}
	for _, t := range s.Topics {
		for _, ch := range channels[t.Name] {
			if differs(ch.By) {
				out = append(out, Difference{Kind: DiffChannel, Topic: t.Name, Channel: ch.Name, By: ch.By})
			}
		}
	}
	var prods, tombs []Difference
	for _, p := range s.Producers {
		if len(p.Topics) == 0 && differs(p.By) {
			prods = append(prods, Difference{Kind: DiffProducer, Producer: p.Addr, By: p.By})
		}
		for _, t := range p.Topics {
			if differs(t.By) {
				prods = append(prods, Difference{Kind: DiffProducer, Topic: t.Name, Producer: p.Addr, By: t.By})
			}
			if t.Tombstoned.Count() > 0 && !t.Tombstoned.Covers(and(t.By, up)) {
				tombs = append(tombs, Difference{Kind: DiffTombstone, Topic: t.Name, Producer: p.Addr, By: t.Tombstoned})
			}
		}
	}
	sortByTopic(prods)
	sortByTopic(tombs)
	out = append(out, prods...)
	return append(out, tombs...)
}

// and returns the lookupds marked in both sets.
func and(a, b Set) Set {
	out := make(Set, len(a))
	for i := range a {
		out[i] = a[i] && b[i]
	}
	return out
}

// sortByTopic orders producer differences by topic, then producer (they
// are built per producer).
func sortByTopic(ds []Difference) {
	slices.SortFunc(ds, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Producer, b.Producer))
	})
}
