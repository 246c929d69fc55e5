package controlplane

import "syscall"

// serverProcAttr puts a server child in its own process group, so that a terminal's Ctrl-C
// reaches only us and we stop the children in order, and has the kernel kill it if we die
// without Stop (a test binary killed by go test's timeout, say).
func serverProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// buildProcAttr has the kernel kill a `go build` child if we die, so that no orphaned build
// competes with the next one; the build cache keeps the packages it compiled.
func buildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
