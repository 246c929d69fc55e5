package collect

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

	"k8s.io/utils/clock"
)

// batchConn batches the reads of a stream connection (see podconn.go) and
// reads without the Go runtime's system call path.
//
// A read that finds the socket empty within window of the connection's
// last wake-up sleeps out the window, with the socket's SO_RCVLOWAT raised
// to bulk meanwhile: data that arrives does not wake the network poller
// (Linux signals a TCP socket readable only from SO_RCVLOWAT bytes on, and
// again when it is lowered), unless bulk bytes of it do. Without it, each
// arriving update still woke the poller's thread, three epoll_pwait calls,
// although no goroutine was waiting for it.
//
// Only the connection's one reader (crypto/tls's) calls Read; writes,
// deadlines and Close are the wrapped connection's.
type batchConn struct {
	net.Conn
	raw    syscall.RawConn
	clock  clock.Clock
	window time.Duration
	bulk   int

	woke  time.Time // when the current window started: a read that had waited returned
	bytes int       // bytes read since woke

	waiting func() // tests: called before a read that may wait
}

// newBatchConn wraps c. A connection without a file descriptor (not a
// syscall.Conn) is returned as it is.
func newBatchConn(c net.Conn, clk clock.Clock, window time.Duration, bulk int) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &batchConn{Conn: c, raw: raw, clock: clk, window: window, bulk: bulk}
}

func (c *batchConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.read(p, false)
	if n > 0 || err != syscall.EAGAIN {
		c.bytes += n
		return n, err
	}
	// Nothing to read: this read waits, and wakes the agent when data
	// comes. Within the window of the last wake-up, and unless the
	// connection is busy, let the data gather first.
	if wait := c.woke.Add(c.window).Sub(c.clock.Now()); wait > 0 && c.bytes < c.bulk {
		c.setLowWater(c.bulk)
		c.clock.Sleep(wait)
		c.setLowWater(1)
	}
	if c.waiting != nil {
		c.waiting()
	}
	n, err = c.read(p, true)
	if now := c.clock.Now(); !now.Before(c.woke.Add(c.window)) {
		c.woke, c.bytes = now, 0
	}
	c.bytes += n
	return n, err
}

// read reads from the socket once without entering the Go runtime's system
// call path: read(2) on a non-blocking socket does not block, and each call
// through that path wakes the runtime's monitor thread (sysmon) from its
// sleep, to poll for a few hundred microseconds: on the benchmark's machine,
// more CPU per pod update than decoding it. An empty socket returns EAGAIN,
// or, with wait, waits in the network poller as net.Conn.Read does
// (deadlines included). Errors are wrapped as net.Conn.Read wraps them; the
// end of the stream is io.EOF.
func (c *batchConn) read(p []byte, wait bool) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.raw.Read(func(fd uintptr) bool {
		for {
			r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
			if e == syscall.EINTR {
				continue
			}
			n, errno = int(r), e
			return !wait || e != syscall.EAGAIN
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, syscall.EAGAIN
	case errno != 0:
		return 0, &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError("read", errno)}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// setLowWater sets the socket's SO_RCVLOWAT, also without the runtime's
// system call path. A failure only costs the batching its effect on the
// poller, so it is ignored.
func (c *batchConn) setLowWater(bytes int) {
	v := int32(bytes)
	_ = c.raw.Control(func(fd uintptr) {
		syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, fd, syscall.SOL_SOCKET, syscall.SO_RCVLOWAT,
			uintptr(unsafe.Pointer(&v)), unsafe.Sizeof(v), 0)
	})
}
