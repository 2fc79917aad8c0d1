package clientmerge

import (
	"net"
	"strconv"
	"time"
)

// ProducerInfo is a producer as one lookupd describes it. The JSON names match
// nsqlookupd's /lookup and /nodes answers.
type ProducerInfo struct {
	// RemoteAddress is the address the producer's lookupd connection came
	// from. It differs between lookupds; the merged value is the first
	// lookupd's (in the order given to New).
	RemoteAddress    string `json:"remote_address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
}

// TCPAddr returns "broadcast_address:tcp_port" (IPv6 hosts bracketed), the
// address a consumer connects to and the key producers are merged by.
func (p ProducerInfo) TCPAddr() string {
	return net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.TCPPort))
}

// HTTPAddr returns "broadcast_address:http_port" (IPv6 hosts bracketed).
func (p ProducerInfo) HTTPAddr() string {
	return net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.HTTPPort))
}

// Producer is one merged producer of a topic. Producers are identified by
// BroadcastAddress and TCPPort; when lookupds disagree about the other
// fields, the first answering lookupd (in the order given to New) wins.
type Producer struct {
	ProducerInfo
	// SeenBy is how many lookupds listed this producer. A value below the
	// result's Answered count means the lookupds disagree, which is normal
	// for a moment after a producer comes or goes.
	SeenBy int `json:"seen_by"`
	// Lookupds holds the addresses (as given to New, in that order) of the
	// lookupds that listed this producer; len(Lookupds) == SeenBy.
	Lookupds []string `json:"lookupds"`
}

// Node is one merged entry of /nodes: a producer with the topics it
// registered on any lookupd.
type Node struct {
	ProducerInfo
	// Topics is the sorted union of the topics the lookupds list for this
	// node.
	Topics []string `json:"topics"`
	// Tombstones runs parallel to Topics. An entry is true when every
	// lookupd that lists the topic for this node marks it tombstoned, which
	// is exactly when the merged Lookup no longer offers the node for that
	// topic (a tombstone set on only some lookupds hides nothing from a
	// client that asks them all).
	Tombstones []bool `json:"tombstones"`
	// SeenBy and Lookupds are as for Producer.
	SeenBy   int      `json:"seen_by"`
	Lookupds []string `json:"lookupds"`
}

// Response records how one lookupd answered one call.
type Response struct {
	// Addr is the lookupd's address exactly as given to New.
	Addr string
	// Err is nil when the lookupd answered usefully. Otherwise it says why
	// not: a transport error, a *StatusError, a decode error,
	// ErrResponseTooLarge, or context.DeadlineExceeded for a lookupd that
	// did not answer within the timeout.
	Err error
	// Latency is the time from sending the request to having read and
	// decoded the answer (or to the failure).
	Latency time.Duration
	// TopicNotFound is true when the lookupd answered 404 TOPIC_NOT_FOUND.
	// That counts as a successful, empty answer.
	TopicNotFound bool
}

// OK reports whether the lookupd answered usefully.
func (r Response) OK() bool { return r.Err == nil }

// Meta is what every result carries besides its data. It describes the
// data and the call; the error returned with the result describes the
// failures (which lookupds, why), so no fact is in both.
type Meta struct {
	// Responses has one entry per lookupd, in the order given to New. It
	// always describes the call that returned it, also for a stale result.
	Responses []Response
	// Answered counts the entries of Responses whose Err is nil.
	Answered int
	// Stale is true when every lookupd failed (or fewer than WithMinResponses
	// answered) and the data is the snapshot of an earlier call. The error
	// returned with it is then a *StaleError.
	Stale bool
	// Age is how long ago the data was fetched: zero for fresh data, the
	// snapshot's age for stale data.
	Age time.Duration
}

// LookupResult is the merged answer of /lookup for one topic. The caller
// owns it and every slice in it.
type LookupResult struct {
	Meta
	Topic string
	// Producers is deduplicated by TCPAddr and sorted by BroadcastAddress,
	// then TCPPort.
	Producers []Producer
	// Channels is the sorted union of the topic's channels.
	Channels []string
}

// TopicsResult is the merged answer of /topics. The caller owns it.
type TopicsResult struct {
	Meta
	// Topics is the sorted union of every lookupd's topics.
	Topics []string
}

// ChannelsResult is the merged answer of /channels for one topic. The
// caller owns it.
type ChannelsResult struct {
	Meta
	Topic string
	// Channels is the sorted union of the topic's channels.
	Channels []string
}

// NodesResult is the merged answer of /nodes. The caller owns it.
type NodesResult struct {
	Meta
	// Nodes is deduplicated by TCPAddr and sorted by BroadcastAddress, then
	// TCPPort.
	Nodes []Node
}
