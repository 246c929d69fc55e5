//go:build !linux

package collect

import (
	"net"
	"time"

	"k8s.io/utils/clock"
)

// newBatchConn returns c: reads are batched on Linux only (podconn_linux.go).
func newBatchConn(c net.Conn, _ clock.Clock, _ time.Duration, _ int) net.Conn { return c }
