package dnsaddr

import (
	"errors"
	"net"
)

// Failures remembers which names are failing to resolve, and how, so that
// a name failing at every refresh is logged once: when it starts failing,
// when it fails in another way (no such name, a timeout, another error),
// and when it resolves again. The zero value is ready to use; it is not
// safe for concurrent use.
type Failures struct {
	kinds map[string]string // name -> how it fails
}

// Note records e's outcome and reports whether to log it as a failure
// (it started failing, or fails differently) or as a recovery.
func (f *Failures) Note(e Expansion) (failed, recovered bool) {
	prev, was := f.kinds[e.Given]
	if e.Err == nil {
		if was {
			delete(f.kinds, e.Given)
		}
		return false, was
	}
	kind := failureKind(e.Err)
	if was && prev == kind {
		return false, false
	}
	if f.kinds == nil {
		f.kinds = map[string]string{}
	}
	f.kinds[e.Given] = kind
	return true, false
}

// failureKind names how a resolution failed without the details that
// change from one attempt to the next (a DNS error's text carries the
// resolver socket's source port).
func failureKind(err error) string {
	var de *net.DNSError
	if !errors.As(err, &de) {
		return err.Error()
	}
	switch {
	case de.IsNotFound:
		return "not found: " + de.Name
	case de.IsTimeout:
		return "timeout: " + de.Name + " at " + de.Server
	default:
		return "failed: " + de.Name + " at " + de.Server
	}
}
