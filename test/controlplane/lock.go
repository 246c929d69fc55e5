package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockDir takes an exclusive flock on dir/.lock, polling so that ctx can cancel the wait, and
// returns the function that releases it. The kernel drops the lock if the process dies.
func lockDir(ctx context.Context, dir string, progress io.Writer) (func(), error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open build lock: %w", err)
	}
	start := time.Now()
	var lastReport time.Time // zero: report on the first miss
	delay := 50 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if time.Since(lastReport) >= progressInterval {
			fmt.Fprintf(progress, "controlplane: waiting for another process building into %s (%s elapsed)\n",
				dir, time.Since(start).Round(time.Second))
			lastReport = time.Now()
		}
		if err := waitOrDone(ctx, delay); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("wait for build lock %s: %w", path, err)
		}
		delay = min(2*delay, time.Second)
	}
}

// waitOrDone waits for d, or returns ctx's error if it ends first.
func waitOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
