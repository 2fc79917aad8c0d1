package netscale

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Ports every lookupd listens on inside its namespace, and the port of
// producer 0 of each producer host (producer i announces FirstProducerPort+i).
const (
	LookupdTCPPort    = 4160
	LookupdHTTPPort   = 4161
	FirstProducerPort = 20000
)

// Kind is the role of a simulated host.
type Kind string

// The host kinds.
const (
	KindLookupd  Kind = "lookupd"
	KindProducer Kind = "producer"
	KindConsumer Kind = "consumer"
)

// Host is one network namespace of the run.
type Host struct {
	Kind  Kind
	Index int        // 0-based within its kind
	Name  string     // short name: l0, p1, c2
	Addr  netip.Addr // its one address, on the run's bridge
}

// Topology is the pure plan of a run: which hosts exist, their addresses,
// which producer lives where and what it registers. It does no I/O.
type Topology struct {
	Lookupds, ProducerHosts, ConsumerHosts int
	// Producers in all, spread round-robin over the producer hosts:
	// producer p lives on host p % ProducerHosts.
	Producers int
	// Topics per producer and Channels per topic.
	Topics, Channels int
	// Share: about this many producers carry each topic. Producer p carries
	// topics (p*step + i) mod pool for i < Topics, step = max(1,
	// Topics/Share), pool = max(Producers*step, Topics): neighbours overlap,
	// so every topic has about Share producers.
	Share int
	// Probes: the last Probes producers (ids Producers-Probes ..
	// Producers-1) are held back for the join, cut-off and leave phases.
	Probes int
	// Prefix is the network, a /16 inside which host addresses are made:
	// lookupd i is .1.(i+1), producer host i .2.(i+1), consumer i .3.(i+1).
	Prefix netip.Prefix
}

// Validate checks the plan's numbers.
func (t Topology) Validate() error {
	switch {
	case t.Lookupds < 1 || t.Lookupds > 250:
		return fmt.Errorf("lookupds %d: want 1..250", t.Lookupds)
	case t.ProducerHosts < 1 || t.ProducerHosts > 250:
		return fmt.Errorf("producer hosts %d: want 1..250", t.ProducerHosts)
	case t.ConsumerHosts < 1 || t.ConsumerHosts > 250:
		return fmt.Errorf("consumer hosts %d: want 1..250", t.ConsumerHosts)
	case t.Producers < 1:
		return fmt.Errorf("producers %d: want at least 1", t.Producers)
	case t.Producers/t.ProducerHosts+1 > 65535-FirstProducerPort:
		return fmt.Errorf("producers %d on %d hosts: more per host than ports", t.Producers, t.ProducerHosts)
	case t.Topics < 1 || t.Channels < 0 || t.Share < 1:
		return fmt.Errorf("topics %d, channels %d, share %d: want >= 1, >= 0, >= 1", t.Topics, t.Channels, t.Share)
	case t.Probes < t.ProducerHosts || t.Probes > t.Producers:
		return fmt.Errorf("probes %d: want at least one per producer host (%d) and at most the producers (%d)", t.Probes, t.ProducerHosts, t.Producers)
	case !t.Prefix.Addr().Is4() || t.Prefix.Bits() != 16 || t.Prefix.Masked() != t.Prefix:
		return fmt.Errorf("prefix %s: want an IPv4 /16 such as 10.200.0.0/16", t.Prefix)
	}
	return nil
}

// Hosts returns every host: lookupds, then producer hosts, then consumers.
func (t Topology) Hosts() []Host {
	var hs []Host
	add := func(k Kind, n int, third byte, letter string) {
		for i := range n {
			hs = append(hs, Host{Kind: k, Index: i, Name: fmt.Sprintf("%s%d", letter, i), Addr: t.addr(third, byte(i+1))})
		}
	}
	add(KindLookupd, t.Lookupds, 1, "l")
	add(KindProducer, t.ProducerHosts, 2, "p")
	add(KindConsumer, t.ConsumerHosts, 3, "c")
	return hs
}

func (t Topology) addr(third, fourth byte) netip.Addr {
	a := t.Prefix.Addr().As4()
	a[2], a[3] = third, fourth
	return netip.AddrFrom4(a)
}

