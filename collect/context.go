package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
)

// ContextSink receives what the root-cause analysis reads besides pods.
// Its methods are called from the informers' handler goroutines.
type ContextSink interface {
	NamespaceSink
	NodeSink
	RevisionSink
}

// ContextWatcher watches what explains restarts and what tunes detection,
// each through an informer whose cache holds only what is read:
//
//   - namespaces, metadata only (a metadata informer: no spec or status is
//     even decoded), for the annotations that override the rules;
//   - nodes, for their conditions and whether they are cordoned;
//   - ReplicaSets, for the revisions of Deployments: rollouts and the
//     changes that trigger restarts.
//
// A failing informer (say, RBAC forbids nodes) retries with back-off and
// logs the failure once; detection goes on without that context.
type ContextWatcher struct {
	sink ContextSink
	log  *slog.Logger
	opts Options

	informers []*contextInformer
	starts    []func(ctx context.Context)
	stops     []func()

	ctx context.Context // Run's, for the handlers' logs

	mu       sync.Mutex          // guards problems
	problems map[string][]string // namespace -> annotation problems logged
}

// contextInformer is one informer of a ContextWatcher.
type contextInformer struct {
	what string // "namespaces", "nodes", "replicasets" and the namespace
	inf  cache.SharedIndexInformer
	reg  cache.ResourceEventHandlerRegistration

	failure logonce.Failure
}

// NewContextWatcher prepares the informers; Run starts them. meta may be
// nil, which leaves namespace annotations out.
func NewContextWatcher(client kubernetes.Interface, meta metadata.Interface, opts Options, sink ContextSink, log *slog.Logger) (*ContextWatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &ContextWatcher{sink: sink, log: log, opts: opts, ctx: context.Background(), problems: map[string][]string{}}
	var errs []error
	namespaces := watchedNamespaces(opts.Namespaces, opts.ExcludeNamespaces)
	if len(opts.Namespaces) > 0 && len(namespaces) == 0 {
		return nil, errAllExcluded
	}

	if meta != nil {
		f := metadatainformer.NewSharedInformerFactoryWithOptions(meta, opts.ResyncPeriod, metadatainformer.WithTransform(trimNamespace))
		inf := f.ForResource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Informer()
		errs = append(errs, w.add("namespaces", inf, namespaceHandler{w}))
		w.starts = append(w.starts, func(ctx context.Context) { f.Start(ctx.Done()) })
		w.stops = append(w.stops, f.Shutdown)
	}

	nodes := informers.NewSharedInformerFactoryWithOptions(client, opts.ResyncPeriod, informers.WithTransform(trimNode))
	errs = append(errs, w.add("nodes", nodes.InformerFor(&corev1.Node{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		return coreinformers.NewNodeInformer(c, resync, cache.Indexers{})
	}), nodeHandler{w}))
	w.starts = append(w.starts, nodes.StartWithContext)
	w.stops = append(w.stops, nodes.Shutdown)

	scopes := namespaces
	fieldSelector := ""
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
		fieldSelector = excludeSelector(opts.ExcludeNamespaces)
	}
	tweak := func(o *metav1.ListOptions) { o.FieldSelector = fieldSelector }
	for _, ns := range scopes {
		f := informers.NewSharedInformerFactoryWithOptions(client, opts.ResyncPeriod, informers.WithNamespace(ns),
			informers.WithTweakListOptions(tweak), informers.WithTransform(trimReplicaSet))
		inf := f.InformerFor(&appsv1.ReplicaSet{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			return appsinformers.NewFilteredReplicaSetInformer(c, ns, resync, cache.Indexers{}, tweak)
		})
		name := "replicasets"
		if ns != metav1.NamespaceAll {
			name += " in " + ns
		}
		errs = append(errs, w.add(name, inf, revisionHandler{w}))
		w.starts = append(w.starts, f.StartWithContext)
		w.stops = append(w.stops, f.Shutdown)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("collect: context informers: %w", err)
	}
	return w, nil
}

