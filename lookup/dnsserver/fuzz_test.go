package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// FuzzRespond feeds arbitrary packets to the query path. It must never
// panic; it may answer only well-formed queries, with a well-formed
// answer carrying the query's id, and over UDP never beyond the size the
// query allows: its own size without EDNS0 (no amplification), its EDNS0
// size (512..MaxUDPSize) with it.
func FuzzRespond(f *testing.F) {
	producers := []Producer{
		{BroadcastAddress: "127.0.0.1", TCPPort: 4150},
		{BroadcastAddress: "::1", TCPPort: 4150},
		{BroadcastAddress: "nsqd.example.com", TCPPort: 4150},
		{BroadcastAddress: "bad host", TCPPort: 4150},
	}
	var big []Producer
	for i := range 300 {
		big = append(big, Producer{BroadcastAddress: fmt.Sprintf("10.0.%d.%d", i/250, i%250), TCPPort: 4150 + i})
	}
	src := SourceFunc(func(_ context.Context, topic string) (Answer, error) {
		switch topic {
		case "orders", "events#ephemeral":
			return Answer{Producers: producers, ValidUntil: time.Now().Add(2 * time.Second)}, nil
		case "big":
			return Answer{Producers: big}, nil
		case "fail":
			return Answer{}, errors.New("source down")
		}
		return Answer{}, ErrTopicNotFound
	})
	s, err := New(src, Options{
		Address: "127.0.0.1:0",
		TTL:     5 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)

	for _, q := range []struct {
		name  string
		qtype uint16
		edns  uint16
	}{
		{"_orders._tcp.lookupd.", dns.TypeSRV, 0},
		{"_orders._tcp.lookupd.", dns.TypeSRV, 1232},
		{"_big._tcp.lookupd.", dns.TypeSRV, 4096},
		{"_events._tcp.ephemeral.lookupd.", dns.TypeSRV, 1232},
		{"orders.lookupd.", dns.TypeA, 1232},
		{"orders.lookupd.", dns.TypeANY, 0},
		{"127-0-0-1.ip.lookupd.", dns.TypeA, 512},
		{"_fail._tcp.lookupd.", dns.TypeSRV, 1232},
		{"lookupd.", dns.TypeSOA, 0},
		{"example.com.", dns.TypeA, 0},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns > 0 {
			m.SetEdns0(q.edns, false)
		}
		raw, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, false)
		f.Add(raw, true)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}, false) // self-pointing name

	f.Fuzz(func(t *testing.T, raw []byte, tcp bool) {
		out := s.respond(context.Background(), raw, tcp)
		if out == nil {
			return
		}
		req := new(dns.Msg)
		if err := req.Unpack(raw); err != nil {
			t.Fatalf("answered a packet that does not parse: %v", err)
		}
		resp := new(dns.Msg)
		if err := resp.Unpack(out); err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if resp.Id != req.Id || !resp.Response {
			t.Fatalf("answer id %d response %v to query %d", resp.Id, resp.Response, req.Id)
		}
		limit := maxTCPMessage
		if !tcp {
			limit = len(raw)
			if opt := req.IsEdns0(); opt != nil {
				limit = min(max(int(opt.UDPSize()), dns.MinMsgSize), s.opts.MaxUDPSize)
			}
		}
		if len(out) > limit {
			t.Fatalf("%d-byte answer over the %d-byte limit (tcp %v)", len(out), limit, tcp)
		}
	})
}

// BenchmarkRespond_SRV4 is one UDP SRV query with EDNS0 for a topic of
// four producers (host names, as nsqd broadcasts by default) through the
// whole query path: parse, source, records, pack.
func BenchmarkRespond_SRV4(b *testing.B) {
	ps := []Producer{
		{BroadcastAddress: "nsqd-1.example.com", TCPPort: 4150},
		{BroadcastAddress: "nsqd-2.example.com", TCPPort: 4150},
		{BroadcastAddress: "nsqd-3.example.com", TCPPort: 4150},
		{BroadcastAddress: "nsqd-4.example.com", TCPPort: 4150},
	}
	src := SourceFunc(func(context.Context, string) (Answer, error) { return Answer{Producers: ps}, nil })
	s, err := New(src, Options{Address: "127.0.0.1:0", TTL: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	m := new(dns.Msg)
	m.SetQuestion("_orders._tcp.lookupd.", dns.TypeSRV)
	m.SetEdns0(1232, false)
	q, err := m.Pack()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if s.respond(context.Background(), q, false) == nil {
			b.Fatal("no answer")
		}
	}
}
