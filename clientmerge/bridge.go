package clientmerge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nsqio/go-nsq"
)

// NSQDConnector is the part of a go-nsq *nsq.Consumer that Bridge drives.
// *nsq.Consumer (go-nsq v1.1.0) implements it; Bridge relies on its
// semantics: ConnectToNSQD returns nsq.ErrAlreadyConnected for an address
// already connected or connecting, and DisconnectFromNSQD returns
// nsq.ErrNotConnected for an address it was never asked to connect to.
type NSQDConnector interface {
	ConnectToNSQD(addr string) error
	DisconnectFromNSQD(addr string) error
}

var _ NSQDConnector = (*nsq.Consumer)(nil)

// Bridge keeps consumer connected to exactly the merged producers of topic,
// as c sees them: it polls c.Lookup every interval (the loop behind Watch)
// and calls ConnectToNSQD("broadcast_address:tcp_port") for each producer
// it is not yet connected to and DisconnectFromNSQD for each address that
// has left the merged set. topic must be the topic consumer was created
// for, and consumer must have its handlers added, as go-nsq requires
// before connecting. Do not also call ConnectToNSQLookupd on consumer.
//
// How go-nsq v1.1.0 behaves with these direct connections, and what Bridge
// does about it:
//   - a direct connection that drops is redialled by go-nsq itself, every
//     LookupdPollInterval of the consumer's config, for as long as the
//     address is in its list; DisconnectFromNSQD removes it from the list,
//     which ends those retries, so Bridge disconnects every address that
//     leaves the merged set, including ones whose connection already
//     dropped or never succeeded;
//   - a ConnectToNSQD that fails is not retried by go-nsq; Bridge retries
//     it on every poll while the producer is still listed;
//   - DisconnectFromNSQD closes the connection gracefully: messages in
//     flight are finished first, so the connection count drops once they
//     are;
//   - ConnectToNSQD blocks for the dial and handshake (bounded by the
//     consumer's DialTimeout and ReadTimeout), during which Bridge cannot
//     observe ctx.
//
// Results with data drive the consumer, including partial ones (the union
// of the lookupds that answered) and stale ones (the last known set, so
// lookupds being down never disconnects anything). A poll with no data
// changes nothing.
//
// Bridge blocks until ctx ends, returning ctx.Err(), or until consumer, if
// it is an *nsq.Consumer, stops, returning nil. It leaves the consumer's
// connections as they are when it returns; stop the consumer to close
// them. No goroutine it started outlives it. It returns an error at once
// for a nil client or consumer and for Watch's argument errors.
func Bridge(ctx context.Context, c *Client, consumer NSQDConnector, topic string, interval time.Duration) error {
	if c == nil {
		return errors.New("bridge: nil client")
	}
	if consumer == nil {
		return errors.New("bridge: nil consumer")
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	stopped := make(chan struct{})
	if nc, ok := consumer.(*nsq.Consumer); ok {
		wg.Go(func() {
			select {
			case <-nc.StopChan:
				close(stopped)
				cancel()
			case <-ctx.Done():
			}
		})
	}
	b := &bridge{
		consumer: consumer,
		log:      c.logger.With("topic", topic),
		conns:    make(map[string]bool),
	}
	err := c.poll(ctx, topic, interval, b.reconcile)
	select {
	case <-stopped:
		return nil
	default:
		return err
	}
}

// bridge is Bridge's state, owned by its polling goroutine.
type bridge struct {
	consumer NSQDConnector
	log      *slog.Logger
	// conns maps every address Bridge has asked the consumer to connect to,
	// and not yet disconnected, to whether the last attempt succeeded.
	conns map[string]bool
}

// reconcile connects to the producers of res that are not connected and
// disconnects the addresses that are no longer listed.
func (b *bridge) reconcile(res *LookupResult) {
	want := make(map[string]struct{}, len(res.Producers))
	for i := range res.Producers {
		addr := res.Producers[i].TCPAddr()
		want[addr] = struct{}{}
		connected, tried := b.conns[addr]
		if connected {
			continue
		}
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
