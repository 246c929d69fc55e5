package collect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// EventSink receives the Warning events about pods. Its method is called
// from the event watcher's goroutines, one per watched namespace scope.
type EventSink interface {
	// PodEvent hands over a new or updated Warning event about the pod uid.
	PodEvent(namespace, uid string, e detect.Event)
}

// Event watching. Events are the busiest objects of a cluster and the
// agent needs only a few per restarting pod, so the watcher keeps none: it
// lists once, page by page, handing each event over and dropping the page,
// then watches from the list's resourceVersion, handing over each change as
// it comes. The sink keeps what it needs (a small ring per pod, see
// detect.Detector.PodEvent). No informer store holds them, so a cluster's
// event volume costs the agent nothing but the conversion.
const (
	// eventPageSize is the page size of the initial list.
	eventPageSize = 500
	// eventWatchTimeout makes the server end a watch after this long, so
	// that a silently broken connection is noticed; the watch resumes from
	// the last resourceVersion.
	eventWatchTimeout = 5 * time.Minute
	// eventBackoffMax caps the wait between failed attempts.
	eventBackoffMax = 30 * time.Second
)

// eventFieldSelector selects the Warning events about pods.
var eventFieldSelector = fields.AndSelectors(
	fields.OneTermEqualSelector("type", corev1.EventTypeWarning),
	fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
)

// EventWatcher watches Warning events about pods without storing them.
type EventWatcher struct {
	client kubernetes.Interface
	sink   EventSink
	log    *slog.Logger
	scopes []eventScope
	err    error

	// after sets the backoff's waits; time.After outside tests.
	after func(time.Duration) <-chan time.Time

	unlisted atomic.Int32  // scopes yet to complete their first list
	synced   chan struct{} // closed when every scope listed once
}

// eventScope is one namespace, or all namespaces, watched with one field
// selector.
type eventScope struct {
	namespace string
	selector  string
	listed    sync.Once

	mu      sync.Mutex // guards lastErr
	lastErr string     // the last failure logged; "" while healthy
}

// NewEventWatcher prepares the watch of Warning events about pods in the
// namespaces opts selects (its LabelSelector does not apply: events carry
// no pod labels). A nil log discards the logs.
func NewEventWatcher(client kubernetes.Interface, opts Options, sink EventSink, log *slog.Logger) *EventWatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &EventWatcher{client: client, sink: sink, log: log, after: time.After, synced: make(chan struct{})}
	namespaces := watchedNamespaces(opts.Namespaces, opts.ExcludeNamespaces)
	if len(opts.Namespaces) > 0 && len(namespaces) == 0 {
		w.err = errors.New("collect: every namespace to watch is also excluded")
		return w
	}
	if len(namespaces) == 0 {
		sel := eventFieldSelector
		if ex := excludeSelector(opts.ExcludeNamespaces); ex != "" {
			parsed, err := fields.ParseSelector(ex)
			if err != nil {
				w.err = fmt.Errorf("collect: event field selector: %w", err)
				return w
			}
			sel = fields.AndSelectors(sel, parsed)
		}
		w.scopes = []eventScope{{namespace: metav1.NamespaceAll, selector: sel.String()}}
		return w
	}
	w.scopes = make([]eventScope, len(namespaces))
	for i, ns := range namespaces {
		w.scopes[i] = eventScope{namespace: ns, selector: eventFieldSelector.String()}
	}
	return w
}

