package lookup

import (
	"context"

	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/registry"
)

// registrySource answers DNS queries from the registry: the producers
// /lookup lists, valid until the registry says the answer could change by
// itself.
type registrySource struct{ db *registry.DB }

var _ dnsserver.Source = registrySource{}

// Producers implements dnsserver.Source. It does not block.
func (r registrySource) Producers(_ context.Context, topic string) (dnsserver.Answer, error) {
	res, ok := r.db.Lookup(topic)
	if !ok {
		return dnsserver.Answer{}, dnsserver.ErrTopicNotFound
	}
	ans := dnsserver.Answer{Producers: make([]dnsserver.Producer, len(res.Producers)), ValidUntil: res.ValidUntil}
	for i, p := range res.Producers {
		ans.Producers[i] = dnsserver.Producer{BroadcastAddress: p.BroadcastAddress, TCPPort: p.TCPPort}
	}
	return ans, nil
}
