package collect

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
)

// serializer returns the client's serializer of a media type.
func serializer(t testing.TB, mediaType string) runtime.Serializer {
	t.Helper()
	info, ok := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		t.Fatalf("no serializer for %s", mediaType)
	}
	return info.Serializer
}

// encode returns obj as the API server writes it in mediaType.
func encode(t testing.TB, mediaType string, obj runtime.Object) []byte {
	t.Helper()
	b, err := runtime.Encode(scheme.Codecs.EncoderForVersion(serializer(t, mediaType), corev1.SchemeGroupVersion), obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// standardDecoder is the decoder client-go's typed clients use.
func standardDecoder(t testing.TB, mediaType string) runtime.Decoder {
	return scheme.Codecs.WithoutConversion().DecoderToVersion(serializer(t, mediaType), corev1.SchemeGroupVersion)
}

// diffCached compares two cached pods field by field: the detect.Pod they
// stand for (readable), then every field, the resourceVersion and the
// bookmark mark included.
func diffCached(want, got *cachedPod) string {
	if d := cmp.Diff(want.pod(), got.pod()); d != "" {
		return "pod() (-want +got):\n" + d
	}
	if want.resourceVersion != got.resourceVersion || want.initialEventsEnd != got.initialEventsEnd {
		return fmt.Sprintf("resourceVersion, initialEventsEnd: want %q, %t; got %q, %t",
			want.resourceVersion, want.initialEventsEnd, got.resourceVersion, got.initialEventsEnd)
	}
	if !reflect.DeepEqual(want, got) {
		return fmt.Sprintf("cachedPod differs:\nwant %+v\ngot  %+v", *want, *got)
	}
	return ""
}

// TestLeanDecodeEqualsTransform is the property the lean decoder keeps: for
// the protobuf of any pod, it decodes without help and builds exactly the
// cachedPod newCachedPod builds from the standard decoder's pod. The pods are
// the fixtures and 3,000 generated ones (fixed seeds).
func TestLeanDecodeEqualsTransform(t *testing.T) {
	pods := richPods(t)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		pods[fmt.Sprintf("generated %04d", i)] = randomPod(r, 3000)
	}
	std := standardDecoder(t, runtime.ContentTypeProtobuf)
	for name, p := range pods {
		t.Run(name, func(t *testing.T) {
			data := encode(t, runtime.ContentTypeProtobuf, p)
			full, _, err := std.Decode(data, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := leanObject(data)
			if !ok {
				t.Fatal("the lean decoder refused a pod")
			}
			if d := diffCached(cachedFromAPI(full).(*cachedPod), got.(*cachedPod)); d != "" {
				t.Error(d)
			}
		})
	}
}

// FuzzLeanDecode decodes arbitrary bytes as a pod with both decoders: when
// both accept them, they must agree field by field. The lean decoder may
// accept bytes the standard one refuses, in fields it skips without reading
// (a known field of the wrong wire type): the API server never writes those.
//
//	go test -run '^$' -fuzz '^FuzzLeanDecode$' -fuzztime 15s ./collect
func FuzzLeanDecode(f *testing.F) {
	// Small seeds: the fuzzer mutates and runs them thousands of times a
	// second (richPods' megabyte messages would slow it down a hundredfold).
	for _, file := range []string{"bare-evicted.yaml", "deployment-crashloop.yaml", "job-failed.yaml", "statefulset-pending.yaml"} {
		b, err := readPodB(f, file).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		b, err := randomPod(r, 8).Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, ok := decodeLeanPod(data)
		var full corev1.Pod
		if err := full.Unmarshal(data); err != nil || !ok {
			return
		}
		if d := diffCached(cachedFromAPI(&full).(*cachedPod), got); d != "" {
			t.Error(d)
		}
	})
}

// TestLeanDecoder checks what the pod client's decoder returns for each kind
// of response: cachedPods from protobuf by the lean decoder, from JSON by the
// standard decoder, and anything else as the standard decoder returns it.
func TestLeanDecoder(t *testing.T) {
	pod := richPods(t)["deployment-crashloop.yaml"]
	bookmark := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "42",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
	list := &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "77", Continue: "next", RemainingItemCount: ptr.To[int64](5)},
		Items: []corev1.Pod{*pod, *apiPod()}}
	status := &metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old"}
	listWant := &cachedPodList{ListMeta: list.ListMeta, Items: []*cachedPod{newCachedPod(pod), newCachedPod(apiPod())}}
	bookmarkWant := newCachedPod(bookmark)
	bookmarkWant.initialEventsEnd = true

	for _, tc := range []struct {
		name      string
		mediaType string
		in        runtime.Object
		lean      bool // the lean decoder decodes it by itself
		want      runtime.Object
	}{
		{"protobuf pod", runtime.ContentTypeProtobuf, pod, true, newCachedPod(pod)},
		{"protobuf bookmark ending the initial events", runtime.ContentTypeProtobuf, bookmark, true, bookmarkWant},
		{"protobuf pod list", runtime.ContentTypeProtobuf, list, true, listWant},
		{"protobuf status", runtime.ContentTypeProtobuf, status, false, status},
		{"json pod", runtime.ContentTypeJSON, pod, false, newCachedPod(pod)},
		{"json bookmark", runtime.ContentTypeJSON, bookmark, false, bookmarkWant},
		{"json pod list", runtime.ContentTypeJSON, list, false, listWant},
		{"json status", runtime.ContentTypeJSON, status, false, status},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := encode(t, tc.mediaType, tc.in)
			if _, ok := leanObject(data); ok != tc.lean {
				t.Errorf("lean decoder took it: %t, want %t", ok, tc.lean)
			}
			got, gvk, err := leanDecoder{standardDecoder(t, tc.mediaType)}.Decode(data, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := "/v1, Kind=" + reflect.TypeOf(tc.in).Elem().Name(); gvk.String() != want {
				t.Errorf("gvk %s, want %s", gvk, want)
			}
			switch w := tc.want.(type) {
			case *cachedPod:
				if d := diffCached(w, got.(*cachedPod)); d != "" {
					t.Error(d)
				}
			case *cachedPodList:
				g := got.(*cachedPodList)
				if d := cmp.Diff(w.ListMeta, g.ListMeta); d != "" {
					t.Errorf("ListMeta (-want +got):\n%s", d)
				}
				if len(g.Items) != len(w.Items) {
					t.Fatalf("%d items, want %d", len(g.Items), len(w.Items))
				}
				for i := range w.Items {
					if d := diffCached(w.Items[i], g.Items[i]); d != "" {
						t.Errorf("item %d: %s", i, d)
					}
				}
			default:
				if d := cmp.Diff(tc.want, got); d != "" {
					t.Errorf("(-want +got):\n%s", d)
				}
			}
		})
	}
	t.Run("into a typed object", func(t *testing.T) {
		// The REST client decodes error responses into a Status it passes.
		var got metav1.Status
		data := encode(t, runtime.ContentTypeProtobuf, status)
		if _, _, err := (leanDecoder{standardDecoder(t, runtime.ContentTypeProtobuf)}).Decode(data, nil, &got); err != nil {
			t.Fatal(err)
		}
		if got.Message != status.Message || got.Code != status.Code {
			t.Errorf("got %+v", got)
		}
	})
	t.Run("corrupt protobuf", func(t *testing.T) {
		data := encode(t, runtime.ContentTypeProtobuf, pod)
		data = data[:len(data)-3]
		_, _, want := standardDecoder(t, runtime.ContentTypeProtobuf).Decode(data, nil, nil)
		_, _, err := leanDecoder{standardDecoder(t, runtime.ContentTypeProtobuf)}.Decode(data, nil, nil)
		if want == nil || err == nil || err.Error() != want.Error() {
			t.Errorf("error %v, want the standard decoder's %v", err, want)
		}
	})
}

