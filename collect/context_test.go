package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ktypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func TestOverridesFromAnnotations(t *testing.T) {
	p := AnnotationPrefix
	for _, tc := range []struct {
		name         string
		annotations  map[string]string
		want         detect.Overrides
		wantProblems []string // keys
	}{
		{"none", map[string]string{"other.io/x": "1"}, detect.Overrides{}, nil},
		{"all", map[string]string{
			p + "ratio-warning": "0.2", p + "ratio-error": " 0.4 ", p + "ratio-critical": "1",
			p + "min-pods": "5", p + "min-restarted-pods": "3", p + "disabled": "false",
		}, detect.Overrides{RatioWarning: 0.2, RatioError: 0.4, RatioCritical: 1, MinPods: 5, MinRestartedPods: 3}, nil},
		{"disabled", map[string]string{p + "disabled": "true"}, detect.Overrides{Disabled: true}, nil},
		{"bad values are left out, good ones apply", map[string]string{
			p + "ratio-warning": "30%", p + "ratio-error": "1.5", p + "min-pods": "0", p + "disabled": "yes please",
			p + "min-restarted-pods": "4", p + "ratio_critical": "0.9",
		}, detect.Overrides{MinRestartedPods: 4}, []string{"disabled", "min-pods", "ratio-error", "ratio-warning", "ratio_critical"}},
		{"ratios out of order: none applies", map[string]string{p + "ratio-warning": "0.6", p + "ratio-error": "0.4", p + "min-pods": "2"},
			detect.Overrides{MinPods: 2}, []string{"ratio-*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, problems := OverridesFromAnnotations(tc.annotations)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("overrides (-want +got):\n%s", diff)
			}
			var keys []string
			for _, pr := range problems {
				keys = append(keys, pr.Key)
			}
			if diff := cmp.Diff(tc.wantProblems, keys); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodeFromAPI(t *testing.T) {
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s}
	}
	for _, tc := range []struct {
		name string
		node corev1.Node
		want detect.Node
	}{
		{"healthy", corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionTrue), cond(corev1.NodeMemoryPressure, corev1.ConditionFalse)}}},
			detect.Node{Name: "a"}},
		{"pressure and cordoned", corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{cond(corev1.NodeReady, corev1.ConditionTrue),
				cond(corev1.NodeMemoryPressure, corev1.ConditionTrue), cond(corev1.NodeDiskPressure, corev1.ConditionTrue),
				cond(corev1.NodePIDPressure, corev1.ConditionTrue), cond(corev1.NodeNetworkUnavailable, corev1.ConditionTrue)}}},
			detect.Node{Name: "a", Unschedulable: true, Conditions: detect.NodeMemoryPressure | detect.NodeDiskPressure | detect.NodePIDPressure | detect.NodeNetworkUnavailable}},
		{"not ready", corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			cond(corev1.NodeReady, corev1.ConditionUnknown)}}}, detect.Node{Name: "a", Conditions: detect.NodeNotReady}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NodeFromAPI(&tc.node); got != tc.want {
				t.Errorf("NodeFromAPI = %+v, want %+v", got, tc.want)
			}
			trimmed, _ := trimNode(&tc.node)
			if got := NodeFromAPI(trimmed.(*corev1.Node)); got != tc.want {
				t.Errorf("the trimmed node reads %+v, want %+v", got, tc.want)
			}
		})
	}
}

func replicaSet(name, dep, hash, revision, image string) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "shop", ResourceVersion: "1", CreationTimestamp: metav1.NewTime(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)),
		Labels:      map[string]string{templateHashLabel: hash, "app": dep},
		Annotations: map[string]string{revisionAnnotation: revision, "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
	}}
	if dep != "" {
		rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep, Controller: ptr.To(true)}}
	}
	rs.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "reg/migrate:1", Env: []corev1.EnvVar{{Name: "A", Value: "b"}}}}
	rs.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: image}}
	return rs
}

