package datakit

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

func TestDeliveryResults(t *testing.T) {
	invalid := wtReply{Status: http.StatusBadRequest, Body: `{"error_code":"datakit.invalidLinePoint","message":"invalid line"}`}
	tests := []struct {
		name      string
		respond   func(n int, r wtRequest) wtReply
		batches   []string // one metric batch per namespace, written before Run
		want      []string // namespaces delivered, in order
		wantStats wtCounters
		wantLogs  []string // warnings and errors, in order
	}{{
		name:      "200 delivers every batch in order",
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-1", "ns-2", "ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 3},
	}, {
		name: "400 drops the batch and later batches still arrive; the error is logged once",
		respond: func(_ int, r wtRequest) wtReply {
			if r.Namespaces[0] == "ns-2" || r.Namespaces[0] == "ns-4" {
				return invalid
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3", "ns-4", "ns-5"},
		want:      []string{"ns-1", "ns-3", "ns-5"},
		wantStats: wtCounters{Queued: 5, Sent: 3, Rejected: 2},
		wantLogs:  []string{"DataKit rejected a batch; dropped it (each distinct error is logged once)"},
	}, {
		name: "another 4xx drops too, and a distinct error is logged again",
		respond: func(_ int, r wtRequest) wtReply {
			switch r.Namespaces[0] {
			case "ns-1":
				return invalid
			case "ns-2":
				return wtReply{Status: http.StatusRequestEntityTooLarge, Body: `{"error_code":"datakit.requestEntityTooLarge"}`}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 1, Rejected: 2},
		wantLogs: []string{
			"DataKit rejected a batch; dropped it (each distinct error is logged once)",
			"DataKit rejected a batch; dropped it (each distinct error is logged once)",
		},
	}, {
		name: "503 for a while: retried, logged once, all arrive in order",
		respond: func(n int, _ wtRequest) wtReply {
			if n < 4 {
				return wtReply{Status: http.StatusServiceUnavailable}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-1", "ns-2", "ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 3, Retried: 4},
		wantLogs:  []string{"sending to DataKit failed; retrying the batch until it is accepted"},
	}, {
		name: "408 and 429 are retried; a changed failure is logged again",
		respond: func(n int, _ wtRequest) wtReply {
			switch n {
			case 0:
				return wtReply{Status: http.StatusRequestTimeout}
			case 1:
				return wtReply{Status: http.StatusTooManyRequests, Body: `{"error_code":"datakit.reachMaxAPILimit"}`}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2"},
		want:      []string{"ns-1", "ns-2"},
		wantStats: wtCounters{Queued: 2, Sent: 2, Retried: 2},
		wantLogs: []string{
			"sending to DataKit failed; retrying the batch until it is accepted",
			"sending to DataKit failed; retrying the batch until it is accepted",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, tc.respond)
			w := h.open()
			for _, ns := range tc.batches {
				wtWrite(t, w, wtMetrics(ns))
			}
			h.run(w)
			h.until("every batch settled", func() bool { return wtSettled(w) })

			if diff := cmp.Diff(tc.want, h.dk.delivered()[endpointMetrics]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStats, wtCountersOf(w.Stats().Metrics)); diff != "" {
				t.Errorf("metric stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLogs, h.logs.messages(slog.LevelWarn)); diff != "" {
				t.Errorf("warnings and errors logged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	h := wtNewHarness(t, nil)
	h.cfg.URL += "/" // the one path CheckURL allows
	w := h.open()
	wtWrite(t, w, output.Batch{At: wtT0, Decisions: wtEvents("shop").Decisions, Stats: wtMetrics("shop", "cart").Stats})
	h.run(w)
	h.until("both batches sent", func() bool { return wtSettled(w) && h.dk.count() == 2 })

	got := map[string]wtRequest{}
	h.dk.mu.Lock()
	reqs := slices.Clone(h.dk.requests)
	h.dk.mu.Unlock()
	for _, r := range reqs {
		got[path.Base(r.Path)] = r
	}
	const query = "precision=n&input=k8s_pod_restart&ignore_global_host_tags=true"
	want := map[string]wtRequest{
		// An event carries its Markdown message: more than gzipMinBytes.
		endpointEvents:  {Path: "/v1/write/keyevent", Query: query, Type: "text/plain", Encoding: "gzip", Namespaces: []string{"shop"}},
		endpointMetrics: {Path: "/v1/write/metric", Query: query, Type: "text/plain", Namespaces: []string{"shop", "cart"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	s := w.Stats()
	if diff := cmp.Diff([]wtCounters{{Queued: 1, Sent: 1}, {Queued: 1, Sent: 1}},
		[]wtCounters{wtCountersOf(s.Events), wtCountersOf(s.Metrics)}); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestRetryAfterWaitsAsTold(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"HTTP date", wtT0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"beyond the backoff cap", "300", 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, func(n int, _ wtRequest) wtReply {
				if n == 0 {
					return wtReply{Status: http.StatusTooManyRequests, RetryAfter: tc.retryAfter}
				}
				return wtReply{Status: http.StatusOK}
			})
			w := h.open()
			wtWrite(t, w, wtMetrics("ns-1"))
			h.run(w)
			h.waitFor("the first attempt and its wait", func() bool { return h.dk.count() == 1 && h.fc.HasWaiters() })

			h.fc.Step(tc.want - time.Millisecond)
			if !h.fc.HasWaiters() || h.dk.count() != 1 {
				t.Fatalf("retried before the %v DataKit asked for", tc.want)
			}
			h.fc.Step(time.Millisecond)
			h.waitFor("the retry", func() bool { return wtSettled(w) })
			if diff := cmp.Diff([]string{"ns-1"}, h.dk.delivered()[endpointMetrics]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	h := wtNewHarness(t, nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := closed.Addr().String()
	closed.Close()
	var refuse atomic.Bool
	refuse.Store(true)
	h.cfg.HTTPClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if refuse.Load() {
				addr = refusing
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	w := h.open()
	wtWrite(t, w, wtMetrics("ns-1"), wtMetrics("ns-2"))
	h.run(w)

	// Two refused attempts: both counted, logged once.
	h.waitFor("a first refused attempt", func() bool { return h.fc.HasWaiters() })
	h.fc.Step(h.cfg.MaxBackoff)
	h.waitFor("a second refused attempt", func() bool { return h.fc.HasWaiters() && w.Stats().Metrics.Retried == 2 })
	s := w.Stats().Metrics
	if !strings.Contains(s.LastError, "connection refused") || !s.LastErrorAt.Equal(h.fc.Now()) {
		t.Errorf("last error %q at %v, want a refused connection at %v", s.LastError, s.LastErrorAt, h.fc.Now())
	}

	refuse.Store(false)
	h.until("both batches sent", func() bool { return wtSettled(w) })
	if diff := cmp.Diff([]string{"ns-1", "ns-2"}, h.dk.delivered()[endpointMetrics]); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wtCounters{Queued: 2, Sent: 2, Retried: 2}, wtCountersOf(w.Stats().Metrics)); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sending to DataKit failed; retrying the batch until it is accepted"},
		h.logs.messages(slog.LevelWarn)); diff != "" {
		t.Errorf("warnings logged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sending to DataKit works again"}, wtInfoOnly(h.logs)); diff != "" {
		t.Errorf("info logged (-want +got):\n%s", diff)
	}
}
