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
	"k8s.io/client-go/rest"
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

// ErrBadConfig marks the errors of Run caused by the configuration itself.
var ErrBadConfig = errors.New("bad configuration")

// Run watches every configured cluster until ctx ends. Like Telegraf's
// Init, it first validates every config, then builds every cluster, and
// connects to nothing until all of that succeeded; a config error wraps
// ErrBadConfig. Blocks sharing a listen address share one HTTP server. It
// returns the first error that stops a cluster's watch; the others are then
// stopped too.
func Run(ctx context.Context, cfgs []*Config, log *slog.Logger, opts RunOptions) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	var errs []error
	seen := make(map[string]bool, len(cfgs))
	for _, cfg := range cfgs {
		if err := cfg.Validate(); err != nil {
			errs = append(errs, prefixErrors("cluster "+cfg.ClusterName, err))
		}
		// Each cluster's queue directory and series are named after it.
		if seen[cfg.ClusterName] {
			errs = append(errs, fmt.Errorf("cluster %s: cluster_name: used by another block", cfg.ClusterName))
		}
		seen[cfg.ClusterName] = true
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w:\n%w", ErrBadConfig, err)
	}

	servers := make(map[string]*server)
	closeServers := func() {
		for _, s := range servers {
			s.close()
		}
	}
	for _, cfg := range cfgs {
		if _, ok := servers[cfg.Listen]; ok || cfg.Listen == "" {
			continue
		}
		s, err := listenHTTP(cfg.Listen, opts.Version, log)
		if err != nil {
			closeServers()
			return err
		}
		servers[cfg.Listen] = s
	}
	var clusters []*cluster
	for _, cfg := range cfgs {
		c, err := newCluster(ctx, cfg, log.With("cluster", cfg.ClusterName), opts, servers[cfg.Listen])
		if err != nil {
			for _, c := range clusters {
				c.close(ctx)
			}
			closeServers()
			return fmt.Errorf("cluster %s: %w", cfg.ClusterName, err)
		}
		clusters = append(clusters, c)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, s := range servers {
		g.Go(func() error { return s.run(gctx, opts.Clock.Now) })
	}
	for _, c := range clusters {
		g.Go(func() error {
			if err := c.run(gctx); err != nil {
				return fmt.Errorf("cluster %s: %w", c.cfg.ClusterName, err)
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

// newCluster builds the agent of one cluster from a valid cfg: clients,
// detector, output (whose disk queue it opens), watchers and state store,
// and adds it to srv (nil: no HTTP server). It connects to nothing. Every
// error it can return for a configuration, Validate reports first
// (TestValidateCoversStartup).
func newCluster(ctx context.Context, cfg *Config, log *slog.Logger, opts RunOptions, srv *server) (*cluster, error) {
	restCfg, err := collect.Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return nil, err
	}
	metrics := newAgentMetrics(srv.registerer(cfg.ClusterName))
	restCfg.Wrap(metrics.countLists)
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	dc := detectConfig(cfg)
	if err := dc.Validate(); err != nil {
		return nil, fmt.Errorf("detection rules: %w", err)
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
		TLS:           cfg.tlsConfig(),
		Encoder:       output.EncoderConfig{Cluster: cfg.ClusterName, Tags: cfg.Tags(), Language: cfg.Language},
		Clock:         opts.Clock,
		ObserveSend:   metrics.observeSend,
	}, log)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}

	c := &cluster{
		cfg:      cfg,
		log:      log,
		clock:    opts.Clock,
		client:   client,
		detector: detect.New(dc),
		writer:   writer,
		metrics:  metrics,
		self:     newSelfSampler(log),
		dirty:    make(map[string]time.Time),
		kick:     make(chan struct{}, 1),
	}
	if err := c.build(restCfg, queueDir); err != nil {
		c.close(ctx)
		return nil, err
	}
	srv.add(cfg.ClusterName, c.sources(), opts.Clock.Now)
	return c, nil
}

// build makes the cluster's watchers and state store.
func (c *cluster) build(restCfg *rest.Config, queueDir string) error {
	cfg := c.cfg
	// The pod watch, the busy stream, on a connection of its own.
	podClient, err := kubernetes.NewForConfig(collect.PodWatchConfig(restCfg))
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	c.watcher, err = collect.NewWatcher(podClient, collect.Options{
		Namespaces:        cfg.Namespaces,
		ExcludeNamespaces: cfg.ExcludeNamespaces,
		LabelSelector:     cfg.PodLabelSelector,
	}, c, c.log)
	if err != nil {
		return err
	}
	if c.rca, err = newAnalysis(restCfg, c.client, cfg, c, c.log); err != nil {
		return err
	}
	if cfg.Election {
		if c.leaseNS, err = c.leaseNamespace(); err != nil {
			return err
		}
	}
	c.store = newStateStore(cfg, c.client, c.leaseNS, queueDir)
	return nil
}

// close releases what newCluster opened, for a cluster that never runs: a
// start that failed must not try to send what an earlier run queued, so
// the output closes with an ended context and its queue stays on disk.
func (c *cluster) close(ctx context.Context) {
	closeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cancel()
	if err := c.writer.Close(closeCtx); err != nil {
		c.log.Debug("output closed before it ran", "err", err)
	}
}

// run watches the cluster until ctx ends, then flushes the output within
// closeGrace. It returns nil when ctx ended it.
func (c *cluster) run(ctx context.Context) error {
	cfg := c.cfg
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.watcher.Run(gctx) })
	g.Go(func() error { return c.rca.run(gctx, c.watcher) })
	g.Go(func() error { return c.writer.Run(gctx) })
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
		return c.elect(gctx, c.client, c.leaseNS, c.lead)
	})
	err := g.Wait()

	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeGrace)
	defer cancel()
	if cerr := c.writer.Close(closeCtx); cerr != nil {
		c.log.Warn("output not fully flushed; the rest stays queued on disk", "err", cerr)
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
	client   kubernetes.Interface
	leaseNS  string // the namespace of the election Lease; "" without election
	detector *detect.Detector
	watcher  *collect.Watcher
	writer   *datakit.Writer
	store    stateStore    // nil: faults are not persisted
	role     atomic.Value  // string: roleSingle, roleLeader or roleStandby
	metrics  *agentMetrics // nil: none
	self     *selfSampler  // nil: no k8s_pod_restart_agent points
	rca      *analysis     // what the root-cause analysis reads besides pods

	// unqueued are the decisions whose events output did not take yet, to
	// write again with the next batch; owned by the goroutine of lead.
	unqueued []detect.Decision

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
//
// The replay contract: a decision's event is pending from the moment it is
// decided until output has queued it (or, without DataKit, written it).
// Every pending event is saved with the fault state before each attempt, so
// that a crash replays it at the next start, and is attempted again with
// every later batch of this run. Events go to output apart from the metrics,
// so that a failure of the metrics alone never leaves queued events pending
// (they would be sent twice). An event thus arrives once or, when the agent
// died between queuing it and saving that it did, again with the same
// df_event_id.
func (c *cluster) write(ctx context.Context, b output.Batch, changed map[string]time.Time) {
	c.rca.enrich(ctx, b.Decisions)
	for i := range b.Decisions {
		d := &b.Decisions[i]
		c.log.Info("fault "+decisionVerb[d.Kind],
			"namespace", d.Stats.Namespace, "fault_level", d.Level.String(), "fault_id", d.Fault.ID, "event_id", d.EventID,
			"restarted_pods", d.Stats.RestartedPods, "pods", d.Stats.Pods, "ratio", d.Stats.Ratio)
	}
	if len(c.unqueued) > 0 {
		c.log.Info("writing again the events output did not take", "events", len(c.unqueued))
	}
	events := append(c.unqueued, b.Decisions...)
	c.unqueued = nil
	if len(events) > 0 {
		if c.store != nil {
			pending := make([]detect.Pending, len(events))
			for i := range events {
				pending[i] = events[i].Pending()
			}
			c.saveState(ctx, faultState{Faults: c.detector.Faults(), Pending: pending})
		}
		if !c.writeEvents(ctx, output.Batch{At: b.At, Decisions: events}) {
			c.unqueued = events
		} else {
			now := c.clock.Now()
			c.metrics.wrote(events[:len(events)-len(b.Decisions)], nil, now) // written again: no reaction time
			c.metrics.wrote(b.Decisions, changed, now)
			if c.store != nil {
				c.saveState(ctx, faultState{Faults: c.detector.Faults()})
			}
		}
	}
	if len(b.Stats) > 0 || b.Agent != nil {
		if err := c.writer.Write(ctx, output.Batch{At: b.At, Stats: b.Stats, Agent: b.Agent}); err != nil {
			c.log.Error("writing metrics to output failed", "err", err, "metrics", len(b.Stats))
		}
	}
}

// writeEvents writes a batch of events alone and reports whether output took
// them: queued them (with DataKit) or wrote them (without), or skipped them
// all as impossible to encode, which no later attempt would change. An
// error alone does not tell: output reports the events it skipped while it
// queues the others. Its counters do: only this goroutine writes events.
func (c *cluster) writeEvents(ctx context.Context, b output.Batch) bool {
	before := c.writer.Stats().Events
	err := c.writer.Write(ctx, b)
	after := c.writer.Stats().Events
	taken := after.Queued > before.Queued || (c.cfg.DatakitURL == "" && after.Sent > before.Sent)
	unencodable := after.Invalid-before.Invalid == uint64(len(b.Decisions))
	switch {
	case err == nil:
		return true
	case taken:
		c.log.Error("some events could not be encoded; the others are queued", "err", err, "events", len(b.Decisions))
		return true
	case unencodable:
		c.log.Error("no event could be encoded; dropping them", "err", err, "events", len(b.Decisions))
		return true
	}
	c.log.Error("writing events to output failed; they are written again with the next batch, or at the next start",
		"err", err, "events", len(b.Decisions))
	return false
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
