package collect

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func at(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }

// apiPod returns a running pod with one app container and no status, changed
// by the mods.
func apiPod(mods ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web-0", Namespace: "shop", UID: "uid-1", ResourceVersion: "10",
			CreationTimestamp: at(0),
		},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

// domainPod is apiPod's conversion, changed by the mods.
func domainPod(mods ...func(*detect.Pod)) *detect.Pod {
	p := &detect.Pod{
		UID: "uid-1", Namespace: "shop", Name: "web-0", Node: "node-1", Phase: "Running", CreatedAt: t0,
		Containers: []detect.Container{{Name: "app", Type: detect.ContainerApp, Image: "nginx:1.27"}},
	}
	for _, m := range mods {
		m(p)
	}
	return p
}

func withOwner(apiVersion, kind, name string, controller bool) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.OwnerReferences = append(p.OwnerReferences, metav1.OwnerReference{
			APIVersion: apiVersion, Kind: kind, Name: name, UID: "owner-uid", Controller: ptr.To(controller),
		})
	}
}

func withLabel(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { metav1.SetMetaDataLabel(&p.ObjectMeta, k, v) }
}

func withStatus(s corev1.ContainerStatus) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, s) }
}

func owner(kind, name string) func(*detect.Pod) {
	return func(p *detect.Pod) { p.Owner = detect.Owner{Kind: kind, Name: name} }
}

func container0(m func(*detect.Container)) func(*detect.Pod) {
	return func(p *detect.Pod) { m(&p.Containers[0]) }
}

