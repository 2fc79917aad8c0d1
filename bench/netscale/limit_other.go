//go:build !linux

package netscale

// setFileLimit does nothing off Linux, where the run cannot work anyway.
func setFileLimit(uint64) {}
