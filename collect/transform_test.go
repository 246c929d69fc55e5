package collect

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unique"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// quantityEqual lets cmp compare quantities by value ("0.25" == "250m").
var quantityEqual = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// richPods returns the fixtures and pods that exercise every field PodFromAPI
// reads, each with fields it does not read.
func richPods(t testing.TB) map[string]*corev1.Pod {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]*corev1.Pod{}
	for _, f := range files {
		pods[filepath.Base(f)] = readPodB(t, filepath.Base(f))
	}
	long := strings.Repeat("日志", 100_000)
	pods["huge messages, several owners, terminated state"] = apiPod(
		withOwner("v1", "ConfigMap", "keeper", false),
		withOwner("apps/v1", "DaemonSet", "agent", true),
		withLabel("pod-template-hash", "abc"), // not a ReplicaSet's pod: dropped
		withLabel("app", "agent"),
		func(p *corev1.Pod) {
			p.Annotations = map[string]string{"a": long}
			p.Status.Reason = strings.Repeat("Evicted", 100)
			p.Status.Message = long
			p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "A", Value: long}}
			p.Spec.Containers[0].Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{
				Name: "app", Image: "nginx@sha256:0", ImageID: "x", RestartCount: 3, Started: ptr.To(false),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "Error", Message: long, ExitCode: -1, Signal: 15, StartedAt: at(0), FinishedAt: at(time.Minute),
					ContainerID: "containerd://t",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: long, Message: long, ContainerID: "containerd://l",
				}},
				AllocatedResources: quantities("cpu", "1"),
			}}
		})
	pods["waiting with a long message, no owner references"] = apiPod(func(p *corev1.Pod) {
		p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
		p.Finalizers = []string{"x"}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: long}},
		}}
	})
	return pods
}

