package collect

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
)

// socketPair returns the two ends of a Unix stream socket: a write to one
// is in the other's receive queue when Write returns, so what a read finds
// does not depend on timing.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close()
		c, err := net.FileConn(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

// sleepClock is a fake clock that calls during when a read sleeps.
type sleepClock struct {
	*clocktesting.FakeClock
	during func()
}

func (c sleepClock) Sleep(d time.Duration) {
	c.during()
	c.FakeClock.Sleep(d)
}

// lowWater returns c's SO_RCVLOWAT.
func lowWater(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVLOWAT)
	}); err != nil || gerr != nil {
		t.Fatal(err, gerr)
	}
	return v
}

func TestBatchConn(t *testing.T) {
	const window, bulk = 50 * time.Millisecond, 8
	local, peer := socketPair(t)
	var sleptAt []int // SO_RCVLOWAT while each sleep began
	clk := sleepClock{clocktesting.NewFakeClock(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)),
		func() { sleptAt = append(sleptAt, lowWater(t, local)) }}
	wrapped := newBatchConn(local, clk, window, bulk)
	c, ok := wrapped.(*batchConn)
	if !ok {
		t.Fatalf("newBatchConn(%T) = %T, want a *batchConn", local, wrapped)
	}
	buf := make([]byte, 64)
	send := func(s string) {
		t.Helper()
		if _, err := peer.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	// read reads once. late, when set, is sent only once the read found
	// the socket empty (and slept, if it does): data that comes while the
	// agent is idle.
	read := func(want, late string, slept time.Duration) {
		t.Helper()
		c.waiting = nil
		if late != "" {
			c.waiting = func() { send(late) }
		}
		before := clk.Now()
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
		}
		if got := clk.Since(before); got != slept {
			t.Fatalf("Read of %q slept %v, want %v", want, got, slept)
		}
	}

	// Data already there is read at once, and no window starts.
	send("a")
	read("a", "", 0)
	// The first data after a quiet spell wakes the agent at once and
	// starts a window (T0)...
	read("b", "b", 0)
	// ... within which data already there is read at once ...
	clk.Step(10 * time.Millisecond)
	send("c")
	read("c", "", 0)
	// ... and data still to come waits until the window ends: the read
	// sleeps 40 ms, then reads, which starts the next window (T0+50ms).
	read("d", "d", window-10*time.Millisecond)
	// While it slept, data arriving did not make the socket readable
	// below the bulk threshold; now it does again from one byte on.
	if want := []int{bulk}; !slices.Equal(sleptAt, want) {
		t.Fatalf("SO_RCVLOWAT during the sleeps: %v, want %v", sleptAt, want)
	}
	if got := lowWater(t, local); got != 1 {
		t.Fatalf("SO_RCVLOWAT after the sleep: %d, want 1", got)
	}
	// 8 bytes (the bulk threshold) within a window make the connection
	// busy: for the rest of the window, its reads do not sleep.
	send("efghijk")
	read("efghijk", "", 0)
	read("l", "l", 0)
	// After a quiet spell longer than the window, no sleep either.
	clk.Step(time.Second)
	read("m", "m", 0)
	// A read of an empty socket waits in the network poller until data
	// comes.
	clk.Step(time.Second)
	go func() {
		time.Sleep(20 * time.Millisecond)
		send("n")
	}()
	read("n", "", 0)
	// Deadlines are the connection's.
	clk.Step(time.Second)
	if err := c.SetReadDeadline(time.Now().Add(10 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %d, %v; want 0, a deadline error", n, err)
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if len(sleptAt) != 1 {
		t.Fatalf("%d sleeps, want 1", len(sleptAt))
	}

	// End of stream and errors are the wrapped connection's, without a
	// sleep, although the window of m's read is still open.
	c.waiting = nil
	before := clk.Now()
	peer.Close()
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want 0, EOF", n, err)
	}
	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	if clk.Since(before) != 0 {
		t.Fatalf("reads at the end of the stream slept %v", clk.Since(before))
	}
}

func TestBatchConnUnwrapped(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := newBatchConn(a, clocktesting.NewFakeClock(time.Now()), podReadWindow, podReadBulk); c != a {
		t.Fatalf("newBatchConn(net.Pipe) = %T, want the pipe itself: it has no descriptor to try a read on", c)
	}
}

// TestPodWatchKeepAlive: the pod watch's connections probe a silent peer
// after 15 s, 3 times 5 s apart, and are batchConns.
func TestPodWatchKeepAlive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	c, err := PodWatchConfig(&rest.Config{Host: "https://" + ln.Addr().String()}).Dial(context.Background(), "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bc, ok := c.(*batchConn)
	if !ok {
		t.Fatalf("dialed a %T, want a *batchConn", c)
	}
	raw := bc.raw
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 15},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 5},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 3},
	} {
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
}
