// Command controlplane starts the test control plane (etcd and kube-apiserver) for humans:
// it prints the admin kubeconfig and runs until Ctrl-C. With -build-only it just fetches or builds and
// caches the binaries, which is worth doing once before the first `go test ./...`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane"
)

func main() { os.Exit(run()) }

// run parses flags, starts the control plane, waits for a signal and maps errors to exit codes.
func run() int {
	fs := flag.NewFlagSet("controlplane", flag.ContinueOnError)
	buildOnly := fs.Bool("build-only", false, "download or build the binaries and cache them, then exit")
	keepLogs := fs.Bool("keep-logs", false, "keep the temp dir with logs and data after stopping")
	memLimit := fs.String("apiserver-gomemlimit", "", "GOMEMLIMIT for kube-apiserver, e.g. 3GiB")
	var apiFlags []string
	fs.Func("apiserver-flag", "extra kube-apiserver flag, e.g. --v=2 (repeatable)", func(v string) error {
		apiFlags = append(apiFlags, v)
		return nil
	})
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	bins, err := controlplane.Ensure(ctx, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		return 1
	}
	if *buildOnly {
		fmt.Printf("etcd:           %s\nkube-apiserver: %s\n", bins.Etcd, bins.APIServer)
		return 0
	}
	began := time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Binaries:            bins,
		Progress:            os.Stderr,
		APIServerFlags:      apiFlags,
		APIServerGOMEMLIMIT: *memLimit,
		KeepLogs:            *keepLogs,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "controlplane: %v\n", err)
		return 1
	}
	defer cp.Stop()
	fmt.Printf("kube-apiserver %s ready at %s after %s\n", controlplane.Version, cp.URL(), time.Since(began).Round(time.Millisecond))
	fmt.Printf("logs:       %s\n", cp.LogDir())
	fmt.Printf("kubeconfig: %s\n\n", cp.Kubeconfig())
	fmt.Printf("export KUBECONFIG=%s\n\n", cp.Kubeconfig())
	fmt.Println("Press Ctrl-C to stop.")
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "controlplane: stopping")
	return 0
}
