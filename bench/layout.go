package bench

import (
	"fmt"

	"github.com/lookupd/lookupd/lookup/wire"
)

// Layout decides which topics and channels each synthetic producer
// registers. It is a pure function of its fields, so both daemons see the
// same state for the same configuration.
//
// The scheme: topics are numbered 0..Pool-1 and producer p carries the T
// consecutive topics (p*Step + i) mod Pool for i in 0..T-1, with
// Step = max(1, T/Share) and Pool = max(P*Step, T). Windows of neighbouring
// producers overlap, so each topic has about Share producers (exactly
// Share when Share divides T and Pool = P*Step) and a producer shares
// topics with 2*(Share-1) neighbours in different amounts. Every topic of
// a producer also gets the same C channels, "bench-channel-0".."C-1".
type Layout struct {
	Producers int // P
	Topics    int // T per producer
	Channels  int // C per topic
	Share     int // producers per topic (target)
	Step      int
	Pool      int
}

// NewLayout returns the layout for P producers with T topics each, C
// channels per topic and about share producers per topic. Values below 1
// are raised to 1 (C to 0).
func NewLayout(p, t, c, share int) Layout {
	p, t, share = max(p, 1), max(t, 1), max(share, 1)
	c = max(c, 0)
	step := max(1, t/share)
	return Layout{Producers: p, Topics: t, Channels: c, Share: share, Step: step, Pool: max(p*step, t)}
}

// Topic returns the index of producer p's i-th topic.
func (l Layout) Topic(p, i int) int { return (p*l.Step + i) % l.Pool }

// TopicName returns the name of topic idx.
func TopicName(idx int) string { return fmt.Sprintf("bench-topic-%06d", idx) }

// ChannelName returns the name of channel j.
func ChannelName(j int) string { return fmt.Sprintf("bench-channel-%d", j) }

// Registrations returns the number of REGISTER commands all producers send:
// P*T*(1+C), one per topic and one per channel.
func (l Layout) Registrations() int { return l.Producers * l.Topics * (1 + l.Channels) }

// ProducerCounts returns, for every topic index, how many producers carry
// it. The slice is freshly allocated and owned by the caller.
func (l Layout) ProducerCounts() []int {
	n := make([]int, l.Pool)
	for p := range l.Producers {
		for i := range l.Topics {
			n[l.Topic(p, i)]++
		}
	}
	return n
}

// UsedTopics returns how many topic indexes have at least one producer.
func (l Layout) UsedTopics() int { return len(carried(l.ProducerCounts())) }

// carried returns, in ascending order, the topic indexes whose count in
// counts (from ProducerCounts) is not zero.
func carried(counts []int) []int {
	var topics []int
	for t, n := range counts {
		if n > 0 {
			topics = append(topics, t)
		}
	}
	return topics
}

// Identity returns the IDENTIFY body of producer p: a distinct
// broadcast address and ports, so no two producers look alike.
func (l Layout) Identity(p int) wire.ProducerInfo {
	port := 10000 + p%50000
	return wire.ProducerInfo{
		Hostname:         fmt.Sprintf("bench-producer-%05d", p),
		BroadcastAddress: fmt.Sprintf("bench-producer-%05d.local", p),
		TCPPort:          port,
		HTTPPort:         port + 1,
		Version:          "1.3.0",
	}
}

// RegisterCommands returns the encoded REGISTER commands of producer p in
// the order nsqd sends them: each topic, then its channels.
func (l Layout) RegisterCommands(p int) [][]byte {
	out := make([][]byte, 0, l.Topics*(1+l.Channels))
	for i := range l.Topics {
		topic := TopicName(l.Topic(p, i))
		out = append(out, wire.EncodeRegister(topic, ""))
		for j := range l.Channels {
			out = append(out, wire.EncodeRegister(topic, ChannelName(j)))
		}
	}
	return out
}

// String describes the layout in one line.
func (l Layout) String() string {
	return fmt.Sprintf("%d producers x %d topics x %d channels, %d topics in the pool, ~%d producers per topic (step %d)",
		l.Producers, l.Topics, l.Channels, l.Pool, l.Producers*l.Topics/l.Pool, l.Step)
}
