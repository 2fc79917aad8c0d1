package producer

import (
	"cmp"
	"maps"
	"slices"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Registration is one announced topic, or one channel of a topic. Channel
// is empty for a topic announced without channels.
type Registration struct {
	Topic   string `json:"topic"`
	Channel string `json:"channel"`
}

// String returns "topic" or "topic/channel".
func (r Registration) String() string {
	if r.Channel == "" {
		return r.Topic
	}
	return r.Topic + "/" + r.Channel
}

// regSet maps a topic to its channels; a topic with no channels is
// announced as the topic alone. It models both what a Client wants
// announced and what one lookupd holds from one connection, since
// REGISTER of a channel registers its topic too. A regSet is not safe for
// concurrent use.
type regSet map[string]map[string]struct{}

func (s regSet) clone() regSet {
	out := make(regSet, len(s))
	for t, chs := range s {
		out[t] = maps.Clone(chs)
	}
	return out
}

// add records topic (and channel, if not empty). It reports whether
// anything changed.
func (s regSet) add(topic, channel string) bool {
	chs, ok := s[topic]
	if !ok {
		chs = make(map[string]struct{})
		s[topic] = chs
	}
	if channel == "" {
		return !ok
	}
	if _, had := chs[channel]; had {
		return !ok
	}
	chs[channel] = struct{}{}
	return true
}

// remove drops the topic with all its channels when channel is empty, and
// only the channel otherwise (the topic stays, as on a lookupd). It reports
// whether anything changed.
func (s regSet) remove(topic, channel string) bool {
	chs, ok := s[topic]
	if !ok {
		return false
	}
	if channel == "" {
		delete(s, topic)
		return true
	}
	if _, had := chs[channel]; !had {
		return false
	}
	delete(chs, channel)
	return true
}

// list returns the set in wire form, sorted: (topic, "") for a topic
// without channels, (topic, channel) for each channel otherwise.
func (s regSet) list() []Registration {
	out := make([]Registration, 0, len(s))
	for t, chs := range s {
		if len(chs) == 0 {
			out = append(out, Registration{Topic: t})
			continue
		}
		for ch := range chs {
			out = append(out, Registration{Topic: t, Channel: ch})
		}
	}
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Channel, b.Channel))
	})
	return out
}

// size returns the number of registrations in wire form.
func (s regSet) size() int {
	n := 0
	for _, chs := range s {
		n += max(len(chs), 1)
	}
	return n
}

type opKind int

const (
	opPing opKind = iota
	opRegister
	opUnregister
)

// op is one command sent to a lookupd.
type op struct {
	kind    opKind
	topic   string
	channel string
}

func (o op) encode() []byte {
	switch o.kind {
	case opRegister:
		return wire.EncodeRegister(o.topic, o.channel)
	case opUnregister:
		return wire.EncodeUnregister(o.topic, o.channel)
	default:
		return wire.EncodePing()
	}
}

// String returns the command line without its newline, for logs and
// errors.
func (o op) String() string {
	b := o.encode()
	return string(b[:len(b)-1])
}

// apply mirrors on s the effect the lookupd gives o.
func (s regSet) apply(o op) {
	switch o.kind {
	case opRegister:
		s.add(o.topic, o.channel)
	case opUnregister:
		s.remove(o.topic, o.channel)
	}
}

// plan returns the commands that take a lookupd holding sent to holding
// desired, in a deterministic order: first UNREGISTERs (a whole topic with
// one command when the topic is no longer wanted), then REGISTERs. With
// full set, every desired registration is sent again even if sent already
// has it; that is the anti-entropy resync.
func plan(sent, desired regSet, full bool) []op {
	var ops []op
	for _, t := range slices.Sorted(maps.Keys(sent)) {
		want, ok := desired[t]
		if !ok {
			ops = append(ops, op{kind: opUnregister, topic: t})
			continue
		}
		for _, ch := range slices.Sorted(maps.Keys(sent[t])) {
			if _, keep := want[ch]; !keep {
				ops = append(ops, op{kind: opUnregister, topic: t, channel: ch})
			}
		}
	}
	for _, t := range slices.Sorted(maps.Keys(desired)) {
		want := desired[t]
		have, ok := sent[t]
		if len(want) == 0 {
			if full || !ok {
				ops = append(ops, op{kind: opRegister, topic: t})
			}
			continue
		}
		for _, ch := range slices.Sorted(maps.Keys(want)) {
			if _, had := have[ch]; full || !had {
				ops = append(ops, op{kind: opRegister, topic: t, channel: ch})
			}
		}
	}
	return ops
}