// add registers the handler and the watch-error handler of an informer.
func (w *ContextWatcher) add(what string, inf cache.SharedIndexInformer, h cache.ResourceEventHandler) error {
	ci := &contextInformer{what: what, inf: inf}
	err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
		w.watchError(ctx, ci, err)
	})
	if err == nil {
		ci.reg, err = inf.AddEventHandler(recovering{ci: ci, w: w, h: h})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	w.informers = append(w.informers, ci)
	return nil
}

// Run starts the informers and blocks until ctx ends; it returns once their
// goroutines have stopped.
func (w *ContextWatcher) Run(ctx context.Context) error {
	w.ctx = ctx
	for _, start := range w.starts {
		start(ctx)
	}
	<-ctx.Done()
	for _, stop := range w.stops {
		stop()
	}
	return nil
}

// WaitForSync blocks until every informer's initial list was handed over,
// reporting true, or until ctx ends, reporting false.
func (w *ContextWatcher) WaitForSync(ctx context.Context) bool {
	for _, ci := range w.informers {
		select {
		case <-ci.reg.HasSyncedChecker().Done():
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// NamespaceGone reports whether the namespace informer, once synced, holds
// no namespace named name, or holds it Terminating: the namespace is
// deleted or being deleted. It reports false while that is not known (no
// namespace informer, or not synced).
func (w *ContextWatcher) NamespaceGone(name string) bool {
	for _, ci := range w.informers {
		if ci.what != "namespaces" || !ci.inf.HasSynced() {
			continue
		}
		obj, ok, err := ci.inf.GetStore().GetByKey(name)
		if err != nil {
			return false
		}
		if !ok {
			return true
		}
		m, isMeta := obj.(*metav1.PartialObjectMetadata)
		return isMeta && m.DeletionTimestamp != nil
	}
	return false
}

// Unsynced returns what has not synced yet, for logs.
func (w *ContextWatcher) Unsynced() []string {
	var out []string
	for _, ci := range w.informers {
		if !ci.reg.HasSynced() {
			out = append(out, ci.what)
		}
	}
	return out
}

func (w *ContextWatcher) watchError(ctx context.Context, ci *contextInformer, err error) {
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		w.log.DebugContext(ctx, ci.what+" watch expired, listing again", "err", err)
		return
	}
	if ci.failure.Failed(err.Error()) {
		w.log.WarnContext(ctx, ci.what+" watch failed, retrying with back-off; root-cause analyses lack it meanwhile", "err", err)
	}
}

// recovering wraps a handler: it logs the recovery of a failed watch, drops
// resyncs and unwraps tombstones.
type recovering struct {
	ci *contextInformer
	w  *ContextWatcher
	h  cache.ResourceEventHandler
}

func (r recovering) notified() {
	if r.ci.failure.Recovered() {
		r.w.log.InfoContext(r.w.ctx, r.ci.what+" watch recovered")
	}
}

func (r recovering) OnAdd(obj any, initial bool) { r.notified(); r.h.OnAdd(obj, initial) }

func (r recovering) OnUpdate(oldObj, newObj any) {
	o, err1 := metaOf(oldObj)
	n, err2 := metaOf(newObj)
	if err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion() {
		return // a resync
	}
	r.notified()
	r.h.OnUpdate(oldObj, newObj)
}

func (r recovering) OnDelete(obj any) {
	r.notified()
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	r.h.OnDelete(obj)
}

func metaOf(obj any) (metav1.Object, error) {
	o, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return o, nil
}

type namespaceHandler struct{ w *ContextWatcher }

func (h namespaceHandler) OnAdd(obj any, _ bool)   { h.changed(obj, false) }
func (h namespaceHandler) OnUpdate(_, obj any)     { h.changed(obj, false) }
func (h namespaceHandler) OnDelete(obj any)        { h.changed(obj, true) }
func (h namespaceHandler) selected(ns string) bool { return h.w.opts.selects(ns) }

func (h namespaceHandler) changed(obj any, deleted bool) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || !h.selected(m.Name) {
		return
	}
	if deleted || m.DeletionTimestamp != nil {
		h.w.setProblems(m.Name, nil)
		h.w.sink.NamespaceDeleted(m.Name)
		// Namespaces and pods come through two watches in no guaranteed
		// order: a test that deletes the pods of a namespace being
		// deleted waits for this line first.
		h.w.log.DebugContext(h.w.ctx, "namespace deletion recorded", "namespace", m.Name)
		return
	}
	o, problems := OverridesFromAnnotations(m.Annotations)
	// The problems are logged once the rest applies, so that whoever sees
	// the line (TestRCAAnnotations) knows the valid annotations apply.
	h.w.sink.NamespaceChanged(m.Name, o)
	h.w.setProblems(m.Name, problems)
}

// setProblems logs the namespace's annotation problems that were not
// logged before: a bad value is logged once, not at every update.
func (w *ContextWatcher) setProblems(ns string, problems []AnnotationProblem) {
	msgs := make([]string, len(problems))
	for i, p := range problems {
		msgs[i] = p.Error()
	}
	w.mu.Lock()
	old := w.problems[ns]
	if len(msgs) == 0 {
		delete(w.problems, ns)
	} else {
		w.problems[ns] = msgs
	}
	w.mu.Unlock()
	for _, m := range msgs {
		if !slices.Contains(old, m) {
			w.log.WarnContext(w.ctx, "namespace annotation ignored", "namespace", ns, "err", m)
		}
	}
}

// selects reports whether the options watch namespace ns.
func (o *Options) selects(ns string) bool {
	if slices.Contains(o.ExcludeNamespaces, ns) {
		return false
	}
	return len(o.Namespaces) == 0 || slices.Contains(o.Namespaces, ns)
}

type nodeHandler struct{ w *ContextWatcher }

func (h nodeHandler) OnAdd(obj any, _ bool) { h.changed(obj) }
func (h nodeHandler) OnUpdate(_, obj any)   { h.changed(obj) }
func (h nodeHandler) OnDelete(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		h.w.sink.NodeDeleted(n.Name)
	}
}

