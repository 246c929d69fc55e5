package input

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// TestStatsCollector checks each scrape-time series against the sources it
// reads.
func TestStatsCollector(t *testing.T) {
	src := &sources{
		watcher: func() collect.Stats {
			return collect.Stats{Added: 20, Updated: 7, Resyncs: 5, Unchanged: 3, Replaced: 1, Deleted: 2, Tombstones: 1, Ignored: 0, WatchErrors: 4}
		},
		synced: func() bool { return true },
		detector: func() detect.Counts {
			return detect.Counts{Namespaces: 3, Pods: 25, Faults: [detect.LevelCritical + 1]int{detect.LevelWarning: 1, detect.LevelCritical: 2}}
		},
		output: func() datakit.Stats {
			return datakit.Stats{
				Events: datakit.CategoryStats{Queued: 6, Sent: 5, Retried: 2, Rejected: 1, Overflow: 0, Invalid: 1, QueueBytes: 300,
					FailingSince: srvT0.Add(-90 * time.Second)},
				Metrics: datakit.CategoryStats{Queued: 40, Sent: 38, Overflow: 2, QueueBytes: 1200},
			}
		},
		queueMaxBytes: 4096,
		election:      func() string { return roleStandby },
	}
	c := newStatsCollector(src, func() time.Time { return srvT0 })
	const want = `
# HELP k8s_pod_restart_caches_synced 1 once the pod informers delivered their first list, else 0.
# TYPE k8s_pod_restart_caches_synced gauge
k8s_pod_restart_caches_synced 1
# HELP k8s_pod_restart_faults_open Open faults by the level last reported.
# TYPE k8s_pod_restart_faults_open gauge
k8s_pod_restart_faults_open{level="critical"} 2
k8s_pod_restart_faults_open{level="error"} 0
k8s_pod_restart_faults_open{level="warning"} 1
# HELP k8s_pod_restart_leader 1 while this replica writes events: it leads the election, or election is off; 0 while it stands by.
# TYPE k8s_pod_restart_leader gauge
k8s_pod_restart_leader 0
# HELP k8s_pod_restart_namespaces_tracked Namespaces detection tracks: with pods or an open fault.
# TYPE k8s_pod_restart_namespaces_tracked gauge
k8s_pod_restart_namespaces_tracked 3
# HELP k8s_pod_restart_output_dropped_batches_total Batches dropped, by category and reason: rejected (DataKit refused them with a 4xx) or overflow (the queue was full).
# TYPE k8s_pod_restart_output_dropped_batches_total counter
k8s_pod_restart_output_dropped_batches_total{category="keyevent",reason="overflow"} 0
k8s_pod_restart_output_dropped_batches_total{category="keyevent",reason="rejected"} 1
k8s_pod_restart_output_dropped_batches_total{category="metric",reason="overflow"} 2
k8s_pod_restart_output_dropped_batches_total{category="metric",reason="rejected"} 0
# HELP k8s_pod_restart_output_failing_seconds How long the attempts to send have been failing without an answer from DataKit, by category; 0 while sending works.
# TYPE k8s_pod_restart_output_failing_seconds gauge
k8s_pod_restart_output_failing_seconds{category="keyevent"} 90
k8s_pod_restart_output_failing_seconds{category="metric"} 0
# HELP k8s_pod_restart_output_invalid_points_total Events or metrics that failed to encode and were skipped, by category.
# TYPE k8s_pod_restart_output_invalid_points_total counter
k8s_pod_restart_output_invalid_points_total{category="keyevent"} 1
k8s_pod_restart_output_invalid_points_total{category="metric"} 0
# HELP k8s_pod_restart_output_queue_bytes Bytes on the disk queue, in flight included, by category.
# TYPE k8s_pod_restart_output_queue_bytes gauge
k8s_pod_restart_output_queue_bytes{category="keyevent"} 300
k8s_pod_restart_output_queue_bytes{category="metric"} 1200
# HELP k8s_pod_restart_output_queue_max_bytes The bound of the disk queue, queue_max_bytes; 0 when writing to standard output.
# TYPE k8s_pod_restart_output_queue_max_bytes gauge
k8s_pod_restart_output_queue_max_bytes 4096
# HELP k8s_pod_restart_output_queued_batches_total Batches of events or metrics queued on disk for DataKit, by category.
# TYPE k8s_pod_restart_output_queued_batches_total counter
k8s_pod_restart_output_queued_batches_total{category="keyevent"} 6
k8s_pod_restart_output_queued_batches_total{category="metric"} 40
# HELP k8s_pod_restart_output_retries_total Failed attempts to send a batch that is sent again after a back-off, by category.
# TYPE k8s_pod_restart_output_retries_total counter
k8s_pod_restart_output_retries_total{category="keyevent"} 2
k8s_pod_restart_output_retries_total{category="metric"} 0
# HELP k8s_pod_restart_output_sent_batches_total Batches DataKit accepted, or written to standard output, by category.
# TYPE k8s_pod_restart_output_sent_batches_total counter
k8s_pod_restart_output_sent_batches_total{category="keyevent"} 5
k8s_pod_restart_output_sent_batches_total{category="metric"} 38
# HELP k8s_pod_restart_pod_notifications_total Pod notifications from the informers by kind: added, updated, replaced (same name, new UID), deleted and tombstone (a deletion learned from a relist) reach detection; resync (same resourceVersion, as a relist delivers unchanged pods), unchanged (no field the agent reads changed) and ignored do not.
# TYPE k8s_pod_restart_pod_notifications_total counter
k8s_pod_restart_pod_notifications_total{kind="added"} 20
k8s_pod_restart_pod_notifications_total{kind="deleted"} 2
k8s_pod_restart_pod_notifications_total{kind="ignored"} 0
k8s_pod_restart_pod_notifications_total{kind="replaced"} 1
k8s_pod_restart_pod_notifications_total{kind="resync"} 5
k8s_pod_restart_pod_notifications_total{kind="tombstone"} 1
k8s_pod_restart_pod_notifications_total{kind="unchanged"} 3
k8s_pod_restart_pod_notifications_total{kind="updated"} 7
# HELP k8s_pod_restart_pods_tracked Pods detection tracks: existing ones, and deleted ones whose restarts are inside the window.
# TYPE k8s_pod_restart_pods_tracked gauge
k8s_pod_restart_pods_tracked 25
# HELP k8s_pod_restart_watch_errors_total Failed pod lists and watches; the informer backs off and lists again.
# TYPE k8s_pod_restart_watch_errors_total counter
k8s_pod_restart_watch_errors_total 4
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// Without election the replica always writes.
	src.election = nil
	const leader = `
# HELP k8s_pod_restart_leader 1 while this replica writes events: it leads the election, or election is off; 0 while it stands by.
# TYPE k8s_pod_restart_leader gauge
k8s_pod_restart_leader 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(leader), "k8s_pod_restart_leader"); err != nil {
		t.Error(err)
	}
}

