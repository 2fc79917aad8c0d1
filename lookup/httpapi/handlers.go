package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/julienschmidt/httprouter"

	"github.com/lookupd/lookupd/lookup/registry"
	"github.com/lookupd/lookupd/lookup/wire"
)

// never is the expiry of answers that time alone cannot change.
var never = time.Unix(1<<62, 0)

func (h *Handler) handlePing(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
	w.WriteHeader(http.StatusOK)
	w.Write(wire.OK)
}

func (h *Handler) handleInfo(*http.Request, url.Values) (any, error) {
	return struct {
		Version string `json:"version"`
	}{h.opts.Version}, nil
}

// peerJSON is a producer as /lookup lists it; field order is nsqlookupd's.
type peerJSON struct {
	RemoteAddress    string `json:"remote_address"`
	Hostname         string `json:"hostname"`
	BroadcastAddress string `json:"broadcast_address"`
	TCPPort          int    `json:"tcp_port"`
	HTTPPort         int    `json:"http_port"`
	Version          string `json:"version"`
}

func toPeerJSON(p registry.PeerInfo) peerJSON {
	return peerJSON{
		RemoteAddress:    p.RemoteAddress,
		Hostname:         p.Hostname,
		BroadcastAddress: p.BroadcastAddress,
		TCPPort:          p.TCPPort,
		HTTPPort:         p.HTTPPort,
		Version:          p.Version,
	}
}

func (h *Handler) handleLookup(_ *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	now := h.opts.Now()
	// Read first: see cache.confirm.
	dbv := h.db.Version()
	if body, ok := h.lookups.fresh(topic, dbv, now); ok {
		return body, nil
	}
	v, ok := h.db.TopicVersion(topic)
	if !ok {
		h.lookups.drop(topic)
		return nil, errTopicNotFound
	}
	if body, ok := h.lookups.confirm(topic, v, dbv, now); ok {
		return body, nil
	}
	res, ok := h.db.Lookup(topic)
	if !ok {
		return nil, errTopicNotFound
	}
	out := struct {
		Channels  []string   `json:"channels"`
		Producers []peerJSON `json:"producers"`
	}{Channels: res.Channels, Producers: make([]peerJSON, len(res.Producers))}
	for i, p := range res.Producers {
		out.Producers[i] = toPeerJSON(p.PeerInfo)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	h.lookups.put(topic, newEntry(res.Version, res.ValidUntil, body, dbv))
	return rawJSON(body), nil
}

func (h *Handler) handleTopics(*http.Request, url.Values) (any, error) {
	v := h.db.TopicsVersion()
	if body, ok := h.topics.get("", v, h.opts.Now()); ok {
		return body, nil
	}
	topics, v := h.db.Topics()
	body, err := json.Marshal(struct {
		Topics []string `json:"topics"`
	}{topics})
	if err != nil {
		return nil, err
	}
	h.topics.put("", &entry{version: v, validUntil: never, body: body})
	return rawJSON(body), nil
}

func (h *Handler) handleChannels(_ *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	v := h.db.ChannelsVersion(topic)
	if v == 0 {
		h.channels.drop(topic)
		return rawJSON(`{"channels":[]}`), nil
	}
	if body, ok := h.channels.get(topic, v, h.opts.Now()); ok {
		return body, nil
	}
	channels, v := h.db.Channels(topic)
	body, err := json.Marshal(struct {
		Channels []string `json:"channels"`
	}{channels})
	if err != nil {
		return nil, err
	}
	h.channels.put(topic, &entry{version: v, validUntil: never, body: body})
	return rawJSON(body), nil
}

// nodeJSON is a producer as /nodes lists it; field order is nsqlookupd's.
type nodeJSON struct {
	peerJSON
	Tombstones []bool   `json:"tombstones"`
	Topics     []string `json:"topics"`
}

func (h *Handler) handleNodes(*http.Request, url.Values) (any, error) {
	now := h.opts.Now()
	if body, ok := h.nodes.get("", h.db.Version(), now); ok {
		return body, nil
	}
	res := h.db.Nodes()
	out := struct {
		Producers []nodeJSON `json:"producers"`
	}{Producers: make([]nodeJSON, len(res.Nodes))}
	for i, n := range res.Nodes {
		out.Producers[i] = nodeJSON{peerJSON: toPeerJSON(n.PeerInfo), Tombstones: n.Tombstones, Topics: n.Topics}
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	h.nodes.put("", &entry{version: res.Version, validUntil: res.ValidUntil, body: body})
	return rawJSON(body), nil
}

// debugJSON is one producer in /debug; fields in nsqlookupd's (sorted)
// order.
type debugJSON struct {
	BroadcastAddress string `json:"broadcast_address"`
	Hostname         string `json:"hostname"`
	HTTPPort         int    `json:"http_port"`
	ID               string `json:"id"`
	LastUpdate       int64  `json:"last_update"`
	TCPPort          int    `json:"tcp_port"`
	Tombstoned       bool   `json:"tombstoned"`
	TombstonedAt     int64  `json:"tombstoned_at"`
	Version          string `json:"version"`
}

func (h *Handler) handleDebug(*http.Request, url.Values) (any, error) {
	dump := h.db.Debug()
	out := make(map[string][]debugJSON, len(dump))
	for reg, prods := range dump {
		key := reg.Category + ":" + reg.Key + ":" + reg.SubKey
		for _, p := range prods {
			out[key] = append(out[key], debugJSON{
				BroadcastAddress: p.BroadcastAddress,
				Hostname:         p.Hostname,
				HTTPPort:         p.HTTPPort,
				ID:               p.ID,
				LastUpdate:       p.LastUpdate.UnixNano(),
				TCPPort:          p.TCPPort,
				Tombstoned:       p.Tombstoned,
				TombstonedAt:     p.TombstonedAt.UnixNano(),
				Version:          p.Version,
			})
		}
	}
	return out, nil
}

func (h *Handler) handleCreateTopic(_ *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	if !wire.IsValidTopicName(topic) {
		return nil, errInvalidTopic
	}
	h.db.CreateTopic(topic)
	h.log.Info("topic created", "topic", topic)
	return nil, nil
}

func (h *Handler) handleDeleteTopic(_ *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	if h.db.DeleteTopic(topic) {
		h.log.Info("topic deleted", "topic", topic)
	}
	return nil, nil
}

func (h *Handler) handleCreateChannel(_ *http.Request, q url.Values) (any, error) {
	topic, channel, err := topicChannelArgs(q)
	if err != nil {
		return nil, err
	}
	h.db.CreateChannel(topic, channel)
	h.log.Info("channel created", "topic", topic, "channel", channel)
	return nil, nil
}

func (h *Handler) handleDeleteChannel(_ *http.Request, q url.Values) (any, error) {
	topic, channel, err := topicChannelArgs(q)
	if err != nil {
		return nil, err
	}
	if !h.db.DeleteChannel(topic, channel) {
		return nil, errChannelNotFound
	}
	h.log.Info("channel deleted", "topic", topic, "channel", channel)
	return nil, nil
}

func (h *Handler) handleTombstone(_ *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	node, ok := get(q, "node")
	if !ok {
		return nil, errMissingNode
	}
	n := h.db.Tombstone(topic, node)
	h.log.Info("producer tombstoned", "topic", topic, "node", node, "producers", n)
	return nil, nil
}
