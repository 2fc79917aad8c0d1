package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
)

// RaiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit: the load
// generator holds one socket per producer, and so does the daemon (which
// inherits the limit).
func RaiseFileLimit(stderr io.Writer) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			fmt.Fprintf(stderr, "raise open file limit: %v\n", err)
		}
	}
}

// Machine describes the machine and Go version, for reports.
func Machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
