package clientmerge

import (
	"cmp"
	"math/bits"
	"slices"
)

// The merges below run in time linear in the total size of the answers,
// plus sorting the (deduplicated) output. Entries are keyed by
// broadcast_address and tcp_port in a map; no entry is compared with every
// other.

// producerKey identifies a producer across lookupds.
type producerKey struct {
	host string
	port int
}

// validProducer reports whether p can be keyed and connected to. Entries that
// cannot (no broadcast address, port outside 1..65535) are left out of
// merged results.
func validProducer(p ProducerInfo) bool {
	return p.BroadcastAddress != "" && p.TCPPort > 0 && p.TCPPort <= 65535
}

// sourceSet records, for each merged entry, which answers listed it: one
// bit per answer, entries stored back to back in one slice.
type sourceSet struct {
	words int
	bits  []uint64
}

func newSourceSet(answers, hint int) sourceSet {
	w := (answers + 63) / 64
	return sourceSet{words: w, bits: make([]uint64, 0, hint*w)}
}

// grow adds an entry with no sources.
func (s *sourceSet) grow() {
	for range s.words {
		s.bits = append(s.bits, 0)
	}
}

// set marks answer a as a source of entry e and reports whether it was new.
func (s *sourceSet) set(e, a int) bool {
	w := &s.bits[e*s.words+a/64]
	m := uint64(1) << (a % 64)
	if *w&m != 0 {
		return false
	}
	*w |= m
	return true
}

// fill appends the addresses of entry e's sources, in answer order, to dst.
func fill[T any](s *sourceSet, e int, answers []answer[T], dst []string) []string {
	for wi, w := range s.bits[e*s.words : (e+1)*s.words] {
		for ; w != 0; w &= w - 1 {
			dst = append(dst, answers[wi*64+bits.TrailingZeros64(w)].addr)
		}
	}
	return dst
}

// maxLen returns the length of the longest list, a capacity hint for the
// merged output (the union is at least that long).
func maxLen[T any](answers []answer[T], list func(*T) int) int {
	n := 0
	for i := range answers {
		n = max(n, list(&answers[i].body))
	}
	return n
}

func compareProducers(a, b *ProducerInfo) int {
	return cmp.Or(cmp.Compare(a.BroadcastAddress, b.BroadcastAddress), cmp.Compare(a.TCPPort, b.TCPPort))
}

// mergeProducers unions the producers of /lookup answers, deduplicated by
// broadcast_address and tcp_port, sorted, with SeenBy and Lookupds set.
func mergeProducers(answers []answer[lookupBody]) []Producer {
	hint := maxLen(answers, func(b *lookupBody) int { return len(b.Producers) })
	idx := make(map[producerKey]int, hint)
	out := make([]Producer, 0, hint)
	src := newSourceSet(len(answers), hint)
	sources := 0
	for ai := range answers {
		for _, p := range answers[ai].body.Producers {
			if !validProducer(p) {
				continue
			}
			k := producerKey{host: p.BroadcastAddress, port: p.TCPPort}
			j, ok := idx[k]
			if !ok {
				j = len(out)
				idx[k] = j
				out = append(out, Producer{ProducerInfo: p})
				src.grow()
			}
			if src.set(j, ai) {
				out[j].SeenBy++
				sources++
			}
		}
	}
	names := make([]string, 0, sources)
	for j := range out {
		start := len(names)
		names = fill(&src, j, answers, names)
		out[j].Lookupds = names[start:len(names):len(names)]
	}
	slices.SortFunc(out, func(a, b Producer) int { return compareProducers(&a.ProducerInfo, &b.ProducerInfo) })
	return out
}

