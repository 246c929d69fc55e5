//go:build !linux

package controlplane

import "syscall"

// serverProcAttr puts a server child in its own process group, so that a terminal's Ctrl-C
// reaches only us and we stop the children in order.
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// buildProcAttr returns nil: without Pdeathsig, a `go build` child outlives us if we die.
func buildProcAttr() *syscall.SysProcAttr { return nil }
