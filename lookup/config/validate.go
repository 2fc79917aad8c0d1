package config

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Validator collects the problems an Options.Validate finds, in the order
// it checks them, each as "--NAME: PROBLEM" so that every daemon words the
// same problem the same way. NAME is the flag name without dashes. The zero
// value is ready to use; it is not safe for concurrent use.
//
//	var v config.Validator
//	v.ListenAddress("tcp-address", o.TCPAddress)
//	v.Positive("tombstone-lifetime", o.TombstoneLifetime)
//	return v.Err()
type Validator struct {
	errs []error
}

// Err returns the problems joined, or nil.
func (v *Validator) Err() error { return errors.Join(v.errs...) }

// Check records "--name: " and the formatted message unless ok.
func (v *Validator) Check(ok bool, name, format string, args ...any) {
	if !ok {
		v.errs = append(v.errs, fmt.Errorf("--%s: %s", name, fmt.Sprintf(format, args...)))
	}
}

// Add records err, if not nil, as a problem of --name (wrapped, so
// errors.Is sees it).
func (v *Validator) Add(name string, err error) {
	if err != nil {
		v.errs = append(v.errs, fmt.Errorf("--%s: %w", name, err))
	}
}

// Positive checks d > 0.
func (v *Validator) Positive(name string, d time.Duration) {
	v.Check(d > 0, name, "must be positive, got %s", d)
}

// AtLeast checks n >= lo.
func (v *Validator) AtLeast(name string, n, lo int) {
	if lo == 0 {
		v.Check(n >= 0, name, "must not be negative, got %d", n)
		return
	}
	v.Check(n >= lo, name, "must be at least %d, got %d", lo, n)
}

// InRange checks lo <= n <= hi.
func (v *Validator) InRange(name string, n, lo, hi int) {
	v.Check(n >= lo && n <= hi, name, "must be in %d..%d, got %d", lo, hi, n)
}

// NotEmpty checks s != "".
func (v *Validator) NotEmpty(name, s string) {
	v.Check(s != "", name, "must not be empty")
}

// ListenAddress checks that addr is host:port; the host may be empty (all
// interfaces).
func (v *Validator) ListenAddress(name, addr string) {
	_, _, err := net.SplitHostPort(addr)
	v.Check(err == nil, name, "want host:port, got %q", addr)
}

// DialAddress checks that addr is host:port with both parts present.
func (v *Validator) DialAddress(name, addr string) {
	host, port, err := net.SplitHostPort(addr)
	v.Check(err == nil && host != "" && port != "", name, "want host:port, got %q", addr)
}
