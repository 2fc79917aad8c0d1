package interop

import (
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nsqio/go-nsq"

	"github.com/lookupd/lookupd/clientmerge"
	"github.com/lookupd/lookupd/lookup/dnsserver"
	"github.com/lookupd/lookupd/lookup/lookuptest"
	"github.com/lookupd/lookupd/lookup/lookuptest/nsqref"
	"github.com/lookupd/lookupd/lookup/mergeddns"
)

// TestDNS_NSQDFoundThroughMergedDNS: a real nsqd registers with two
// lookupds; the merged DNS server (lookupctl dns) answers over both; a
// go-nsq Producer and a go-nsq Consumer that know nothing but that DNS
// server find nsqd with LookupSRV (and the target's address on the same
// server), and a message goes from one to the other through it.
func TestDNS_NSQDFoundThroughMergedDNS(t *testing.T) {
	forEachKind(t, func(t *testing.T, k kind) {
		ls := k.startN(t, 2)
		d := startNSQD(t, ls...)
		d.createTopic("orders")

		log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
		mc, err := clientmerge.New([]string{ls[0].http, ls[1].http}, clientmerge.WithTimeout(2*time.Second), clientmerge.WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(mc.CloseIdleConnections)
		srv := lookuptest.StartDNS(t, mergeddns.Source(mc), dnsserver.Options{Address: "127.0.0.1:0"})
		res := lookuptest.NewResolver(srv.Addr().String())

		// nsqd registers asynchronously: ask until the name has a record.
		var found []*net.SRV
		if _, err := lookuptest.Poll(waitTimeout, func() error {
			_, recs, err := res.LookupSRV(t.Context(), "", "", "_orders._tcp.lookupd.")
			found = recs
			return err
		}); err != nil || len(found) != 1 {
			t.Fatalf("LookupSRV: %v, %v", found, err)
		}
		ips, err := res.LookupHost(t.Context(), found[0].Target)
		if err != nil || len(ips) != 1 {
			t.Fatalf("resolve target %s: %v, %v", found[0].Target, ips, err)
		}
		addr := net.JoinHostPort(ips[0], strconv.Itoa(int(found[0].Port)))
		if addr != d.tcpAddr() {
			t.Fatalf("DNS gave %s, nsqd is at %s", addr, d.tcpAddr())
		}

		p, err := nsq.NewProducer(addr, nsq.NewConfig())
		if err != nil {
			t.Fatal(err)
		}
		p.SetLogger(nsqref.TestLogger(t, "[go-nsq] "), nsq.LogLevelWarning)
		defer p.Stop()
		if err := p.Publish("orders", []byte("found by name")); err != nil {
			t.Fatalf("publish through the address DNS gave: %v", err)
		}

		c, err := nsq.NewConsumer("orders", "billing", nsq.NewConfig())
		if err != nil {
			t.Fatal(err)
		}
		c.SetLogger(nsqref.TestLogger(t, "[go-nsq] "), nsq.LogLevelWarning)
		msgs := make(chan string, 1)
		c.AddHandler(nsq.HandlerFunc(func(m *nsq.Message) error {
			select {
			case msgs <- string(m.Body):
			default:
			}
			return nil
		}))
		if err := c.ConnectToNSQD(addr); err != nil {
			t.Fatalf("consumer connect to %s: %v", addr, err)
		}
		defer func() {
			c.Stop()
			<-c.StopChan
		}()
		select {
		case got := <-msgs:
			if got != "found by name" {
				t.Errorf("consumer got %q", got)
			}
		case <-time.After(waitTimeout):
			t.Fatal("no message within the wait")
		}
	})
}