// Run lists and watches until ctx ends, relisting when the watch's
// resourceVersion expires and retrying failures with a capped backoff. It
// returns nil when ctx ends, or the construction error.
func (w *EventWatcher) Run(ctx context.Context) error {
	if w.err != nil {
		return w.err
	}
	w.unlisted.Store(int32(len(w.scopes)))
	g, ctx := errgroup.WithContext(ctx)
	for i := range w.scopes {
		s := &w.scopes[i]
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

// errExpired ends a watch whose resourceVersion is too old: list again.
var errExpired = errors.New("event watch expired")

func (w *EventWatcher) runScope(ctx context.Context, s *eventScope) {
	backoff := time.Duration(0)
	wait := func() bool {
		backoff = min(max(2*backoff, time.Second), eventBackoffMax)
		select {
		case <-ctx.Done():
			return false
		case <-w.after(backoff):
			return true
		}
	}
	for ctx.Err() == nil {
		rv, err := w.list(ctx, s)
		if err != nil {
			w.failed(ctx, s, "list", err)
			if !wait() {
				return
			}
			continue
		}
		s.listed.Do(func() {
			if w.unlisted.Add(-1) == 0 {
				close(w.synced)
			}
		})
		for ctx.Err() == nil {
			next, err := w.watch(ctx, s, rv)
			if next != "" {
				rv = next
			}
			if errors.Is(err, errExpired) {
				w.log.DebugContext(ctx, "event watch expired, listing again", "namespace", s.name())
				break
			}
			if err != nil {
				w.failed(ctx, s, "watch", err)
				if !wait() {
					return
				}
				continue
			}
			backoff = 0
			w.recovered(ctx, s)
		}
	}
}

// list hands over every current Warning event of the scope, a page at a
// time, and returns the resourceVersion to watch from.
func (w *EventWatcher) list(ctx context.Context, s *eventScope) (string, error) {
	opts := metav1.ListOptions{FieldSelector: s.selector, Limit: eventPageSize}
	for {
		page, err := w.client.CoreV1().Events(s.namespace).List(ctx, opts)
		if err != nil {
			if apierrors.IsResourceExpired(err) && opts.Continue != "" {
				// The continue token expired mid-list: start over.
				opts.Continue = ""
				continue
			}
			return "", err
		}
		for i := range page.Items {
			w.hand(&page.Items[i])
		}
		if page.Continue == "" {
			w.recovered(ctx, s)
			return page.ResourceVersion, nil
		}
		opts.Continue = page.Continue
	}
}

// watch hands over the changes after rv until the watch ends, and returns
// the last resourceVersion seen.
func (w *EventWatcher) watch(ctx context.Context, s *eventScope, rv string) (string, error) {
	timeout := int64(eventWatchTimeout / time.Second)
	wi, err := w.client.CoreV1().Events(s.namespace).Watch(ctx, metav1.ListOptions{
		FieldSelector:       s.selector,
		ResourceVersion:     rv,
		AllowWatchBookmarks: true,
		TimeoutSeconds:      &timeout,
	})
	if err != nil {
		if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return "", errExpired
		}
		return "", err
	}
	defer wi.Stop()
	last := ""
	for {
		select {
		case <-ctx.Done():
			return last, nil
		case ev, ok := <-wi.ResultChan():
			if !ok {
				return last, nil // ended by the server's timeout: resume
			}
			switch ev.Type {
			case watch.Added, watch.Modified:
				if e, ok := ev.Object.(*corev1.Event); ok {
					last = e.ResourceVersion
					w.hand(e)
				}
			case watch.Bookmark:
				if e, ok := ev.Object.(*corev1.Event); ok {
					last = e.ResourceVersion
				}
			case watch.Deleted:
				// Events expire after an hour; what the sink keeps it keeps
				// for the pod's lifetime.
				if e, ok := ev.Object.(*corev1.Event); ok {
					last = e.ResourceVersion
				}
			case watch.Error:
				err := apierrors.FromObject(ev.Object)
				if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
					return last, errExpired
				}
				return last, err
			}
		}
	}
}

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
func (w *EventWatcher) failed(ctx context.Context, s *eventScope, op string, err error) {
	msg := op + ": " + err.Error()
	s.mu.Lock()
	changed := msg != s.lastErr
	s.lastErr = msg
	s.mu.Unlock()
	if changed {
		w.log.WarnContext(ctx, "event "+op+" failed, retrying with back-off; root-cause analyses lack Warning events meanwhile",
			"namespace", s.name(), "err", err)
	} else {
		w.log.DebugContext(ctx, "event "+op+" failed again", "namespace", s.name(), "err", err)
	}
}

// recovered logs the end of a failure.
func (w *EventWatcher) recovered(ctx context.Context, s *eventScope) {
	s.mu.Lock()
	was := s.lastErr
	s.lastErr = ""
	s.mu.Unlock()
	if was != "" {
		w.log.InfoContext(ctx, "event watch recovered", "namespace", s.name())
	}
}