// randomPod returns a pod whose fields, read and unread, are drawn from
// small pools, so that the cases the conversion decides on come up often:
// owner references with and without a controller, template hashes that
// match or not, sidecars, statuses out of order, missing or duplicated,
// several container states at once, long messages, odd container IDs,
// negative counts, non-canonical quantities, DisruptionTarget conditions.
// Free text repeats a character up to maxRepeat times: past 1,400 it
// exceeds the bounds on reasons and messages.
func randomPod(r *rand.Rand, maxRepeat int) *corev1.Pod {
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	maybe := func() bool { return r.IntN(2) == 0 }
	long := func() string { return strings.Repeat(pick("x", "日志", "é"), r.IntN(maxRepeat)) }
	tm := func() metav1.Time {
		if r.IntN(8) == 0 {
			return metav1.Time{}
		}
		return metav1.NewTime(time.Unix(r.Int64N(4e9)-1e9, 0))
	}
	q := func() resource.Quantity {
		return resource.MustParse(pick("100m", "0.5", "1", "1000m", "2e3", "128Mi", "1Gi", "1024Mi", "0", "1.5Gi", "500M"))
	}
	resources := func() corev1.ResourceRequirements {
		var rr corev1.ResourceRequirements
		for _, l := range []*corev1.ResourceList{&rr.Requests, &rr.Limits} {
			if maybe() {
				*l = corev1.ResourceList{}
				for _, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "nvidia.com/gpu"} {
					if maybe() {
						(*l)[n] = q()
					}
				}
			}
		}
		return rr
	}
	names := []string{"app", "sidecar", "init", "debug", ""}
	container := func() corev1.Container {
		c := corev1.Container{
			Name: pick(names...), Image: pick("nginx:1.27", "busybox", "", "registry.example.com/team/app:1.0"),
			Resources: resources(),
			Env:       []corev1.EnvVar{{Name: "A", Value: long()}},
			Command:   []string{"sh", "-c", "sleep 1"},
		}
		if maybe() {
			c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicy(pick("Always", "Never", "OnFailure")))
		}
		if maybe() {
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}
		return c
	}
	id := func() string {
		return pick("", fmt.Sprintf("containerd://%064x", r.Uint64()), "cri-o://abc", fmt.Sprintf("docker://%064X", r.Uint64()))
	}
	term := func() *corev1.ContainerStateTerminated {
		return &corev1.ContainerStateTerminated{
			ExitCode: int32(r.IntN(300)) - 5, Signal: int32(r.IntN(20)) - 1,
			Reason: pick("", "Error", "OOMKilled", "Completed", long()), Message: pick("", "boom", long()),
			StartedAt: tm(), FinishedAt: tm(), ContainerID: id(),
		}
	}
	state := func() corev1.ContainerState {
		var s corev1.ContainerState
		if r.IntN(3) == 0 {
			s.Waiting = &corev1.ContainerStateWaiting{Reason: pick("", "CrashLoopBackOff", long()), Message: pick("", "back-off", long())}
		}
		if r.IntN(3) == 0 {
			s.Running = &corev1.ContainerStateRunning{StartedAt: tm()}
		}
		if r.IntN(3) == 0 {
			s.Terminated = term()
		}
		return s
	}
	statuses := func(n int) []corev1.ContainerStatus {
		out := make([]corev1.ContainerStatus, r.IntN(n+2))
		for i := range out {
			out[i] = corev1.ContainerStatus{
				Name: pick(names...), ContainerID: id(), RestartCount: int32(r.IntN(10)) - 2, Ready: maybe(),
				Image: "nginx", ImageID: "sha256:00", Started: ptr.To(maybe()), State: state(), LastTerminationState: state(),
			}
		}
		return out
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: pick("web-0", "web-abc12-xyz", ""), Namespace: pick("shop", "default", ""),
			UID: types.UID(fmt.Sprint(r.Uint64())), ResourceVersion: fmt.Sprint(r.IntN(1e6)),
			CreationTimestamp: tm(), GenerateName: "web-",
			Annotations: map[string]string{"note": long()},
		},
		Spec: corev1.PodSpec{NodeName: pick("", "node-1", "node-2"), RestartPolicy: corev1.RestartPolicy(pick("Always", "OnFailure", "Never", ""))},
		Status: corev1.PodStatus{
			Phase: corev1.PodPhase(pick("", "Running", "Pending", "Failed")), Reason: pick("", "Evicted", long()),
			Message: long(), PodIP: "10.0.0.1",
		},
	}
	if r.IntN(4) == 0 {
		p.DeletionTimestamp = ptr.To(tm())
	}
	if maybe() {
		p.Labels = map[string]string{"app": "web", templateHashLabel: pick("abc12", "", "zzz")}
	}
	if r.IntN(10) == 0 {
		p.Annotations[metav1.InitialEventsAnnotationKey] = pick("true", "false")
	}
	for range r.IntN(4) {
		ref := metav1.OwnerReference{
			APIVersion: pick("apps/v1", "v1", "batch/v1"), Kind: pick("ReplicaSet", "StatefulSet", "Job", "Node"),
			Name: pick("web-abc12", "web", "abc12", "-abc12"), UID: "u",
		}
		if maybe() {
			ref.Controller = ptr.To(maybe())
		}
		p.OwnerReferences = append(p.OwnerReferences, ref)
	}
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:status":{}}`)}}}
	for range r.IntN(3) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, container())
	}
	for range r.IntN(4) {
		p.Spec.Containers = append(p.Spec.Containers, container())
	}
	for range r.IntN(2) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers,
			corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon(container()), TargetContainerName: "app"})
	}
	p.Status.InitContainerStatuses = statuses(len(p.Spec.InitContainers))
	p.Status.ContainerStatuses = statuses(len(p.Spec.Containers))
	p.Status.EphemeralContainerStatuses = statuses(len(p.Spec.EphemeralContainers))
	for range r.IntN(4) {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type:   corev1.PodConditionType(pick("Ready", "DisruptionTarget")),
			Status: corev1.ConditionStatus(pick("True", "False")), Reason: pick("", "EvictionByEvictionAPI", long()),
			LastTransitionTime: tm(),
		})
	}
	if maybe() {
		slices.Reverse(p.Status.ContainerStatuses)
	}
	return p
}

