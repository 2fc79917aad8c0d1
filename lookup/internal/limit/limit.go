package limit

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Source returns the key that per-source limits count a remote address
// under: the IPv4 address itself, or the /64 prefix of an IPv6 address
// (one host usually owns a whole /64, so counting single IPv6 addresses
// would let it take any number of slots). IPv4-mapped IPv6 addresses count
// as IPv4. An address that is not IP (a pipe, a Unix socket) yields the
// zero Prefix, which is one shared source.
func Source(a net.Addr) netip.Prefix { return SourceOf(Addr(a)) }

// Addr returns the IP address of a remote address, unmapped (an
// IPv4-mapped IPv6 address is returned as IPv4) and without zone, for
// matching it against networks; the zero Addr if a is not IP.
func Addr(a net.Addr) netip.Addr {
	switch x := a.(type) {
	case *net.TCPAddr:
		return x.AddrPort().Addr().Unmap().WithZone("")
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap().WithZone("")
}

// SourceString is Source for an address written as host:port, such as
// http.Request.RemoteAddr.
func SourceString(hostport string) netip.Prefix {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return netip.Prefix{}
	}
	return SourceOf(ap.Addr())
}

// SourceOf returns the key of one IP address (see Source).
func SourceOf(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, _ := ip.Prefix(bits)
	return p
}

// PerSource counts holders per source and refuses one past Max. The zero
// value has no cap. It is not safe for concurrent use: the owner guards it
// with its own lock, so that the count and the state it belongs with
// change together.
type PerSource struct {
	// Max is the most holders one source may have; 0 means no cap.
	Max int
	n   map[netip.Prefix]int
}

// Acquire adds a holder for src and reports true, or reports false (and
// adds nothing) if src already has Max.
func (p *PerSource) Acquire(src netip.Prefix) bool {
	if p.n == nil {
		p.n = make(map[netip.Prefix]int)
	}
	if p.Max > 0 && p.n[src] >= p.Max {
		return false
	}
	p.n[src]++
	return true
}

// Release removes a holder of src added by Acquire.
func (p *PerSource) Release(src netip.Prefix) {
	if c := p.n[src]; c > 1 {
		p.n[src] = c - 1
	} else {
		delete(p.n, src)
	}
}

// Count returns the holders of src.
func (p *PerSource) Count(src netip.Prefix) int { return p.n[src] }

// Every lets one event through per interval and counts the others, for
// log lines that an attacker could otherwise repeat at will. It is safe
// for concurrent use; the zero value lets every event through.
type Every struct {
	// Interval is the least time between two events let through.
	Interval time.Duration

	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// Allow reports whether the event at now may be logged and, if so, how
// many were held back since the last one that was.
func (e *Every) Allow(now time.Time) (ok bool, suppressed int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if now.Before(e.next) {
		e.suppressed++
		return false, 0
	}
	e.next = now.Add(e.Interval)
	n := e.suppressed
	e.suppressed = 0
	return true, n
}
