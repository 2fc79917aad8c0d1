//go:build linux

package netscale

import "syscall"

// setFileLimit raises RLIMIT_NOFILE to n (both limits), if allowed.
func setFileLimit(n uint64) {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Max < n {
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
	}
}
