package httpapi

import (
	"encoding/json"
	"errors"
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

// answer returns the current answer for k, computing it only when the
// registry has changed or time has run out since it was last computed.
func (h *Handler) answer(k key) (*answer, error) {
	now := h.opts.Now()
	// Read first: see answers.confirm.
	dbv := h.db.Version()
	if a := h.answers.fresh(k, dbv, now); a != nil {
		return a, nil
	}
	var v uint64
	switch k.kind {
	case kindLookup:
		v, _ = h.db.TopicVersion(k.topic) // 0 when missing: the 404 answer
	case kindChannels:
		v = h.db.ChannelsVersion(k.topic)
	case kindTopics:
		v = h.db.TopicsVersion()
	case kindNodes:
		v = dbv
	}
	if a := h.answers.confirm(k, v, dbv, now); a != nil {
		return a, nil
	}
	a, err := h.compute(k, dbv, now)
	if err != nil {
		return nil, err
	}
	return h.answers.put(k, a), nil
}

// topicNotFound is the body of /lookup's 404, as writeError writes it.
var topicNotFound = rawJSON(`{"message":"` + errTopicNotFound.Code + `"}`)

// compute builds k's answer from the registry.
func (h *Handler) compute(k key, dbv uint64, now time.Time) (*answer, error) {
	var (
		out     any
		version uint64
		valid   = never
	)
	switch k.kind {
	case kindLookup:
		res, ok := h.db.Lookup(k.topic)
		if !ok {
			return newAnswer(http.StatusNotFound, topicNotFound, 0, never, dbv, now), nil
		}
		o := struct {
			Channels  []string            `json:"channels"`
			Producers []wire.ProducerInfo `json:"producers"`
		}{Channels: res.Channels, Producers: make([]wire.ProducerInfo, len(res.Producers))}
		for i, p := range res.Producers {
			o.Producers[i] = p.ProducerInfo
		}
		out, version, valid = o, res.Version, res.ValidUntil
	case kindChannels:
		channels, v := h.db.Channels(k.topic)
		out, version = struct {
			Channels []string `json:"channels"`
		}{channels}, v
	case kindTopics:
		topics, v := h.db.Topics()
		out, version = struct {
			Topics []string `json:"topics"`
		}{topics}, v
	case kindNodes:
		res := h.db.Nodes()
		o := struct {
			Producers []nodeJSON `json:"producers"`
		}{Producers: make([]nodeJSON, len(res.Nodes))}
		for i, n := range res.Nodes {
			o.Producers[i] = nodeJSON{ProducerInfo: n.ProducerInfo, Tombstones: n.Tombstones, Topics: n.Topics}
		}
		out, version, valid = o, res.Version, res.ValidUntil
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	return newAnswer(http.StatusOK, body, version, valid, dbv, now), nil
}

// nodeJSON is a producer as /nodes lists it: the IDENTIFY fields (in
// wire.ProducerInfo's order, which is nsqlookupd's), then its topics.
type nodeJSON struct {
	wire.ProducerInfo
	Tombstones []bool   `json:"tombstones"`
	Topics     []string `json:"topics"`
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

func (h *Handler) handleCreateTopic(req *http.Request, q url.Values) (any, error) {
	topic, ok := get(q, "topic")
	if !ok {
		return nil, errMissingTopic
	}
	if !wire.IsValidTopicName(topic) {
		return nil, errInvalidTopic
	}
	added, err := h.db.CreateTopic(topic)
	if err != nil {
		return nil, h.createRefused(req, err, topic, "")
	}
	if added {
		h.log.Info("topic created", "topic", topic)
	}
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

func (h *Handler) handleCreateChannel(req *http.Request, q url.Values) (any, error) {
	topic, channel, err := topicChannelArgs(q)
	if err != nil {
		return nil, err
	}
	added, err := h.db.CreateChannel(topic, channel)
	if err != nil {
		return nil, h.createRefused(req, err, topic, channel)
	}
	if added {
		h.log.Info("channel created", "topic", topic, "channel", channel)
	}
	return nil, nil
}

// createRefused counts and logs (at most once a second) a create that a
// registry cap refused, and returns the API error for it.
func (h *Handler) createRefused(req *http.Request, err error, topic, channel string) error {
	var ae *Error
	var flag string
	switch {
	case errors.Is(err, registry.ErrTooManyTopics):
		ae, flag = errTooManyTopics, "--max-topics"
		h.stats.topicsCapped.Add(1)
	case errors.Is(err, registry.ErrTooManyChannels):
		ae, flag = errTooManyChannels, "--max-channels-per-topic"
		h.stats.channelsCapped.Add(1)
	default:
		return err
	}
	if ok, n := h.logCapped.Allow(time.Now()); ok {
		h.log.Warn("create refused: limit reached", "limit", flag, "topic", topic, "channel", channel,
			"remote_addr", req.RemoteAddr, "suppressed", n)
	}
	return ae
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
