//go:build linux

package proc

import "syscall"

// sysProcAttr ties the child to this process: it gets SIGKILL when the
// thread that started it dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