// changed hands the node over, then logs it at debug level: nodes and
// pods come through two watches in no guaranteed order, and a test whose
// events must show a node's conditions waits for this line.
func (h nodeHandler) changed(obj any) {
	if n, ok := obj.(*corev1.Node); ok {
		nd := NodeFromAPI(n)
		h.w.sink.NodeChanged(nd)
		h.w.log.DebugContext(h.w.ctx, "node recorded", "node", nd.Name,
			"conditions", strings.Join(nd.Conditions.Names(), ","), "unschedulable", nd.Unschedulable)
	}
}

type revisionHandler struct{ w *ContextWatcher }

func (h revisionHandler) OnAdd(obj any, _ bool) { h.changed(obj) }
func (h revisionHandler) OnUpdate(_, obj any)   { h.changed(obj) }
func (h revisionHandler) OnDelete(obj any) {
	r := revisionOf(obj)
	if r == nil {
		return
	}
	if r.rev.Deployment != "" {
		h.w.sink.RevisionDeleted(r.GetNamespace(), r.rev.Deployment, r.name)
	}
}

// changed hands a Deployment's revision to the sink, then logs it at debug
// level: the line says the detector has it, so that whoever crashes pods
// of a rollout (the end-to-end tests) can wait for it instead of assuming
// the ReplicaSet watch delivers before the pod watch.
func (h revisionHandler) changed(obj any) {
	if r := revisionOf(obj); r != nil && r.ok {
		h.w.sink.RevisionChanged(r.rev)
		h.w.log.DebugContext(h.w.ctx, "deployment revision recorded", "namespace", r.rev.Namespace,
			"deployment", r.rev.Deployment, "revision", r.rev.Number, "replicaset", r.rev.Name)
	}
}