func quantities(kv ...string) corev1.ResourceList {
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func TestPodFromAPI(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	// 3-byte runes: 4096-3 bytes of room for the text is not a multiple of 3.
	chinese := strings.Repeat("超时", 2000)
	manyContainers := func(n int) (*corev1.Pod, *detect.Pod) {
		p, want := apiPod(), domainPod()
		p.Spec.Containers, want.Containers = nil, nil
		for i := range n {
			name := fmt.Sprintf("c%d", i)
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: name, Image: "img"})
			want.Containers = append(want.Containers, detect.Container{
				Name: name, Type: detect.ContainerApp, Image: "img", RestartCount: int32(i), Ready: true,
			})
		}
		// Statuses in reverse order: the join is by name.
		for i := n - 1; i >= 0; i-- {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: fmt.Sprintf("c%d", i), RestartCount: int32(i), Ready: true,
			})
		}
		return p, want
	}
	thousandsPod, thousandsWant := manyContainers(3000)

	tests := []struct {
		name string
		pod  *corev1.Pod
		want *detect.Pod
	}{
		{
			name: "bare pod without status",
			pod:  apiPod(),
			want: domainPod(),
		},
		{
			name: "deployment via its replicaset",
			pod: apiPod(withOwner("apps/v1", "ReplicaSet", "web-7d9f8c6b5", true),
				withLabel("pod-template-hash", "7d9f8c6b5")),
			want: domainPod(func(p *detect.Pod) { p.Owner = detect.Owner{Kind: "Deployment", Name: "web", Revision: "7d9f8c6b5"} }),
		},
		{
			name: "deployment whose name has dashes",
			pod: apiPod(withOwner("apps/v1", "ReplicaSet", "shop-web-api-5f4d", true),
				withLabel("pod-template-hash", "5f4d")),
			want: domainPod(func(p *detect.Pod) {
				p.Owner = detect.Owner{Kind: "Deployment", Name: "shop-web-api", Revision: "5f4d"}
			}),
		},
		{
			name: "replicaset without pod-template-hash stays replicaset",
			pod:  apiPod(withOwner("apps/v1", "ReplicaSet", "web-7d9f8c6b5", true)),
			want: domainPod(owner("ReplicaSet", "web-7d9f8c6b5")),
		},
		{
			name: "replicaset not named after the hash stays replicaset",
			pod: apiPod(withOwner("apps/v1", "ReplicaSet", "handmade", true),
				withLabel("pod-template-hash", "7d9f8c6b5")),
			want: domainPod(owner("ReplicaSet", "handmade")),
		},
		{
			name: "replicaset named only the hash stays replicaset",
			pod: apiPod(withOwner("apps/v1", "ReplicaSet", "-7d9f8c6b5", true),
				withLabel("pod-template-hash", "7d9f8c6b5")),
			want: domainPod(owner("ReplicaSet", "-7d9f8c6b5")),
		},
		{
			name: "replicaset kind of another api group stays itself",
			pod: apiPod(withOwner("example.com/v1", "ReplicaSet", "web-7d9f8c6b5", true),
				withLabel("pod-template-hash", "7d9f8c6b5")),
			want: domainPod(owner("ReplicaSet", "web-7d9f8c6b5")),
		},
		{
			name: "statefulset",
			pod:  apiPod(withOwner("apps/v1", "StatefulSet", "kafka", true)),
			want: domainPod(owner("StatefulSet", "kafka")),
		},
		{
			name: "daemonset",
			pod:  apiPod(withOwner("apps/v1", "DaemonSet", "node-exporter", true)),
			want: domainPod(owner("DaemonSet", "node-exporter")),
		},
		{
			name: "job named like a cronjob's stays job",
			pod:  apiPod(withOwner("batch/v1", "Job", "nightly-29012345", true)),
			want: domainPod(owner("Job", "nightly-29012345")),
		},
		{
			name: "controller reference wins over others",
			pod: apiPod(withOwner("v1", "ConfigMap", "keeper", false),
				withOwner("apps/v1", "StatefulSet", "db", true)),
			want: domainPod(owner("StatefulSet", "db")),
		},
		{
			name: "first reference when none is controller",
			pod: apiPod(withOwner("example.com/v1", "Workflow", "wf-1", false),
				withOwner("v1", "ConfigMap", "keeper", false)),
			want: domainPod(owner("Workflow", "wf-1")),
		},
		{
			name: "init, sidecar, app and ephemeral in order",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{
					{Name: "migrate", Image: "migrate:1"},
					{Name: "envoy", Image: "envoy:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)},
				}
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{
					{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}},
				}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "migrate", RestartCount: 1}, {Name: "envoy", RestartCount: 2},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app", RestartCount: 3}}
				p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: "debug", RestartCount: 4}}
			}),
			want: domainPod(func(p *detect.Pod) {
				p.Containers = []detect.Container{
					{Name: "migrate", Type: detect.ContainerInit, Image: "migrate:1", RestartCount: 1, RestartPolicy: detect.RestartOnFailure},
					{Name: "envoy", Type: detect.ContainerSidecar, Image: "envoy:1", RestartCount: 2},
					{Name: "app", Type: detect.ContainerApp, Image: "nginx:1.27", RestartCount: 3},
					{Name: "debug", Type: detect.ContainerEphemeral, Image: "busybox", RestartCount: 4, RestartPolicy: detect.RestartNever},
				}
			}),
		},
		{
			name: "init container with restartPolicy other than Always is init",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{
					{Name: "setup", Image: "setup:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicy("OnFailure"))},
				}
			}),
			want: domainPod(func(p *detect.Pod) {
				p.Containers = append([]detect.Container{{Name: "setup", Type: detect.ContainerInit, Image: "setup:1",
					RestartPolicy: detect.RestartOnFailure}}, p.Containers...)
			}),
		},
		{
			name: "restart policies: the pod's Never, OnFailure; an app container's own Always",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.RestartPolicy = corev1.RestartPolicyNever
				p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "setup:1"}}
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "keep", Image: "keep:1",
					RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)})
			}),
			want: domainPod(func(p *detect.Pod) {
				p.Containers[0].RestartPolicy = detect.RestartNever
				p.Containers = append([]detect.Container{{Name: "setup", Type: detect.ContainerInit, Image: "setup:1",
					RestartPolicy: detect.RestartNever}}, p.Containers...)
				p.Containers = append(p.Containers, detect.Container{Name: "keep", Type: detect.ContainerApp, Image: "keep:1"})
			}),
		},
		{
			name: "restart policy OnFailure, as a Job's pods have",
			pod:  apiPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }),
			want: domainPod(container0(func(c *detect.Container) { c.RestartPolicy = detect.RestartOnFailure })),
		},
		{
			name: "waiting",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app", ContainerID: "containerd://a", RestartCount: 5,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container",
				}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.ContainerID, c.RestartCount = "containerd://a", 5
				c.State, c.StateReason, c.StateMessage = detect.StateWaiting, "CrashLoopBackOff", "back-off 5m0s restarting failed container"
			})),
		},
		{
			name: "running and ready",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app", ContainerID: "containerd://b", Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(time.Minute)}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.ContainerID, c.Ready = "containerd://b", true
				c.State, c.StateSince = detect.StateRunning, t0.Add(time.Minute)
			})),
		},
		{
			name: "terminated",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app", ContainerID: "containerd://c",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", Message: "panic: boom", StartedAt: at(time.Minute), FinishedAt: at(2 * time.Minute),
				}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.ContainerID, c.StateExitCode = "containerd://c", 1
				c.State, c.StateReason, c.StateMessage, c.StateSince = detect.StateTerminated, "Error", "panic: boom", t0.Add(2*time.Minute)
			})),
		},
		{
			name: "status without state is unknown",
			pod:  apiPod(withStatus(corev1.ContainerStatus{Name: "app"})),
			want: domainPod(),
		},
		{
			name: "last termination",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app", ContainerID: "containerd://new", RestartCount: 2,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(10 * time.Minute)}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ContainerID: "containerd://old", Reason: "OOMKilled", Message: "oom", ExitCode: 137, Signal: 9,
					StartedAt: at(5 * time.Minute), FinishedAt: at(9 * time.Minute),
				}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.ContainerID, c.RestartCount = "containerd://new", 2
				c.State, c.StateSince = detect.StateRunning, t0.Add(10*time.Minute)
				c.Last = detect.Termination{
					ContainerID: "containerd://old", Reason: "OOMKilled", Message: "oom", ExitCode: 137, Signal: 9,
					StartedAt: t0.Add(5 * time.Minute), FinishedAt: t0.Add(9 * time.Minute),
				}
			})),
		},
		{
			name: "last state other than terminated is ignored",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name:                 "app",
				LastTerminationState: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "X"}},
			})),
			want: domainPod(),
		},
		{
			name: "resources in canonical form, unset empty",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
					Requests: quantities("cpu", "0.25", "memory", "1073741824", "ephemeral-storage", "1Gi"),
					Limits:   quantities("memory", "512Mi", "nvidia.com/gpu", "1"),
				}
			}),
			want: domainPod(container0(func(c *detect.Container) {
				c.Resources = detect.Resources{CPURequest: "250m", MemoryRequest: "1073741824", MemoryLimit: "512Mi"}
			})),
		},
		{
			name: "resources joined to the status by name",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.Containers = []corev1.Container{
					{Name: "a", Resources: corev1.ResourceRequirements{Limits: quantities("cpu", "1")}},
					{Name: "b", Resources: corev1.ResourceRequirements{Limits: quantities("cpu", "2")}},
				}
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "b", RestartCount: 2}, {Name: "a", RestartCount: 1}}
			}),
			want: domainPod(func(p *detect.Pod) {
				p.Containers = []detect.Container{
					{Name: "a", Type: detect.ContainerApp, RestartCount: 1, Resources: detect.Resources{CPULimit: "1"}},
					{Name: "b", Type: detect.ContainerApp, RestartCount: 2, Resources: detect.Resources{CPULimit: "2"}},
				}
			}),
		},
		{
			name: "pending with statuses for some containers only",
			pod: apiPod(func(p *corev1.Pod) {
				p.Spec.NodeName = ""
				p.Status.Phase = corev1.PodPending
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "side", Image: "side:1"})
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "side", RestartCount: 1}}
			}),
			want: domainPod(func(p *detect.Pod) {
				p.Node, p.Phase = "", "Pending"
				p.Containers = append(p.Containers, detect.Container{Name: "side", Type: detect.ContainerApp, Image: "side:1", RestartCount: 1})
			}),
		},
		{
			name: "no containers at all",
			pod:  apiPod(func(p *corev1.Pod) { p.Spec.Containers = nil }),
			want: domainPod(func(p *detect.Pod) { p.Containers = nil }),
		},
		{
			name: "deleting, evicted, no creation timestamp",
			pod: apiPod(func(p *corev1.Pod) {
				p.CreationTimestamp = metav1.Time{}
				p.DeletionTimestamp = ptr.To(at(time.Hour))
				p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Evicted"
			}),
			want: domainPod(func(p *detect.Pod) {
				p.CreatedAt = time.Time{}
				p.Deleting, p.Phase, p.Reason = true, "Failed", "Evicted"
			}),
		},
		{
			name: "times in another zone become UTC",
			pod: apiPod(func(p *corev1.Pod) {
				p.CreationTimestamp = metav1.NewTime(t0.In(time.FixedZone("CST", 8*3600)))
			}),
			want: domainPod(),
		},
		{
			name: "negative restart count clamps to zero",
			pod:  apiPod(withStatus(corev1.ContainerStatus{Name: "app", RestartCount: -3})),
			want: domainPod(),
		},
		{
			name: "huge termination messages are bounded",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: strings.Repeat("R", 1000), Message: huge,
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Message: huge}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.State = detect.StateTerminated
				c.StateReason = strings.Repeat("R", MaxReasonBytes-len("…")) + "…"
				c.StateMessage = strings.Repeat("x", MaxMessageBytes-len("…")) + "…"
				c.Last.Message = c.StateMessage
			})),
		},
		{
			name: "unicode messages are cut on a rune boundary",
			pod: apiPod(withStatus(corev1.ContainerStatus{
				Name: "app",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason: "CreateContainerError", Message: chinese,
				}},
			})),
			want: domainPod(container0(func(c *detect.Container) {
				c.State, c.StateReason = detect.StateWaiting, "CreateContainerError"
				// (4096-3)/3 = 1364 whole runes fit.
				c.StateMessage = string([]rune(chinese)[:1364]) + "…"
			})),
		},
		{
			name: "thousands of containers out of order",
			pod:  thousandsPod,
			want: thousandsWant,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got := PodFromAPI(tc.pod)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PodFromAPI (-want +got):\n%s", diff)
			}
			if !apiequality.Semantic.DeepEqual(before, tc.pod) {
				t.Error("PodFromAPI modified its argument")
			}
			for _, c := range got.Containers {
				for _, s := range []string{c.StateMessage, c.StateReason, c.Last.Message, c.Last.Reason} {
					if !utf8.ValidString(s) {
						t.Errorf("container %s: invalid UTF-8 %q", c.Name, s)
					}
				}
			}
		})
	}
}

