//go:build linux

package proc

import "syscall"

// sysProcAttr ties the child to this process: it gets SIGKILL when the
// thread that started it dies.
func sysProcAttr() *syscall.SysProcAttr {
	// A process group of its own: Ctrl-C at a terminal signals the
	// supervisor only, which then stops its children in its own order
	// (make demo: producers withdraw before the lookupds go); Pdeathsig
	// still ends a child whose supervisor died.
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
