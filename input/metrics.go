package input

import (
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// metricNamespace prefixes every series of the agent's own.
const metricNamespace = "k8s_pod_restart"

// Evaluation triggers, the trigger label of the evaluations counter.
const (
	triggerInterval = "interval" // every namespace, every interval
	triggerChange   = "change"   // the namespaces whose pods changed
)

// outputCategories are the category label's values: DataKit's write API
// categories the output writes to.
var outputCategories = []string{"keyevent", "metric"}

// agentMetrics are one cluster's self-metrics, registered (never in the
// global registry) with the cluster's label in the registry of the HTTP
// server its block's listen address names. The counters
// and histograms below are updated by the cluster's goroutines and are safe
// for concurrent use; everything else is read from its source when scraped
// (see statsCollector).
type agentMetrics struct {
	reg prometheus.Registerer // where the cluster's series go, labelled

	evaluations *prometheus.CounterVec // by trigger
	events      *prometheus.CounterVec // by decision kind
	reaction    prometheus.Histogram
	sendLatency *prometheus.HistogramVec // by category
	podLists    prometheus.Counter
}

// newProcessRegistry returns a registry holding the series of the process
// rather than of a cluster: the build, the Go runtime and the process's
// resources.
func newProcessRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: metricNamespace, Name: "build_info",
		Help:        "Always 1; the labels are the agent's version and the Go version that built it.",
		ConstLabels: prometheus.Labels{"version": version, "go_version": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// labelCluster labels every series of a cluster, so that the clusters whose
// blocks share a listen address share one /metrics.
const labelCluster = "cluster_name_k8s"

// clusterRegisterer returns reg for the series of one cluster: each gets the
// cluster's label.
func clusterRegisterer(reg prometheus.Registerer, cluster string) prometheus.Registerer {
	return prometheus.WrapRegistererWith(prometheus.Labels{labelCluster: cluster}, reg)
}

// newAgentMetrics registers one cluster's series in reg (see
// clusterRegisterer).
func newAgentMetrics(reg prometheus.Registerer) *agentMetrics {
	m := &agentMetrics{
		reg: reg,
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "namespace_evaluations_total",
			Help: "Namespace evaluations: every namespace with pods at each interval, and the namespaces whose pods changed shortly after they changed.",
		}, []string{"trigger"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "events_total",
			Help: "Events queued for DataKit, or written to standard output, by kind: anomaly, escalation, reminder, recovery.",
		}, []string{"kind"}),
		reaction: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricNamespace, Name: "reaction_seconds",
			Help:    "Time from the pod update that made a namespace due for evaluation to its event being queued.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		sendLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricNamespace, Name: "output_send_seconds",
			Help:    "Duration of the requests DataKit accepted, by category.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"category"}),
		podLists: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "pod_lists_total",
			Help: "Pod lists sent to the API server: one per informer at start, then one per relist after a watch failed or expired.",
		}),
	}
	// Every label value exists from the start, at 0, so that rates and
	// absent() work before the first occurrence.
	for _, t := range []string{triggerInterval, triggerChange} {
		m.evaluations.WithLabelValues(t)
	}
	for _, k := range []detect.Kind{detect.KindAnomaly, detect.KindEscalation, detect.KindReminder, detect.KindRecovery} {
		m.events.WithLabelValues(k.String())
	}
	for _, c := range outputCategories {
		m.sendLatency.WithLabelValues(c)
	}
	m.reg.MustRegister(m.evaluations, m.events, m.reaction, m.sendLatency, m.podLists)
	return m
}

// observeSend is datakit.Config.ObserveSend.
func (m *agentMetrics) observeSend(category string, latency time.Duration) {
	if m == nil {
		return
	}
	m.sendLatency.WithLabelValues(category).Observe(latency.Seconds())
}

// countLists wraps the Kubernetes client's transport to count the pod lists
// the informers make: the initial ones and every relist. A list is a GET of
// a pods collection that is not a watch, or a watch asking for the initial
// events (the streaming list).
func (m *agentMetrics) countLists(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodGet && isPodCollection(r.URL.Path) {
			q := r.URL.Query()
			if q.Get("watch") != "true" && q.Get("watch") != "1" || q.Get("sendInitialEvents") == "true" {
				m.podLists.Inc()
			}
		}
		return rt.RoundTrip(r)
	})
}

