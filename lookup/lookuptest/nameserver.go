package lookuptest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/lookupd/lookupd/lookup/dnsserver"
)

// NameZone is the zone a NameServer answers for.
const NameZone = "test."

// NameServer is a real DNS server (lookup/dnsserver) on 127.0.0.1 whose
// names a test sets, for resolving lookupd addresses without any real DNS:
// after Set("lookupds", "127.0.0.1:4160", "127.0.0.2:4161"), the name
// lookupds.test. has the A records 127.0.0.1 and 127.0.0.2, and
// _lookupds._tcp.test. the SRV records 127-0-0-1.ip.test.:4160 and
// 127-0-0-2.ip.test.:4161 (which resolve on the same server). Its methods
// are safe for concurrent use.
type NameServer struct {
	// Resolver is Go's resolver pointed at this server only.
	*Resolver
	addr string

	mu    sync.Mutex
	names map[string]nameRecord
}

type nameRecord struct {
	producers []dnsserver.Producer
	err       error
}

// StartNameServer runs a NameServer until the test ends.
func StartNameServer(t testing.TB) *NameServer {
	t.Helper()
	n := &NameServer{names: map[string]nameRecord{}}
	src := dnsserver.SourceFunc(func(_ context.Context, name string) (dnsserver.Answer, error) {
		n.mu.Lock()
		defer n.mu.Unlock()
		rec, ok := n.names[name]
		switch {
		case !ok:
			return dnsserver.Answer{}, dnsserver.ErrTopicNotFound
		case rec.err != nil:
			return dnsserver.Answer{}, rec.err
		}
		return dnsserver.Answer{Producers: rec.producers}, nil
	})
	srv := StartDNS(t, src, dnsserver.Options{
		Address: "127.0.0.1:0",
		Zone:    NameZone,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	n.addr = srv.Addr().String()
	n.Resolver = NewResolver(n.addr)
	return n
}

// Addr returns the server's "127.0.0.1:port" (UDP and TCP).
func (n *NameServer) Addr() string { return n.addr }

// Set makes name (a label such as "lookupds") stand for addrs, each
// "ip:port"; with none, the name exists without records. It fails the test
// on a malformed address; call it from the test goroutine.
func (n *NameServer) Set(t testing.TB, name string, addrs ...string) {
	t.Helper()
	rec := nameRecord{}
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			t.Fatalf("name server: address %q", a)
		}
		rec.producers = append(rec.producers, dnsserver.Producer{BroadcastAddress: host, TCPPort: p})
	}
	n.mu.Lock()
	n.names[name] = rec
	n.mu.Unlock()
}

// Fail makes every query for name fail (SERVFAIL) until the next Set.
func (n *NameServer) Fail(name string) {
	n.mu.Lock()
	n.names[name] = nameRecord{err: errors.New("failing on purpose")}
	n.mu.Unlock()
}

// Delete removes name (NXDOMAIN).
func (n *NameServer) Delete(name string) {
	n.mu.Lock()
	delete(n.names, name)
	n.mu.Unlock()
}