func TestTransform(t *testing.T) {
	for name, p := range richPods(t) {
		t.Run(name, func(t *testing.T) {
			before := p.DeepCopy()
			out, err := transform(p)
			if err != nil {
				t.Fatal(err)
			}
			cached, ok := out.(*cachedPod)
			if !ok {
				t.Fatalf("transform returned %T", out)
			}
			if !apiequality.Semantic.DeepEqual(before, p) {
				t.Error("transform modified its argument")
			}
			if diff := cmp.Diff(PodFromAPI(p), cached.pod()); diff != "" {
				t.Errorf("the cached pod's conversion differs from PodFromAPI (-want +got):\n%s", diff)
			}
			// What client-go reads of stored objects: keys and resourceVersions.
			key, err := cache.MetaNamespaceKeyFunc(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := p.Namespace + "/" + p.Name; key != want {
				t.Errorf("key %q, want %q", key, want)
			}
			m, err := meta.Accessor(out)
			if err != nil {
				t.Fatal(err)
			}
			if m.GetResourceVersion() != p.ResourceVersion || m.GetUID() != p.UID {
				t.Errorf("resourceVersion %q, UID %q; want %q, %q", m.GetResourceVersion(), m.GetUID(), p.ResourceVersion, p.UID)
			}
			again, err := transform(out)
			if err != nil {
				t.Fatal(err)
			}
			if again != out {
				t.Error("transform is not idempotent: a cached pod came back changed")
			}
			if cp := cached.DeepCopyObject().(*cachedPod); !cp.sameContent(cached) || cp.resourceVersion != cached.resourceVersion {
				t.Error("DeepCopyObject changed the pod")
			}
		})
	}
}

func TestTransformOtherObjects(t *testing.T) {
	pod := apiPod(withLabel("app", "web"))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "b"}}}
	t.Run("tombstone of a pod", func(t *testing.T) {
		got, err := transform(cache.DeletedFinalStateUnknown{Key: "shop/web-0", Obj: pod})
		if err != nil {
			t.Fatal(err)
		}
		tomb, ok := got.(cache.DeletedFinalStateUnknown)
		if !ok {
			t.Fatalf("transform returned %T", got)
		}
		cached, ok := tomb.Obj.(*cachedPod)
		if !ok || tomb.Key != "shop/web-0" {
			t.Fatalf("tombstone %q of %T", tomb.Key, tomb.Obj)
		}
		if diff := cmp.Diff(PodFromAPI(pod), cached.pod()); diff != "" {
			t.Errorf("tombstone's pod (-want +got):\n%s", diff)
		}
	})
	for _, tc := range []struct {
		name string
		in   any
	}{
		{name: "tombstone of something else", in: cache.DeletedFinalStateUnknown{Key: "n", Obj: node}},
		{name: "not a pod", in: node},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := transform(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.in, got); diff != "" {
				t.Errorf("transform (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCachedPodKeepsEveryField changes each field of a cached pod, one at a
// time, and checks that the update handler sees the change (sameContent) and
// that detect sees it (pod), except for the resourceVersion, which only the
// handler reads. A field added to cachedPod without a case here fails.
func TestCachedPodKeepsEveryField(t *testing.T) {
	base := newCachedPod(readPod(t, "deployment-crashloop.yaml"))
	if base.containers[2].last == nil {
		t.Fatal("fixture: the app container has no last termination")
	}
	type mod struct {
		field string
		mod   func(p *cachedPod)
	}
	ctr := func(f func(c *cachedContainer)) func(p *cachedPod) { return func(p *cachedPod) { f(&p.containers[2]) } }
	last := func(f func(t *cachedTermination)) func(p *cachedPod) {
		return ctr(func(c *cachedContainer) {
			l := *c.last
			f(&l)
			c.last = &l
		})
	}
	podMods := []mod{ // compactMeta's fields are promoted
		{"compactMeta.name", func(p *cachedPod) { p.name += "x" }},
		{"compactMeta.uid", func(p *cachedPod) { p.uid += "x" }},
		{"compactMeta.namespace", func(p *cachedPod) { p.namespace = intern("other") }},
		{"node", func(p *cachedPod) { p.node = intern("other") }},
		{"phase", func(p *cachedPod) { p.phase = intern("Failed") }},
		{"owner", func(p *cachedPod) { p.owner = unique.Make(detect.Owner{Kind: "Job", Name: "j"}) }},
		{"reason", func(p *cachedPod) { p.reason = intern("Evicted") }},
		{"created", func(p *cachedPod) { p.created++ }},
		{"deleting", func(p *cachedPod) { p.deleting = !p.deleting }},
		{"disruption", func(p *cachedPod) { p.disruption = intern("EvictionByEvictionAPI") }},
		{"containers", func(p *cachedPod) { p.containers = p.containers[:1] }},
	}
	ctrMods := []mod{
		{"spec.name", ctr(func(c *cachedContainer) { c.spec = withSpec(c.spec, func(s *containerSpec) { s.name = "other" }) })},
		{"spec.image", ctr(func(c *cachedContainer) { c.spec = withSpec(c.spec, func(s *containerSpec) { s.image = "other" }) })},
		{"spec.typ", ctr(func(c *cachedContainer) {
			c.spec = withSpec(c.spec, func(s *containerSpec) { s.typ = detect.ContainerEphemeral })
		})},
		{"spec.resources", ctr(func(c *cachedContainer) {
			c.spec = withSpec(c.spec, func(s *containerSpec) { s.resources.CPULimit = "9" })
		})},
		{"id", ctr(func(c *cachedContainer) { c.id = packID(c.id.String() + "x") })},
		{"spec.restartPolicy", ctr(func(c *cachedContainer) {
			c.spec = withSpec(c.spec, func(s *containerSpec) { s.restartPolicy = detect.RestartNever })
		})},
		{"stateText.reason", ctr(func(c *cachedContainer) {
			c.stateText = withText(c.stateText, func(t *stateText) { t.reason = "other" })
		})},
		{"stateText.message", ctr(func(c *cachedContainer) {
			c.stateText = withText(c.stateText, func(t *stateText) { t.message = "other" })
		})},
		{"stateText.exitCode", ctr(func(c *cachedContainer) { c.stateText = withText(c.stateText, func(t *stateText) { t.exitCode++ }) })},
		{"stateSince", ctr(func(c *cachedContainer) { c.stateSince++ })},
		{"last", ctr(func(c *cachedContainer) { c.last = nil })},
		{"restartCount", ctr(func(c *cachedContainer) { c.restartCount++ })},
		{"state", ctr(func(c *cachedContainer) { c.state = detect.StateRunning })},
		{"ready", ctr(func(c *cachedContainer) { c.ready = !c.ready })},
	}
	lastMods := []mod{
		{"id", last(func(t *cachedTermination) { t.id = packID(t.id.String() + "x") })},
		{"reason", last(func(t *cachedTermination) { t.reason = intern("other") })},
		{"message", last(func(t *cachedTermination) { t.message += "x" })},
		{"exitCode", last(func(t *cachedTermination) { t.exitCode++ })},
		{"signal", last(func(t *cachedTermination) { t.signal++ })},
		{"started", last(func(t *cachedTermination) { t.started++ })},
		{"finished", last(func(t *cachedTermination) { t.finished++ })},
	}
	for _, tc := range []struct {
		typ    reflect.Type
		mods   []mod
		ignore string
	}{
		{reflect.TypeFor[cachedPod](), podMods, "initialEventsEnd"}, // only bookmarks carry it
		{reflect.TypeFor[compactMeta](), []mod{{"name", nil}, {"uid", nil}, {"namespace", nil}}, "resourceVersion"},
		{reflect.TypeFor[cachedContainer](), ctrMods, ""},
		{reflect.TypeFor[cachedTermination](), lastMods, ""},
	} {
		covered := map[string]bool{tc.ignore: true}
		for _, m := range tc.mods {
			covered[strings.Split(m.field, ".")[0]] = true
			if m.mod == nil {
				continue // changed through the embedding type's cases
			}
			t.Run(tc.typ.Name()+"."+m.field, func(t *testing.T) {
				p := base.DeepCopyObject().(*cachedPod)
				m.mod(p)
				if p.sameContent(base) || base.sameContent(p) {
					t.Error("sameContent misses the change")
				}
				if cmp.Equal(p.pod(), base.pod()) {
					t.Error("pod() misses the change")
				}
			})
		}
		for i := range tc.typ.NumField() {
			if f := tc.typ.Field(i).Name; !covered[f] {
				t.Errorf("%s.%s: no case changes it", tc.typ.Name(), f)
			}
		}
	}
	t.Run("resourceVersion", func(t *testing.T) {
		p := base.DeepCopyObject().(*cachedPod)
		p.resourceVersion += "1"
		if !p.sameContent(base) {
			t.Error("sameContent compares resourceVersions")
		}
	})
	t.Run("no last termination equals an empty one", func(t *testing.T) {
		p := base.DeepCopyObject().(*cachedPod)
		q := base.DeepCopyObject().(*cachedPod)
		p.containers[2].last = nil
		q.containers[2].last = &cachedTermination{reason: noReason}
		if !p.sameContent(q) || !cmp.Equal(p.pod(), q.pod()) {
			t.Error("an empty last termination differs from none")
		}
	})
}

func TestPackedID(t *testing.T) {
	const digits = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		id     string
		packed bool
	}{
		{id: ""},
		{id: "containerd://" + digits, packed: true},
		{id: "cri-o://" + digits, packed: true},
		{id: "docker://" + digits, packed: true},
		{id: "://" + digits, packed: true},
		{id: "containerd://" + strings.ToUpper(digits)}, // would not round-trip
		{id: "containerd://" + digits[1:]},
		{id: "containerd://" + digits + "0"},
		{id: "containerd://" + digits[:63] + "g"},
		{id: "a://b://" + digits},
		{id: "containerd:/" + digits},
		{id: digits},
		{id: "p"},
		{id: "r"},
		{id: "\x00日志"},
	}
	seen := map[packedID]string{}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			p := packID(tc.id)
			if got := p.String(); got != tc.id {
				t.Errorf("packID(%q).String() = %q", tc.id, got)
			}
			if packed := len(p) > 0 && p[0] == idPacked; packed != tc.packed {
				t.Errorf("packed %v, want %v", packed, tc.packed)
			}
			if tc.packed && len(p) >= len(tc.id) {
				t.Errorf("packed into %d bytes, from %d", len(p), len(tc.id))
			}
			if other, ok := seen[p]; ok {
				t.Errorf("%q and %q pack the same", tc.id, other)
			}
			seen[p] = tc.id
		})
	}
}

