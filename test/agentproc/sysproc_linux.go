package agentproc

import "syscall"

// procAttr has the kernel kill the agent if the process that started it
// dies without stopping it (a demo killed by SIGPIPE, a test binary killed by
// go test's timeout), so no agent outlives its control plane.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
