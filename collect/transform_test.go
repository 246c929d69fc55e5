package collect

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// quantityEqual lets cmp compare quantities by value ("0.25" == "250m").
var quantityEqual = cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })

// richPods returns the fixtures and pods that exercise every field PodFromAPI
// reads, each with fields it does not read.
func richPods(t *testing.T) map[string]*corev1.Pod {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	pods := map[string]*corev1.Pod{}
	for _, f := range files {
		if strings.HasSuffix(f, ".trimmed.yaml") {
			continue
		}
		pods[filepath.Base(f)] = readPod(t, filepath.Base(f))
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

func TestTransformKeepsWhatPodFromAPIReads(t *testing.T) {
	for name, p := range richPods(t) {
		t.Run(name, func(t *testing.T) {
			before := p.DeepCopy()
			out, err := transform(p)
			if err != nil {
				t.Fatal(err)
			}
			trimmed, ok := out.(*corev1.Pod)
			if !ok {
				t.Fatalf("transform returned %T", out)
			}
			if diff := cmp.Diff(PodFromAPI(p), PodFromAPI(trimmed)); diff != "" {
				t.Errorf("PodFromAPI(transform(p)) differs from PodFromAPI(p) (-want +got):\n%s", diff)
			}
			if !apiequality.Semantic.DeepEqual(before, p) {
				t.Error("transform modified its argument")
			}
			if trimmed.ResourceVersion != p.ResourceVersion {
				t.Errorf("resourceVersion %q, want %q", trimmed.ResourceVersion, p.ResourceVersion)
			}
			again, err := transform(trimmed)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(trimmed, again, quantityEqual); diff != "" {
				t.Errorf("transform is not idempotent (-once +twice):\n%s", diff)
			}
		})
	}
}

// TestTransformTrimsToExactly pins what the cache holds of a realistic pod:
// adding a field here needs a reason in PodFromAPI.
func TestTransformTrimsToExactly(t *testing.T) {
	out, err := transform(readPod(t, "deployment-crashloop.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := readPod(t, "deployment-crashloop.trimmed.yaml")
	if diff := cmp.Diff(want, out, quantityEqual); diff != "" {
		t.Errorf("trimmed pod (-want +got):\n%s", diff)
	}
}

func TestTransformOtherObjects(t *testing.T) {
	pod := apiPod(withLabel("app", "web"))
	trimmed := trimPod(pod)
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: map[string]string{"a": "b"}}}
	tests := []struct {
		name string
		in   any
		want any
	}{
		{
			name: "tombstone of a pod",
			in:   cache.DeletedFinalStateUnknown{Key: "shop/web-0", Obj: pod},
			want: cache.DeletedFinalStateUnknown{Key: "shop/web-0", Obj: trimmed},
		},
		{
			name: "tombstone of something else",
			in:   cache.DeletedFinalStateUnknown{Key: "n", Obj: node},
			want: cache.DeletedFinalStateUnknown{Key: "n", Obj: node},
		},
		{name: "not a pod", in: node, want: node},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := transform(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, quantityEqual); diff != "" {
				t.Errorf("transform (-want +got):\n%s", diff)
			}
		})
	}
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

// BenchmarkPodFromAPI measures the conversion of a cached (trimmed) pod, which
// the update handler does twice per update.
func BenchmarkPodFromAPI(b *testing.B) {
	p := trimPod(readPodB(b, "deployment-crashloop.yaml"))
	b.ReportAllocs()
	for b.Loop() {
		_ = PodFromAPI(p)
	}
}
