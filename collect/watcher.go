package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
)

// PodSink receives the watcher's conversions. It is declared here by what the
// watcher needs; input implements it. Its methods are called from the
// informers' handler goroutines, one per watched namespace scope, so they may
// run concurrently; within one scope calls come in the order of the events.
// They should return quickly: client-go queues the notifications behind a slow
// sink without bound.
type PodSink interface {
	// PodChanged hands over a new observation: a pod added (the initial list
	// included) or updated in a field PodFromAPI reads. The sink keeps p; no
	// one modifies it afterwards.
	PodChanged(p *detect.Pod)
	// PodDeleted reports that the pod is gone.
	PodDeleted(namespace, uid string)
}

// Options scope what the watcher watches.
type Options struct {
	// Namespaces to watch, one informer each (a namespaced Role is then
	// enough); empty watches all namespaces with one informer.
	Namespaces []string
	// ExcludeNamespaces are left out: server-side, by a field selector, when
	// watching all namespaces; by not watching them otherwise.
	ExcludeNamespaces []string
	// LabelSelector restricts the pods watched, server-side.
	LabelSelector string
	// ResyncPeriod is the informers' resync period; 0 disables resyncs. The
	// watcher drops resyncs (same resourceVersion): they only cost a pass
	// over the cache.
	ResyncPeriod time.Duration
	// Clock times the event watcher's backoff and its Reflectors; nil is
	// the real clock.
	Clock clock.Clock
}

func (o *Options) clock() clock.Clock {
	if o.Clock == nil {
		return clock.RealClock{}
	}
	return o.Clock
}

// Stats counts what the watcher saw since it was created. Every field only
// grows.
type Stats struct {
	Added      uint64 // new pods handed to the sink: adds (the initial list included) and UID changes
	Updated    uint64 // updates handed to the sink
	Resyncs    uint64 // updates dropped because the resourceVersion did not change
	Unchanged  uint64 // updates dropped because no field PodFromAPI reads changed
	Replaced   uint64 // updates whose UID changed: the old pod deleted, the new one added
	Deleted    uint64 // deletions handed to the sink, tombstones included
	Tombstones uint64 // deletions the informer learned from a relist (DeletedFinalStateUnknown)
	Ignored    uint64 // objects that were not pods, or tombstones without a pod
	// WatchErrors counts list and watch failures; the informer backs off and
	// lists again after each.
	WatchErrors uint64
}

// Watcher watches pods with client-go informers and hands their conversions
// to a PodSink. It is the only place the agent watches Kubernetes.
type Watcher struct {
	sink   PodSink
	log    *slog.Logger
	scopes []*scope

	// ctx is Run's context, for the handlers' logging. Run sets it before it
	// starts the informers, whose goroutines alone read it.
	ctx     context.Context
	running atomic.Bool

	added, updated, resyncs, unchanged, replaced atomic.Uint64
	deleted, tombstones, ignored, watchErrors    atomic.Uint64
}

// scope is one informer: all namespaces or one.
type scope struct {
	namespace string // "" for all namespaces
	factory   informers.SharedInformerFactory
	reg       cache.ResourceEventHandlerRegistration

	// failure is set by a watch error and cleared, with a log line, by the
	// next notification: the informer listed or watched again successfully.
	failure logonce.Failure
}

// name returns the scope's namespace for logs, "*" for all.
func (s *scope) name() string {
	if s.namespace == metav1.NamespaceAll {
		return "*"
	}
	return s.namespace
}

