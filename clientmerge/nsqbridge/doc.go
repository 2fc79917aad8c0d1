// Package nsqbridge keeps a go-nsq consumer connected to exactly the
// producers that clientmerge sees for its topic, merged from every
// lookupd, instead of go-nsq's ConnectToNSQLookupds (which asks one
// lookupd per poll).
//
// It is a package of its own so that a program that only does lookups
// with clientmerge does not depend on go-nsq. It owns no lookupd I/O: it
// watches through clientmerge.Watch and drives the consumer.
//
//	c, err := clientmerge.New(lookupdHTTPAddrs)
//	if err != nil {
//		return err
//	}
//	consumer, err := nsq.NewConsumer("orders", "billing", nsq.NewConfig())
//	if err != nil {
//		return err
//	}
//	consumer.AddHandler(handler)
//	var wg sync.WaitGroup
//	wg.Go(func() {
//		// Returns when ctx ends or the consumer stops.
//		err := nsqbridge.Run(ctx, c, consumer, "orders", 15*time.Second)
//		log.Info("bridge stopped", "err", err)
//	})
//	// ... on shutdown:
//	consumer.Stop()
//	<-consumer.StopChan
//	wg.Wait()
package nsqbridge
