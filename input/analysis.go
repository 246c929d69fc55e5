package input

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
)

// contextSyncWait bounds how long the first evaluation waits for the
// namespaces', nodes' and ReplicaSets' caches: annotations that disable a
// namespace should apply from the start, but a context that cannot be read
// (RBAC) must not stop detection.
const contextSyncWait = 30 * time.Second

// logsWait bounds the log collection of one batch of events: the events
// wait for it.
const logsWait = 10 * time.Second

// analysis runs what the root-cause analysis reads besides pods: the
// namespaces, nodes and ReplicaSets (collect.ContextWatcher), the Warning
// events about pods (collect.EventWatcher) and, with collect_logs, the log
// tails of restarted containers.
type analysis struct {
	log     *slog.Logger
	context *collect.ContextWatcher
	events  *collect.EventWatcher
	logs    *collect.LogFetcher // nil unless collect_logs

	// logFailure tells which log-read failures to log at warning level.
	logFailure logonce.Failure
}

func newAnalysis(restCfg *rest.Config, client kubernetes.Interface, cfg *Config, c *cluster, log *slog.Logger) (*analysis, error) {
	meta, err := metadata.NewForConfig(restCfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes metadata client: %w", err)
	}
	opts := collect.Options{Namespaces: cfg.Namespaces, ExcludeNamespaces: cfg.ExcludeNamespaces, Clock: c.clock}
	a := &analysis{log: log}
	if a.context, err = collect.NewContextWatcher(client, meta, opts, c, log); err != nil {
		return nil, err
	}
	if a.events, err = collect.NewEventWatcher(client, opts, c, log); err != nil {
		return nil, err
	}
	if cfg.CollectLogs {
		r, err := collect.NewRedactor(cfg.LogRedact)
		if err != nil {
			return nil, fmt.Errorf("log_redact: %w", err)
		}
		a.logs = collect.NewLogFetcher(collect.ClientLogSource{Client: client}, collect.LogOptions{
			TailLines: cfg.LogTailLines, TailBytes: cfg.LogTailBytes, Redactor: r,
		})
	}
	return a, nil
}

// run watches until ctx ends. Events are watched once the pods' initial
// list is in: the detector drops events about pods it does not know.
func (a *analysis) run(ctx context.Context, pods *collect.Watcher) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.context.Run(ctx) })
	g.Go(func() error {
		if !pods.WaitForSync(ctx) {
			return nil
		}
		return a.events.Run(ctx)
	})
	return g.Wait()
}

// waitForSync waits, at most contextSyncWait, for the context's caches and
// the first list of Warning events, so that the first evaluation, which
// reports what happened before the agent started, has them.
func (a *analysis) waitForSync(ctx context.Context) {
	if a == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, contextSyncWait)
	defer cancel()
	if !a.context.WaitForSync(wctx) && ctx.Err() == nil {
		a.log.Warn("root-cause context not synced yet; evaluating without it", "unsynced", a.context.Unsynced())
	}
	if !a.events.WaitForSync(wctx) && ctx.Err() == nil {
		a.log.Warn("Warning events not listed yet; evaluating without them")
	}
}

// enrich fetches the log tails of the decisions' restarted containers, when
// collect_logs is on. Recoveries carry none.
func (a *analysis) enrich(ctx context.Context, decisions []detect.Decision) {
	if a == nil || a.logs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, logsWait)
	defer cancel()
	for i := range decisions {
		d := &decisions[i]
		if d.Kind == detect.KindRecovery {
			continue
		}
		for _, err := range a.logs.Fill(ctx, d) {
			a.logFailed(err)
		}
	}
}

// logFailed logs a failure to read a log: at warning level when its kind
// changes (a missing pods/log permission is logged once, with the fix), at
// debug level otherwise.
func (a *analysis) logFailed(err error) {
	kind := "other"
	switch {
	case apierrors.IsForbidden(err):
		kind = "forbidden"
	case apierrors.IsNotFound(err):
		kind = "not found"
	}
	changed := a.logFailure.Failed(kind)
	switch {
	case changed && kind == "forbidden":
		a.log.Warn("collect_logs is on but reading pods/log is forbidden; apply manifests/overlays/logs/", "err", err)
	case changed:
		a.log.Warn("reading a container's log failed; events go without it", "err", err)
	default:
		a.log.Debug("reading a container's log failed", "err", err)
	}
}

// The cluster receives what the context and event watchers see.
var (
	_ collect.ContextSink = (*cluster)(nil)
	_ collect.EventSink   = (*cluster)(nil)
)

// NamespaceChanged applies a namespace's overrides; a namespace that
// exists is watched again if one of its name was deleted before.
func (c *cluster) NamespaceChanged(namespace string, o detect.Overrides) {
	gone := c.detector.NamespaceGone(namespace, detect.EndRecovered)
	if c.detector.SetOverrides(namespace, o) || gone {
		c.markDirty(namespace, c.clock.Now())
	}
}

// NamespaceDeleted ends the namespace's open fault, if any, at its next
// evaluation: its pods are going with it.
func (c *cluster) NamespaceDeleted(namespace string) {
	c.detector.SetOverrides(namespace, detect.Overrides{})
	if c.detector.NamespaceGone(namespace, detect.EndNamespaceDeleted) {
		c.markDirty(namespace, c.clock.Now())
	}
}

// namespaceGone reports whether the namespace is known to be deleted.
func (a *analysis) namespaceGone(namespace string) bool {
	return a != nil && a.context.NamespaceGone(namespace)
}

// NodeChanged records a node's state.
func (c *cluster) NodeChanged(n detect.Node) { c.detector.SetNode(n) }

// NodeDeleted forgets a node.
func (c *cluster) NodeDeleted(name string) { c.detector.DeleteNode(name) }

// RevisionChanged records a Deployment's revision; a new one may turn the
// restarts of the old one's pods into expected ones.
func (c *cluster) RevisionChanged(r detect.Revision) {
	now := c.clock.Now()
	if c.detector.SetRevision(r, now) {
		c.markDirty(r.Namespace, now)
	}
}

// RevisionDeleted forgets a ReplicaSet.
func (c *cluster) RevisionDeleted(namespace, deployment, name string) {
	c.detector.DeleteRevision(namespace, deployment, name)
}

// PodEvent records a Warning event about a pod.
func (c *cluster) PodEvent(namespace, uid string, e detect.Event) {
	c.detector.PodEvent(namespace, uid, e)
}
