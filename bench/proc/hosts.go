package proc

import "net"

// HostAddr returns the source address of simulated host i (i >= 0) in a
// load test: 127.1.0.1 plus i, inside 127.0.0.0/8, which Linux routes to
// the loopback interface whole. Dialing from it makes each simulated
// producer its own host to lookupd's per-address limits
// (--max-tcp-clients-per-ip), as real producers are. Distinct i up to
// 16,711,000 give distinct addresses.
func HostAddr(i int) *net.TCPAddr {
	n := uint32(1<<16+1) + uint32(i) // 127.1.0.1 + i
	return &net.TCPAddr{IP: net.IPv4(127, byte(n>>16), byte(n>>8), byte(n))}
}
