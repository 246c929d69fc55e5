// Command k8s-pod-restart watches a cluster's pods and reports to DataKit when
// the share of restarting pods in a namespace rises, and when it is over.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	// The image has no CA bundle (empty base): these roots, used only when
	// the system has none, let https:// DataKit URLs verify out of the box.
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/k8s-pod-restart/k8s-pod-restart/input"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitBadConfig = 2
)

func main() {
	tuneGC()
	tuneProcs()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// defaultGCPercent is the agent's GOGC unless the environment sets one. Its
// heap is mostly its caches, which live as long as the process: collecting
// when the heap has grown by half of them instead of all of them keeps the
// resident memory at 50,000 pods under 150 MiB (BENCHMARKS.md), for
// collections that cost little CPU at the rate pods change.
const defaultGCPercent = 50

func tuneGC() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// defaultProcs is the agent's GOMAXPROCS unless the environment sets one.
// Each pod update crosses half a dozen goroutines (the watch's reader, the
// reflector, the informer's queue and listener, the evaluation loop), a few
// microseconds of work each. With a second P idle, every hand-off wakes
// another thread through a futex; on one P it is a run-queue push. Under
// the benchmark's churn that was a quarter of the agent's CPU per update
// (BENCHMARKS.md); one core decodes 50,000 updates/s, far above what an API
// server sends.
const defaultProcs = 1

func tuneProcs() {
	if _, ok := os.LookupEnv("GOMAXPROCS"); !ok {
		runtime.GOMAXPROCS(defaultProcs)
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "scan" {
		return runScan(args[1:], stdout, stderr, os.Environ())
	}
	fs := flag.NewFlagSet("k8s-pod-restart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: k8s-pod-restart [flags]       run the agent\n"+
			"       k8s-pod-restart scan [flags]  look at a cluster once (scan -h)\n\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "/etc/k8s-pod-restart/conf.d", "configuration `path`: a TOML file, or a directory whose *.conf files are all read")
	checkConfig := fs.Bool("check-config", false, "validate the configuration and exit")
	printSample := fs.Bool("print-sample", false, "print the sample configuration and exit")
	printVersion := fs.Bool("version", false, "print the version and exit")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "log `format`: text or json")
	if err := fs.Parse(args); err != nil {
		return exitBadConfig
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		return exitBadConfig
	}
	switch {
	case *printVersion:
		fmt.Fprintln(stdout, "k8s-pod-restart", version)
		return exitOK
	case *printSample:
		fmt.Fprint(stdout, input.SampleConfig())
		return exitOK
	}

	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadConfig
	}
	cfgs, err := input.Load(*configPath, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "bad configuration:\n%v\n", err)
		return exitBadConfig
	}
	if *checkConfig {
		fmt.Fprintf(stdout, "configuration OK: %d cluster(s)\n", len(cfgs))
		return exitOK
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log.Info("starting", "version", version, "config", *configPath, "clusters", len(cfgs))
	err = input.Run(ctx, cfgs, log, input.RunOptions{Stdout: stdout, Version: version})
	switch {
	case errors.Is(err, input.ErrBadConfig):
		fmt.Fprintf(stderr, "%v\n", err)
		return exitBadConfig
	case err != nil && !errors.Is(err, context.Canceled):
		log.Error("stopped", "err", err)
		return exitFailure
	}
	log.Info("stopped")
	return exitOK
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is neither text nor json", format)
}