// TestWroteAndEvaluated checks the counters and the reaction histogram that
// the cluster's loop feeds.
func TestWroteAndEvaluated(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newAgentMetrics(reg)
	changed := map[string]time.Time{"shop": srvT0, "cart": srvT0.Add(40 * time.Millisecond)}
	decisions := []detect.Decision{
		{Kind: detect.KindAnomaly, Stats: detect.Stats{Namespace: "shop"}},
		{Kind: detect.KindEscalation, Stats: detect.Stats{Namespace: "cart"}},
		{Kind: detect.KindRecovery, Stats: detect.Stats{Namespace: "idle"}}, // not changed: no reaction time
	}
	m.wrote(decisions, changed, srvT0.Add(60*time.Millisecond))
	m.wrote(decisions[:1], nil, srvT0.Add(time.Hour)) // a replay: counted, no reaction time
	m.evaluated(triggerInterval, 3)
	m.evaluated(triggerChange, 2)
	m.evaluated(triggerChange, 1)
	var nilMetrics *agentMetrics
	nilMetrics.wrote(decisions, changed, srvT0) // a cluster without metrics
	nilMetrics.evaluated(triggerChange, 1)

	const want = `
# HELP k8s_pod_restart_events_total Events queued for DataKit, or written to standard output, by kind: anomaly, escalation, reminder, recovery.
# TYPE k8s_pod_restart_events_total counter
k8s_pod_restart_events_total{kind="anomaly"} 2
k8s_pod_restart_events_total{kind="escalation"} 1
k8s_pod_restart_events_total{kind="recovery"} 1
k8s_pod_restart_events_total{kind="reminder"} 0
# HELP k8s_pod_restart_namespace_evaluations_total Namespace evaluations: every namespace with pods at each interval, and the namespaces whose pods changed shortly after they changed.
# TYPE k8s_pod_restart_namespace_evaluations_total counter
k8s_pod_restart_namespace_evaluations_total{trigger="change"} 3
k8s_pod_restart_namespace_evaluations_total{trigger="interval"} 3
# HELP k8s_pod_restart_reaction_seconds Time from the pod update that made a namespace due for evaluation to its event being queued.
# TYPE k8s_pod_restart_reaction_seconds histogram
k8s_pod_restart_reaction_seconds_bucket{le="0.01"} 0
k8s_pod_restart_reaction_seconds_bucket{le="0.025"} 1
k8s_pod_restart_reaction_seconds_bucket{le="0.05"} 1
k8s_pod_restart_reaction_seconds_bucket{le="0.075"} 2
k8s_pod_restart_reaction_seconds_bucket{le="0.1"} 2
k8s_pod_restart_reaction_seconds_bucket{le="0.15"} 2
k8s_pod_restart_reaction_seconds_bucket{le="0.25"} 2
k8s_pod_restart_reaction_seconds_bucket{le="0.5"} 2
k8s_pod_restart_reaction_seconds_bucket{le="1"} 2
k8s_pod_restart_reaction_seconds_bucket{le="2.5"} 2
k8s_pod_restart_reaction_seconds_bucket{le="5"} 2
k8s_pod_restart_reaction_seconds_bucket{le="10"} 2
k8s_pod_restart_reaction_seconds_bucket{le="30"} 2
k8s_pod_restart_reaction_seconds_bucket{le="60"} 2
k8s_pod_restart_reaction_seconds_bucket{le="+Inf"} 2
k8s_pod_restart_reaction_seconds_sum 0.08
k8s_pod_restart_reaction_seconds_count 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"k8s_pod_restart_events_total", "k8s_pod_restart_namespace_evaluations_total", "k8s_pod_restart_reaction_seconds"); err != nil {
		t.Error(err)
	}

	m.observeSend("keyevent", 30*time.Millisecond)
	if n, err := testutil.GatherAndCount(reg, "k8s_pod_restart_output_send_seconds"); err != nil || n != 2 {
		t.Errorf("send latency series: %d, %v; want one per category", n, err)
	}
	if got := testutil.ToFloat64(m.podLists); got != 0 {
		t.Errorf("pod lists before any request: %v", got)
	}
}

// TestCountLists checks which requests count as pod lists.
func TestCountLists(t *testing.T) {
	tests := []struct {
		method, url string
		list        bool
	}{
		{"GET", "https://api/api/v1/pods?limit=500&resourceVersion=0", true},
		{"GET", "https://api/api/v1/namespaces/shop/pods?labelSelector=app%3Dx", true},
		{"GET", "https://api/api/v1/pods?watch=true&resourceVersion=123&allowWatchBookmarks=true", false},
		{"GET", "https://api/api/v1/pods?watch=1&resourceVersion=123", false},
		{"GET", "https://api/api/v1/namespaces/shop/pods?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan", true},
		{"GET", "https://api/api/v1/namespaces/shop/pods/checkout-1", false},
		{"GET", "https://api/api/v1/namespaces/shop/pods/checkout-1/log", false},
		{"GET", "https://api/api/v1/namespaces/shop/configmaps", false},
		{"GET", "https://api/apis/coordination.k8s.io/v1/namespaces/k8s-pod-restart/leases/k8s-pod-restart", false},
		{"PUT", "https://api/api/v1/namespaces/shop/pods", false},
		{"GET", "https://api/api/v1/namespaces//pods", false},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.url, func(t *testing.T) {
			m := newAgentMetrics(prometheus.NewRegistry())
			sent := 0
			rt := m.countLists(roundTripperFunc(func(*http.Request) (*http.Response, error) {
				sent++
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
			}))
			req, err := http.NewRequest(tc.method, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rt.RoundTrip(req); err != nil {
				t.Fatal(err)
			}
			want := 0.0
			if tc.list {
				want = 1
			}
			if got := testutil.ToFloat64(m.podLists); got != want || sent != 1 {
				t.Errorf("counted %v lists and sent %d requests, want %v and 1", got, sent, want)
			}
		})
	}
}

// TestMetricsLint runs Prometheus' linter on every series of the agent.
func TestMetricsLint(t *testing.T) {
	srv := &server{reg: newProcessRegistry("v-test")}
	newAgentMetrics(srv.registerer("prod"))
	srv.add("prod", srvSources(), func() time.Time { return srvT0 })
	problems, err := testutil.GatherAndLint(srv.reg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, metricNamespace+"_") {
			got = append(got, p.Metric+": "+p.Text)
		}
	}
	if diff := cmp.Diff([]string(nil), got); diff != "" {
		t.Errorf("lint problems (-want +got):\n%s", diff)
	}
}

func TestBuildInfo(t *testing.T) {
	reg := newProcessRegistry("v1.2.3")
	want := `
# HELP k8s_pod_restart_build_info Always 1; the labels are the agent's version and the Go version that built it.
# TYPE k8s_pod_restart_build_info gauge
k8s_pod_restart_build_info{go_version="` + runtime.Version() + `",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "k8s_pod_restart_build_info"); err != nil {
		t.Error(err)
	}
}