// unionSorted returns the sorted set union of the lists, never nil.
func unionSorted[T any](answers []answer[T], list func(*T) []string) []string {
	hint := maxLen(answers, func(b *T) int { return len(list(b)) })
	set := make(map[string]struct{}, hint)
	out := make([]string, 0, hint)
	for i := range answers {
		for _, s := range list(&answers[i].body) {
			if _, ok := set[s]; !ok {
				set[s] = struct{}{}
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

func mergeLookupChannels(answers []answer[lookupBody]) []string {
	return unionSorted(answers, func(b *lookupBody) []string { return b.Channels })
}

func mergeTopics(answers []answer[topicsBody]) []string {
	return unionSorted(answers, func(b *topicsBody) []string { return b.Topics })
}

func mergeChannels(answers []answer[channelsBody]) []string {
	return unionSorted(answers, func(b *channelsBody) []string { return b.Channels })
}

// nodeTopics accumulates one merged node's topics.
type nodeTopics struct {
	idx    map[string]int
	names  []string
	seen   []int // answers listing the topic for this node
	tombs  []int // of those, answers marking it tombstoned
	lastAt []int // last answer counted, so a repeated entry counts once
}

func (nt *nodeTopics) add(name string, tombstoned bool, answer int) {
	t, ok := nt.idx[name]
	if !ok {
		t = len(nt.names)
		nt.idx[name] = t
		nt.names = append(nt.names, name)
		nt.seen = append(nt.seen, 0)
		nt.tombs = append(nt.tombs, 0)
		nt.lastAt = append(nt.lastAt, -1)
	}
	if nt.lastAt[t] == answer {
		return
	}
	nt.lastAt[t] = answer
	nt.seen[t]++
	if tombstoned {
		nt.tombs[t]++
	}
}

// mergeNodes unions the /nodes answers: one node per broadcast_address and
// tcp_port, its topics the union over lookupds, a topic tombstoned when
// every lookupd listing it says so.
func mergeNodes(answers []answer[nodesBody]) []Node {
	hint := maxLen(answers, func(b *nodesBody) int { return len(b.Producers) })
	idx := make(map[producerKey]int, hint)
	out := make([]Node, 0, hint)
	aggs := make([]nodeTopics, 0, hint)
	src := newSourceSet(len(answers), hint)
	sources := 0
	for ai := range answers {
		for ni := range answers[ai].body.Producers {
			n := &answers[ai].body.Producers[ni]
			if !validProducer(n.ProducerInfo) {
				continue
			}
			k := producerKey{host: n.BroadcastAddress, port: n.TCPPort}
			j, ok := idx[k]
			if !ok {
				j = len(out)
				idx[k] = j
				out = append(out, Node{ProducerInfo: n.ProducerInfo})
				aggs = append(aggs, nodeTopics{idx: make(map[string]int, len(n.Topics))})
				src.grow()
			}
			if src.set(j, ai) {
				out[j].SeenBy++
				sources++
			}
			for ti, t := range n.Topics {
				aggs[j].add(t, ti < len(n.Tombstones) && n.Tombstones[ti], ai)
			}
		}
	}
	names := make([]string, 0, sources)
	for j := range out {
		start := len(names)
		names = fill(&src, j, answers, names)
		out[j].Lookupds = names[start:len(names):len(names)]
		a := &aggs[j]
		order := make([]int, len(a.names))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(x, y int) int { return cmp.Compare(a.names[x], a.names[y]) })
		out[j].Topics = make([]string, len(order))
		out[j].Tombstones = make([]bool, len(order))
		for i, t := range order {
			out[j].Topics[i] = a.names[t]
			out[j].Tombstones[i] = a.tombs[t] == a.seen[t]
		}
	}
	slices.SortFunc(out, func(a, b Node) int { return compareProducers(&a.ProducerInfo, &b.ProducerInfo) })
	return out
}

// Deep copies, so that a snapshot and the results handed out never share
// memory.

func cloneMeta(m Meta) Meta {
	m.Responses = slices.Clone(m.Responses)
	return m
}

func cloneLookup(r *LookupResult) *LookupResult {
	c := *r
	c.Meta = cloneMeta(r.Meta)
	c.Channels = slices.Clone(r.Channels)
	c.Producers = slices.Clone(r.Producers)
	for i := range c.Producers {
		c.Producers[i].Lookupds = slices.Clone(c.Producers[i].Lookupds)
	}
	return &c
}

func cloneTopics(r *TopicsResult) *TopicsResult {
	c := *r
	c.Meta = cloneMeta(r.Meta)
	c.Topics = slices.Clone(r.Topics)
	return &c
}

func cloneChannels(r *ChannelsResult) *ChannelsResult {
	c := *r
	c.Meta = cloneMeta(r.Meta)
	c.Channels = slices.Clone(r.Channels)
	return &c
}

func cloneNodes(r *NodesResult) *NodesResult {
	c := *r
	c.Meta = cloneMeta(r.Meta)
	c.Nodes = slices.Clone(r.Nodes)
	for i := range c.Nodes {
		n := &c.Nodes[i]
		n.Topics = slices.Clone(n.Topics)
		n.Tombstones = slices.Clone(n.Tombstones)
		n.Lookupds = slices.Clone(n.Lookupds)
	}
	return &c
}
