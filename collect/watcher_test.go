package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// waitLimit bounds every wait on the informers' goroutines; the tests never
// sleep, they wait for what they expect and fail after this long.
const waitLimit = 20 * time.Second

// event is one call to the sink, reduced to what the tests check.
type event struct {
	Op        string // changed or deleted
	Namespace string
	Name      string // "" for deleted
	UID       string
	Restarts  int32 // the first container's restart count
}

func (e event) String() string {
	return fmt.Sprintf("%s %s/%s %s %d", e.Op, e.Namespace, e.Name, e.UID, e.Restarts)
}

// recorder is a PodSink that records calls in order.
type recorder struct {
	events chan event
}

var _ PodSink = (*recorder)(nil)

func newRecorder() *recorder { return &recorder{events: make(chan event, 1000)} }

func (r *recorder) PodChanged(p *detect.Pod) {
	e := event{Op: "changed", Namespace: p.Namespace, Name: p.Name, UID: p.UID}
	if len(p.Containers) > 0 {
		e.Restarts = p.Containers[0].RestartCount
	}
	r.events <- e
}

func (r *recorder) PodDeleted(namespace, uid string) {
	r.events <- event{Op: "deleted", Namespace: namespace, UID: uid}
}

// next returns the next n events, failing the test if they do not come.
func (r *recorder) next(t *testing.T, n int) []event {
	t.Helper()
	var got []event
	timeout := time.After(waitLimit)
	for len(got) < n {
		select {
		case e := <-r.events:
			got = append(got, e)
		case <-timeout:
			t.Fatalf("got %d events %v, want %d", len(got), got, n)
		}
	}
	return got
}

// pending returns the events already recorded, without waiting.
func (r *recorder) pending() []event {
	var got []event
	for {
		select {
		case e := <-r.events:
			got = append(got, e)
		default:
			return got
		}
	}
}

func changed(ns, name, uid string, restarts int32) event {
	return event{Op: "changed", Namespace: ns, Name: name, UID: uid, Restarts: restarts}
}

func deleted(ns, uid string) event { return event{Op: "deleted", Namespace: ns, UID: uid} }

// testPod returns a pod in ns with one app container that restarted restarts
// times, at resourceVersion rv.
func testPod(ns, name, uid, rv string, restarts int32) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), ResourceVersion: rv, CreationTimestamp: at(0)},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", RestartCount: restarts}},
		},
	}
}

