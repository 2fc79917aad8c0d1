package nsqbridge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/clientmerge"
)

// Consumer is the part of a go-nsq *nsq.Consumer that Run drives.
// *nsq.Consumer (go-nsq v1.1.0) implements it; Run relies on its
// semantics: ConnectToNSQD returns nsq.ErrAlreadyConnected for an address
// already connected or connecting, and DisconnectFromNSQD returns
// nsq.ErrNotConnected for an address it was never asked to connect to.
type Consumer interface {
	ConnectToNSQD(addr string) error
	DisconnectFromNSQD(addr string) error
}

var _ Consumer = (*nsq.Consumer)(nil)

// Run keeps consumer connected to exactly the merged producers of topic,
// as c sees them: it watches clientmerge.LookupQuery(topic) with
// clientmerge.Watch (blocking queries on lookupds that support them, so a
// producer joining or leaving is acted on within a round trip; polls every
// interval on those that do not), calls
// ConnectToNSQD("broadcast_address:tcp_port") for each producer it is not
// yet connected to, and DisconnectFromNSQD for each address that has left
// the merged set. topic must be the topic consumer was created for, and
// consumer must have its handlers added, as go-nsq requires before
// connecting. Do not also call ConnectToNSQLookupd on consumer.
//
// How go-nsq v1.1.0 behaves with these direct connections, and what Run
// does about it:
//   - a direct connection that drops is redialled by go-nsq itself, every
//     LookupdPollInterval of the consumer's config, for as long as the
//     address is in its list; DisconnectFromNSQD removes it from the list,
//     which ends those retries, so Run disconnects every address that
//     leaves the merged set, including ones whose connection already
//     dropped or never succeeded;
//   - a ConnectToNSQD that fails is not retried by go-nsq; Run retries it
//     every interval while the producer is still listed;
//   - DisconnectFromNSQD closes the connection gracefully: messages in
//     flight are finished first, so the connection count drops once they
//     are;
//   - ConnectToNSQD blocks for the dial and handshake (bounded by the
//     consumer's DialTimeout and ReadTimeout), during which Run cannot
//     observe ctx.
//
// Answers with data drive the consumer, including partial ones (the union
// of the lookupds that answered) and stale ones (the last known set, so
// lookupds being down never disconnects anything). A poll with no data
// changes nothing. Run logs through c.Logger().
//
// Run blocks until ctx ends, returning ctx.Err(), or until consumer, if
// it is an *nsq.Consumer, stops, returning nil. It leaves the consumer's
// connections as they are when it returns; stop the consumer to close
// them. No goroutine it started outlives it. It returns an error at once
// for a nil client or consumer and for clientmerge.Watch's argument
// errors (an empty topic gives clientmerge.ErrEmptyTopic).
func Run(ctx context.Context, c *clientmerge.Client, consumer Consumer, topic string, interval time.Duration) error {
	switch {
	case c == nil:
		return errors.New("nsqbridge: nil client")
	case consumer == nil:
		return errors.New("nsqbridge: nil consumer")
	case interval <= 0:
		return errors.New("nsqbridge: interval must be positive")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	// The watch delivers each changed producer set; only the newest one
	// waiting matters.
	latest := make(chan *clientmerge.LookupResult, 1)
	watched := make(chan error, 1)
	wg.Go(func() {
		watched <- clientmerge.Watch(ctx, c, clientmerge.LookupQuery(topic), interval, func(r *clientmerge.LookupResult) {
			select {
			case <-latest:
			default:
			}
			latest <- r
		})
	})
	var stopped <-chan int
	if nc, ok := consumer.(*nsq.Consumer); ok {
		stopped = nc.StopChan
	}
	retry := time.NewTicker(interval)
	defer retry.Stop()
	b := &bridge{
		consumer: consumer,
		log:      c.Logger().With("topic", topic),
		conns:    make(map[string]bool),
	}
	for {
		select {
		case <-stopped:
			return nil
		case err := <-watched:
			return err
		case r := <-latest:
			b.reconcile(r)
		case <-retry.C:
			b.retry()
		}
	}
}

// bridge is Run's state, owned by Run's goroutine.
type bridge struct {
	consumer Consumer
	log      *slog.Logger
	// conns maps every address Run has asked the consumer to connect to,
	// and not yet disconnected, to whether the last attempt succeeded.
	conns map[string]bool
}

// reconcile connects to the producers of res that are not connected and
// disconnects the addresses that are no longer listed.
func (b *bridge) reconcile(res *clientmerge.LookupResult) {
	want := make(map[string]struct{}, len(res.Producers))
	for i := range res.Producers {
		addr := res.Producers[i].TCPAddr()
		want[addr] = struct{}{}
		if !b.conns[addr] {
			b.connect(addr)
		}
	}
	var gone []string
	for addr := range b.conns {
		if _, ok := want[addr]; !ok {
			gone = append(gone, addr)
		}
	}
	slices.Sort(gone)
	for _, addr := range gone {
		delete(b.conns, addr)
		err := b.consumer.DisconnectFromNSQD(addr)
		if err != nil && !errors.Is(err, nsq.ErrNotConnected) {
			b.log.Warn("nsqd disconnect failed", "producer", addr, "err", err)
			continue
		}
		b.log.Info("nsqd disconnected", "producer", addr)
	}
}

// retry connects again to every listed producer whose last attempt
// failed, in address order.
func (b *bridge) retry() {
	var failed []string
	for addr, ok := range b.conns {
		if !ok {
			failed = append(failed, addr)
		}
	}
	slices.Sort(failed)
	for _, addr := range failed {
		b.connect(addr)
	}
}

// connect asks the consumer to connect to addr and records the outcome.
func (b *bridge) connect(addr string) {
	_, tried := b.conns[addr]
	err := b.consumer.ConnectToNSQD(addr)
	switch {
	case err == nil:
		b.conns[addr] = true
		b.log.Info("nsqd connected", "producer", addr)
	case errors.Is(err, nsq.ErrAlreadyConnected):
		b.conns[addr] = true
	default:
		if !tried {
			b.log.Warn("nsqd connect failed", "producer", addr, "err", err)
		} else {
			b.log.Debug("nsqd connect failed again", "producer", addr, "err", err)
		}
		b.conns[addr] = false
	}
}