// NewWatcher prepares the informers; Run starts them. The client should be
// built from Connect's configuration (protobuf); a fake client serves tests.
// A nil log discards the watcher's logs. It fails when opts leave nothing to
// watch.
func NewWatcher(client kubernetes.Interface, opts Options, sink PodSink, log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{sink: sink, log: log}
	namespaces := watchedNamespaces(opts.Namespaces, opts.ExcludeNamespaces)
	if len(opts.Namespaces) > 0 && len(namespaces) == 0 {
		return nil, errAllExcluded
	}
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	fieldSelector := ""
	if len(opts.Namespaces) == 0 {
		fieldSelector = excludeSelector(opts.ExcludeNamespaces)
	}
	tweak := func(o *metav1.ListOptions) {
		o.LabelSelector = opts.LabelSelector
		o.FieldSelector = fieldSelector
	}
	// Pods are decoded by the lean decoder beneath the informer (see
	// leanPodInformer); the fake clientset of unit tests has no REST client
	// and keeps client-go's informer, the transform then converting its pods.
	lean, err := leanPodClient(client)
	if err != nil {
		return nil, err
	}
	for _, ns := range namespaces {
		s := &scope{namespace: ns}
		s.factory = informers.NewSharedInformerFactoryWithOptions(client, opts.ResyncPeriod,
			informers.WithNamespace(ns),
			informers.WithTweakListOptions(tweak),
			informers.WithTransform(transform),
		)
		// The factory's default pod informer keeps a namespace index we never
		// read: this one has none. The factory still applies the transform.
		inf := s.factory.InformerFor(&corev1.Pod{}, func(c kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
			if lean != nil {
				return leanPodInformer(lean, ns, resync, tweak)
			}
			return coreinformers.NewFilteredPodInformer(c, ns, resync, cache.Indexers{}, tweak)
		})
		err := inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, _ *cache.Reflector, err error) {
			w.watchError(ctx, s, err)
		})
		if err == nil {
			s.reg, err = inf.AddEventHandler(handler{w, s})
		}
		if err != nil {
			return nil, fmt.Errorf("collect: pod informer: %w", err)
		}
		w.scopes = append(w.scopes, s)
	}
	return w, nil
}

// errAllExcluded is the constructors' error when every namespace to watch is
// also excluded.
var errAllExcluded = errors.New("collect: every namespace to watch is also excluded")

// watchedNamespaces returns namespaces without the excluded ones and empty
// names, sorted and without duplicates.
func watchedNamespaces(namespaces, exclude []string) []string {
	var out []string
	for _, ns := range namespaces {
		if ns != "" && !slices.Contains(exclude, ns) {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// excludeSelector returns the field selector that leaves the namespaces out,
// "metadata.namespace!=a,metadata.namespace!=b", or "" for none. The API
// server supports metadata.namespace as a pod field selector (with = and !=)
// for the core/v1 pods resource, the cluster-wide list included.
func excludeSelector(exclude []string) string {
	exclude = slices.Clone(exclude)
	slices.Sort(exclude)
	exclude = slices.Compact(exclude)
	sels := make([]fields.Selector, 0, len(exclude))
	for _, ns := range exclude {
		if ns != "" {
			sels = append(sels, fields.OneTermNotEqualSelector("metadata.namespace", ns))
		}
	}
	if len(sels) == 0 {
		return ""
	}
	return fields.AndSelectors(sels...).String()
}

// Run starts the informers and blocks until ctx ends; it returns once their
// goroutines, handlers included, have stopped. A watcher runs once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("collect: watcher already running or ran")
	}
	// client-go logs through klog's contextual logger: send that to our slog
	// logger (klog's V(n) becomes slog level -n, so V(4) shows at debug).
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(w.log.Handler()))
	w.ctx = ctx
	for _, s := range w.scopes {
		s.factory.StartWithContext(ctx)
	}
	w.log.InfoContext(ctx, "watching pods", "namespaces", w.namespaces())
	<-ctx.Done()
	for _, s := range w.scopes {
		s.factory.Shutdown() // waits for the informer and its handlers
	}
	return nil
}

// namespaces returns the namespaces watched, "*" for all, for logs.
func (w *Watcher) namespaces() []string {
	out := make([]string, 0, len(w.scopes))
	for _, s := range w.scopes {
		out = append(out, s.name())
	}
	return out
}

// WaitForSync blocks until every informer's initial list has been delivered
// to the sink, and reports true; it reports false if ctx ends first.
func (w *Watcher) WaitForSync(ctx context.Context) bool {
	for _, s := range w.scopes {
		select {
		case <-s.reg.HasSyncedChecker().Done():
		case <-ctx.Done():
			return w.HasSynced()
		}
	}
	return true
}

// HasSynced reports whether every informer's initial list has been delivered
// to the sink.
func (w *Watcher) HasSynced() bool {
	for _, s := range w.scopes {
		if !s.reg.HasSynced() {
			return false
		}
	}
	return true
}

// Stats returns the counters. It is safe to call at any time.
func (w *Watcher) Stats() Stats {
	return Stats{
		Added:       w.added.Load(),
		Updated:     w.updated.Load(),
		Resyncs:     w.resyncs.Load(),
		Unchanged:   w.unchanged.Load(),
		Replaced:    w.replaced.Load(),
		Deleted:     w.deleted.Load(),
		Tombstones:  w.tombstones.Load(),
		Ignored:     w.ignored.Load(),
		WatchErrors: w.watchErrors.Load(),
	}
}