// LookupdTCPAddrs and LookupdHTTPAddrs are the lookupds' addresses.
func (t Topology) LookupdTCPAddrs() []string  { return t.lookupdAddrs(LookupdTCPPort) }
func (t Topology) LookupdHTTPAddrs() []string { return t.lookupdAddrs(LookupdHTTPPort) }

func (t Topology) lookupdAddrs(port uint16) []string {
	out := make([]string, t.Lookupds)
	for i := range out {
		out[i] = netip.AddrPortFrom(t.addr(1, byte(i+1)), port).String()
	}
	return out
}

// HostOf returns the producer host of producer p.
func (t Topology) HostOf(p int) int { return p % t.ProducerHosts }

// Identity returns producer p's IDENTIFY body: its host's address and a
// port of its own, so "address:port" names it.
func (t Topology) Identity(p int) wire.ProducerInfo {
	port := FirstProducerPort + p/t.ProducerHosts
	return wire.ProducerInfo{
		BroadcastAddress: t.addr(2, byte(t.HostOf(p)+1)).String(),
		Hostname:         fmt.Sprintf("p%d-%05d", t.HostOf(p), p),
		TCPPort:          port,
		HTTPPort:         port,
		Version:          "1.3.0",
	}
}

// Key is how consumers name producer p: "address:tcp_port".
func (t Topology) Key(p int) string {
	id := t.Identity(p)
	return fmt.Sprintf("%s:%d", id.BroadcastAddress, id.TCPPort)
}

func (t Topology) step() int { return max(1, t.Topics/t.Share) }
func (t Topology) pool() int { return max(t.Producers*t.step(), t.Topics) }

// TopicsOf returns the names of producer p's topics.
func (t Topology) TopicsOf(p int) []string {
	out := make([]string, t.Topics)
	for i := range out {
		out[i] = TopicName((p*t.step() + i) % t.pool())
	}
	return out
}

// TopicName names topic index i.
func TopicName(i int) string { return fmt.Sprintf("scale-%06d", i) }

// ChannelName names channel j of every topic.
func ChannelName(j int) string { return fmt.Sprintf("ch-%d", j) }

// RegistrationsPerProducer is what one producer registers: each topic and
// each of its channels.
func (t Topology) RegistrationsPerProducer() int { return t.Topics * (1 + t.Channels) }

// ProducersOf returns the ids of host h's producers among ids.
func (t Topology) ProducersOf(h int, ids []int) []int {
	var out []int
	for _, p := range ids {
		if t.HostOf(p) == h {
			out = append(out, p)
		}
	}
	return out
}

// Base returns the ids of the producers started at the beginning, Probes
// returns the held-back ones.
func (t Topology) Base() []int  { return span(0, t.Producers-t.Probes) }
func (t Topology) Probe() []int { return span(t.Producers-t.Probes, t.Producers) }
func span(from, to int) []int {
	out := make([]int, 0, to-from)
	for p := from; p < to; p++ {
		out = append(out, p)
	}
	return out
}

// WatchTopics returns the fewest topics whose producers include every
// probe: consumers watch these to see probes come and go. It picks, from
// the lowest uncovered probe up, the topic of that probe carried by the
// most later probes.
func (t Topology) WatchTopics() []string {
	probes := t.Probe()
	carriers := map[string][]int{}
	for _, p := range probes {
		for _, tp := range t.TopicsOf(p) {
			carriers[tp] = append(carriers[tp], p)
		}
	}
	covered := map[int]bool{}
	var out []string
	for _, p := range probes {
		if covered[p] {
			continue
		}
		best, bestN := "", -1
		for _, tp := range t.TopicsOf(p) {
			n := 0
			for _, q := range carriers[tp] {
				if !covered[q] {
					n++
				}
			}
			if n > bestN {
				best, bestN = tp, n
			}
		}
		out = append(out, best)
		for _, q := range carriers[best] {
			covered[q] = true
		}
	}
	slices.Sort(out)
	return out
}

// Carriers returns the producers among ids that carry any of topics.
func (t Topology) Carriers(topics []string, ids []int) []int {
	var out []int
	for _, p := range ids {
		for _, tp := range t.TopicsOf(p) {
			if slices.Contains(topics, tp) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// mustPrefix parses a constant prefix.
func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
