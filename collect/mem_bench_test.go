package collect

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// BenchmarkRetainedHeap reports what the agent keeps per pod: N realistic
// pods go, one at a time as the informer receives them, through the
// transform into an informer store and their conversions into a detector;
// after a forced GC, the live heap they added divided by N is "B/pod". The
// target is 1.5 KiB. The "full-pod" rows store the untransformed pod, as a
// plain informer does, for comparison.
//
//	go test -run '^$' -bench RetainedHeap -benchtime 1x ./collect
func BenchmarkRetainedHeap(b *testing.B) {
	for _, n := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("cache=compact/pods=%d", n), func(b *testing.B) {
			for b.Loop() {
				perPod, _ := retained(n, true)
				b.ReportMetric(perPod, "B/pod")
			}
		})
	}
	b.Run("cache=full-pod/pods=10000", func(b *testing.B) {
		for b.Loop() {
			perPod, _ := retained(10000, false)
			b.ReportMetric(perPod, "B/pod")
		}
	})
}

// retained builds the store and the detector for n pods and returns the live
// heap they hold per pod. The store and detector are returned so that they
// stay alive until the measurement.
func retained(n int, compact bool) (float64, any) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	gen := newPodGen(now, n)
	before := liveHeap()
	store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{})
	d := detect.New(detect.Config{Window: 30 * time.Minute, RecoverAfter: 30 * time.Second, MinPods: 3,
		MinRestartedPods: 2, RatioWarning: 0.1, RatioError: 0.3, RatioCritical: 0.5})
	for i := range n {
		p := gen.pod(i)
		if !compact {
			_ = store.Add(p)
			d.Observe(PodFromAPI(p), now)
			continue
		}
		obj, _ := transform(p)
		_ = store.Add(obj)
		d.Observe(obj.(*cachedPod).pod(), now)
	}
	after := liveHeap()
	runtime.KeepAlive(store)
	runtime.KeepAlive(d)
	return float64(after-before) / float64(n), nil
}

// liveHeap returns the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// podGen makes realistic pods, like the ones PERF.md measured: a Deployment's
// pod with one init container and two app containers, resources, probes,
// environment, volumes, conditions and managedFields (about 15 KB of JSON).
// Namespaces, nodes, workloads and images repeat across pods as in a
// cluster: Deployments of 10 replicas, 10 Deployments per namespace, 50 pods
// per node; one pod in ten restarted once, long ago, and carries its last
// termination.
type podGen struct {
	now   time.Time
	nodes int
}

func newPodGen(now time.Time, pods int) *podGen { return &podGen{now: now, nodes: max(1, pods/50)} }

func (g *podGen) pod(i int) *corev1.Pod {
	ns := fmt.Sprintf("team-%03d", i/100)
	deploy := fmt.Sprintf("service-%02d", (i/10)%10)
	hash := fmt.Sprintf("%x", 0x5f8d7c6b9+(i/10)%10)
	name := fmt.Sprintf("%s-%s-%05x", deploy, hash, i)
	node := fmt.Sprintf("worker-%03d", i%g.nodes)
	started := metav1.NewTime(g.now.Add(-time.Duration(i%3600) * time.Second).Truncate(time.Second))
	image := fmt.Sprintf("registry.example.com/%s/%s:1.%d.0", ns, deploy, (i/10)%7)
	cid := func(k int) string { return fmt.Sprintf("containerd://%064x", uint64(i)*7+uint64(k)) }
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
	}
	ctr := func(n, img string) corev1.Container {
		return corev1.Container{
			Name: n, Image: img, Resources: res, ImagePullPolicy: corev1.PullIfNotPresent,
			Env: []corev1.EnvVar{
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "LOG_LEVEL", Value: "info"}, {Name: "UPSTREAM", Value: "http://backend." + ns + ".svc:8080"},
			},
			Ports:                  []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			LivenessProbe:          &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstrPort}}},
			ReadinessProbe:         &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstrPort}}},
			VolumeMounts:           []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			TerminationMessagePath: corev1.TerminationMessagePathDefault, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}
	}
	running := func(n, img string, k int) corev1.ContainerStatus {
		return corev1.ContainerStatus{
			Name: n, Image: img, ImageID: img + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
			ContainerID: cid(k), Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
		}
	}
	var managed []metav1.ManagedFieldsEntry
	for _, m := range []string{"kube-controller-manager", "kubelet"} {
		managed = append(managed, metav1.ManagedFieldsEntry{
			Manager: m, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &started,
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: bytes.Clone(managedFieldsJSON)},
		})
	}
	app := running("app", image, 1)
	if i%10 == 9 {
		// One pod in ten restarted once, long before the window.
		app.RestartCount = 1
		app.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
			ExitCode: 137, Reason: "OOMKilled", ContainerID: cid(3),
			StartedAt: metav1.NewTime(started.Add(-3 * time.Hour)), FinishedAt: metav1.NewTime(started.Add(-2 * time.Hour)),
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns, UID: types.UID(fmt.Sprintf("%08x-9b1d-4c55-8e0f-%012x", i, i)),
			ResourceVersion: fmt.Sprint(100000 + i), GenerateName: deploy + "-" + hash + "-",
			CreationTimestamp: started,
			Labels:            map[string]string{"app": deploy, "pod-template-hash": hash, "team": ns},
			Annotations:       map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-02-28T10:00:00Z"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: deploy + "-" + hash,
				UID: "6b1c2a7e-9b1d-4c55-8e0f-0a1b2c3d4e5f", Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: managed,
		},
		Spec: corev1.PodSpec{
			NodeName:       node,
			InitContainers: []corev1.Container{ctr("migrate", image+"-migrate")},
			Containers:     []corev1.Container{ctr("app", image), ctr("envoy", "envoyproxy/envoy:v1.33.0")},
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}}},
			}}}},
			ServiceAccountName: "default", RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst,
			SchedulerName: corev1.DefaultSchedulerName, TerminationGracePeriodSeconds: ptr.To[int64](30),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBurstable, StartTime: &started,
			HostIP: "10.0.1.7", PodIP: fmt.Sprintf("10.244.%d.%d", i/250%256, i%250+1),
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "migrate", Image: image + "-migrate", ImageID: image + "-migrate@sha256:00", ContainerID: cid(0), Ready: true,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: started, FinishedAt: started, ContainerID: cid(0)}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{app, running("envoy", "envoyproxy/envoy:v1.33.0", 2)},
		},
	}
}

var intstrPort = intstr.FromInt32(8080)

// managedFieldsJSON is a kubelet's status field set, about 3 KB.
var managedFieldsJSON = []byte(`{"f:status":{"f:conditions":{"k:{\"type\":\"ContainersReady\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Initialized\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"PodReadyToStartContainers\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Ready\"}":{".":{},"f:lastProbeTime":{},"f:lastTransitionTime":{},"f:status":{},"f:type":{}}},"f:containerStatuses":{},"f:hostIP":{},"f:hostIPs":{},"f:initContainerStatuses":{},"f:phase":{},"f:podIP":{},"f:podIPs":{".":{},"k:{\"ip\":\"10.244.1.7\"}":{".":{},"f:ip":{}}},"f:startTime":{}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{},"f:name":{},"f:ports":{},"f:readinessProbe":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{}},"k:{\"name\":\"envoy\"}":{".":{},"f:env":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:ports":{},"f:resources":{},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:initContainers":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{},"f:terminationGracePeriodSeconds":{},"f:volumes":{}}}`)
