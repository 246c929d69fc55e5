//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package datakit

import (
	"errors"
	"io"
)

// lockDir fails: the disk queue relies on flock(2). Without a DataKit URL the
// writer needs no queue and works everywhere.
func lockDir(string) (io.Closer, error) {
	return nil, errors.New("the disk queue needs flock(2), which this system lacks")
}
