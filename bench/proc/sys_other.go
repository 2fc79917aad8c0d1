//go:build !linux

package proc

import "syscall"

// sysProcAttr is nil off Linux: there is no Pdeathsig. A child that reads
// its stdin still sees its parent's death as the end of the pipe.
func sysProcAttr() *syscall.SysProcAttr { return nil }