// TestPodFromAPIFixture converts a realistic pod, as the API server returns
// it, field by field.
func TestPodFromAPIFixture(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		file string
		want *detect.Pod
	}{
		{
			file: "deployment-crashloop.yaml",
			want: &detect.Pod{
				UID: "3f1c2a7e-9b1d-4c55-8e0f-0a1b2c3d4e5f", Namespace: "shop", Name: "checkout-7d9f8c6b5-x2k4q",
				Node: "worker-3", Owner: detect.Owner{Kind: "Deployment", Name: "checkout", Revision: "7d9f8c6b5"}, Phase: "Running",
				CreatedAt: ts("2026-03-01T08:00:00Z"),
				Containers: []detect.Container{
					{
						Name: "migrate", Type: detect.ContainerInit, Image: "registry.example.com/shop/checkout-migrate:1.42.0",
						ContainerID: "containerd://1111111111111111111111111111111111111111111111111111111111111111",
						Ready:       true, State: detect.StateTerminated, StateReason: "Completed", StateSince: ts("2026-03-01T08:00:15Z"),
						RestartPolicy: detect.RestartOnFailure,
						Resources:     detect.Resources{CPURequest: "100m", MemoryRequest: "64Mi"},
					},
					{
						Name: "envoy", Type: detect.ContainerSidecar, Image: "envoyproxy/envoy:v1.33.0",
						ContainerID:  "containerd://2222222222222222222222222222222222222222222222222222222222222222",
						RestartCount: 1, Ready: true, State: detect.StateRunning, StateSince: ts("2026-03-01T08:30:00Z"),
						Last: detect.Termination{
							ContainerID: "containerd://2020202020202020202020202020202020202020202020202020202020202020",
							Reason:      "Error", Message: "envoy: upstream connect error", ExitCode: 137, Signal: 9,
							StartedAt: ts("2026-03-01T08:00:16Z"), FinishedAt: ts("2026-03-01T08:29:58Z"),
						},
						Resources: detect.Resources{CPURequest: "250m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "256Mi"},
					},
					{
						Name: "app", Type: detect.ContainerApp, Image: "registry.example.com/shop/checkout:1.42.0",
						ContainerID:  "containerd://3333333333333333333333333333333333333333333333333333333333333333",
						RestartCount: 7, State: detect.StateWaiting, StateReason: "CrashLoopBackOff",
						StateMessage: "back-off 5m0s restarting failed container=app pod=checkout-7d9f8c6b5-x2k4q_shop(3f1c2a7e-9b1d-4c55-8e0f-0a1b2c3d4e5f)",
						Last: detect.Termination{
							ContainerID: "containerd://3030303030303030303030303030303030303030303030303030303030303030",
							Reason:      "OOMKilled", Message: "fatal error: runtime: out of memory — heap 511Mi/512Mi", ExitCode: 137,
							StartedAt: ts("2026-03-01T09:07:30Z"), FinishedAt: ts("2026-03-01T09:12:39Z"),
						},
						Resources: detect.Resources{CPURequest: "500m", MemoryRequest: "256Mi", MemoryLimit: "512Mi"},
					},
					{
						Name: "metrics", Type: detect.ContainerApp,
						Image:       "registry.example.com/shop/exporter@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
						ContainerID: "containerd://4444444444444444444444444444444444444444444444444444444444444444",
						Ready:       true, State: detect.StateRunning, StateSince: ts("2026-03-01T08:00:21Z"),
					},
				},
			},
		},
		{
			file: "statefulset-pending.yaml",
			want: &detect.Pod{
				UID: "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d", Namespace: "streaming", Name: "kafka-2",
				Owner: detect.Owner{Kind: "StatefulSet", Name: "kafka"}, Phase: "Pending", CreatedAt: ts("2026-03-01T10:00:00Z"),
				Containers: []detect.Container{{
					Name: "kafka", Type: detect.ContainerApp, Image: "apache/kafka:4.1.0",
					Resources: detect.Resources{CPURequest: "2", CPULimit: "2", MemoryRequest: "4Gi", MemoryLimit: "4Gi"},
				}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := PodFromAPI(readPod(t, tc.file))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PodFromAPI (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBound(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{name: "short", in: "abc", limit: 8, want: "abc"},
		{name: "exactly the limit", in: "abcdefgh", limit: 8, want: "abcdefgh"},
		{name: "one over", in: "abcdefghi", limit: 8, want: "abcde…"},
		{name: "two-byte runes", in: "ééééé", limit: 8, want: "éé…"},         // 10 bytes; 5 of room holds 2 runes
		{name: "four-byte runes", in: "😀😀😀", limit: 8, want: "😀…"},           // 12 bytes; 5 of room holds 1 rune
		{name: "room ends inside a rune", in: "ab😀😀", limit: 8, want: "ab…"}, // room 5 splits the first emoji
		{name: "room ends on a rune start", in: "ab😀😀", limit: 9, want: "ab😀…"},
		{name: "invalid bytes are cut where they fall", in: "\xff\xff\xff\xff\xff\xff\xff\xff\xff", limit: 8, want: "\xff\xff\xff\xff\xff…"},
		{name: "empty", in: "", limit: 8, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := bound(tc.in, tc.limit)
			if got != tc.want {
				t.Errorf("bound(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
			if len(got) > tc.limit && tc.in != "" {
				t.Errorf("bound(%q, %d) is %d bytes", tc.in, tc.limit, len(got))
			}
			if again := bound(got, tc.limit); again != got {
				t.Errorf("bound is not idempotent: %q then %q", got, again)
			}
		})
	}
}

// readPod decodes testdata/<file> into a pod.
func readPod(t *testing.T, file string) *corev1.Pod { return readPodB(t, file) }

func readPodB(t testing.TB, file string) *corev1.Pod {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return &p
}