// isPodCollection reports whether path is /api/v1/pods or
// /api/v1/namespaces/<ns>/pods.
func isPodCollection(path string) bool {
	rest, ok := strings.CutPrefix(path, "/api/v1/")
	if !ok {
		return false
	}
	if rest == "pods" {
		return true
	}
	rest, ok = strings.CutPrefix(rest, "namespaces/")
	ns, resource, _ := strings.Cut(rest, "/")
	return ok && ns != "" && resource == "pods"
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// wrote counts the events of a batch that was queued, and observes the
// reaction time of those whose namespace had changed: from firstChanged, the
// first observation that made it due, to queued.
func (m *agentMetrics) wrote(decisions []detect.Decision, firstChanged map[string]time.Time, queued time.Time) {
	if m == nil {
		return
	}
	for i := range decisions {
		d := &decisions[i]
		m.events.WithLabelValues(d.Kind.String()).Inc()
		if at, ok := firstChanged[d.Stats.Namespace]; ok && !at.After(queued) {
			m.reaction.Observe(queued.Sub(at).Seconds())
		}
	}
}

// evaluated counts n namespace evaluations of a trigger.
func (m *agentMetrics) evaluated(trigger string, n int) {
	if m == nil {
		return
	}
	m.evaluations.WithLabelValues(trigger).Add(float64(n))
}

// sources are what the scrape-time series and /readyz read of one cluster's
// agent. Each function is safe to call from the HTTP server's goroutines.
type sources struct {
	watcher  func() collect.Stats
	synced   func() bool
	detector func() detect.Counts
	output   func() datakit.Stats
	// queueMaxBytes bounds the disk queue; 0 when writing to standard
	// output, without a queue.
	queueMaxBytes int64
	// election returns the replica's role in the election: "leader" or
	// "standby"; nil when election is off.
	election func() string
}

// writes reports whether this replica writes events: it leads, or there is
// no election.
func (s *sources) writes() bool {
	return s.election == nil || s.election() == roleLeader
}

// statsCollector exposes the counters the watcher, the detector and the
// output writer keep, read at each scrape: nothing is counted twice.
type statsCollector struct {
	src *sources
	now func() time.Time

	watchErrors, notifications                *prometheus.Desc
	synced, leader, pods, namespaces, faults  *prometheus.Desc
	queued, sent, retries, dropped, invalid   *prometheus.Desc
	queueBytes, queueMaxBytes, failingSeconds *prometheus.Desc
}

func newStatsCollector(src *sources, now func() time.Time) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(metricNamespace, "", name), help, labels, nil)
	}
	return &statsCollector{
		src: src,
		now: now,
		watchErrors: d("watch_errors_total",
			"Failed pod lists and watches; the informer backs off and lists again."),
		notifications: d("pod_notifications_total",
			"Pod notifications from the informers by kind: added, updated, replaced (same name, new UID), deleted and tombstone (a deletion learned from a relist) reach detection; resync (same resourceVersion, as a relist delivers unchanged pods), unchanged (no field the agent reads changed) and ignored do not.",
			"kind"),
		synced: d("caches_synced",
			"1 once the pod informers delivered their first list, else 0."),
		leader: d("leader",
			"1 while this replica writes events: it leads the election, or election is off; 0 while it stands by."),
		pods: d("pods_tracked",
			"Pods detection tracks: existing ones, and deleted ones whose restarts are inside the window."),
		namespaces: d("namespaces_tracked",
			"Namespaces detection tracks: with pods or an open fault."),
		faults: d("faults_open",
			"Open faults by the level last reported.", "level"),
		queued: d("output_queued_batches_total",
			"Batches of events or metrics queued on disk for DataKit, by category.", "category"),
		sent: d("output_sent_batches_total",
			"Batches DataKit accepted, or written to standard output, by category.", "category"),
		retries: d("output_retries_total",
			"Failed attempts to send a batch that is sent again after a back-off, by category.", "category"),
		dropped: d("output_dropped_batches_total",
			"Batches dropped, by category and reason: rejected (DataKit refused them with a 4xx) or overflow (the queue was full).", "category", "reason"),
		invalid: d("output_invalid_points_total",
			"Events or metrics that failed to encode and were skipped, by category.", "category"),
		queueBytes: d("output_queue_bytes",
			"Bytes on the disk queue, in flight included, by category.", "category"),
		queueMaxBytes: d("output_queue_max_bytes",
			"The bound of the disk queue, queue_max_bytes; 0 when writing to standard output."),
		failingSeconds: d("output_failing_seconds",
			"How long the attempts to send have been failing without an answer from DataKit, by category; 0 while sending works.", "category"),
	}
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.watchErrors, c.notifications, c.synced, c.leader, c.pods, c.namespaces, c.faults,
		c.queued, c.sent, c.retries, c.dropped, c.invalid, c.queueBytes, c.queueMaxBytes, c.failingSeconds,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	bool01 := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}

	w := c.src.watcher()
	counter(c.watchErrors, w.WatchErrors)
	for _, n := range []struct {
		kind string
		v    uint64
	}{
		{"added", w.Added}, {"updated", w.Updated}, {"replaced", w.Replaced}, {"deleted", w.Deleted},
		{"tombstone", w.Tombstones}, {"resync", w.Resyncs}, {"unchanged", w.Unchanged}, {"ignored", w.Ignored},
	} {
		counter(c.notifications, n.v, n.kind)
	}
	gauge(c.synced, bool01(c.src.synced()))
	gauge(c.leader, bool01(c.src.writes()))

	d := c.src.detector()
	gauge(c.pods, float64(d.Pods))
	gauge(c.namespaces, float64(d.Namespaces))
	for _, l := range []detect.Level{detect.LevelWarning, detect.LevelError, detect.LevelCritical} {
		gauge(c.faults, float64(d.Faults[l]), l.String())
	}

	o := c.src.output()
	now := c.now()
	for i, s := range []*datakit.CategoryStats{&o.Events, &o.Metrics} {
		cat := outputCategories[i]
		counter(c.queued, s.Queued, cat)
		counter(c.sent, s.Sent, cat)
		counter(c.retries, s.Retried, cat)
		counter(c.dropped, s.Rejected, cat, "rejected")
		counter(c.dropped, s.Overflow, cat, "overflow")
		counter(c.invalid, s.Invalid, cat)
		gauge(c.queueBytes, float64(s.QueueBytes), cat)
		failing := 0.0
		if !s.FailingSince.IsZero() && now.After(s.FailingSince) {
			failing = now.Sub(s.FailingSince).Seconds()
		}
		gauge(c.failingSeconds, failing, cat)
	}
	gauge(c.queueMaxBytes, float64(c.src.queueMaxBytes))
}
