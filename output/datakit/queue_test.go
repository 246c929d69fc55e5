package datakit

import (
	"encoding/binary"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/GuanceCloud/cliutils/diskcache"
	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// wtMetricLines encodes a metric batch as Write queues it.
func wtMetricLines(t *testing.T, namespaces ...string) []byte {
	t.Helper()
	enc, err := output.NewEncoder(wtEncoderConfig)
	if err != nil {
		t.Fatal(err)
	}
	b := wtMetrics(namespaces...)
	var pts []*point.Point
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
	return lines
}

// wtCache opens the metric queue of dir as diskcache itself, as an earlier
// process would have, and runs f on it.
func wtCache(t *testing.T, dir string, f func(c *diskcache.DiskCache)) {
	t.Helper()
	c, err := diskcache.Open(diskcache.WithPath(filepath.Join(dir, endpointMetrics)), diskcache.WithNoLock(true))
	if err != nil {
		t.Fatal(err)
	}
	f(c)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func wtMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestQueueRecovery starts a Writer on what a process that died left on disk.
func TestQueueRecovery(t *testing.T) {
	tests := []struct {
		name     string
		leave    func(t *testing.T, dir string)
		write    []string // metric batches written after the start
		want     []string
		wantLogs []string // warnings and errors
	}{{
		name: "a batch fsynced into diskcache's write file but not rotated",
		leave: func(t *testing.T, dir string) {
			wtCache(t, dir, func(c *diskcache.DiskCache) { wtMust(t, c.Put(wtMetricLines(t, "ns-1"))) })
		},
		write: []string{"ns-2"},
		want:  []string{"ns-1", "ns-2"},
	}, {
		name: "the in-flight batch of an earlier run goes first",
		leave: func(t *testing.T, dir string) {
			wtCache(t, dir, func(c *diskcache.DiskCache) {
				wtMust(t, c.Put(wtMetricLines(t, "ns-1")))
				wtMust(t, c.Rotate())
			})
			wtMust(t, os.WriteFile(filepath.Join(dir, "metric.inflight"), wtMetricLines(t, "ns-0"), 0o600))
			// A copy cut short before its rename is no batch.
			wtMust(t, os.WriteFile(filepath.Join(dir, ".metric.inflight.tmp-123"), []byte("k8s_pod_restart,na"), 0o600))
		},
		want: []string{"ns-0", "ns-1"},
	}, {
		name: "a record torn inside Put costs one failed read, and only itself",
		leave: func(t *testing.T, dir string) {
			wtCache(t, dir, func(c *diskcache.DiskCache) {
				wtMust(t, c.Put(wtMetricLines(t, "ns-1")))
				wtMust(t, c.Rotate())
			})
			// The length of a record whose data never made it.
			f, err := os.OpenFile(filepath.Join(dir, endpointMetrics, "data"), os.O_WRONLY|os.O_APPEND, 0)
			wtMust(t, err)
			wtMust(t, binary.Write(f, binary.LittleEndian, uint32(100)))
			wtMust(t, f.Close())
		},
		write:    []string{"ns-2"},
		want:     []string{"ns-1", "ns-2"},
		wantLogs: []string{"reading the queue failed; retrying"},
	}, {
		name: "a record delivered before the crash is not sent again",
		leave: func(t *testing.T, dir string) {
			wtCache(t, dir, func(c *diskcache.DiskCache) {
				wtMust(t, c.Put(wtMetricLines(t, "ns-0")))
				wtMust(t, c.Rotate())
				wtMust(t, c.Put(wtMetricLines(t, "ns-1")))
				wtMust(t, c.Rotate())
				wtMust(t, c.Get(func([]byte) error { return nil })) // ns-0 taken, .pos advanced
			})
		},
		want: []string{"ns-1"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, nil)
			tc.leave(t, h.cfg.QueueDir)
			w := h.open()
			for _, ns := range tc.write {
				wtWrite(t, w, wtMetrics(ns))
			}
			h.run(w)
			h.until("the queue drained", func() bool {
				return wtSettled(w) && len(h.dk.delivered()[endpointMetrics]) >= len(tc.want)
			})
			if diff := cmp.Diff(tc.want, h.dk.delivered()[endpointMetrics]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLogs, h.logs.messages(slog.LevelWarn)); diff != "" {
				t.Errorf("warnings and errors (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(h.cfg.QueueDir, ".metric.inflight.tmp-123")); !os.IsNotExist(err) {
				t.Errorf("temporary in-flight copy left: %v", err)
			}
		})
	}
}

// TestStoreCountsBytes checks the byte counts the bound relies on against
// the files diskcache writes.
func TestStoreCountsBytes(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	recs := [][]byte{[]byte("a,b=c d=1i 1\n"), []byte("a,b=c d=22i 1\n")}
	for _, r := range recs {
		if _, err := st.put(st.metrics, r); err != nil {
			t.Fatal(err)
		}
	}
	onDisk, err := cacheBytes(filepath.Join(dir, endpointMetrics))
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ Queued, OnDisk, Inflight int64 }
	want := counts{Queued: int64(len(recs[0]) + len(recs[1]) + 2*recordOverhead), OnDisk: int64(len(recs[0]) + len(recs[1]) + 2*recordOverhead)}
	if diff := cmp.Diff(want, counts{Queued: st.metrics.bytes, OnDisk: onDisk}); diff != "" {
		t.Errorf("after two puts (-want +got):\n%s", diff)
	}

	rec, err := st.take(st.metrics)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(recs[0]), string(rec)); diff != "" {
		t.Errorf("taken (-want +got):\n%s", diff)
	}
	inflight, err := os.ReadFile(filepath.Join(dir, "metric.inflight"))
	if err != nil {
		t.Fatal(err)
	}
	want = counts{Queued: int64(len(recs[1]) + recordOverhead), Inflight: int64(len(recs[0]))}
	if diff := cmp.Diff(want, counts{Queued: st.metrics.bytes, Inflight: st.metrics.inflightBytes}); diff != "" {
		t.Errorf("after a take (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(string(recs[0]), string(inflight)); diff != "" {
		t.Errorf("in-flight file (-want +got):\n%s", diff)
	}
	if err := st.done(st.metrics); err != nil {
		t.Fatal(err)
	}
	if _, err := st.take(st.metrics); err != nil {
		t.Fatal(err)
	}
	if err := st.done(st.metrics); err != nil {
		t.Fatal(err)
	}
	if _, err := st.take(st.metrics); err != errQueueEmpty {
		t.Fatalf("take from an empty queue: %v, want errQueueEmpty", err)
	}
	if got := st.queueBytes(st.metrics); got != 0 {
		t.Errorf("queue bytes when empty: %d", got)
	}
	if err := st.close(); err != nil {
		t.Fatal(err)
	}
}
