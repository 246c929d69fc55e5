package input

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// debounce is how long a namespace's changes gather before it is evaluated:
// a burst of pod updates costs one evaluation, and a restart is reported
// within this delay whatever the interval.
const debounce = 50 * time.Millisecond

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
	}
}

func runCluster(ctx context.Context, cfg *Config, log *slog.Logger, opts RunOptions) error {
	restCfg, err := collect.Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	queueDir := ""
	if cfg.DatakitURL != "" {
		queueDir = filepath.Join(cfg.QueueDir, cfg.ClusterName)
	}
	writer, err := output.New(output.Config{
		URL:           cfg.DatakitURL,
		Stdout:        opts.Stdout,
		QueueDir:      queueDir,
		QueueMaxBytes: cfg.QueueMaxBytes,
		Input:         InputName,
		Encoder:       output.EncoderConfig{Cluster: cfg.ClusterName, Tags: cfg.Tags()},
		Clock:         opts.Clock,
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
		dirty:    make(map[string]struct{}),
		kick:     make(chan struct{}, 1),
	}
	c.watcher = collect.NewWatcher(client, collect.Options{
		Namespaces:        cfg.Namespaces,
		ExcludeNamespaces: cfg.ExcludeNamespaces,
		LabelSelector:     cfg.PodLabelSelector,
	}, c, log)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return c.watcher.Run(gctx) })
	g.Go(func() error { return writer.Run(gctx) })
	g.Go(func() error { return c.loop(gctx) })
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
	writer   *output.Writer

	// mu guards dirty: the namespaces changed since their last evaluation,
	// filled by informer handlers and drained by loop.
	mu    sync.Mutex
	dirty map[string]struct{}
	kick  chan struct{} // wakes loop; capacity 1, never blocks a handler
}

var _ collect.PodSink = (*cluster)(nil)

// PodChanged hands an observation to the detector; it runs on the informer's
// goroutine, so it only records and signals.
func (c *cluster) PodChanged(p *detect.Pod) {
	if c.detector.Observe(p, c.clock.Now()) {
		c.markDirty(p.Namespace)
	}
}

// PodDeleted records a deleted pod.
func (c *cluster) PodDeleted(namespace, uid string) {
	if c.detector.Delete(namespace, uid, c.clock.Now()) {
		c.markDirty(namespace)
	}
}

func (c *cluster) markDirty(ns string) {
	c.mu.Lock()
	c.dirty[ns] = struct{}{}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *cluster) takeDirty() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := make([]string, 0, len(c.dirty))
	for ns := range c.dirty {
		names = append(names, ns)
	}
	clear(c.dirty)
	slices.Sort(names)
	return names
}

// loop evaluates namespaces: all of them every interval, which also writes
// the metrics and lets restarts leave the window; and the changed ones
// shortly after they change.
func (c *cluster) loop(ctx context.Context) error {
	if !c.watcher.WaitForSync(ctx) {
		return ctx.Err()
	}
	c.log.Info("pod caches synced; watching", "namespaces", c.cfg.Namespaces, "exclude_namespaces", c.cfg.ExcludeNamespaces)
	c.takeDirty() // the full evaluation below covers them
	c.evaluateAll(ctx)

	ticker := c.clock.NewTicker(c.cfg.Interval.Duration)
	defer ticker.Stop()
	var debounceC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C():
			c.takeDirty()
			c.evaluateAll(ctx)
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

func (c *cluster) evaluateAll(ctx context.Context) {
	now := c.clock.Now()
	stats, decisions := c.detector.EvaluateAll(now)
	c.write(ctx, output.Batch{At: now, Decisions: decisions, Stats: stats})
}

func (c *cluster) evaluateChanged(ctx context.Context) {
	now := c.clock.Now()
	var decisions []detect.Decision
	for _, ns := range c.takeDirty() {
		if _, d := c.detector.Evaluate(ns, now); d != nil {
			decisions = append(decisions, *d)
		}
	}
	if len(decisions) > 0 {
		c.write(ctx, output.Batch{At: now, Decisions: decisions})
	}
}

func (c *cluster) write(ctx context.Context, b output.Batch) {
	for i := range b.Decisions {
		d := &b.Decisions[i]
		c.log.Info("fault "+decisionVerb[d.Kind],
			"namespace", d.Stats.Namespace, "level", d.Level.String(), "fault_id", d.Fault.ID, "event_id", d.EventID,
			"restarted_pods", d.Stats.RestartedPods, "pods", d.Stats.Pods, "ratio", d.Stats.Ratio)
	}
	if err := c.writer.Write(ctx, b); err != nil {
		c.log.Error("writing to output failed", "err", err, "events", len(b.Decisions), "metrics", len(b.Stats))
	}
}

var decisionVerb = map[detect.Kind]string{
	detect.KindAnomaly:    "opened",
	detect.KindEscalation: "escalated",
	detect.KindReminder:   "still open",
	detect.KindRecovery:   "recovered",
}