// startWatcher runs w until the test ends and waits for its initial sync.
func startWatcher(t *testing.T, w *Watcher) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Error("Run did not return after its context ended")
		}
	})
	syncCtx, stop := context.WithTimeout(ctx, waitLimit)
	defer stop()
	if !w.WaitForSync(syncCtx) {
		t.Fatal("WaitForSync returned false")
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestWatcher(t *testing.T) {
	type step func(ctx context.Context, t *testing.T, c *fakeCluster, w *Watcher)
	update := func(p *corev1.Pod) step {
		return func(ctx context.Context, t *testing.T, c *fakeCluster, _ *Watcher) {
			if _, err := c.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name      string
		opts      Options
		steps     []step
		want      []event // after the initial list's
		wantStats Stats
	}{
		{
			name:      "initial list",
			wantStats: Stats{Added: 1},
		},
		{
			name:      "update reaches the sink",
			steps:     []step{update(testPod("shop", "web", "uid-1", "11", 1))},
			want:      []event{changed("shop", "web", "uid-1", 1)},
			wantStats: Stats{Added: 1, Updated: 1},
		},
		{
			name: "update of trimmed fields only is dropped",
			steps: []step{
				update(func() *corev1.Pod {
					p := testPod("shop", "web", "uid-1", "11", 0)
					p.Annotations = map[string]string{"touched": "yes"}
					p.Status.PodIP = "10.0.0.1"
					return p
				}()),
				update(testPod("shop", "web", "uid-1", "12", 2)),
			},
			want:      []event{changed("shop", "web", "uid-1", 2)},
			wantStats: Stats{Added: 1, Updated: 1, Unchanged: 1},
		},
		{
			name: "update at the same resourceVersion is dropped",
			steps: []step{
				update(testPod("shop", "web", "uid-1", "10", 5)),
				update(testPod("shop", "web", "uid-1", "11", 6)),
			},
			want:      []event{changed("shop", "web", "uid-1", 6)},
			wantStats: Stats{Added: 1, Updated: 1, Resyncs: 1},
		},
		{
			name: "resync is dropped",
			opts: Options{ResyncPeriod: time.Second}, // client-go's minimum
			steps: []step{
				func(ctx context.Context, t *testing.T, _ *fakeCluster, w *Watcher) {
					waitFor(ctx, t, "a resync", func() bool { return w.Stats().Resyncs > 0 })
				},
				update(testPod("shop", "web", "uid-1", "11", 1)),
			},
			want: []event{changed("shop", "web", "uid-1", 1)},
			// Further resyncs may come before the end: not compared.
			wantStats: Stats{Added: 1, Updated: 1},
		},
		{
			name:      "uid change is a delete and an add",
			steps:     []step{update(testPod("shop", "web", "uid-2", "11", 0))},
			want:      []event{deleted("shop", "uid-1"), changed("shop", "web", "uid-2", 0)},
			wantStats: Stats{Added: 2, Replaced: 1, Deleted: 1},
		},
		{
			name: "delete",
			steps: []step{func(ctx context.Context, t *testing.T, c *fakeCluster, _ *Watcher) {
				if err := c.CoreV1().Pods("shop").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}},
			want:      []event{deleted("shop", "uid-1")},
			wantStats: Stats{Added: 1, Deleted: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := newFakeCluster(testPod("shop", "web", "uid-1", "10", 0))
			rec := newRecorder()
			w := newWatcherT(t, client, tc.opts, rec, discardLogger())
			startWatcher(t, w)
			client.waitWatching(t, 1)
			// WaitForSync means the initial list is in the sink already.
			if diff := cmp.Diff([]event{changed("shop", "web", "uid-1", 0)}, rec.pending()); diff != "" {
				t.Fatalf("initial list (-want +got):\n%s", diff)
			}
			for _, s := range tc.steps {
				s(t.Context(), t, client, w)
			}
			got := rec.next(t, len(tc.want))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			gotStats := w.Stats()
			if tc.opts.ResyncPeriod > 0 {
				gotStats.Resyncs = 0
			}
			if diff := cmp.Diff(tc.wantStats, gotStats); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if extra := rec.pending(); len(extra) > 0 {
				t.Errorf("unexpected events %v", extra)
			}
		})
	}
}

// waitFor polls cond until it holds, failing after waitLimit.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no %s after %v", what, waitLimit)
		}
	}
}

// fakeCluster is a fake clientset that records the pod lists and watches it
// serves (namespace and selectors) and counts the watches established.
type fakeCluster struct {
	*fake.Clientset

	mu       sync.Mutex
	requests []string
	watches  int
}

func newFakeCluster(objs ...runtime.Object) *fakeCluster {
	c := &fakeCluster{Clientset: fake.NewClientset(objs...)}
	c.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.ListAction).GetListRestrictions()
		c.record(a, r.Labels.String(), r.Fields.String())
		return false, nil, nil
	})
	// Like the fake's own watch reactor, but counting: the fake cannot replay
	// a deletion made before its watch exists, so tests wait for the watches.
	c.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		wa := a.(k8stesting.WatchActionImpl)
		r := wa.GetWatchRestrictions()
		c.record(a, r.Labels.String(), r.Fields.String())
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), wa.ListOptions)
		if err != nil {
			return true, nil, err
		}
		c.mu.Lock()
		c.watches++
		c.mu.Unlock()
		return true, w, nil
	})
	return c
}

func (c *fakeCluster) record(a k8stesting.Action, labels, fields string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, fmt.Sprintf("%s ns=%q labels=%q fields=%q", a.GetVerb(), a.GetNamespace(), labels, fields))
}

