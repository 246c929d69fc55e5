package input

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// replayCluster returns a cluster writing to w and keeping its state in
// the file at statePath.
func replayCluster(t *testing.T, w *datakit.Writer, datakitURL, statePath string) *cluster {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ClusterName = "prod"
	cfg.DatakitURL = datakitURL
	return &cluster{
		cfg: cfg, log: slog.New(slog.DiscardHandler), clock: clocktesting.NewFakeClock(srvT0),
		detector: detect.New(detectConfig(cfg)), writer: w, metrics: newAgentMetrics(prometheus.NewRegistry()),
		store: fileStore{path: statePath}, dirty: map[string]time.Time{}, kick: make(chan struct{}, 1),
	}
}

func replayDecision(k detect.Kind, id string, level detect.Level, at time.Time) detect.Decision {
	f := detect.Fault{ID: "event-fault", Namespace: "shop", Start: srvT0, Level: level, MaxLevel: level, LastEvent: at}
	return detect.Decision{Kind: k, EventID: id, Level: level, At: at, Window: 30 * time.Minute, Fault: f,
		Stats: detect.Stats{Namespace: "shop", Pods: 10, RestartedPods: 4, Restarts: 4, Ratio: 0.4, Level: level, Fault: true}}
}

var eventIDs = regexp.MustCompile(`df_event_id="?(event-[a-z0-9]+)`)

// TestReplayContract: events that output refuses (its queue is full) stay
// pending, all of them, across later decisions; after the process dies
// without a word (no Close, no state save), the next start writes each of
// them exactly once, with its own df_event_id.
func TestReplayContract(t *testing.T) {
	dir := t.TempDir()
	statePath := filepath.Join(dir, "prod", stateKey)
	const datakitURL = "http://127.0.0.1:1" // never reached: the writer does not run

	// The first run: a queue smaller than any event, which takes one event
	// into its empty queues (no batch is refused forever) and refuses the
	// events behind it.
	full, err := datakit.New(datakit.Config{URL: datakitURL, QueueDir: filepath.Join(dir, "prod"), QueueMaxBytes: 64,
		Input: InputName, Encoder: output.EncoderConfig{Cluster: "prod"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first := replayCluster(t, full, datakitURL, statePath)
	queued := replayDecision(detect.KindAnomaly, "event-0", detect.LevelWarning, srvT0.Add(-time.Minute))
	first.write(t.Context(), output.Batch{At: queued.At, Decisions: []detect.Decision{queued}}, nil)
	decided := []detect.Decision{
		replayDecision(detect.KindAnomaly, "event-a", detect.LevelWarning, srvT0),
		replayDecision(detect.KindEscalation, "event-b", detect.LevelError, srvT0.Add(time.Minute)),
	}
	var wantPending []string
	for _, d := range decided {
		first.write(t.Context(), output.Batch{At: d.At, Decisions: []detect.Decision{d}}, nil)
		wantPending = append(wantPending, d.EventID)

		st, err := first.store.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var pending []string
		for _, p := range st.Pending {
			pending = append(pending, p.EventID)
		}
		if diff := cmp.Diff(wantPending, pending); diff != "" {
			t.Fatalf("pending after %s (-want +got):\n%s", d.EventID, diff)
		}
	}
	// The process dies: the queue's lock goes with it. Closing with an
	// ended context sends nothing and leaves the state file as it is.
	cctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = full.Close(cctx)

	// The next start, writing to standard output.
	var out bytes.Buffer
	w, err := datakit.New(datakit.Config{Stdout: &out, Encoder: output.EncoderConfig{Cluster: "prod"}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	next := replayCluster(t, w, "", statePath)
	next.restore(t.Context())
	var got []string
	for _, m := range eventIDs.FindAllStringSubmatch(out.String(), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if diff := cmp.Diff([]string{"event-a", "event-b"}, got); diff != "" {
		t.Errorf("events written at the next start (-want +got):\n%s\n%s", diff, out.String())
	}
	st, err := next.store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pending) != 0 {
		t.Errorf("%d events still pending after they were written", len(st.Pending))
	}

	// A later batch does not write them a third time.
	out.Reset()
	next.write(t.Context(), output.Batch{At: srvT0.Add(time.Hour), Stats: []detect.Stats{{Namespace: "shop", Pods: 10}}}, nil)
	if m := eventIDs.FindAllString(out.String(), -1); len(m) != 0 {
		t.Errorf("the next batch wrote events again: %v", m)
	}
	_ = w.Close(t.Context())
}
