package dnsaddr

import (
	"errors"
	"net"
	"testing"
)

// A name failing at every refresh is reported once, although each DNS
// error's text carries another source port; a different kind of failure
// and the recovery are reported again.
func TestFailures_Note(t *testing.T) {
	refused := func(port string) error {
		return &net.DNSError{Err: "read udp 127.0.0.1:" + port + "->127.0.0.1:53: read: connection refused", Name: "_lk._tcp.lookupd.", Server: "127.0.0.1:53"}
	}
	notFound := &net.DNSError{Err: "no such host", Name: "_lk._tcp.lookupd.", Server: "127.0.0.1:53", IsNotFound: true}
	const name = "srv+_lk._tcp.lookupd."
	steps := []struct {
		err               error
		failed, recovered bool
	}{
		{nil, false, false},
		{refused("49397"), true, false},
		{refused("50211"), false, false},
		{refused("38110"), false, false},
		{notFound, true, false},
		{notFound, false, false},
		{errors.New("srv+: empty name"), true, false},
		{nil, false, true},
		{nil, false, false},
		{refused("41000"), true, false},
	}
	var f Failures
	for i, s := range steps {
		failed, recovered := f.Note(Expansion{Given: name, Err: s.err})
		if failed != s.failed || recovered != s.recovered {
			t.Errorf("step %d (%v): failed %v, recovered %v; want %v, %v", i, s.err, failed, recovered, s.failed, s.recovered)
		}
	}
	// Names are followed separately.
	if failed, _ := f.Note(Expansion{Given: "other.example", Err: refused("1")}); !failed {
		t.Error("a second name's first failure was not reported")
	}
}
