package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/k8s-pod-restart/k8s-pod-restart/input"
)

// Exit codes of scan, for cron and CI.
const (
	scanQuiet = 0 // no namespace at or over the rules
	scanOver  = 1 // at least one is
	scanBad   = 2 // bad input, or the cluster could not be read
)

// runScan is `k8s-pod-restart scan`: one look at a live cluster.
func runScan(args []string, stdout, stderr io.Writer, environ []string) int {
	fs := flag.NewFlagSet("k8s-pod-restart scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: k8s-pod-restart scan [flags]\n\n"+
			"Lists the cluster's pods, nodes, ReplicaSets and Warning events once, and shows which namespaces\n"+
			"restart, worst first, judged by the agent's rules. Exits 0 when no namespace is at or over the\n"+
			"rules, 1 when one is, 2 for bad input or an unreadable cluster.\n\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "configuration `path` as the agent's (a TOML file or a conf.d directory); the flags below override it")
	format := fs.String("o", "text", "output `format`: text or json")
	details := fs.Bool("details", false, "show the root-cause analysis of each namespace at or over the rules")
	all := fs.Bool("all", false, "show the root-cause analysis of every namespace")
	color := fs.String("color", "auto", "colours: auto (on a terminal), always or never")
	logLevel := fs.String("log-level", "warn", "log `level`: debug, info, warn or error")
	sf := input.RegisterScanFlags(fs)
	if err := fs.Parse(args); err != nil {
		return scanBad
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		return scanBad
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "-o: %q is neither text nor json\n", *format)
		return scanBad
	}
	useColor, ok := map[string]bool{"always": true, "never": false, "auto": isTerminal(stdout) && !hasEnv(environ, "NO_COLOR")}[*color]
	if !ok {
		fmt.Fprintf(stderr, "--color: %q is not auto, always or never\n", *color)
		return scanBad
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		fmt.Fprintln(stderr, err)
		return scanBad
	}
	cfg, err := input.LoadScanConfig(*configPath, environ, sf)
	if err != nil {
		fmt.Fprintf(stderr, "bad configuration:\n%v\n", err)
		return scanBad
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	report, err := input.Scan(ctx, cfg, log, input.ScanOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return scanBad
	}
	if *format == "json" {
		err = report.WriteJSON(stdout)
	} else {
		err = report.WriteText(stdout, input.TextOptions{Color: useColor, Details: *details, All: *all})
	}
	if err != nil {
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return scanBad
	}
	if report.Over() > 0 {
		return scanOver
	}
	return scanQuiet
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// hasEnv reports whether environ sets name, to anything (https://no-color.org).
func hasEnv(environ []string, name string) bool {
	for _, kv := range environ {
		if len(kv) > len(name) && kv[:len(name)+1] == name+"=" && kv[len(name)+1:] != "" {
			return true
		}
	}
	return false
}