func TestRevisionFromAPI(t *testing.T) {
	rs := replicaSet("api-5f6b", "api", "5f6b", "3", "reg/api:1.5.0")
	want := detect.Revision{Namespace: "shop", Deployment: "api", Name: "api-5f6b", Hash: "5f6b", Number: 3,
		Created: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Images:  []detect.ContainerImage{{Container: "migrate", Image: "reg/migrate:1"}, {Container: "app", Image: "reg/api:1.5.0"}}}
	got, ok := RevisionFromAPI(rs)
	if diff := cmp.Diff(want, got); !ok || diff != "" {
		t.Errorf("RevisionFromAPI (-want +got), ok %v:\n%s", ok, diff)
	}
	cached, ok := must(trimReplicaSet(rs)).(*cachedRevision)
	if !ok {
		t.Fatal("trimReplicaSet did not return a cachedRevision")
	}
	if diff := cmp.Diff(want, cached.rev); !cached.ok || diff != "" {
		t.Errorf("cached revision (-want +got), ok %v:\n%s", cached.ok, diff)
	}
	if key, err := cache.MetaNamespaceKeyFunc(cached); err != nil || key != "shop/api-5f6b" || cached.GetResourceVersion() != rs.ResourceVersion {
		t.Errorf("key %q (%v), resourceVersion %q", key, err, cached.GetResourceVersion())
	}
	if again := must(trimReplicaSet(cached)); again != any(cached) {
		t.Error("trimReplicaSet is not idempotent")
	}
	if _, ok := RevisionFromAPI(replicaSet("bare-1", "", "1", "1", "x")); ok {
		t.Error("a ReplicaSet without a Deployment is a revision")
	}
}

func must(v any, err error) any {
	if err != nil {
		panic(err)
	}
	return v
}

func TestDisruptionTarget(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []corev1.PodCondition
		want  string
	}{
		{"none", nil, ""},
		{"eviction API", []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI"}}, "EvictionByEvictionAPI"},
		{"reset to False", []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionFalse, Reason: "PreemptionByScheduler"}}, ""},
		{"no reason", []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}, "DisruptionTarget"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := apiPod(func(p *corev1.Pod) { p.Status.Conditions = tc.conds })
			if got := PodFromAPI(p).Disruption; got != tc.want {
				t.Errorf("Disruption = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestEventFromAPI(t *testing.T) {
	ts := func(s string) time.Time { t, _ := time.Parse(time.RFC3339, s); return t }
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "web-1.17f"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "web-1", UID: "uid-1", FieldPath: "spec.containers{app}"},
		Reason:         "Unhealthy", Message: string(make([]byte, 1000)), Type: corev1.EventTypeWarning, Count: 4,
		FirstTimestamp: metav1.NewTime(ts("2026-03-01T10:00:00Z")), LastTimestamp: metav1.NewTime(ts("2026-03-01T10:01:00Z")),
	}
	got := EventFromAPI(e)
	if got.Container != "app" || got.Count != 4 || !got.FirstSeen.Equal(ts("2026-03-01T10:00:00Z")) || !got.LastSeen.Equal(ts("2026-03-01T10:01:00Z")) ||
		len(got.Message) > detect.MaxEventMessageBytes || got.Name != "web-1.17f" {
		t.Errorf("EventFromAPI = %+v", got)
	}
	// An events.k8s.io event: eventTime and series, no legacy times.
	series := &corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", FieldPath: "spec.initContainers{init}"},
		Reason:         "BackOff", Type: corev1.EventTypeWarning,
		EventTime: metav1.NewMicroTime(ts("2026-03-01T10:00:00Z")),
		Series:    &corev1.EventSeries{Count: 9, LastObservedTime: metav1.NewMicroTime(ts("2026-03-01T10:05:00Z"))},
	}
	got = EventFromAPI(series)
	if got.Container != "init" || got.Count != 9 || !got.FirstSeen.Equal(ts("2026-03-01T10:00:00Z")) || !got.LastSeen.Equal(ts("2026-03-01T10:05:00Z")) {
		t.Errorf("EventFromAPI(series) = %+v", got)
	}
	for path, want := range map[string]string{"": "", "spec.ephemeralContainers{debug}": "debug", "spec.containers{broken": "", "metadata.name": ""} {
		if got := containerOfFieldPath(path); got != want {
			t.Errorf("containerOfFieldPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// eventRecorder is an EventSink.
type eventRecorder struct {
	mu     sync.Mutex
	events []string // "namespace/uid reason count"
	ch     chan struct{}
}

func (r *eventRecorder) PodEvent(ns, uid string, e detect.Event) {
	r.mu.Lock()
	r.events = append(r.events, ns+"/"+uid+" "+e.Reason+" "+strconv.Itoa(int(e.Count)))
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *eventRecorder) wait(t *testing.T, n int) []string {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		r.mu.Lock()
		got := append([]string(nil), r.events...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-r.ch:
		case <-timeout:
			t.Fatalf("waited for %d events, got %q", n, got)
		}
	}
}

func warning(name, ns, uid, kind, reason string, count int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: "p", UID: ktypes.UID(uid)},
		Reason:         reason, Type: corev1.EventTypeWarning, Count: count,
	}
}

