package controlplane

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// SkipEnv is the environment variable that, set to "1", makes RunMain skip a package's tests
// instead of building and starting a control plane.
const SkipEnv = "K8S_POD_RESTART_SKIP_E2E"

// startTimeout bounds starting the control plane in RunMain once the binaries exist.
const startTimeout = 3 * time.Minute

// RunMain is the body of an end-to-end package's TestMain: it ensures the binaries, starts one
// control plane, hands it to use, runs the tests and stops it, keeping the logs and printing
// their path when a test failed. It returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) {
//		os.Exit(controlplane.RunMain(m, controlplane.Options{}, func(c *controlplane.ControlPlane) { cp = c }))
//	}
//
// With K8S_POD_RESTART_SKIP_E2E=1 it runs no test and returns 0 after saying why; keep such
// packages free of tests that don't need the control plane. Otherwise a failure to build or
// start is a failure of the package, never a skip.
func RunMain(m *testing.M, opts Options, use func(*ControlPlane)) int {
	if os.Getenv(SkipEnv) == "1" {
		fmt.Fprintf(os.Stderr, "controlplane: skipping end-to-end tests because %s=1\n", SkipEnv)
		return 0
	}
	if opts.Progress == nil {
		opts.Progress = os.Stderr
	}
	// TestMain is the top of a test binary: the context starts here.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bins, err := Ensure(ctx, opts.Progress)
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		return 1
	}
	opts.Binaries = bins
	// Keep the logs of a failed start; drop them again below if the tests pass.
	keep := opts.KeepLogs
	opts.KeepLogs = true
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	cp, err := Start(startCtx, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		return 1
	}
	// From here on a signal kills the test binary as usual; Pdeathsig takes the children
	// with it and the temp dir stays behind for inspection.
	stop()
	use(cp)
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "controlplane: tests failed; logs kept in %s\n", cp.LogDir())
	} else {
		cp.setKeepLogs(keep)
	}
	cp.Stop()
	return code
}
