package proc

import (
	"fmt"
	"time"

	"github.com/prometheus/procfs"
)

// Stats is what /proc says about a process at one instant.
type Stats struct {
	// RSS is the resident set size, PeakRSS its high-water mark (VmRSS
	// and VmHWM of /proc/PID/status), in bytes.
	RSS, PeakRSS int64
	// CPU is the user plus system CPU time of all threads so far: the sum
	// of the threads' scheduler run times (nanosecond precision), or, where
	// the kernel does not keep those, utime+stime in clock ticks.
	CPU time.Duration
	// FDs is the number of open file descriptors.
	FDs int
}

// ReadStats reads /proc/PID/status, the threads' schedstat (or stat) and
// the fd directory. It uses github.com/prometheus/procfs, the parser the
// Prometheus client already brings into this module, rather than parsing
// /proc by hand.
func ReadStats(pid int) (Stats, error) {
	var s Stats
	p, err := procfs.NewProc(pid)
	if err != nil {
		return s, fmt.Errorf("read /proc of %d: %w", pid, err)
	}
	st, err := p.NewStatus()
	if err != nil {
		return s, fmt.Errorf("read status of %d: %w", pid, err)
	}
	s.RSS, s.PeakRSS = int64(st.VmRSS), int64(st.VmHWM)
	if s.CPU, err = cpuTime(p); err != nil {
		return s, fmt.Errorf("read cpu time of %d: %w", pid, err)
	}
	if s.FDs, err = p.FileDescriptorsLen(); err != nil {
		return s, fmt.Errorf("read fds of %d: %w", pid, err)
	}
	return s, nil
}

// cpuTime sums the run time of p's threads from their schedstat, falling
// back to the process's utime+stime.
func cpuTime(p procfs.Proc) (time.Duration, error) {
	if threads, err := procfs.AllThreads(p.PID); err == nil && len(threads) > 0 {
		var total uint64
		ok := true
		for _, t := range threads {
			ss, err := t.Schedstat()
			if err != nil {
				ok = false // a thread exited meanwhile, or no schedstat
				break
			}
			total += ss.RunningNanoseconds
		}
		if ok {
			return time.Duration(total), nil
		}
	}
	stat, err := p.Stat()
	if err != nil {
		return 0, err
	}
	return time.Duration(stat.CPUTime() * float64(time.Second)), nil
}

// threadsStopped reports whether every thread of pid is stopped (state T,
// or t when traced), from /proc/PID/task/*/stat.
func threadsStopped(pid int) (bool, error) {
	threads, err := procfs.AllThreads(pid)
	if err != nil {
		return false, err
	}
	if len(threads) == 0 {
		return false, fmt.Errorf("no threads listed for %d", pid)
	}
	for _, t := range threads {
		stat, err := t.Stat()
		if err != nil {
			return false, err
		}
		if stat.State != "T" && stat.State != "t" {
			return false, nil
		}
	}
	return true, nil
}

// LoadAverage is the machine's 1, 5 and 15 minute load averages as
// /proc/loadavg writes them ("0.52 0.40 0.31"), or "" where they cannot
// be read. Reports carry it: other work on the machine shares its CPUs
// with a benchmark.
func LoadAverage() string {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return ""
	}
	l, err := fs.LoadAvg()
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%.2f %.2f %.2f", l.Load1, l.Load5, l.Load15)
}