func TestEventWatcher(t *testing.T) {
	client := fake.NewClientset(
		warning("a.1", "shop", "uid-a", "Pod", "BackOff", 1),
		warning("n.1", "shop", "uid-n", "Node", "NodeNotReady", 1),
	)
	var selectors []string
	var mu sync.Mutex
	client.PrependReactor("list", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		selectors = append(selectors, a.(k8stesting.ListAction).GetListRestrictions().Fields.String())
		mu.Unlock()
		return false, nil, nil
	})
	watching := make(chan struct{}, 10)
	client.PrependWatchReactor("events", func(a k8stesting.Action) (bool, watch.Interface, error) {
		// Register the watch with the tracker first, then tell the test.
		wi, err := client.Tracker().Watch(corev1.SchemeGroupVersion.WithResource("events"), a.GetNamespace())
		watching <- struct{}{}
		return true, wi, err
	})
	rec := &eventRecorder{ch: make(chan struct{}, 100)}
	log, logs := debugLogger()
	w, err := NewEventWatcher(client, Options{ExcludeNamespaces: []string{"kube-system"}}, rec, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	rec.wait(t, 1)
	select {
	case <-watching:
	case <-time.After(waitLimit):
		t.Fatal("no watch after the list")
	}
	// The watch is registered: the create and update below come through it.
	normal := warning("a.2", "shop", "uid-a", "Pod", "Pulled", 1)
	normal.Type = corev1.EventTypeNormal
	if _, err := client.CoreV1().Events("shop").Create(ctx, normal, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Events("shop").Update(ctx, warning("a.1", "shop", "uid-a", "Pod", "BackOff", 2), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 2)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := rec.wait(t, 2)
	if diff := cmp.Diff([]string{"shop/uid-a BackOff 1", "shop/uid-a BackOff 2"}, got); diff != "" {
		t.Errorf("events (-want +got): want the pod's Warning events only\n%s", diff)
	}
	wantLogs := []string{
		`level=DEBUG msg="pod warning event handed over" namespace=shop pod=p container="" reason=BackOff count=1`,
		`level=DEBUG msg="pod warning event handed over" namespace=shop pod=p container="" reason=BackOff count=2`,
	}
	if diff := cmp.Diff(wantLogs, logLines(logs, "pod warning event")); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(selectors) == 0 || selectors[0] != "involvedObject.kind=Pod,metadata.namespace!=kube-system,type=Warning" {
		t.Errorf("list field selectors %q", selectors)
	}
}

// contextRecorder is a ContextSink.
type contextRecorder struct {
	mu  sync.Mutex
	got []string
	ch  chan struct{}
}

func (r *contextRecorder) add(s string) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
	r.ch <- struct{}{}
}

func (r *contextRecorder) NamespaceChanged(ns string, o detect.Overrides) {
	r.add("namespace " + ns + " " + map[bool]string{true: "disabled", false: "enabled"}[o.Disabled])
}
func (r *contextRecorder) NamespaceDeleted(ns string) { r.add("namespace deleted " + ns) }
func (r *contextRecorder) NodeChanged(n detect.Node) {
	r.add("node " + n.Name + " " + map[bool]string{true: "cordoned", false: "schedulable"}[n.Unschedulable])
}
func (r *contextRecorder) NodeDeleted(name string) { r.add("node deleted " + name) }
func (r *contextRecorder) RevisionChanged(rv detect.Revision) {
	r.add("revision " + rv.Namespace + "/" + rv.Name)
}
func (r *contextRecorder) RevisionDeleted(ns, dep, name string) {
	r.add("revision deleted " + ns + "/" + name)
}

