package ctl

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/lookupd/lookupd/clientmerge"
)

// Set marks lookupds: Set[i] is true when the i-th lookupd (in the order
// given to NewCluster) has the property.
type Set []bool

// Count returns how many lookupds are marked.
func (s Set) Count() int {
	n := 0
	for _, b := range s {
		if b {
			n++
		}
	}
	return n
}

// String returns one character per lookupd: '1' marked, '0' not.
func (s Set) String() string {
	var b strings.Builder
	for _, v := range s {
		if v {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

// And returns the lookupds that both s and o mark: with o the lookupds
// that answered, the ones that are seen listing something. A lookupd that
// is down never counts as listing anything, even when its last answer
// did; lookupctl counts "seen by N/M" with this rule everywhere (tables,
// watch lines, the web view). The caller owns the result.
func (s Set) And(o Set) Set {
	out := make(Set, len(s))
	for i := range s {
		out[i] = s[i] && i < len(o) && o[i]
	}
	return out
}

// Covers reports whether s marks every lookupd that up marks.
func (s Set) Covers(up Set) bool {
	for i, u := range up {
		if u && !s[i] {
			return false
		}
	}
	return true
}

// Listed is a name (a topic, or a topic's channel) and the lookupds that
// list it.
type Listed struct {
	Name string
	By   Set
}

// ProducerState is one producer as the lookupds' /nodes answers describe
// it. Descriptive fields come from the first lookupd listing it.
type ProducerState struct {
	Addr             string // broadcast_address:tcp_port, the key
	Hostname         string
	BroadcastAddress string
	TCPPort          int
	HTTPPort         int
	Version          string
	// By marks the lookupds whose /nodes lists this producer.
	By Set
	// Topics are the producer's topics on any lookupd, sorted, each with
	// the lookupds listing the producer for it and those marking it
	// tombstoned.
	Topics []ProducerTopic
}

// ProducerTopic is one topic of one producer.
type ProducerTopic struct {
	Name       string
	By         Set
	Tombstoned Set
}

// Survey is one round of /topics and /nodes from every lookupd, kept per
// lookupd. The caller owns it.
type Survey struct {
	At       time.Time
	Lookupds []LookupdState
	// Topics is the sorted union of every lookupd's /topics.
	Topics []Listed
	// Producers is sorted by Addr.
	Producers []ProducerState
}

// Up returns the Set of lookupds that answered.
func (s *Survey) Up() Set {
	up := make(Set, len(s.Lookupds))
	for i, l := range s.Lookupds {
		up[i] = l.Up()
	}
	return up
}

// Producer returns the producer with the given address, or nil.
func (s *Survey) Producer(addr string) *ProducerState {
	i, ok := slices.BinarySearchFunc(s.Producers, addr, func(p ProducerState, a string) int { return cmp.Compare(p.Addr, a) })
	if !ok {
		return nil
	}
	return &s.Producers[i]
}

// setSlab cuts Sets of n lookupds from shared slabs, one allocation per
// thousand Sets, for a Survey's many Sets. The zero n gives empty Sets.
type setSlab struct {
	n    int
	slab []bool
}

// next returns a new Set of n unmarked lookupds; its capacity is n, so an
// append cannot reach into the next one.
func (s *setSlab) next() Set {
	if len(s.slab) < s.n {
		s.slab = make([]bool, 1024*s.n)
	}
	set := Set(s.slab[:s.n:s.n])
	s.slab = s.slab[s.n:]
	return set
}

// lookupdView is what one lookupd answered in one survey round.
type lookupdView struct {
	topics []string
	nodes  []clientmerge.Node
}

// Survey asks every lookupd for /topics and /nodes, at once, and returns
// what each listed. A lookupd that fails either query counts as down for
// the round. It blocks for at most about the timeout.
func (c *Cluster) Survey(ctx context.Context) *Survey {
	views, states := perLookupd(ctx, c, func(ctx context.Context, cl *clientmerge.Client) (lookupdView, error) {
		t, err := cl.Topics(ctx)
		if err != nil {
			return lookupdView{}, err
		}
		n, err := cl.Nodes(ctx)
		if err != nil {
			return lookupdView{}, err
		}
		return lookupdView{topics: t.Topics, nodes: n.Nodes}, nil
	})
	return buildSurvey(time.Now(), states, views)
}

// buildSurvey merges per-lookupd answers into a Survey. views[i] of a
// lookupd whose states[i] failed is what it listed last (Live) or empty
// (a one-off query); either way its marks are not compared (see Diff).
func buildSurvey(at time.Time, states []LookupdState, views []lookupdView) *Survey {
	n := len(states)
	s := &Survey{At: at, Lookupds: states}
	sets := setSlab{n: n}
	lists := make([][]string, n)
	for i, v := range views {
		lists[i] = v.topics
	}
	s.Topics = presence(n, lists)

	idx := map[string]int{}
	topicIdx := []map[string]int{}
	for i, v := range views {
		for _, nd := range v.nodes {
			addr := nd.TCPAddr()
			j, ok := idx[addr]
			if !ok {
				j = len(s.Producers)
				idx[addr] = j
				s.Producers = append(s.Producers, ProducerState{
					Addr: addr, Hostname: nd.Hostname, BroadcastAddress: nd.BroadcastAddress,
					TCPPort: nd.TCPPort, HTTPPort: nd.HTTPPort, Version: nd.Version, By: sets.next(),
				})
				topicIdx = append(topicIdx, map[string]int{})
			}
			p := &s.Producers[j]
			p.By[i] = true
			for ti, t := range nd.Topics {
				k, ok := topicIdx[j][t]
				if !ok {
					k = len(p.Topics)
					topicIdx[j][t] = k
					p.Topics = append(p.Topics, ProducerTopic{Name: t, By: sets.next(), Tombstoned: sets.next()})
				}
				p.Topics[k].By[i] = true
				if ti < len(nd.Tombstones) && nd.Tombstones[ti] {
					p.Topics[k].Tombstoned[i] = true
				}
			}
		}
	}
	for j := range s.Producers {
		slices.SortFunc(s.Producers[j].Topics, func(a, b ProducerTopic) int { return cmp.Compare(a.Name, b.Name) })
	}
	slices.SortFunc(s.Producers, func(a, b ProducerState) int { return cmp.Compare(a.Addr, b.Addr) })
	return s
}

// presence returns the sorted union of the lists, each name with the set
// of lists (lookupds) containing it. lists has one entry per lookupd; a
// nil entry lists nothing.
func presence(n int, lists [][]string) []Listed {
	idx := map[string]int{}
	var out []Listed
	sets := setSlab{n: n}
	for i, l := range lists {
		for _, name := range l {
			j, ok := idx[name]
			if !ok {
				j = len(out)
				idx[name] = j
				out = append(out, Listed{Name: name, By: sets.next()})
			}
			out[j].By[i] = true
		}
	}
	slices.SortFunc(out, func(a, b Listed) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// Channels asks every lookupd for the channels of topic and returns each
// channel with the lookupds listing it. A lookupd that does not know the
// topic lists none.
func (c *Cluster) Channels(ctx context.Context, topic string) ([]Listed, []LookupdState) {
	lists, states := perLookupd(ctx, c, func(ctx context.Context, cl *clientmerge.Client) ([]string, error) {
		r, err := cl.Channels(ctx, topic)
		if err != nil {
			return nil, err
		}
		return r.Channels, nil
	})
	return presence(len(lists), lists), states
}

// topicOnly is one lookupd's /lookup answer for topic as a lookupdView:
// the topic when the lookupd knows it, and its producers, each carrying
// that one topic.
func topicOnly(topic string, r *clientmerge.LookupResult) lookupdView {
	var v lookupdView
	if len(r.Responses) > 0 && !r.Responses[0].TopicNotFound {
		v.topics = []string{topic}
	}
	v.nodes = make([]clientmerge.Node, len(r.Producers))
	for j, p := range r.Producers {
		v.nodes[j] = clientmerge.Node{ProducerInfo: p.ProducerInfo, Topics: []string{topic}, Tombstones: []bool{false}}
	}
	return v
}

// TopicSurvey asks every lookupd for /lookup?topic= and returns a Survey
// holding only that topic (its producers carry that one topic), and the
// topic's channels with the lookupds listing each. A lookupd that answers
// TOPIC_NOT_FOUND lists nothing.
func (c *Cluster) TopicSurvey(ctx context.Context, topic string) (*Survey, []Listed) {
	type answer struct {
		view     lookupdView
		channels []string
	}
	answers, states := perLookupd(ctx, c, func(ctx context.Context, cl *clientmerge.Client) (answer, error) {
		r, err := cl.Lookup(ctx, topic)
		if err != nil {
			return answer{}, err
		}
		return answer{view: topicOnly(topic, r), channels: r.Channels}, nil
	})
	views := make([]lookupdView, len(answers))
	chans := make([][]string, len(answers))
	for i, a := range answers {
		views[i], chans[i] = a.view, a.channels
	}
	return buildSurvey(time.Now(), states, views), presence(len(answers), chans)
}