// watchError counts a list or watch failure and logs it when it differs from
// the scope's previous one: a failure repeating at every back-off is logged
// once, until the scope recovers. An expired resourceVersion is routine (the
// informer lists again) and logged at debug.
func (w *Watcher) watchError(ctx context.Context, s *scope, err error) {
	w.watchErrors.Add(1)
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		w.log.DebugContext(ctx, "pod watch expired, listing again", "namespace", s.name(), "err", err)
		return
	}
	if s.failure.Failed(err.Error()) {
		w.log.WarnContext(ctx, "pod watch failed, retrying with back-off", "namespace", s.name(), "err", err)
	} else {
		w.log.DebugContext(ctx, "pod watch failed again", "namespace", s.name(), "err", err)
	}
}

// notified is called by every notification of the scope's informer that
// carries news from the API server (not resyncs, which come from the cache);
// after a watch error it logs the recovery.
func (w *Watcher) notified(s *scope) {
	if s.failure.Recovered() {
		w.log.InfoContext(w.ctx, "pod watch recovered", "namespace", s.name())
	}
}

// handler receives the informer's notifications. It only converts and hands
// off: the objects are the informer's cached (transformed) pods, read and
// never modified.
type handler struct {
	w *Watcher
	s *scope
}

func (h handler) OnAdd(obj any, _ bool) {
	w := h.w
	w.notified(h.s)
	p := podOf(obj)
	if p == nil {
		w.ignored.Add(1)
		return
	}
	w.added.Add(1)
	w.changed(p)
}

func (h handler) OnUpdate(oldObj, newObj any) {
	w := h.w
	old, cur := podOf(oldObj), podOf(newObj)
	if old == nil || cur == nil {
		w.ignored.Add(1)
		return
	}
	if old.resourceVersion == cur.resourceVersion {
		// A resync, or a relist that found the pod unchanged. The
		// resourceVersion is opaque: only equality means anything.
		w.resyncs.Add(1)
		return
	}
	w.notified(h.s)
	if old.uid != cur.uid {
		// Deleted and recreated under the same name (a StatefulSet's pod)
		// while the watch was down: two different pods.
		w.replaced.Add(1)
		w.gone(old.GetNamespace(), old.name, old.uid)
		w.added.Add(1)
		w.changed(cur)
		return
	}
	if old.sameContent(cur) {
		// Only fields the transform drops changed (conditions, IPs,
		// annotations, ...): the cached pods differ in resourceVersion only.
		w.unchanged.Add(1)
		return
	}
	w.updated.Add(1)
	w.changed(cur)
}

func (h handler) OnDelete(obj any) {
	w := h.w
	w.notified(h.s)
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		w.tombstones.Add(1)
		obj = t.Obj
	}
	p := podOf(obj)
	if p == nil {
		w.ignored.Add(1)
		w.log.WarnContext(w.ctx, "pod deletion without the pod, ignored", "object", obj)
		return
	}
	w.gone(p.GetNamespace(), p.name, p.uid)
}

// podOf returns obj as the cache holds a pod, or nil. The informer's objects
// are cachedPods (see transform); a *corev1.Pod, which only tests hand the
// handler directly, is converted.
func podOf(obj any) *cachedPod {
	switch o := obj.(type) {
	case *cachedPod:
		return o
	case *corev1.Pod:
		return newCachedPod(o)
	}
	return nil
}

func (w *Watcher) changed(p *cachedPod) { w.hand(p.pod()) }

func (w *Watcher) hand(p *detect.Pod) {
	if w.log.Enabled(w.ctx, slog.LevelDebug) {
		w.log.DebugContext(w.ctx, "pod changed", "namespace", p.Namespace, "pod", p.Name, "uid", p.UID)
	}
	w.sink.PodChanged(p)
}

func (w *Watcher) gone(namespace, name, uid string) {
	w.deleted.Add(1)
	if w.log.Enabled(w.ctx, slog.LevelDebug) {
		w.log.DebugContext(w.ctx, "pod deleted", "namespace", namespace, "pod", name, "uid", uid)
	}
	w.sink.PodDeleted(namespace, uid)
}
