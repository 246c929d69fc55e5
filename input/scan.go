package input

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// ScanOptions are what a one-shot scan takes besides the configuration.
type ScanOptions struct {
	Clock clock.PassiveClock // nil: the real clock
	// NewID returns the event IDs of the namespaces over the rules; nil:
	// random ones, as the agent's.
	NewID func() string
}

// ScanReport is what a one-shot scan found in one cluster.
type ScanReport struct {
	Cluster string
	At      time.Time
	Window  time.Duration
	// Namespaces are the namespaces with pods, worst first: highest level,
	// then highest ratio, most restarted pods, most restarts, by name.
	Namespaces []NamespaceScan
	// Warnings are what could not be read besides pods (see collect.List).
	Warnings []error
}

// NamespaceScan is one namespace of a scan.
type NamespaceScan struct {
	// Decision is the agent's anomaly for a namespace at or over the rules,
	// else what detect.Detector.Inspect returns: the ratio and the
	// root-cause analysis either way.
	Decision detect.Decision
	// Fields are the keys of the namespace's metric point and, over the
	// rules, of its event (below them, the event's analysis keys), by name
	// (see scanFields).
	Fields map[string]any
}

// Over reports whether the namespace is at or over the rules: the agent
// would open a fault.
func (n *NamespaceScan) Over() bool { return n.Decision.Kind == detect.KindAnomaly }

// Over counts the namespaces at or over the rules.
func (r *ScanReport) Over() int {
	n := 0
	for i := range r.Namespaces {
		if r.Namespaces[i].Over() {
			n++
		}
	}
	return n
}

// Scan lists the cluster's pods, nodes, ReplicaSets, namespaces and Warning
// events once and judges every namespace as the agent's first evaluation
// would: the window is rebuilt from each container's last termination
// (detect.Detector.Observe of a pod seen for the first time), which makes
// the restarted-pod ratio exact. It writes nothing to the cluster.
func Scan(ctx context.Context, cfg *Config, log *slog.Logger, opts ScanOptions) (*ScanReport, error) {
	restCfg, err := collect.Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	meta, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	return scan(ctx, client, meta, cfg, log, opts)
}

func scan(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, cfg *Config, log *slog.Logger, opts ScanOptions) (*ScanReport, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	enc, err := output.NewEncoder(output.EncoderConfig{Cluster: cfg.ClusterName, Tags: cfg.Tags(), Language: cfg.Language})
	if err != nil {
		return nil, err
	}
	dcfg := detectConfig(cfg)
	dcfg.NewID = opts.NewID
	// One list of everything: what a ReplicaSet not listed would say never
	// comes, so nothing waits for it.
	dcfg.RevisionWait = 0
	sink := &scanSink{detector: detect.New(dcfg), clock: opts.Clock}
	warnings, err := collect.List(ctx, client, meta, collect.Options{
		Namespaces:        cfg.Namespaces,
		ExcludeNamespaces: cfg.ExcludeNamespaces,
		LabelSelector:     cfg.PodLabelSelector,
	}, sink)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		// The report shows them; the log says when.
		log.Debug("scanning without part of the root-cause context", "err", w)
	}

	now := opts.Clock.Now()
	r := &ScanReport{Cluster: cfg.ClusterName, At: now, Window: cfg.Window.Duration, Warnings: warnings}
	stats, decisions := sink.detector.EvaluateAll(now)
	for _, st := range stats {
		i := slices.IndexFunc(decisions, func(d detect.Decision) bool { return d.Stats.Namespace == st.Namespace })
		var n NamespaceScan
		if i >= 0 {
			n.Decision = decisions[i]
		} else {
			n.Decision = sink.detector.Inspect(st.Namespace, now)
		}
		if n.Fields, err = scanFields(enc, &n, now); err != nil {
			return nil, err
		}
		r.Namespaces = append(r.Namespaces, n)
	}
	slices.SortStableFunc(r.Namespaces, func(a, b NamespaceScan) int {
		x, y := &a.Decision.Stats, &b.Decision.Stats
		return cmp.Or(
			cmp.Compare(y.Level, x.Level),
			cmp.Compare(y.Ratio, x.Ratio),
			cmp.Compare(y.RestartedPods, x.RestartedPods),
			cmp.Compare(y.Restarts, x.Restarts),
			cmp.Compare(x.Namespace, y.Namespace),
		)
	})
	return r, nil
}

// scanSink hands what collect.List lists to the detector, all observed at
// the same instant.
type scanSink struct {
	detector *detect.Detector
	clock    clock.PassiveClock
}

var _ collect.ListSink = (*scanSink)(nil)

func (s *scanSink) PodChanged(p *detect.Pod)                       { s.detector.Observe(p, s.clock.Now()) }
func (s *scanSink) PodDeleted(ns, uid string)                      { s.detector.Delete(ns, uid, s.clock.Now()) }
func (s *scanSink) NamespaceChanged(ns string, o detect.Overrides) { s.detector.SetOverrides(ns, o) }

// NamespaceDeleted does nothing: a scan opens no fault that a namespace's
// deletion would end, and it still shows what the namespace's pods did.
func (s *scanSink) NamespaceDeleted(string) {}

func (s *scanSink) NodeChanged(n detect.Node)         { s.detector.SetNode(n) }
func (s *scanSink) NodeDeleted(name string)           { s.detector.DeleteNode(name) }
func (s *scanSink) RevisionChanged(r detect.Revision) { s.detector.SetRevision(r, s.clock.Now()) }
func (s *scanSink) RevisionDeleted(ns, dep, name string) {
	s.detector.DeleteRevision(ns, dep, name)
}
func (s *scanSink) PodEvent(ns, uid string, e detect.Event) { s.detector.PodEvent(ns, uid, e) }
