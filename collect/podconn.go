package collect

import (
	"context"
	"net"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
)

// The pod watch's connection. Under churn the API server sends pod updates
// one by one, tens or hundreds a second, and each one alone woke the idle
// agent: the network poller, the HTTP/2 read loop and its hand-off to the
// watch, a flow-control frame written back, the Go runtime's monitor thread
// (sysmon). A profile put most of the agent's CPU per update there, in
// system calls, not in decoding (BENCHMARKS.md, "CPU per update,
// profiled"). So the pod watch, the agent's one busy stream, has a
// connection of its own, unlike the quiet ones (namespaces, nodes,
// ReplicaSets, events, the Lease), which share client-go's HTTP/2
// connection. Over HTTP/1.1 each pod watch has its own connection: one per
// namespace when namespaces lists them, a few tens of KB each.
//
//   - HTTP/1.1: the watch reads its own connection; no read loop, pipe or
//     flow-control writes.
//   - TCP keep-alive after podKeepAliveIdle of silence, podKeepAliveCount
//     probes podKeepAliveInterval apart: a dead connection (a vanished
//     node, a half-open connection) fails the watch within 30 s and the
//     reflector starts it again. Over HTTP/2, client-go's pings find it
//     within 45 s; Go's default keep-alive would take 2.5 minutes.
//   - On Linux, reads batched (see batchConn): data that trickles in waits
//     in the socket until podReadWindow has passed since the connection
//     last woke the agent, and is then read in one wake-up. That adds at
//     most podReadWindow to the time an update takes to reach the
//     detector, which then debounces each namespace for 50 ms anyway. A
//     connection that carries podReadBulk bytes or more in one window (a
//     list, a relist, a burst) is read as fast as data comes.
const (
	podReadWindow        = 50 * time.Millisecond
	podReadBulk          = 1 << 20
	podKeepAliveIdle     = 15 * time.Second
	podKeepAliveInterval = 5 * time.Second
	podKeepAliveCount    = 3
)

// PodWatchConfig returns a copy of cfg for the pod watch's client, with a
// connection of its own made for it (see above). A configuration that dials
// or transports by itself, or chose its protocols, is copied as it is.
func PodWatchConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.Dial != nil || cfg.Transport != nil || len(cfg.NextProtos) > 0 {
		return cfg
	}
	cfg.NextProtos = []string{"http/1.1"}
	d := &net.Dialer{
		Timeout: 30 * time.Second, // client-go's (transport/cache.go)
		KeepAliveConfig: net.KeepAliveConfig{Enable: true,
			Idle: podKeepAliveIdle, Interval: podKeepAliveInterval, Count: podKeepAliveCount},
	}
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newBatchConn(c, clock.RealClock{}, podReadWindow, podReadBulk), nil
	}
	return cfg
}
