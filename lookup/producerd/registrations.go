package producerd

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/lookupd/lookupd/lookup/producer"
	"github.com/lookupd/lookupd/lookup/wire"
)

// ParseRegistration parses "topic" or "topic/channel" and validates both
// names (a "/" cannot occur in a valid name, so the split is unambiguous).
func ParseRegistration(s string) (producer.Registration, error) {
	topic, channel, hasChannel := strings.Cut(s, "/")
	if !wire.IsValidTopicName(topic) {
		return producer.Registration{}, fmt.Errorf("registration %q: %w: %q", s, producer.ErrBadTopic, topic)
	}
	if hasChannel && !wire.IsValidChannelName(channel) {
		return producer.Registration{}, fmt.Errorf("registration %q: %w: %q", s, producer.ErrBadChannel, channel)
	}
	return producer.Registration{Topic: topic, Channel: channel}, nil
}

// ParseRegistrations parses every element with ParseRegistration and
// returns them in order, or the joined errors of all invalid ones. The
// caller owns the returned slice.
func ParseRegistrations(specs []string) ([]producer.Registration, error) {
	out := make([]producer.Registration, 0, len(specs))
	var errs []error
	for _, s := range specs {
		r, err := ParseRegistration(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// topicMap groups registrations by topic; "" stands for the topic listed
// on its own.
func topicMap(regs []producer.Registration) map[string]map[string]bool {
	m := make(map[string]map[string]bool)
	for _, r := range regs {
		if m[r.Topic] == nil {
			m[r.Topic] = make(map[string]bool)
		}
		m[r.Topic][r.Channel] = true
	}
	return m
}

// Diff returns what changes a Client configured with old so that it holds
// new, leaving registrations made by other means alone where it can:
//   - a topic that no longer appears in new at all is unregistered whole
//     (Channel empty), which also drops channels of it registered through
//     the admin API;
//   - a channel that is gone from a topic still in new is unregistered on
//     its own;
//   - every entry of new missing from old is registered.
//
// Both results are sorted; apply unregister before register. The caller
// owns the returned slices.
func Diff(old, new []producer.Registration) (unregister, register []producer.Registration) {
	o, n := topicMap(old), topicMap(new)
	for _, t := range slices.Sorted(maps.Keys(o)) {
		keep, ok := n[t]
		if !ok {
			unregister = append(unregister, producer.Registration{Topic: t})
			continue
		}
		for _, ch := range slices.Sorted(maps.Keys(o[t])) {
			if ch != "" && !keep[ch] {
				unregister = append(unregister, producer.Registration{Topic: t, Channel: ch})
			}
		}
	}
	for _, t := range slices.Sorted(maps.Keys(n)) {
		for _, ch := range slices.Sorted(maps.Keys(n[t])) {
			if !o[t][ch] {
				register = append(register, producer.Registration{Topic: t, Channel: ch})
			}
		}
	}
	return unregister, register
}

// Registrar is the part of *producer.Client that Apply needs.
type Registrar interface {
	Register(topic, channel string) error
	Unregister(topic, channel string) error
}

var _ Registrar = (*producer.Client)(nil)

// Apply unregisters then registers, continuing past failures, and returns
// the joined errors.
func Apply(c Registrar, unregister, register []producer.Registration) error {
	var errs []error
	for _, r := range unregister {
		if err := c.Unregister(r.Topic, r.Channel); err != nil {
			errs = append(errs, fmt.Errorf("unregister %s: %w", r, err))
		}
	}
	for _, r := range register {
		if err := c.Register(r.Topic, r.Channel); err != nil {
			errs = append(errs, fmt.Errorf("register %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
