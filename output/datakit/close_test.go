package datakit

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

func wtInfoOnly(l *wtLogs) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []string
	for _, r := range l.recs {
		if r.Level == slog.LevelInfo {
			msgs = append(msgs, r.Msg)
		}
	}
	return msgs
}

func TestCloseFlushesAndLeavesTheRest(t *testing.T) {
	t.Run("DataKit up: Close sends everything before it returns", func(t *testing.T) {
		h := wtNewHarness(t, nil)
		w := h.open()
		wtWrite(t, w, wtMetrics("ns-1"), wtEvents("ev-1"), wtMetrics("ns-2"))
		h.run(w)
		if err := w.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		want := map[string][]string{endpointEvents: {"ev-1"}, endpointMetrics: {"ns-1", "ns-2"}}
		if diff := cmp.Diff(want, h.dk.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		if err := w.Write(t.Context(), wtMetrics("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
		if err := w.Run(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}

		// Nothing is left for the next start.
		n := h.dk.count()
		w2 := h.open()
		if s := w2.Stats(); s.Events.QueueBytes != 0 || s.Metrics.QueueBytes != 0 {
			t.Errorf("queue bytes after a full flush: %+v", s)
		}
		if err := w2.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := h.dk.count(); got != n {
			t.Errorf("%d requests after reopening an empty queue", got-n)
		}
	})

	t.Run("DataKit down: Close gives up when its context ends and the next Writer sends the rest", func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		h := wtNewHarness(t, func(int, wtRequest) wtReply {
			if down.Load() {
				return wtReply{Status: http.StatusServiceUnavailable}
			}
			return wtReply{Status: http.StatusOK}
		})
		w := h.open()
		wtWrite(t, w, wtMetrics("ns-1"), wtMetrics("ns-2"))
		h.run(w)
		h.waitFor("Run's sender backing off", func() bool { return h.fc.HasWaiters() })

		ctx, cancel := context.WithCancel(t.Context())
		closed := make(chan error, 1)
		go func() { closed <- w.Close(ctx) }()
		// Close stops Run and tries again itself.
		h.waitFor("Close's own attempt", func() bool { return h.dk.count() == 2 && h.fc.HasWaiters() })
		cancel()
		err := <-closed
		if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "left queued on disk") {
			t.Fatalf("Close: %v, want the bytes left queued", err)
		}

		down.Store(false)
		w2 := h.open()
		if s := w2.Stats(); s.Metrics.QueueBytes == 0 {
			t.Errorf("no queue bytes reported for what was left: %+v", s.Metrics)
		}
		h.run(w2)
		h.until("the rest sent", func() bool { return len(h.dk.delivered()[endpointMetrics]) == 2 && w2.Stats().Metrics.QueueBytes == 0 })
		if diff := cmp.Diff([]string{"ns-1", "ns-2"}, h.dk.delivered()[endpointMetrics]); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

func TestOverflowPolicy(t *testing.T) {
	// Sizes on disk of one event and one metric batch of a single namespace
	// of three letters.
	enc, err := output.NewEncoder(wtEncoderConfig)
	if err != nil {
		t.Fatal(err)
	}
	size := func(b output.Batch) int64 {
		var pts []*point.Point
		for i := range b.Decisions {
			pt, err := enc.Event(&b.Decisions[i])
			if err != nil {
				t.Fatal(err)
			}
			pts = append(pts, pt)
		}
		for i := range b.Stats {
			pt, err := enc.Metric(b.At, &b.Stats[i])
			if err != nil {
				t.Fatal(err)
			}
			pts = append(pts, pt)
		}
		lines, err := output.EncodeLines(pts)
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(lines)) + recordOverhead
	}
	ev, me := size(wtEvents("e-1")), size(wtMetrics("m-1"))
	if ev <= me {
		t.Fatalf("an event batch (%d bytes) should be larger than a metric batch (%d)", ev, me)
	}

	type write struct {
		batch   output.Batch
		wantErr error
	}
	tests := []struct {
		name string
		max  int64
		// phases are written one after another, each into the queues
		// before Run sends them all.
		phases                [][]write
		want                  map[string][]string
		wantEvents, wantMetrs wtCounters
		wantLogs              []string // info and above
	}{{
		name: "metrics beyond the bound drop the oldest metrics, logged once",
		max:  3 * me,
		phases: [][]write{{
			{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtMetrics("m-3")},
			{batch: wtMetrics("m-4")}, {batch: wtMetrics("m-5")},
		}},
		want:      map[string][]string{endpointMetrics: {"m-3", "m-4", "m-5"}},
		wantMetrs: wtCounters{Queued: 5, Sent: 3, Overflow: 2},
		wantLogs:  []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name:       "an event makes room by dropping the oldest metrics",
		max:        ev + me,
		phases:     [][]write{{{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtEvents("e-1")}}},
		want:       map[string][]string{endpointEvents: {"e-1"}, endpointMetrics: {"m-2"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1},
		wantMetrs:  wtCounters{Queued: 2, Sent: 1, Overflow: 1},
		wantLogs:   []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name: "events alone beyond the bound are refused loudly, after the metrics went",
		max:  ev + me,
		phases: [][]write{{
			{batch: wtEvents("e-1")}, {batch: wtMetrics("m-1")},
			{batch: wtEvents("e-2"), wantErr: ErrQueueFull},
		}},
		want:       map[string][]string{endpointEvents: {"e-1"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1, Overflow: 1},
		wantMetrs:  wtCounters{Queued: 1, Overflow: 1},
		wantLogs: []string{
			"queue full: dropping the oldest metrics until DataKit catches up",
			"queue full of events: refused new events; DataKit has not accepted events for long",
		},
	}, {
		name: "a batch larger than the bound is queued when the queues are empty",
		max:  ev - 1,
		phases: [][]write{
			{{batch: wtEvents("e-1")}, {batch: wtEvents("e-2"), wantErr: ErrQueueFull}},
			{{batch: wtEvents("e-3")}}, // once e-1 left, not refused forever
		},
		want:       map[string][]string{endpointEvents: {"e-1", "e-3"}},
		wantEvents: wtCounters{Queued: 2, Sent: 2, Overflow: 1},
		wantLogs:   []string{"queue full of events: refused new events; DataKit has not accepted events for long"},
	}, {
		name:       "a new metric finding only events is dropped without an error",
		max:        ev + me - 1,
		phases:     [][]write{{{batch: wtEvents("e-1")}, {batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}}},
		want:       map[string][]string{endpointEvents: {"e-1"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1},
		wantMetrs:  wtCounters{Overflow: 2},
		wantLogs:   []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name: "the end of the drops is logged, and a new episode again",
		max:  2 * me,
		phases: [][]write{
			{{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtMetrics("m-3")}}, // drops m-1
			{{batch: wtMetrics("m-4")}, {batch: wtMetrics("m-5")}, {batch: wtMetrics("m-6")}}, // room, then drops m-4
		},
		want:      map[string][]string{endpointMetrics: {"m-2", "m-3", "m-5", "m-6"}},
		wantMetrs: wtCounters{Queued: 6, Sent: 4, Overflow: 2},
		wantLogs: []string{
			"queue full: dropping the oldest metrics until DataKit catches up",
			"queue below its bound again",
			"queue full: dropping the oldest metrics until DataKit catches up",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, nil)
			h.cfg.QueueMaxBytes = tc.max
			w := h.open()
			for p, phase := range tc.phases {
				for i, wr := range phase {
					if err := w.Write(t.Context(), wr.batch); !errors.Is(err, wr.wantErr) {
						t.Fatalf("phase %d, write %d: %v, want %v", p, i, err, wr.wantErr)
					}
					// One batch alone may exceed the bound, none with others.
					if s := w.Stats(); s.Events.QueueBytes+s.Metrics.QueueBytes > max(tc.max, ev) {
						t.Fatalf("phase %d, write %d: %d bytes queued, beyond the bound of %d",
							p, i, s.Events.QueueBytes+s.Metrics.QueueBytes, tc.max)
					}
				}
				stop := h.run(w)
				h.until("the queues drained", func() bool { return wtSettled(w) })
				stop()
			}
			if diff := cmp.Diff(tc.want, h.dk.delivered()); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			s := w.Stats()
			if diff := cmp.Diff([]wtCounters{tc.wantEvents, tc.wantMetrs},
				[]wtCounters{wtCountersOf(s.Events), wtCountersOf(s.Metrics)}); diff != "" {
				t.Errorf("stats of events and metrics (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLogs, h.logs.messages(slog.LevelInfo)); diff != "" {
				t.Errorf("logged (-want +got):\n%s", diff)
			}
		})
	}
}