// TestLeanWatch decodes a recorded protobuf watch as the pod client does:
// every event's object must be the cachedPod of the pod sent, after the
// whole stream was read (the watch events alias the frame buffer, which the
// next frame overwrites), and the bookmark that ends the initial events must
// say so.
func TestLeanWatch(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	type event struct {
		typ watch.EventType
		obj runtime.Object
	}
	bookmark := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "99",
		Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
	sent := []event{
		{watch.Added, randomPod(r, 3000)}, {watch.Added, randomPod(r, 20)}, {watch.Bookmark, bookmark},
		{watch.Modified, randomPod(r, 3000)}, {watch.Deleted, randomPod(r, 20)},
		{watch.Error, &metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired}},
	}
	var stream bytes.Buffer
	for _, e := range sent {
		writeWatchEvent(t, &stream, e.typ, e.obj)
	}
	dec := newWatchDecoder(t, stream.Bytes(), leanDecoder{standardDecoder(t, runtime.ContentTypeProtobuf)}, newLeanSerializer())
	var got []event
	for {
		typ, obj, err := dec.Decode()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, event{typ, obj})
	}
	if len(got) != len(sent) {
		t.Fatalf("%d events, want %d", len(got), len(sent))
	}
	for i, e := range sent {
		if got[i].typ != e.typ {
			t.Errorf("event %d: type %s, want %s", i, got[i].typ, e.typ)
		}
		want := cachedFromAPI(e.obj)
		if w, ok := want.(*cachedPod); ok {
			if d := diffCached(w, got[i].obj.(*cachedPod)); d != "" {
				t.Errorf("event %d: %s", i, d)
			}
		} else if d := cmp.Diff(want, got[i].obj); d != "" {
			t.Errorf("event %d (-want +got):\n%s", i, d)
		}
	}
}
