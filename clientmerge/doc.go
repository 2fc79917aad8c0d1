// Package clientmerge is the consumer side of lookupd: it asks every
// lookupd (anything speaking the nsqlookupd v1.3.0 HTTP API, ours or
// nsqlookupd itself) at once and merges their answers into one eventually
// consistent view.
//
// Lookupds never talk to each other; every producer registers with each of
// them. A consumer that unions all their answers sees a producer as soon as
// any one lookupd does, and keeps seeing it while any one lookupd still
// lists it. clientmerge does that union:
//
//   - Lookup, Topics, Channels and Nodes fan out to all lookupds in
//     parallel (bounded by WithMaxConcurrency), each call under one
//     deadline (WithTimeout) shared by all its requests, so a call takes
//     about the slowest answer or the timeout, never the sum.
//   - Producers and nodes are deduplicated by broadcast_address:tcp_port
//     with a map, in time linear in the size of the answers, and sorted, so
//     equal inputs give equal outputs. Each carries SeenBy and Lookupds, so
//     a caller sees where lookupds disagree. Topics and channels are sorted
//     unions.
//   - Every result records, per lookupd, its address, its error (nil when
//     it answered) and its latency. The result describes the data (Stale,
//     Age, Answered); the error describes the failures.
//   - Success means at least WithMinResponses (default 1) lookupds
//     answered; a 404 TOPIC_NOT_FOUND is an answer (an empty one). When
//     some lookupds fail, or the caller's context ends before they answer,
//     the union of the others comes with a *PartialError. When too few
//     answer, the last successful answer of the same query (the snapshot)
//     is served marked Stale with a *StaleError, or, without a snapshot,
//     nil and an *UnavailableError. Use errors.As to tell them apart, and
//     check *StaleError before *UnavailableError, which it wraps. An empty
//     topic is ErrEmptyTopic.
//   - Watch follows a Query (LookupQuery, TopicsQuery, ChannelsQuery,
//     NodesQuery) and calls back when the merged answer changes. It keeps
//     one loop per lookupd: blocking queries (?index=&wait=) on lookupds
//     that support them, so a change seen by any lookupd arrives within a
//     round trip, and polling at the interval on those that do not
//     (nsqlookupd). Package nsqbridge uses it to keep a go-nsq Consumer
//     connected to exactly the merged producers; it is separate so that
//     clientmerge itself does not depend on go-nsq.
//
// # Addresses from DNS
//
// An address given to New may be a DNS name standing for several
// lookupds: "lookupd.example:4161" (one lookupd per address of the name,
// port 4161), an http base URL with a name, or "srv+_lookupd-http._tcp.example."
// (the SRV records, ports included). Names are expanded by package
// clientmerge/dnsaddr, which the producer side shares, and resolved again
// every WithDNSRefresh (30 s) at the first call after it: lookupds that
// appear join the fan-out, those that go are dropped, and a failed
// resolution keeps the last good lookupds. Each lookupd a name stands for
// gets its own Response; Client.Lookupds lists them.
//
// The package speaks only HTTP and JSON and imports nothing from
// github.com/lookupd/lookupd/lookup: it is an outside consumer of the
// lookupds, and its tests check our lookupd and nsqlookupd alike.
//
// # Usage
//
//	c, err := clientmerge.New(
//		[]string{"lookupd-1:4161", "lookupd-2:4161", "lookupd-3:4161"},
//		clientmerge.WithTimeout(2*time.Second),
//	)
//	if err != nil {
//		return err
//	}
//	res, err := c.Lookup(ctx, "orders")
//	var (
//		stale       *clientmerge.StaleError
//		unavailable *clientmerge.UnavailableError
//		partial     *clientmerge.PartialError
//	)
//	switch {
//	case err == nil:
//	case errors.As(err, &stale): // before UnavailableError, which it wraps
//		slog.Warn("lookupds down, using snapshot", "age", res.Age)
//	case errors.As(err, &unavailable):
//		return err // no data at all
//	case errors.As(err, &partial):
//		slog.Warn("some lookupds failed", "err", err)
//	default:
//		return err // empty topic, or ctx ended before the call
//	}
//	for _, p := range res.Producers {
//		fmt.Println(p.TCPAddr(), "seen by", p.SeenBy, "of", len(res.Responses))
//	}
//
// Following a topic until ctx ends:
//
//	err = clientmerge.Watch(ctx, c, clientmerge.LookupQuery("orders"), 15*time.Second,
//		func(res *clientmerge.LookupResult) { use(res.Producers) })
//
// Runnable versions, against real lookupds, are ExampleClient_Lookup,
// ExamplePartialError, ExampleStaleError and ExampleUnavailableError.
package clientmerge