func TestContextWatcher(t *testing.T) {
	client := fake.NewClientset(
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Spec: corev1.NodeSpec{Unschedulable: true}},
		replicaSet("api-5f6b", "api", "5f6b", "3", "reg/api:1"),
		replicaSet("orphan-1", "", "1", "1", "reg/x:1"),
	)
	scheme := metafake.NewTestScheme()
	if err := metav1.AddMetaToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	nsMeta := func(name string, ann map[string]string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: ann},
		}
	}
	terminating := nsMeta("old", nil)
	terminating.DeletionTimestamp = ptr.To(metav1.Now())
	meta := metafake.NewSimpleMetadataClient(scheme,
		nsMeta("shop", map[string]string{AnnotationPrefix + "disabled": "true"}),
		nsMeta("kube-system", map[string]string{AnnotationPrefix + "disabled": "true"}),
		terminating,
	)
	rec := &contextRecorder{ch: make(chan struct{}, 100)}
	log, logs := debugLogger()
	w, err := NewContextWatcher(client, meta, Options{ExcludeNamespaces: []string{"kube-system"}}, rec, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(ctx, waitLimit)
	defer wcancel()
	if !w.WaitForSync(wctx) {
		t.Fatalf("not synced: %v", w.Unsynced())
	}
	if err := meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Delete(ctx, "shop", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"namespace shop disabled", "namespace deleted old", "node node-a cordoned", "revision shop/api-5f6b",
		"namespace deleted shop"}
	deadline := time.After(waitLimit)
	for {
		rec.mu.Lock()
		n := len(rec.got)
		rec.mu.Unlock()
		if n >= len(want) {
			break
		}
		select {
		case <-rec.ch:
		case <-deadline:
			t.Fatalf("got %q, want %q", rec.got, want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if diff := cmp.Diff(want, rec.got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("sink calls (-want +got):\n%s", diff)
	}
	// The revision, the deletions and the node handed over are logged once
	// they were; the orphan ReplicaSet, handed nothing, is not.
	wantLogs := []string{
		`level=DEBUG msg="deployment revision recorded" namespace=shop deployment=api revision=3 replicaset=api-5f6b`,
		`level=DEBUG msg="namespace deletion recorded" namespace=old`,
		`level=DEBUG msg="namespace deletion recorded" namespace=shop`,
		`level=DEBUG msg="node recorded" node=node-a conditions=NotReady unschedulable=true`,
	}
	if diff := cmp.Diff(wantLogs, logLines(logs, " recorded\" "), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
}

// debugLogger returns a text logger at debug level without times, and
// what it writes, to read once the goroutines that log have returned.
func debugLogger() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})), &b
}

// logLines returns the lines of b that contain s.
func logLines(b *bytes.Buffer, s string) []string {
	var out []string
	for l := range strings.SplitSeq(b.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// TestConstructorsRejectNothingToWatch: each watcher's constructor, not a
// later Run, refuses options that leave no namespace to watch.
func TestConstructorsRejectNothingToWatch(t *testing.T) {
	opts := Options{Namespaces: []string{"a"}, ExcludeNamespaces: []string{"a"}}
	client := fake.NewClientset()
	tests := []struct {
		name string
		new  func() (any, error)
	}{
		{"pods", func() (any, error) { return NewWatcher(client, opts, nil, nil) }},
		{"context", func() (any, error) { return NewContextWatcher(client, nil, opts, nil, nil) }},
		{"events", func() (any, error) { return NewEventWatcher(client, opts, nil, nil) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.new(); !errors.Is(err, errAllExcluded) {
				t.Errorf("error = %v, want %v", err, errAllExcluded)
			}
		})
	}
}

// TestEventWatcherBackoff: failed lists are retried after a backoff timed by
// the injected clock; the failure is logged once and so is the recovery.
func TestEventWatcherBackoff(t *testing.T) {
	client := fake.NewClientset(warning("a.1", "shop", "uid-a", "Pod", "BackOff", 1))
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "events"}, "", errors.New("RBAC"))
	var lists atomic.Int32
	client.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		if lists.Add(1) <= 2 {
			return true, nil, forbidden
		}
		return false, nil, nil
	})
	fc := clocktesting.NewFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rec := &eventRecorder{ch: make(chan struct{}, 100)}
	w, err := NewEventWatcher(client, Options{Clock: fc}, rec, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	for attempt := 1; attempt <= 2; attempt++ {
		waitFor(ctx, t, fmt.Sprintf("backoff after failure %d", attempt), func() bool {
			return lists.Load() == int32(attempt) && fc.HasWaiters()
		})
		if w.WaitForSync(canceled(t)) {
			t.Fatalf("synced after failure %d", attempt)
		}
		fc.Step(eventBackoff.Cap) // no attempt before the clock moves
	}
	if got := rec.wait(t, 1); !cmp.Equal([]string{"shop/uid-a BackOff 1"}, got) {
		t.Errorf("events after the recovery: %v", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(line, "event watch") {
			_, msg, _ := strings.Cut(line, "msg=")
			msg, _, _ = strings.Cut(msg, " namespace=")
			got = append(got, msg)
		}
	}
	want := []string{
		`"event watch failed, retrying with back-off; root-cause analyses lack Warning events meanwhile"`,
		`"event watch recovered"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

// canceled returns a context that has ended.
func canceled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