// seen returns the distinct requests recorded, sorted.
func (c *fakeCluster) seen() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.requests)
	slices.Sort(out)
	return slices.Compact(out)
}

// waitWatching waits until n watches are established.
func (c *fakeCluster) waitWatching(t *testing.T, n int) {
	t.Helper()
	waitFor(t.Context(), t, "watch", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.watches >= n
	})
}

func TestWatcherNamespaces(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		wantPods     []string // namespace/name delivered by the initial lists
		wantRequests []string
	}{
		{
			name:     "all namespaces, one informer",
			opts:     Options{LabelSelector: "app=web"},
			wantPods: []string{"a/p", "b/p", "kube-system/p"},
			wantRequests: []string{
				`list ns="" labels="app=web" fields=""`,
				`watch ns="" labels="app=web" fields=""`,
			},
		},
		{
			name: "all namespaces but excluded ones, by field selector",
			opts: Options{ExcludeNamespaces: []string{"kube-system", "b"}},
			// The fake client ignores field selectors: the API server applies them.
			wantPods: []string{"a/p", "b/p", "kube-system/p"},
			wantRequests: []string{
				`list ns="" labels="" fields="metadata.namespace!=b,metadata.namespace!=kube-system"`,
				`watch ns="" labels="" fields="metadata.namespace!=b,metadata.namespace!=kube-system"`,
			},
		},
		{
			name:     "some namespaces, one informer each",
			opts:     Options{Namespaces: []string{"b", "a", "b"}, LabelSelector: "tier in (front,back)"},
			wantPods: []string{"a/p", "b/p"},
			wantRequests: []string{
				`list ns="a" labels="tier in (back,front)" fields=""`,
				`list ns="b" labels="tier in (back,front)" fields=""`,
				`watch ns="a" labels="tier in (back,front)" fields=""`,
				`watch ns="b" labels="tier in (back,front)" fields=""`,
			},
		},
		{
			name:     "some namespaces minus excluded ones",
			opts:     Options{Namespaces: []string{"a", "kube-system"}, ExcludeNamespaces: []string{"kube-system"}},
			wantPods: []string{"a/p"},
			wantRequests: []string{
				`list ns="a" labels="" fields=""`,
				`watch ns="a" labels="" fields=""`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pods []runtime.Object
			for _, ns := range []string{"a", "b", "kube-system"} {
				p := testPod(ns, "p", "uid-"+ns, "1", 0)
				p.Labels = map[string]string{"app": "web", "tier": "front"}
				pods = append(pods, p)
			}
			client := newFakeCluster(pods...)
			rec := newRecorder()
			w := newWatcherT(t, client, tc.opts, rec, discardLogger())
			startWatcher(t, w)

			var got []string
			for _, e := range rec.pending() {
				got = append(got, e.Namespace+"/"+e.Name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tc.wantPods, got); diff != "" {
				t.Errorf("pods (-want +got):\n%s", diff)
			}
			client.waitWatching(t, len(tc.wantRequests)/2)
			if diff := cmp.Diff(tc.wantRequests, client.seen()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExcludeSelector(t *testing.T) {
	tests := []struct {
		name    string
		exclude []string
		want    string
	}{
		{name: "none", want: ""},
		{name: "one", exclude: []string{"kube-system"}, want: "metadata.namespace!=kube-system"},
		{name: "sorted, without duplicates", exclude: []string{"b", "a", "b"}, want: "metadata.namespace!=a,metadata.namespace!=b"},
		{name: "empty names ignored", exclude: []string{""}, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := excludeSelector(tc.exclude)
			if got != tc.want {
				t.Fatalf("excludeSelector(%q) = %q, want %q", tc.exclude, got, tc.want)
			}
			// What the API server will parse: every term is
			// metadata.namespace != name.
			sel, err := fields.ParseSelector(got)
			if err != nil {
				t.Fatal(err)
			}
			var excluded []string
			for _, r := range sel.Requirements() {
				if r.Field != "metadata.namespace" || r.Operator != selection.NotEquals {
					t.Errorf("requirement %+v", r)
				}
				excluded = append(excluded, r.Value)
			}
			for _, ns := range tc.exclude {
				if ns != "" && !slices.Contains(excluded, ns) {
					t.Errorf("%q not excluded by %q", ns, got)
				}
			}
		})
	}
}

func TestWatcherWaitForSync(t *testing.T) {
	t.Run("not running", func(t *testing.T) {
		w := newWatcherT(t, fake.NewClientset(), Options{}, newRecorder(), discardLogger())
		if w.HasSynced() {
			t.Error("HasSynced before Run")
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if w.WaitForSync(ctx) {
			t.Error("WaitForSync true before Run")
		}
	})
	t.Run("initial list delivered", func(t *testing.T) {
		var pods []runtime.Object
		for i := range 50 {
			pods = append(pods, testPod(fmt.Sprintf("ns%d", i%3), fmt.Sprintf("p%d", i), fmt.Sprintf("u%d", i), "1", 0))
		}
		rec := newRecorder()
		w := newWatcherT(t, fake.NewClientset(pods...), Options{Namespaces: []string{"ns0", "ns1", "ns2"}}, rec, discardLogger())
		startWatcher(t, w)
		if !w.HasSynced() {
			t.Error("HasSynced false after WaitForSync")
		}
		if got := len(rec.pending()); got != len(pods) {
			t.Errorf("%d pods in the sink after WaitForSync, want %d", got, len(pods))
		}
	})
}

func TestWatcherRunErrors(t *testing.T) {
	t.Run("every namespace excluded", func(t *testing.T) {
		w, err := NewWatcher(fake.NewClientset(), Options{Namespaces: []string{"a"}, ExcludeNamespaces: []string{"a"}},
			newRecorder(), discardLogger())
		if !errors.Is(err, errAllExcluded) || w != nil {
			t.Errorf("NewWatcher() = %v, %v; want nil, %v", w, err, errAllExcluded)
		}
	})
	t.Run("second run", func(t *testing.T) {
		w := newWatcherT(t, fake.NewClientset(), Options{}, newRecorder(), discardLogger())
		startWatcher(t, w)
		if err := w.Run(t.Context()); err == nil {
			t.Error("second Run returned nil")
		}
	})
}

func TestWatcherCountsWatchErrors(t *testing.T) {
	client := fake.NewClientset()
	client.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, errors.New("connection refused")
	})
	w := newWatcherT(t, client, Options{}, newRecorder(), discardLogger())
	startWatcher(t, w)
	waitFor(t.Context(), t, "watch error", func() bool { return w.Stats().WatchErrors > 0 })
}

func TestWatchErrorLogging(t *testing.T) {
	gone := apierrors.NewResourceExpired("too old resource version: 1 (5)")
	refused := errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errors.New("RBAC"))
	tests := []struct {
		name          string
		steps         []error // nil: a notification from the API server arrives
		wantWarn      int
		wantRecovered int
	}{
		{name: "one failure", steps: []error{refused}, wantWarn: 1},
		{name: "a repeating failure is logged once", steps: []error{refused, refused, refused}, wantWarn: 1},
		{name: "a changed failure is logged again", steps: []error{refused, forbidden, forbidden, refused}, wantWarn: 3},
		{name: "expiry is routine", steps: []error{gone, gone}, wantWarn: 0},
		{name: "recovery is logged once", steps: []error{refused, nil, nil}, wantWarn: 1, wantRecovered: 1},
		{name: "the same failure after a recovery is logged again", steps: []error{refused, nil, refused}, wantWarn: 2, wantRecovered: 1},
		{name: "notifications without failures log nothing", steps: []error{nil, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			w := newWatcherT(t, fake.NewClientset(), Options{}, newRecorder(), log)
			w.ctx = t.Context()
			errs := 0
			for _, err := range tc.steps {
				if err == nil {
					w.notified(w.scopes[0])
					continue
				}
				errs++
				w.watchError(t.Context(), w.scopes[0], err)
			}
			out := buf.String()
			if got := strings.Count(out, "level=WARN"); got != tc.wantWarn {
				t.Errorf("%d warnings, want %d:\n%s", got, tc.wantWarn, out)
			}
			if got := strings.Count(out, "recovered"); got != tc.wantRecovered {
				t.Errorf("%d recoveries logged, want %d:\n%s", got, tc.wantRecovered, out)
			}
			if got := w.Stats().WatchErrors; got != uint64(errs) {
				t.Errorf("WatchErrors = %d, want %d", got, errs)
			}
		})
	}
}

// TestHandler drives the event handler directly with what informers deliver
// in cases a fake client cannot produce (tombstones, foreign objects).
func TestHandler(t *testing.T) {
	pod := testPod("shop", "web", "uid-1", "10", 0)
	tests := []struct {
		name      string
		call      func(h handler)
		want      []event
		wantStats Stats
	}{
		{
			name:      "add",
			call:      func(h handler) { h.OnAdd(pod, true) },
			want:      []event{changed("shop", "web", "uid-1", 0)},
			wantStats: Stats{Added: 1},
		},
		{
			name:      "add of something else",
			call:      func(h handler) { h.OnAdd(&corev1.Node{}, false) },
			wantStats: Stats{Ignored: 1},
		},
		{
			name:      "resync",
			call:      func(h handler) { h.OnUpdate(pod, pod) },
			wantStats: Stats{Resyncs: 1},
		},
		{
			name:      "relevant update",
			call:      func(h handler) { h.OnUpdate(pod, testPod("shop", "web", "uid-1", "11", 1)) },
			want:      []event{changed("shop", "web", "uid-1", 1)},
			wantStats: Stats{Updated: 1},
		},
		{
			name: "irrelevant update",
			call: func(h handler) {
				p := testPod("shop", "web", "uid-1", "11", 0)
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				h.OnUpdate(pod, p)
			},
			wantStats: Stats{Unchanged: 1},
		},
		{
			name:      "uid change",
			call:      func(h handler) { h.OnUpdate(pod, testPod("shop", "web", "uid-2", "11", 0)) },
			want:      []event{deleted("shop", "uid-1"), changed("shop", "web", "uid-2", 0)},
			wantStats: Stats{Added: 1, Replaced: 1, Deleted: 1},
		},
		{
			name:      "delete",
			call:      func(h handler) { h.OnDelete(pod) },
			want:      []event{deleted("shop", "uid-1")},
			wantStats: Stats{Deleted: 1},
		},
		{
			name:      "tombstone",
			call:      func(h handler) { h.OnDelete(cache.DeletedFinalStateUnknown{Key: "shop/web", Obj: pod}) },
			want:      []event{deleted("shop", "uid-1")},
			wantStats: Stats{Deleted: 1, Tombstones: 1},
		},
		{
			name:      "tombstone without a pod",
			call:      func(h handler) { h.OnDelete(cache.DeletedFinalStateUnknown{Key: "shop/web"}) },
			wantStats: Stats{Tombstones: 1, Ignored: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := pod.DeepCopy()
			rec := newRecorder()
			w := newWatcherT(t, fake.NewClientset(), Options{}, rec, discardLogger())
			w.ctx = t.Context()
			tc.call(handler{w, w.scopes[0]})
			if diff := cmp.Diff(tc.want, rec.pending()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStats, w.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, pod, quantityEqual); diff != "" {
				t.Errorf("handler modified the cached pod (-before +after):\n%s", diff)
			}
		})
	}
}

// newWatcherT is NewWatcher for options that must be accepted.
func newWatcherT(t *testing.T, client kubernetes.Interface, opts Options, sink PodSink, log *slog.Logger) *Watcher {
	t.Helper()
	w, err := NewWatcher(client, opts, sink, log)
	if err != nil {
		t.Fatalf("NewWatcher: %v", err)
	}
	return w
}
