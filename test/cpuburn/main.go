// Command cpuburn keeps every core busy for a bounded time, so that
// `make test-busy` runs the end-to-end tests on a machine as busy as a shared
// CI runner. It stops after -for, on SIGINT or SIGTERM, and as soon as the
// process that started it is gone, so a failed or interrupted target never
// leaves it behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	fs := flag.NewFlagSet("cpuburn", flag.ContinueOnError)
	limit := fs.Duration("for", 45*time.Minute, "stop after this long at the latest")
	workers := fs.Int("workers", runtime.NumCPU(), "busy goroutines: one per core keeps every core busy")
	parent := fs.Int("parent", 0, "the `pid` of the process whose end stops the burner (a shell passes $$); 0: the parent at start")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if *limit <= 0 || *workers <= 0 {
		fmt.Fprintln(os.Stderr, "cpuburn: -for and -workers must be positive")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *limit)
	defer cancel()

	var wg sync.WaitGroup
	for range *workers {
		wg.Go(func() { spin(ctx) })
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	if *parent == 0 {
		// Racy if the parent exits before this line; -parent is not.
		*parent = os.Getppid()
	}
	watchParent(ctx, *parent, os.Getppid, tick.C)
	cancel()
	wg.Wait()
	return 0
}

// watchParent returns when ctx ends or when, at a tick, parent is no longer
// the parent process: the shell that started the burner exited, however it
// ended, and the burner was handed to a reaper.
func watchParent(ctx context.Context, parent int, getppid func() int, tick <-chan time.Time) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			if getppid() != parent {
				return
			}
		}
	}
}

// sink keeps the compiler from removing the busy loop.
var sink atomic.Int64

// spin keeps one core busy until ctx ends, checking it every few
// milliseconds of work.
func spin(ctx context.Context) {
	x := 0
	for ctx.Err() == nil {
		for i := range 1 << 20 {
			x ^= i * i
		}
	}
	sink.Add(int64(x))
}
