//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package datakit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive flock(2) on dir/lock. The kernel releases it
// when the process dies, however it dies, so a lock left by a crash never
// blocks the next start.
func lockDir(dir string) (io.Closer, error) {
	name := filepath.Join(dir, "lock")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open queue lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("queue directory %s is in use by another writer", dir)
		}
		return nil, fmt.Errorf("lock queue directory %s: %w", dir, err)
	}
	return f, nil
}
