package clientmerge

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"
)

// Query is one of the four merged questions, typed by its result: build
// one with LookupQuery, TopicsQuery, ChannelsQuery or NodesQuery and pass
// it to Watch. A Query is a small immutable value, safe to copy, reuse and
// share between goroutines. The zero Query is invalid.
type Query[R any] struct {
	name  string // "lookup", "topics", "channels", "nodes"
	topic string // for lookup and channels
	err   error  // why the Query is invalid
	run   func(*Client, context.Context) (*R, error)
	// state is what Watch compares: a change of it is a change of the
	// answer.
	state func(*R) []string
	// watch runs Watch's loops for this query.
	watch func(ctx context.Context, c *Client, log *slog.Logger, interval time.Duration, fn func(*R)) error
}

// newQuery builds a Query from its spec.
func newQuery[T, R any](name, topic string, err error, s spec[T, R], state func(*R) []string) Query[R] {
	return Query[R]{
		name: name, topic: topic, err: err, state: state,
		run: func(c *Client, ctx context.Context) (*R, error) { return runQuery(ctx, c, s) },
		watch: func(ctx context.Context, c *Client, log *slog.Logger, interval time.Duration, fn func(*R)) error {
			return watchSpec(ctx, c, s, state, log, interval, fn)
		},
	}
}

// LookupQuery asks for the producers and channels of topic, as
// Client.Lookup does. Watch reports a change when the set of producers
// (their TCPAddrs) changes; a producer appearing on one more lookupd, or a
// new channel, is no change.
func LookupQuery(topic string) Query[LookupResult] {
	return newQuery("lookup", topic, topicErr(topic), lookupSpec(topic), func(r *LookupResult) []string {
		out := make([]string, len(r.Producers))
		for i := range r.Producers {
			out[i] = r.Producers[i].TCPAddr()
		}
		return out
	})
}

// TopicsQuery asks for all topics, as Client.Topics does. Watch reports a
// change when the set of topics changes.
func TopicsQuery() Query[TopicsResult] {
	return newQuery("topics", "", nil, topicsSpec(), func(r *TopicsResult) []string { return r.Topics })
}

// ChannelsQuery asks for the channels of topic, as Client.Channels does.
// Watch reports a change when the set of channels changes.
func ChannelsQuery(topic string) Query[ChannelsResult] {
	return newQuery("channels", topic, topicErr(topic), channelsSpec(topic), func(r *ChannelsResult) []string { return r.Channels })
}

// NodesQuery asks for all nodes, as Client.Nodes does. Watch reports a
// change when a node comes or goes, or a node's topics or tombstones
// change.
func NodesQuery() Query[NodesResult] {
	return newQuery("nodes", "", nil, nodesSpec(), func(r *NodesResult) []string {
		out := make([]string, 0, len(r.Nodes))
		var b []byte // reused: each node's state is copied out by string(b)
		for i := range r.Nodes {
			n := &r.Nodes[i]
			b = append(b[:0], n.TCPAddr()...)
			for j, t := range n.Topics {
				b = append(b, 0)
				b = append(b, t...)
				b = append(b, '=')
				b = strconv.AppendBool(b, j < len(n.Tombstones) && n.Tombstones[j])
			}
			out = append(out, string(b))
		}
		return out
	})
}

// String returns the query's name, with its topic if it has one:
// "lookup orders", "topics".
func (q Query[R]) String() string {
	if q.topic == "" {
		return q.name
	}
	return q.name + " " + q.topic
}

// valid returns why q cannot run, or nil.
func (q Query[R]) valid() error {
	switch {
	case q.run == nil:
		return fmt.Errorf("zero %T", q)
	case q.err != nil:
		return fmt.Errorf("%s: %w", q.name, q.err)
	}
	return nil
}

func topicErr(topic string) error {
	if topic == "" {
		return ErrEmptyTopic
	}
	return nil
}
