package collect

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/go-logr/logr"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
)

// EventSink receives the Warning events about pods. Its method is called
// from the event watcher's goroutines, one per watched namespace scope.
type EventSink interface {
	// PodEvent hands over a new or updated Warning event about the pod uid.
	PodEvent(namespace, uid string, e detect.Event)
}

// Event watching. Events are the busiest objects of a cluster and the
// agent needs only a few per restarting pod, so the watcher keeps none: a
// client-go Reflector lists (page by page) and watches them into a store
// that hands each event over and keeps nothing, as kube-state-metrics does
// with its metrics stores. The sink keeps what it needs (a small ring per
// pod, see detect.Detector.PodEvent). The Reflector resumes watches,
// relists when their resourceVersion expires and reads bookmarks; the
// watcher only backs off between failed attempts, on the injected clock,
// and logs them.
const (
	// eventPageSize is the page size of the initial list.
	eventPageSize = 500
	// eventBackoffReset is how long an attempt must last for the backoff
	// to start over.
	eventBackoffReset = 2 * time.Minute
)

// eventBackoff spaces failed attempts: 1 s doubling to 30 s, with jitter.
var eventBackoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 30 * time.Second}

// eventFieldSelector selects the Warning events about pods.
var eventFieldSelector = fields.AndSelectors(
	fields.OneTermEqualSelector("type", corev1.EventTypeWarning),
	fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
)

// EventWatcher watches Warning events about pods without storing them.
type EventWatcher struct {
	sink   EventSink
	log    *slog.Logger
	clock  clock.Clock
	scopes []*eventScope

	unlisted atomic.Int32  // scopes yet to complete their first list
	synced   chan struct{} // closed when every scope listed once
}

// eventScope is one namespace, or all namespaces, watched with one field
// selector by one Reflector.
type eventScope struct {
	namespace string
	selector  string // the field selector of the list and watch
	reflector *cache.Reflector
	listed    sync.Once
	failure   logonce.Failure
}

// NewEventWatcher prepares the watch of Warning events about pods in the
// namespaces opts selects (its LabelSelector does not apply: events carry
// no pod labels). A nil log discards the logs.
func NewEventWatcher(client kubernetes.Interface, opts Options, sink EventSink, log *slog.Logger) (*EventWatcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &EventWatcher{sink: sink, log: log, clock: opts.clock(), synced: make(chan struct{})}
	namespaces := watchedNamespaces(opts.Namespaces, opts.ExcludeNamespaces)
	if len(opts.Namespaces) > 0 && len(namespaces) == 0 {
		return nil, errAllExcluded
	}
	sel := eventFieldSelector
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
		if ex := excludeSelector(opts.ExcludeNamespaces); ex != "" {
			parsed, err := fields.ParseSelector(ex)
			if err != nil {
				return nil, fmt.Errorf("collect: event field selector: %w", err)
			}
			sel = fields.AndSelectors(sel, parsed)
		}
	}
	for _, ns := range namespaces {
		s := &eventScope{namespace: ns, selector: sel.String()}
		selector := s.selector
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = selector
				return client.CoreV1().Events(ns).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = selector
				return client.CoreV1().Events(ns).Watch(ctx, o)
			},
		}
		// As the generated informers do: a client that cannot stream the
		// initial list (the fake clientset) makes the Reflector list.
		s.reflector = cache.NewReflectorWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, client), &corev1.Event{}, &handingStore{w: w, s: s}, cache.ReflectorOptions{
			Name:  "warning events in " + s.name(),
			Clock: w.clock,
		})
		s.reflector.WatchListPageSize = eventPageSize
		w.scopes = append(w.scopes, s)
	}
	return w, nil
}

// Run lists and watches until ctx ends, retrying failures with a capped
// backoff. It returns nil when ctx ends.
func (w *EventWatcher) Run(ctx context.Context) error {
	// client-go logs through klog's contextual logger: send that to ours.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(w.log.Handler()))
	w.unlisted.Store(int32(len(w.scopes)))
	g, ctx := errgroup.WithContext(ctx)
	for _, s := range w.scopes {
		g.Go(func() error { w.runScope(ctx, s); return nil })
	}
	return g.Wait()
}

