package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// debounce is how long a namespace's changes gather before it is evaluated:
// a burst of pod updates costs one evaluation, and a restart is reported
// within this delay whatever the interval.
const debounce = 50 * time.Millisecond

// revisionWait bounds how long a namespace's fault waits to open or rise
// for the ReplicaSet of a pod's Deployment revision (detect.Config's
// RevisionWait). A ReplicaSet is created before its pods, but its watch may
// deliver it after theirs; the two usually differ by milliseconds, and a
// ReplicaSet that cannot be read (RBAC) must not hold a namespace for long.
const revisionWait = 10 * time.Second

// closeGrace bounds the flush of queued data on shutdown; what is left stays
// on disk for the next start.
const closeGrace = 10 * time.Second

// RunOptions are the process-level settings Run takes besides the configs.
type RunOptions struct {
	Clock   clock.WithTicker // nil: the real clock
	Stdout  io.Writer        // where line protocol goes when datakit_url is empty
	Version string
}

// Run watches every configured cluster until ctx ends. It returns the first
// error that stops a cluster's watch; the others are then stopped too.
func Run(ctx context.Context, cfgs []*Config, log *slog.Logger, opts RunOptions) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, cfg := range cfgs {
		log := log.With("cluster", cfg.ClusterName)
		g.Go(func() error {
			if err := runCluster(ctx, cfg, log, opts); err != nil {
				return fmt.Errorf("cluster %s: %w", cfg.ClusterName, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// detectConfig maps the user's rules onto detect's.
func detectConfig(c *Config) detect.Config {
	return detect.Config{
		Window:           c.Window.Duration,
		RecoverAfter:     c.Interval.Duration,
		Silence:          c.Silence.Duration,
		MinPods:          c.MinPods,
		MinRestartedPods: c.MinRestartedPods,
		RatioWarning:     c.RatioWarning,
		RatioError:       c.RatioError,
		RatioCritical:    c.RatioCritical,
		Baseline:         detect.BaselineConfig{Enabled: c.Baseline, Windows: c.BaselineWindows, Margin: c.BaselineMargin},
		RevisionWait:     revisionWait,
	}
}

func runCluster(ctx context.Context, cfg *Config, log *slog.Logger, opts RunOptions) error {
	restCfg, err := collect.Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return err
	}
	metrics := newAgentMetrics(opts.Version)
	restCfg.Wrap(metrics.countLists)
	srv, err := listenHTTP(cfg.Listen, log)
	if err != nil {
		return err
	}
	defer srv.close()
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	queueDir := ""
	if cfg.DatakitURL != "" {
		queueDir = filepath.Join(cfg.QueueDir, cfg.ClusterName)
	}
	writer, err := datakit.New(datakit.Config{
		URL:           cfg.DatakitURL,
		Stdout:        opts.Stdout,
		QueueDir:      queueDir,
		QueueMaxBytes: cfg.QueueMaxBytes,
		Input:         InputName,
		Encoder:       output.EncoderConfig{Cluster: cfg.ClusterName, Tags: cfg.Tags(), Language: cfg.Language},
		Clock:         opts.Clock,
		ObserveSend:   metrics.observeSend,
	}, log)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}

	c := &cluster{
		cfg:      cfg,
		log:      log,
		clock:    opts.Clock,
		detector: detect.New(detectConfig(cfg)),
		writer:   writer,
		metrics:  metrics,
		self:     newSelfSampler(log),
		dirty:    make(map[string]time.Time),
		kick:     make(chan struct{}, 1),
	}
	c.watcher = collect.NewWatcher(client, collect.Options{
		Namespaces:        cfg.Namespaces,
		ExcludeNamespaces: cfg.ExcludeNamespaces,
		LabelSelector:     cfg.PodLabelSelector,
	}, c, log)
	if c.rca, err = newAnalysis(restCfg, client, cfg, c, log); err != nil {
		return err
	}

	leaseNS := ""
	if cfg.Election {
		if leaseNS, err = c.leaseNamespace(); err != nil {
			return err
		}
	}
	c.store = newStateStore(cfg, client, leaseNS, queueDir)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.watcher.Run(gctx) })
	g.Go(func() error { return c.rca.run(gctx, c.watcher) })
	g.Go(func() error { return writer.Run(gctx) })
	if srv != nil {
		h := c.httpHandler()
		g.Go(func() error { return srv.run(gctx, h) })
	}
	g.Go(func() error {
		if c.watcher.WaitForSync(gctx) {
			c.log.Info("pod caches synced; watching", "namespaces", cfg.Namespaces, "exclude_namespaces", cfg.ExcludeNamespaces)
		}
		return nil
	})
	g.Go(func() error {
		if !cfg.Election {
			return c.lead(gctx)
		}
		return c.elect(gctx, client, leaseNS, c.lead)
	})
	err = g.Wait()

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
	defer cancel()
	if cerr := writer.Close(closeCtx); cerr != nil {
		log.Warn("output not fully flushed; the rest stays queued on disk", "err", cerr)
	}
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// cluster is the running agent for one configured cluster.
type cluster struct {
	cfg      *Config
	log      *slog.Logger
	clock    clock.WithTicker
	detector *detect.Detector
	watcher  *collect.Watcher
	writer   *datakit.Writer
	store    stateStore    // nil: faults are not persisted
	role     atomic.Value  // string: roleSingle, roleLeader or roleStandby
	metrics  *agentMetrics // nil: none
	self     *selfSampler  // nil: no k8s_pod_restart_agent points
	rca      *analysis     // what the root-cause analysis reads besides pods

	// mu guards dirty: the namespaces changed since their last evaluation,
	// filled by informer handlers and drained by loop.
	mu    sync.Mutex
	dirty map[string]time.Time // when each was first observed changed
	kick  chan struct{}        // wakes loop; capacity 1, never blocks a handler
}

var _ collect.PodSink = (*cluster)(nil)

// PodChanged hands an observation to the detector; it runs on the informer's
// goroutine, so it only records and signals.
func (c *cluster) PodChanged(p *detect.Pod) {
	now := c.clock.Now()
	if c.detector.Observe(p, now) {
		c.markDirty(p.Namespace, now)
	}
}

// PodDeleted records a deleted pod.
func (c *cluster) PodDeleted(namespace, uid string) {
	now := c.clock.Now()
	if c.detector.Delete(namespace, uid, now) {
		c.markDirty(namespace, now)
	}
}

// markDirty records that namespace ns changed at an observation made at at.
func (c *cluster) markDirty(ns string, at time.Time) {
	c.mu.Lock()
	if _, ok := c.dirty[ns]; !ok {
		c.dirty[ns] = at
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// takeDirty returns the namespaces changed since the last call, each with
// the instant of its first change since, and forgets them.
func (c *cluster) takeDirty() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	taken := c.dirty
	c.dirty = make(map[string]time.Time, len(taken))
	return taken
}

// lead does the writing part of the agent, alone or as the elected leader:
// once the caches are synced it restores the persisted faults, then
// evaluates namespaces: all of them every interval, which also writes the
// metrics and lets restarts leave the window, and the changed ones shortly
// after they change.
func (c *cluster) lead(ctx context.Context) error {
	if !c.watcher.WaitForSync(ctx) {
		return ctx.Err()
	}
	c.rca.waitForSync(ctx)
	c.takeDirty() // the full evaluation below covers them
	c.restore(ctx)
	c.evaluateAll(ctx, nil)

	ticker := c.clock.NewTicker(c.cfg.Interval.Duration)
	defer ticker.Stop()
	var debounceC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C():
			c.evaluateAll(ctx, c.takeDirty())
		case <-c.kick:
			if debounceC == nil {
				debounceC = c.clock.After(debounce)
			}
		case <-debounceC:
			debounceC = nil
			c.evaluateChanged(ctx)
		}
	}
}

// evaluateAll evaluates every namespace and writes the metrics with the
// decisions; changed are the namespaces changed since the last evaluation,
// for the reaction time.
func (c *cluster) evaluateAll(ctx context.Context, changed map[string]time.Time) {
	now := c.clock.Now()
	stats, decisions := c.detector.EvaluateAll(now)
	c.metrics.evaluated(triggerInterval, len(stats))
	c.write(ctx, output.Batch{At: now, Decisions: decisions, Stats: stats, Agent: c.self.stats(ctx, now)}, changed)
}

func (c *cluster) evaluateChanged(ctx context.Context) {
	now := c.clock.Now()
	var decisions []detect.Decision
	changed := c.takeDirty()
	for _, ns := range slices.Sorted(maps.Keys(changed)) {
		if _, d := c.detector.Evaluate(ns, now); d != nil {
			decisions = append(decisions, *d)
		}
	}
	c.metrics.evaluated(triggerChange, len(changed))
	if len(decisions) > 0 {
		c.write(ctx, output.Batch{At: now, Decisions: decisions}, changed)
	}
}

// write logs the decisions, one line each, and writes the batch; changed
// are the namespaces whose change led to it, for the reaction time (nil for
// none).
func (c *cluster) write(ctx context.Context, b output.Batch, changed map[string]time.Time) {
	c.rca.enrich(ctx, b.Decisions)
	for i := range b.Decisions {
		d := &b.Decisions[i]
		c.log.Info("fault "+decisionVerb[d.Kind],
			"namespace", d.Stats.Namespace, "fault_level", d.Level.String(), "fault_id", d.Fault.ID, "event_id", d.EventID,
			"restarted_pods", d.Stats.RestartedPods, "pods", d.Stats.Pods, "ratio", d.Stats.Ratio)
	}
	// The decisions are remembered as pending until their events are
	// queued: a crash in between replays them at the next start.
	persist := c.store != nil && len(b.Decisions) > 0
	if persist {
		pending := make([]detect.Pending, len(b.Decisions))
		for i := range b.Decisions {
			pending[i] = b.Decisions[i].Pending()
		}
		c.saveState(ctx, faultState{Faults: c.detector.Faults(), Pending: pending})
	}
	if err := c.writer.Write(ctx, b); err != nil {
		c.log.Error("writing to output failed; pending events will be replayed at the next start", "err", err,
			"events", len(b.Decisions), "metrics", len(b.Stats))
		return
	}
	c.metrics.wrote(b.Decisions, changed, c.clock.Now())
	if persist {
		c.saveState(ctx, faultState{Faults: c.detector.Faults()})
	}
}

// restore reinstates the faults an earlier run left open and writes again
// the events it may not have queued.
func (c *cluster) restore(ctx context.Context) {
	if c.store == nil {
		return
	}
	st, err := c.store.Load(ctx)
	if err != nil {
		c.log.Error("fault state not restored; open faults may be reported again", "err", err)
		return
	}
	c.detector.RestoreFaults(st.Faults)
	for _, f := range st.Faults {
		c.log.Info("fault restored", "namespace", f.Namespace, "fault_id", f.ID, "fault_level", f.Level.String(), "since", f.Start)
		// A fault whose namespace went away while no replica ran ends at
		// the first evaluation, saying why.
		switch {
		case !c.cfg.IsNamespaceSelected(f.Namespace):
			c.detector.NamespaceGone(f.Namespace, detect.EndExcluded)
		case c.rca.namespaceGone(f.Namespace):
			c.detector.NamespaceGone(f.Namespace, detect.EndNamespaceDeleted)
		}
	}
	if len(st.Pending) == 0 {
		return
	}
	now := c.clock.Now()
	b := output.Batch{At: now}
	for _, p := range st.Pending {
		b.Decisions = append(b.Decisions, c.detector.Replay(p, now))
	}
	c.log.Info("replaying events a previous run may not have queued", "events", len(b.Decisions))
	c.write(ctx, b, nil)
}

func (c *cluster) saveState(ctx context.Context, st faultState) {
	if err := c.store.Save(ctx, st); err != nil {
		c.log.Error("saving fault state failed", "err", err)
	}
}

// newStateStore chooses where faults persist: with election, a ConfigMap
// beside the Lease, so that the replica taking over continues the faults;
// without, a file in the cluster's queue directory; in standard-output mode,
// nowhere.
func newStateStore(cfg *Config, client kubernetes.Interface, leaseNS, queueDir string) stateStore {
	switch {
	case cfg.Election:
		return configMapStore{client: client, namespace: leaseNS, name: cfg.ElectionLeaseName + "-state"}
	case queueDir != "":
		return fileStore{path: filepath.Join(queueDir, stateKey)}
	}
	return nil
}

var decisionVerb = map[detect.Kind]string{
	detect.KindAnomaly:    "opened",
	detect.KindEscalation: "escalated",
	detect.KindReminder:   "still open",
	detect.KindRecovery:   "recovered",
}
