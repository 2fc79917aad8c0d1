package clientmerge_test

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/lookupd/lookupd/lookup"
	"github.com/lookupd/lookupd/lookup/wire"
)

// exampleLookupd is one of our lookupds running in-process on
// 127.0.0.1:0, so that the examples print what real lookupds answer.
// Examples have no *testing.T, so lookup/lookuptest cannot start it; setup
// failures panic, which fails the example.
type exampleLookupd struct {
	srv       *lookup.Server
	cancel    context.CancelFunc
	done      chan error
	producers []net.Conn
}

// startLookupd starts a lookupd; Stop it when done.
func startLookupd() *exampleLookupd {
	opts := lookup.NewOptions()
	opts.TCPAddress = "127.0.0.1:0"
	opts.HTTPAddress = "127.0.0.1:0"
	opts.BroadcastAddress = "127.0.0.1"
	opts.Logger = slog.New(slog.DiscardHandler)
	srv, err := lookup.New(opts)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &exampleLookupd{srv: srv, cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- srv.Run(ctx) }()
	return l
}

// HTTPAddr is the address to give clientmerge.New.
func (l *exampleLookupd) HTTPAddr() string { return l.srv.HTTPAddr().String() }

// announce registers topic for a producer with broadcast address
// 127.0.0.1 and the given TCP port, as nsqd would, and returns once the
// lookupd has confirmed it. The producer stays until Stop.
func (l *exampleLookupd) announce(tcpPort int, topic string) {
	c, err := net.DialTimeout("tcp", l.srv.TCPAddr().String(), 5*time.Second)
	if err != nil {
		panic(err)
	}
	l.producers = append(l.producers, c)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	identify, err := wire.EncodeIdentify(wire.ProducerInfo{
		BroadcastAddress: "127.0.0.1", Hostname: "example", TCPPort: tcpPort, HTTPPort: tcpPort + 1, Version: "1.3.0",
	})
	if err != nil {
		panic(err)
	}
	r := bufio.NewReader(c)
	for _, cmd := range [][]byte{[]byte(wire.MagicV1), identify, wire.EncodeRegister(topic, "")} {
		if _, err := c.Write(cmd); err != nil {
			panic(err)
		}
		if string(cmd) == wire.MagicV1 {
			continue // no reply to the magic
		}
		resp, err := wire.ReadResponse(r, 1<<20)
		if err != nil || wire.IsErrorResponse(resp) {
			panic(fmt.Sprintf("%q: %q, %v", cmd, resp, err))
		}
	}
}

// Stop disconnects its producers, shuts the lookupd down and waits for it.
// Calling it again does nothing.
func (l *exampleLookupd) Stop() {
	for _, c := range l.producers {
		c.Close()
	}
	l.producers = nil
	l.cancel()
	if err, ok := <-l.done; ok {
		close(l.done)
		if err != nil {
			panic(err)
		}
	}
}