// WaitForSync blocks until every scope's current events were handed over
// once, reporting true, or until ctx ends, reporting false.
func (w *EventWatcher) WaitForSync(ctx context.Context) bool {
	select {
	case <-w.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// runScope runs the scope's Reflector until ctx ends. ListAndWatch returns
// when an attempt fails; the next one, after the backoff, lists again.
func (w *EventWatcher) runScope(ctx context.Context, s *eventScope) {
	delay := eventBackoff.DelayWithReset(w.clock, eventBackoffReset)
	for ctx.Err() == nil {
		err := s.reflector.ListAndWatchWithContext(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.failed(ctx, s, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-w.clock.After(delay()):
		}
	}
}

// handingStore is the Reflector's store of one scope: it hands every event
// added or updated to the sink and keeps nothing but the resourceVersion.
type handingStore struct {
	w *EventWatcher
	s *eventScope

	mu sync.Mutex // guards rv
	rv string
}

var _ cache.Store = (*handingStore)(nil)

func (h *handingStore) Add(obj any) error {
	h.handOver(obj)
	return nil
}

func (h *handingStore) Update(obj any) error {
	h.handOver(obj)
	return nil
}

// Delete does nothing: events expire after an hour; what the sink keeps it
// keeps for the pod's lifetime.
func (h *handingStore) Delete(any) error { return nil }

// Replace hands over a complete list: the first one syncs the scope.
func (h *handingStore) Replace(list []any, rv string) error {
	for _, obj := range list {
		h.handOver(obj)
	}
	h.Bookmark(rv)
	h.s.listed.Do(func() {
		if h.w.unlisted.Add(-1) == 0 {
			close(h.w.synced)
		}
	})
	h.w.recovered(h.s)
	return nil
}

func (h *handingStore) handOver(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return
	}
	h.w.recovered(h.s)
	h.Bookmark(e.ResourceVersion)
	h.w.hand(e)
}

func (h *handingStore) Bookmark(rv string) {
	h.mu.Lock()
	h.rv = rv
	h.mu.Unlock()
}

func (h *handingStore) LastStoreSyncResourceVersion() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.rv
}

func (h *handingStore) List() []any                        { return nil }
func (h *handingStore) ListKeys() []string                 { return nil }
func (h *handingStore) Get(any) (any, bool, error)         { return nil, false, nil }
func (h *handingStore) GetByKey(string) (any, bool, error) { return nil, false, nil }
func (h *handingStore) Resync() error                      { return nil }

// hand converts an event and hands it over; events about anything but a
// pod, or without the pod's UID, are skipped.
func (w *EventWatcher) hand(e *corev1.Event) {
	o := &e.InvolvedObject
	if o.Kind != "Pod" || o.UID == "" || e.Type != corev1.EventTypeWarning {
		return
	}
	ev := EventFromAPI(e)
	w.sink.PodEvent(o.Namespace, string(o.UID), ev)
	// Logged once handed over: events and pods come through two watches
	// in no guaranteed order, and a test whose restart must be explained
	// by an event waits for this line before it writes the restart.
	w.log.Debug("pod warning event handed over", "namespace", o.Namespace, "pod", o.Name,
		"container", ev.Container, "reason", ev.Reason, "count", ev.Count)
}

// EventFromAPI converts an event about a pod to detect's type: the
// container from involvedObject.fieldPath, the message bounded, the count
// and times from the legacy fields or, for events.k8s.io events, the series
// and eventTime.
func EventFromAPI(e *corev1.Event) detect.Event {
	out := detect.Event{
		Name:      e.Name,
		Reason:    bound(e.Reason, MaxReasonBytes),
		Message:   bound(e.Message, detect.MaxEventMessageBytes),
		Container: containerOfFieldPath(e.InvolvedObject.FieldPath),
		Count:     max(e.Count, 1),
		FirstSeen: e.FirstTimestamp.UTC(),
		LastSeen:  e.LastTimestamp.UTC(),
	}
	if e.Series != nil {
		out.Count = max(out.Count, e.Series.Count)
		if t := e.Series.LastObservedTime; !t.IsZero() && t.After(out.LastSeen) {
			out.LastSeen = t.UTC().Truncate(time.Second)
		}
	}
	if !e.EventTime.IsZero() {
		t := e.EventTime.UTC().Truncate(time.Second)
		if out.FirstSeen.IsZero() {
			out.FirstSeen = t
		}
		if out.LastSeen.IsZero() {
			out.LastSeen = t
		}
	}
	if e.FirstTimestamp.IsZero() && !out.LastSeen.IsZero() && out.FirstSeen.IsZero() {
		out.FirstSeen = out.LastSeen
	}
	if out.LastSeen.IsZero() {
		out.LastSeen = out.FirstSeen
	}
	return out
}

// containerOfFieldPath returns the container of a field path such as
// "spec.containers{app}", "spec.initContainers{init}" or
// "spec.ephemeralContainers{debug}", or "".
func containerOfFieldPath(path string) string {
	for _, prefix := range []string{"spec.containers{", "spec.initContainers{", "spec.ephemeralContainers{"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			if name, _, ok := strings.Cut(rest, "}"); ok {
				return name
			}
		}
	}
	return ""
}

// name returns the scope's namespace for logs, "*" for all.
func (s *eventScope) name() string {
	if s.namespace == metav1.NamespaceAll {
		return "*"
	}
	return s.namespace
}

// failed logs a failure when it differs from the scope's previous one.
func (w *EventWatcher) failed(ctx context.Context, s *eventScope, err error) {
	if s.failure.Failed(err.Error()) {
		w.log.WarnContext(ctx, "event watch failed, retrying with back-off; root-cause analyses lack Warning events meanwhile",
			"namespace", s.name(), "err", err)
	} else {
		w.log.DebugContext(ctx, "event watch failed again", "namespace", s.name(), "err", err)
	}
}

// recovered logs the end of a failure.
func (w *EventWatcher) recovered(s *eventScope) {
	if s.failure.Recovered() {
		w.log.Info("event watch recovered", "namespace", s.name())
	}
}