func FuzzPackedID(f *testing.F) {
	f.Add("containerd://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	f.Add("r")
	f.Fuzz(func(t *testing.T, id string) {
		if got := packID(id).String(); got != id {
			t.Errorf("packID(%q).String() = %q", id, got)
		}
	})
}

// withSpec returns h's spec changed by f, interned.
func withSpec(h unique.Handle[containerSpec], f func(*containerSpec)) unique.Handle[containerSpec] {
	s := h.Value()
	f(&s)
	return unique.Make(s)
}

func withText(h unique.Handle[stateText], f func(*stateText)) unique.Handle[stateText] {
	t := h.Value()
	f(&t)
	return unique.Make(t)
}

// BenchmarkTransform measures the informer's per-pod transform on a realistic
// pod; its B/op approximates what the cache holds per pod beyond the strings.
func BenchmarkTransform(b *testing.B) {
	p := readPodB(b, "deployment-crashloop.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := transform(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPodFromCache measures the conversion of a cached pod into the
// detect.Pod handed to the sink, done once per relevant update.
func BenchmarkPodFromCache(b *testing.B) {
	p := newCachedPod(readPodB(b, "deployment-crashloop.yaml"))
	b.ReportAllocs()
	for b.Loop() {
		_ = p.pod()
	}
}
