package kubesim

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newSim(t *testing.T) (*Sim, *fake.Clientset, *clock) {
	t.Helper()
	client := fake.NewClientset()
	clk := &clock{now: t0}
	return New(client, WithNow(clk.Now), WithSeed(1)), client, clk
}

func mt(t time.Time) metav1.Time { return metav1.NewTime(t) }

var idRE = regexp.MustCompile(`^containerd://[0-9a-f]{64}$`)

// normalizeIDs checks every container ID's format and replaces it by a
// stable placeholder naming the order of first appearance, so a diff can
// show which IDs are equal.
func normalizeIDs(t *testing.T, st *corev1.PodStatus) {
	t.Helper()
	seen := map[string]string{}
	norm := func(id *string) {
		if *id == "" {
			return
		}
		if !idRE.MatchString(*id) {
			t.Errorf("container ID %q is not containerd://<64 hex>", *id)
		}
		if _, ok := seen[*id]; !ok {
			seen[*id] = "id" + string(rune('A'+len(seen)))
		}
		*id = seen[*id]
	}
	for _, list := range [][]corev1.ContainerStatus{st.InitContainerStatuses, st.ContainerStatuses} {
		for i := range list {
			cs := &list[i]
			norm(&cs.ContainerID)
			if term := cs.State.Terminated; term != nil {
				norm(&term.ContainerID)
			}
			if term := cs.LastTerminationState.Terminated; term != nil {
				norm(&term.ContainerID)
			}
			cs.ImageID = ""
		}
	}
}

func TestCreatePodOwners(t *testing.T) {
	type owned struct {
		Kind, Name string
		Controller bool
	}
	tests := []struct {
		name       string
		opts       PodOptions
		wantName   string // regexp
		wantOwner  owned
		wantLabels map[string]string // subset, "*" matches any non-empty value
		// wantChain lists the owner objects expected in the API, as
		// "<Kind>/<name> <- <ownerKind>/<ownerName>".
		wantChain []string
	}{
		{
			name:       "deployment",
			opts:       PodOptions{Namespace: "shop", Owner: Owner{Kind: KindDeployment, Name: "web", Hash: "5d8f7c9b4"}, Labels: map[string]string{"tier": "front"}},
			wantName:   `^web-5d8f7c9b4-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner:  owned{"ReplicaSet", "web-5d8f7c9b4", true},
			wantLabels: map[string]string{"app": "web", "pod-template-hash": "5d8f7c9b4", "tier": "front"},
			wantChain:  []string{"ReplicaSet/web-5d8f7c9b4 <- Deployment/web", "Deployment/web"},
		},
		{
			name:       "deployment with derived hash",
			opts:       PodOptions{Namespace: "shop", Owner: Owner{Kind: KindDeployment, Name: "api"}},
			wantName:   `^api-[bcdfghjklmnpqrstvwxz2456789]{6,12}-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner:  owned{"ReplicaSet", "*", true},
			wantLabels: map[string]string{"app": "api", "pod-template-hash": "*"},
		},
		{
			name:       "statefulset",
			opts:       PodOptions{Namespace: "db", Owner: Owner{Kind: KindStatefulSet, Name: "pg"}},
			wantName:   `^pg-0$`,
			wantOwner:  owned{"StatefulSet", "pg", true},
			wantLabels: map[string]string{"app": "pg", "statefulset.kubernetes.io/pod-name": "pg-0", "apps.kubernetes.io/pod-index": "0", "controller-revision-hash": "*"},
			wantChain:  []string{"StatefulSet/pg"},
		},
		{
			name:       "statefulset with explicit ordinal",
			opts:       PodOptions{Namespace: "db", Name: "pg-3", Owner: Owner{Kind: KindStatefulSet, Name: "pg"}},
			wantName:   `^pg-3$`,
			wantOwner:  owned{"StatefulSet", "pg", true},
			wantLabels: map[string]string{"apps.kubernetes.io/pod-index": "3"},
		},
		{
			name:       "daemonset",
			opts:       PodOptions{Namespace: "kube-system", Owner: Owner{Kind: KindDaemonSet, Name: "datakit"}},
			wantName:   `^datakit-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner:  owned{"DaemonSet", "datakit", true},
			wantLabels: map[string]string{"app": "datakit", "pod-template-generation": "1"},
			wantChain:  []string{"DaemonSet/datakit"},
		},
		{
			name:       "job",
			opts:       PodOptions{Namespace: "batch", Owner: Owner{Kind: KindJob, Name: "migrate"}},
			wantName:   `^migrate-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner:  owned{"Job", "migrate", true},
			wantLabels: map[string]string{"batch.kubernetes.io/job-name": "migrate", "job-name": "migrate", "batch.kubernetes.io/controller-uid": "*"},
			wantChain:  []string{"Job/migrate"},
		},
		{
			name:       "cronjob",
			opts:       PodOptions{Namespace: "batch", Owner: Owner{Kind: KindCronJob, Name: "backup"}},
			wantName:   `^backup-29013840-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner:  owned{"Job", "backup-29013840", true},
			wantLabels: map[string]string{"batch.kubernetes.io/job-name": "backup-29013840"},
			wantChain:  []string{"Job/backup-29013840 <- CronJob/backup", "CronJob/backup"},
		},
		{
			name:      "owner objects skipped",
			opts:      PodOptions{Namespace: "shop", Owner: Owner{Kind: KindDeployment, Name: "ghost", Hash: "abc"}, SkipOwnerObjects: true},
			wantName:  `^ghost-abc-[bcdfghjklmnpqrstvwxz2456789]{5}$`,
			wantOwner: owned{"ReplicaSet", "ghost-abc", true},
		},
		{
			name:     "bare",
			opts:     PodOptions{Name: "debug"},
			wantName: `^debug$`,
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, client, _ := newSim(t)
			ctx := t.Context()
			pod, err := sim.CreatePod(ctx, tc.opts)
			if err != nil {
				t.Fatalf("CreatePod: %v", err)
			}

			if !regexp.MustCompile(tc.wantName).MatchString(pod.Name) {
				t.Errorf("name = %q, want match for %s", pod.Name, tc.wantName)
			}
			var gotOwner owned
			if len(pod.OwnerReferences) > 1 {
				t.Errorf("owner references = %v, want at most one", pod.OwnerReferences)
			}
			for _, ref := range pod.OwnerReferences {
				gotOwner = owned{ref.Kind, ref.Name, ptr.Deref(ref.Controller, false)}
				if ref.UID == "" {
					t.Errorf("owner reference %v has no UID", ref)
				}
				if tc.wantOwner.Name == "*" {
					gotOwner.Name = "*"
				}
			}
			if diff := cmp.Diff(tc.wantOwner, gotOwner); diff != "" {
				t.Errorf("owner (-want +got):\n%s", diff)
			}
			for k, v := range tc.wantLabels {
				got, ok := pod.Labels[k]
				if !ok || (v != "*" && got != v) || got == "" {
					t.Errorf("label %s = %q (present %v), want %q", k, got, ok, v)
				}
			}
			if h := pod.Labels["pod-template-hash"]; h != "" && !strings.HasSuffix(gotOwner.Name, h) && gotOwner.Name != "*" {
				t.Errorf("pod-template-hash %q does not suffix replicaset %q", h, gotOwner.Name)
			}

			var chain []string
			for _, obj := range ownerObjects(t, ctx, client, pod.Namespace) {
				link := obj.kind + "/" + obj.name
				for _, ref := range obj.refs {
					link += " <- " + ref.Kind + "/" + ref.Name
				}
				chain = append(chain, link)
			}
			if diff := cmp.Diff(tc.wantChain, chain, cmpopts.SortSlices(func(a, b string) bool { return a < b }), cmpopts.EquateEmpty()); diff != "" && tc.wantChain != nil {
				t.Errorf("owner objects (-want +got):\n%s", diff)
			}
			if tc.opts.SkipOwnerObjects && len(chain) != 0 {
				t.Errorf("owner objects %v created, want none", chain)
			}
			if pod.Spec.NodeName != DefaultNode {
				t.Errorf("node = %q, want %q", pod.Spec.NodeName, DefaultNode)
			}
			if _, err := client.CoreV1().ServiceAccounts(pod.Namespace).Get(ctx, "default", metav1.GetOptions{}); err != nil {
				t.Errorf("default service account: %v", err)
			}
			if _, err := client.CoreV1().Nodes().Get(ctx, DefaultNode, metav1.GetOptions{}); err != nil {
				t.Errorf("node: %v", err)
			}
		})
	}
}

type ownerObject struct {
	kind, name string
	refs       []metav1.OwnerReference
}

func ownerObjects(t *testing.T, ctx context.Context, client *fake.Clientset, ns string) []ownerObject {
	t.Helper()
	var out []ownerObject
	add := func(kind string, m metav1.ObjectMeta) {
		if m.UID == "" {
			t.Errorf("%s %s has no UID", kind, m.Name)
		}
		out = append(out, ownerObject{kind, m.Name, m.OwnerReferences})
	}
	deps, _ := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	for _, o := range deps.Items {
		add("Deployment", o.ObjectMeta)
	}
	rss, _ := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	for _, o := range rss.Items {
		add("ReplicaSet", o.ObjectMeta)
	}
	stss, _ := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	for _, o := range stss.Items {
		add("StatefulSet", o.ObjectMeta)
	}
	dss, _ := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	for _, o := range dss.Items {
		add("DaemonSet", o.ObjectMeta)
	}
	jobs, _ := client.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	for _, o := range jobs.Items {
		add("Job", o.ObjectMeta)
	}
	cjs, _ := client.BatchV1().CronJobs(ns).List(ctx, metav1.ListOptions{})
	for _, o := range cjs.Items {
		add("CronJob", o.ObjectMeta)
	}
	return out
}

func TestCreatePodErrors(t *testing.T) {
	tests := []struct {
		name string
		opts PodOptions
		want string
	}{
		{"bare pod without name", PodOptions{}, "a bare pod needs a name"},
		{"owner without name", PodOptions{Owner: Owner{Kind: KindDeployment}}, "owner Deployment has no name"},
		{"unknown owner kind", PodOptions{Owner: Owner{Kind: "ReplicationController", Name: "x"}}, `unknown owner kind "ReplicationController"`},
		{"bad quantity", PodOptions{Name: "p", Containers: []Container{{Limits: Resources{Memory: "lots"}}}}, `parse memory quantity "lots"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, _, _ := newSim(t)
			_, err := sim.CreatePod(t.Context(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("CreatePod error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestMarkRunning(t *testing.T) {
	sim, _, clk := newSim(t)
	ctx := t.Context()
	pod, err := sim.CreatePod(ctx, PodOptions{
		Namespace:      "shop",
		Name:           "web-1",
		Node:           "node-a",
		Containers:     []Container{{Name: "app", Image: "shop/web:1.2", Requests: Resources{CPU: "100m", Memory: "64Mi"}, Limits: Resources{CPU: "100m", Memory: "64Mi"}}, {Name: "log"}},
		InitContainers: []Container{{Name: "migrate"}},
		Sidecars:       []Container{{Name: "proxy"}},
	})
	if err != nil {
		t.Fatalf("CreatePod: %v", err)
	}
	if got := pod.Spec.InitContainers[1].RestartPolicy; got == nil || *got != corev1.ContainerRestartPolicyAlways {
		t.Errorf("sidecar restartPolicy = %v, want Always", got)
	}
	if pod.Status.Phase != corev1.PodPending || pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("created pod phase %s, QoS %s; want Pending, Burstable", pod.Status.Phase, pod.Status.QOSClass)
	}

	clk.Advance(5 * time.Second)
	t1 := t0.Add(5 * time.Second)
	pod, err = sim.MarkRunning(ctx, "shop", "web-1")
	if err != nil {
		t.Fatalf("MarkRunning: %v", err)
	}
	st := *pod.Status.DeepCopy()
	normalizeIDs(t, &st)
	if !strings.HasPrefix(st.PodIP, "10.24") {
		t.Errorf("pod IP %q not in 10.244.0.0/14", st.PodIP)
	}
	podIP := st.PodIP

	running := func(name, image, id string) corev1.ContainerStatus {
		return corev1.ContainerStatus{
			Name: name, Image: image, ContainerID: id, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mt(t1)}},
		}
	}
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: mt(t1)}
	}
	want := corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodReadyToStartContainers), cond(corev1.PodInitialized), cond(corev1.PodReady),
			cond(corev1.ContainersReady), cond(corev1.PodScheduled),
		},
		HostIP:    nodeIP("node-a"),
		HostIPs:   []corev1.HostIP{{IP: nodeIP("node-a")}},
		PodIP:     podIP,
		PodIPs:    []corev1.PodIP{{IP: podIP}},
		StartTime: ptr.To(mt(t1)),
		QOSClass:  corev1.PodQOSBurstable,
		InitContainerStatuses: []corev1.ContainerStatus{
			{
				Name: "migrate", Image: DefaultImage, ContainerID: "idA", Ready: true, Started: ptr.To(false),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "Completed", StartedAt: mt(t1), FinishedAt: mt(t1), ContainerID: "idA",
				}},
			},
			running("proxy", DefaultImage, "idB"),
		},
		ContainerStatuses: []corev1.ContainerStatus{
			running("app", "shop/web:1.2", "idC"),
			running("log", DefaultImage, "idD"),
		},
	}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
	if got := pod.Status.ContainerStatuses[0].ImageID; !regexp.MustCompile(`^shop/web@sha256:[0-9a-f]{64}$`).MatchString(got) {
		t.Errorf("imageID = %q, want shop/web@sha256:<64 hex>", got)
	}

	// Marking a running pod running again changes nothing.
	clk.Advance(time.Minute)
	again, err := sim.MarkRunning(ctx, "shop", "web-1")
	if err != nil {
		t.Fatalf("MarkRunning again: %v", err)
	}
	if diff := cmp.Diff(pod.Status, again.Status); diff != "" {
		t.Errorf("status changed by a second MarkRunning (-first +second):\n%s", diff)
	}
}

func TestCrashContainer(t *testing.T) {
	type step struct {
		container string
		crash     Crash
		advance   time.Duration // before the crash
	}
	tests := []struct {
		name      string
		opts      PodOptions
		noRun     bool // skip MarkRunning
		steps     []step
		container string // whose status is checked
		init      bool
		want      corev1.ContainerStatus
		wantPhase corev1.PodPhase
		// wantConds maps condition types to their status.
		wantConds map[corev1.PodConditionType]corev1.ConditionStatus
		wantErr   string
	}{
		{
			name:      "oom killed into back-off",
			steps:     []step{{"app", Crash{Reason: "OOMKilled", Waiting: CrashLoopBackOff}, time.Minute}},
			container: "app",
			// In back-off restartCount is still the dead container's.
			want: corev1.ContainerStatus{
				Name: "app", Image: DefaultImage, ContainerID: "idA", RestartCount: 0, Started: ptr.To(false),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason:  CrashLoopBackOff,
					Message: "back-off 10s restarting failed container=app pod=web-1_shop(<uid>)",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled", StartedAt: mt(t0), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodRunning,
			wantConds: map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodReady: "False", corev1.ContainersReady: "False", corev1.PodInitialized: "True"},
		},
		{
			name:      "error and running again",
			steps:     []step{{"app", Crash{Message: "panic: boom"}, time.Minute}},
			container: "app",
			want: corev1.ContainerStatus{
				Name: "app", Image: DefaultImage, ContainerID: "idB", RestartCount: 1, Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mt(t0.Add(time.Minute))}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", Message: "panic: boom", StartedAt: mt(t0), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodRunning,
			wantConds: map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodReady: "True"},
		},
		{
			name: "crash loop",
			steps: []step{
				{"app", Crash{Waiting: CrashLoopBackOff}, time.Minute},
				{"app", Crash{Waiting: CrashLoopBackOff}, 20 * time.Second},
				{"app", Crash{Waiting: CrashLoopBackOff, Signal: 9, ExitCode: 137, FinishedAt: t0.Add(2 * time.Minute)}, 0},
			},
			container: "app",
			want: corev1.ContainerStatus{
				Name: "app", Image: DefaultImage, ContainerID: "idA", RestartCount: 2, Started: ptr.To(false),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason:  CrashLoopBackOff,
					Message: "back-off 40s restarting failed container=app pod=web-1_shop(<uid>)",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Signal: 9, Reason: "Error", StartedAt: mt(t0.Add(80 * time.Second)), FinishedAt: mt(t0.Add(2 * time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodRunning,
		},
		{
			name:      "init container of a new pod",
			opts:      PodOptions{InitContainers: []Container{{Name: "migrate"}}},
			noRun:     true,
			steps:     []step{{"migrate", Crash{Waiting: CrashLoopBackOff}, time.Minute}},
			container: "migrate",
			init:      true,
			want: corev1.ContainerStatus{
				Name: "migrate", Image: DefaultImage, ContainerID: "idA", RestartCount: 0, Started: ptr.To(false),
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
					Reason:  CrashLoopBackOff,
					Message: "back-off 10s restarting failed container=migrate pod=web-1_shop(<uid>)",
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", StartedAt: mt(t0.Add(time.Minute)), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodPending,
			wantConds: map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodInitialized: "False", corev1.PodReady: "False"},
		},
		{
			name:      "sidecar",
			opts:      PodOptions{Sidecars: []Container{{Name: "proxy"}}},
			steps:     []step{{"proxy", Crash{}, time.Minute}},
			container: "proxy",
			init:      true,
			want: corev1.ContainerStatus{
				Name: "proxy", Image: DefaultImage, ContainerID: "idB", RestartCount: 1, Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: mt(t0.Add(time.Minute))}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", StartedAt: mt(t0), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodRunning,
			wantConds: map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodInitialized: "True", corev1.PodReady: "True"},
		},
		{
			name:      "restart policy never",
			opts:      PodOptions{RestartPolicy: corev1.RestartPolicyNever},
			steps:     []step{{"app", Crash{Waiting: CrashLoopBackOff}, time.Minute}},
			container: "app",
			want: corev1.ContainerStatus{
				Name: "app", Image: DefaultImage, ContainerID: "idA", Started: ptr.To(false),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 1, Reason: "Error", StartedAt: mt(t0), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodFailed,
			wantConds: map[corev1.PodConditionType]corev1.ConditionStatus{corev1.PodReady: "False"},
		},
		{
			name:      "job completes",
			opts:      PodOptions{Owner: Owner{Kind: KindJob, Name: "once"}, Name: "web-1"},
			steps:     []step{{"app", Crash{Reason: "Completed"}, time.Minute}},
			container: "app",
			want: corev1.ContainerStatus{
				Name: "app", Image: DefaultImage, ContainerID: "idA", Started: ptr.To(false),
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					Reason: "Completed", StartedAt: mt(t0), FinishedAt: mt(t0.Add(time.Minute)), ContainerID: "idA",
				}},
			},
			wantPhase: corev1.PodSucceeded,
		},
		{
			name:    "unknown container",
			steps:   []step{{"nope", Crash{}, 0}},
			wantErr: `has no container "nope"`,
		},
		{
			name:    "terminated container",
			opts:    PodOptions{RestartPolicy: corev1.RestartPolicyNever},
			steps:   []step{{"app", Crash{}, 0}, {"app", Crash{}, 0}},
			wantErr: `container "app" is terminated`,
		},
	}

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, _, clk := newSim(t)
			ctx := t.Context()
			opts := tc.opts
			opts.Namespace, opts.Name = "shop", "web-1"
			pod, err := sim.CreatePod(ctx, opts)
			if err != nil {
				t.Fatalf("CreatePod: %v", err)
			}
			if !tc.noRun {
				if _, err := sim.MarkRunning(ctx, "shop", "web-1"); err != nil {
					t.Fatalf("MarkRunning: %v", err)
				}
			}
			for _, s := range tc.steps {
				clk.Advance(s.advance)
				pod, err = sim.CrashContainer(ctx, "shop", "web-1", s.container, s.crash)
				if err != nil {
					break
				}
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("CrashContainer error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("CrashContainer: %v", err)
			}

			st := *pod.Status.DeepCopy()
			// Name the dead container idA and a new one idB.
			statuses := st.ContainerStatuses
			if tc.init {
				statuses = st.InitContainerStatuses
			}
			got := lookup(statuses, tc.container)
			if got == nil {
				t.Fatalf("no status for %s in %+v", tc.container, st)
			}
			one := corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{*got}}
			if term := got.LastTerminationState.Terminated; term != nil && term.ContainerID != got.ContainerID {
				one.InitContainerStatuses = []corev1.ContainerStatus{{ContainerID: term.ContainerID}}
			}
			normalizeIDs(t, &one)
			gotStatus := one.ContainerStatuses[0]
			if w := gotStatus.State.Waiting; w != nil {
				w.Message = strings.ReplaceAll(w.Message, string(pod.UID), "<uid>")
			}
			if diff := cmp.Diff(tc.want, gotStatus); diff != "" {
				t.Errorf("status of %s (-want +got):\n%s", tc.container, diff)
			}
			if pod.Status.Phase != tc.wantPhase {
				t.Errorf("phase = %s, want %s", pod.Status.Phase, tc.wantPhase)
			}
			for typ, want := range tc.wantConds {
				c := lookupCondition(pod, typ)
				if c == nil || c.Status != want {
					t.Errorf("condition %s = %+v, want status %s", typ, c, want)
				}
			}
			if tc.noRun {
				app := lookup(pod.Status.ContainerStatuses, "app")
				if app == nil || app.State.Waiting == nil || app.State.Waiting.Reason != PodInitializing {
					t.Errorf("app container status = %+v, want waiting PodInitializing", app)
				}
			}
		})
	}
}

func TestStartContainerAfterBackOff(t *testing.T) {
	sim, _, clk := newSim(t)
	ctx := t.Context()
	if _, err := sim.RunPod(ctx, PodOptions{Namespace: "shop", Name: "web-1"}); err != nil {
		t.Fatalf("RunPod: %v", err)
	}
	clk.Advance(time.Minute)
	crashed, err := sim.CrashContainer(ctx, "shop", "web-1", "app", Crash{Waiting: CrashLoopBackOff})
	if err != nil {
		t.Fatalf("CrashContainer: %v", err)
	}
	clk.Advance(10 * time.Second)
	pod, err := sim.StartContainer(ctx, "shop", "web-1", "app")
	if err != nil {
		t.Fatalf("StartContainer: %v", err)
	}
	before, after := crashed.Status.ContainerStatuses[0], pod.Status.ContainerStatuses[0]
	if after.ContainerID == before.ContainerID || after.RestartCount != 1 || !after.Ready ||
		after.State.Running == nil || !after.State.Running.StartedAt.Equal(ptr.To(mt(t0.Add(70*time.Second)))) {
		t.Errorf("after StartContainer: %+v; want running since t0+70s under a new ID, restartCount 1, ready", after)
	}
	if diff := cmp.Diff(before.LastTerminationState, after.LastTerminationState); diff != "" {
		t.Errorf("lastState changed by StartContainer (-before +after):\n%s", diff)
	}
	if c := lookupCondition(pod, corev1.PodReady); c.Status != corev1.ConditionTrue || !c.LastTransitionTime.Equal(ptr.To(mt(t0.Add(70*time.Second)))) {
		t.Errorf("Ready condition = %+v, want True since t0+70s", c)
	}
}

func TestEvictPod(t *testing.T) {
	sim, _, clk := newSim(t)
	ctx := t.Context()
	if _, err := sim.RunPod(ctx, PodOptions{Namespace: "shop", Name: "web-1"}); err != nil {
		t.Fatalf("RunPod: %v", err)
	}
	if _, err := sim.CrashContainer(ctx, "shop", "web-1", "app", Crash{}); err != nil {
		t.Fatalf("CrashContainer: %v", err)
	}
	clk.Advance(time.Minute)
	pod, err := sim.EvictPod(ctx, "shop", "web-1", "")
	if err != nil {
		t.Fatalf("EvictPod: %v", err)
	}

	if pod.Status.Phase != corev1.PodFailed || pod.Status.Reason != "Evicted" || pod.Status.Message != DefaultEvictionMessage {
		t.Errorf("status = %s %q %q, want Failed Evicted %q", pod.Status.Phase, pod.Status.Reason, pod.Status.Message, DefaultEvictionMessage)
	}
	want := corev1.PodCondition{
		Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "TerminationByKubelet",
		Message: DefaultEvictionMessage, LastTransitionTime: mt(t0.Add(time.Minute)),
	}
	if diff := cmp.Diff(&want, lookupCondition(pod, corev1.DisruptionTarget)); diff != "" {
		t.Errorf("DisruptionTarget (-want +got):\n%s", diff)
	}
	cs := pod.Status.ContainerStatuses[0]
	if cs.RestartCount != 1 || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 || cs.Ready {
		t.Errorf("container status = %+v, want terminated 137, not ready, restartCount still 1", cs)
	}
	if c := lookupCondition(pod, corev1.PodReady); c.Status != corev1.ConditionFalse || c.Reason != "PodCompleted" {
		t.Errorf("Ready = %+v, want False PodCompleted", c)
	}
}

func TestDeletePod(t *testing.T) {
	sim, client, _ := newSim(t)
	ctx := t.Context()
	if _, err := sim.RunPod(ctx, PodOptions{Name: "p"}); err != nil {
		t.Fatalf("RunPod: %v", err)
	}
	if err := sim.DeletePod(ctx, DefaultNamespace, "p"); err != nil {
		t.Fatalf("DeletePod: %v", err)
	}
	if _, err := client.CoreV1().Pods(DefaultNamespace).Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
	if err := sim.DeletePod(ctx, DefaultNamespace, "p"); !apierrors.IsNotFound(err) {
		t.Errorf("second DeletePod = %v, want NotFound", err)
	}

	var grace *int64
	client.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		grace = a.(k8stesting.DeleteAction).GetDeleteOptions().GracePeriodSeconds
		return false, nil, nil
	})
	if _, err := sim.CreatePod(ctx, PodOptions{Name: "q"}); err != nil {
		t.Fatalf("CreatePod: %v", err)
	}
	if err := sim.BeginDeletePod(ctx, DefaultNamespace, "q", 30*time.Second); err != nil {
		t.Fatalf("BeginDeletePod: %v", err)
	}
	if grace == nil || *grace != 30 {
		t.Errorf("grace period sent = %v, want 30", grace)
	}
}

func TestWarningEvent(t *testing.T) {
	sim, client, clk := newSim(t)
	ctx := t.Context()
	pod, err := sim.RunPod(ctx, PodOptions{Namespace: "shop", Name: "web-1", Node: "node-a", InitContainers: []Container{{Name: "migrate"}}})
	if err != nil {
		t.Fatalf("RunPod: %v", err)
	}

	first, err := sim.WarningEvent(ctx, "shop", "web-1", Event{Reason: ReasonBackOff, Container: "app"})
	if err != nil {
		t.Fatalf("WarningEvent: %v", err)
	}
	clk.Advance(30 * time.Second)
	second, err := sim.WarningEvent(ctx, "shop", "web-1", Event{Reason: ReasonBackOff, Container: "app"})
	if err != nil {
		t.Fatalf("WarningEvent again: %v", err)
	}
	want := corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: first.Name, Namespace: "shop"},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: "shop", Name: "web-1", UID: pod.UID,
			ResourceVersion: pod.ResourceVersion, FieldPath: "spec.containers{app}",
		},
		Reason:              ReasonBackOff,
		Message:             "Back-off restarting failed container app in pod web-1_shop(" + string(pod.UID) + ")",
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: "kubelet", Host: "node-a"},
		FirstTimestamp:      mt(t0),
		LastTimestamp:       mt(t0.Add(30 * time.Second)),
		Count:               2,
		ReportingController: "kubelet",
		ReportingInstance:   "node-a",
	}
	if diff := cmp.Diff(want, *second, cmpopts.IgnoreFields(corev1.Event{}, "TypeMeta"),
		cmpopts.IgnoreFields(metav1.ObjectMeta{}, "ResourceVersion", "ManagedFields")); diff != "" {
		t.Errorf("aggregated event (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(first.Name, "web-1.") {
		t.Errorf("event name %q, want web-1.<hex>", first.Name)
	}

	tests := []struct {
		name          string
		ev            Event
		wantFieldPath string
		wantMessage   string
		wantComponent string
	}{
		{"liveness", Event{Reason: ReasonUnhealthy, Container: "app"}, "spec.containers{app}", "Liveness probe failed: HTTP probe failed with statuscode: 500", "kubelet"},
		{"image pull", Event{Reason: ReasonFailed, Container: "migrate"}, "spec.initContainers{migrate}", "Error: ImagePullBackOff", "kubelet"},
		{"custom", Event{Reason: ReasonUnhealthy, Message: "Readiness probe failed: timeout", Component: "probe"}, "", "Readiness probe failed: timeout", "probe"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := sim.WarningEvent(ctx, "shop", "web-1", tc.ev)
			if err != nil {
				t.Fatalf("WarningEvent: %v", err)
			}
			got := []string{e.InvolvedObject.FieldPath, e.Message, e.Source.Component, string(e.Type)}
			if diff := cmp.Diff([]string{tc.wantFieldPath, tc.wantMessage, tc.wantComponent, "Warning"}, got); diff != "" {
				t.Errorf("fieldPath, message, component, type (-want +got):\n%s", diff)
			}
		})
	}

	if _, err := sim.WarningEvent(ctx, "shop", "web-1", Event{Reason: ReasonBackOff, Container: "nope"}); err == nil {
		t.Error("event for an unknown container succeeded, want an error")
	}

	node, err := sim.NodeWarningEvent(ctx, "node-a", Event{Reason: ReasonOOMKilling})
	if err != nil {
		t.Fatalf("NodeWarningEvent: %v", err)
	}
	if node.Namespace != metav1.NamespaceDefault || node.InvolvedObject.Kind != "Node" || node.Source.Component != "kernel-monitor" ||
		!strings.HasPrefix(node.Message, "Memory cgroup out of memory") {
		t.Errorf("node event = %+v, want a kernel-monitor OOMKilling event about the node in namespace default", node)
	}

	list, err := client.CoreV1().Events("shop").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	if len(list.Items) != 4 {
		t.Errorf("%d events in shop, want 4 (BackOff aggregated)", len(list.Items))
	}
}

func TestStatusUpdateRetriesOnConflict(t *testing.T) {
	sim, client, _ := newSim(t)
	ctx := t.Context()
	if _, err := sim.CreatePod(ctx, PodOptions{Name: "p"}); err != nil {
		t.Fatalf("CreatePod: %v", err)
	}
	attempts := 0
	client.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "status" {
			return false, nil, nil
		}
		attempts++
		if attempts == 1 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "pods"}, "p", nil)
		}
		return false, nil, nil
	})
	pod, err := sim.MarkRunning(ctx, DefaultNamespace, "p")
	if err != nil {
		t.Fatalf("MarkRunning: %v", err)
	}
	if attempts != 2 || pod.Status.Phase != corev1.PodRunning {
		t.Errorf("attempts = %d, phase %s; want 2, Running", attempts, pod.Status.Phase)
	}
}

func TestNodes(t *testing.T) {
	sim, _, clk := newSim(t)
	ctx := t.Context()
	node, err := sim.EnsureNode(ctx, "node-a")
	if err != nil {
		t.Fatalf("EnsureNode: %v", err)
	}
	conds := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range node.Status.Conditions {
		conds[c.Type] = c.Status
	}
	wantConds := map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: "True", corev1.NodeMemoryPressure: "False", corev1.NodeDiskPressure: "False", corev1.NodePIDPressure: "False",
	}
	if diff := cmp.Diff(wantConds, conds); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if q := node.Status.Allocatable[corev1.ResourceMemory]; q.Cmp(resource.MustParse("16Gi")) != 0 {
		t.Errorf("allocatable memory = %s, want 16Gi", q.String())
	}
	if again, err := sim.EnsureNode(ctx, "node-a"); err != nil || again.UID != node.UID {
		t.Errorf("second EnsureNode = %v, %v; want the same node", again, err)
	}

	clk.Advance(time.Minute)
	node, err = sim.SetNodeCondition(ctx, "node-a", corev1.NodeCondition{
		Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue,
		Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available",
	})
	if err != nil {
		t.Fatalf("SetNodeCondition: %v", err)
	}
	var mem []corev1.NodeCondition
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeMemoryPressure {
			mem = append(mem, c)
		}
	}
	want := []corev1.NodeCondition{{
		Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue,
		Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available",
		LastHeartbeatTime: mt(t0.Add(time.Minute)), LastTransitionTime: mt(t0.Add(time.Minute)),
	}}
	if diff := cmp.Diff(want, mem); diff != "" {
		t.Errorf("MemoryPressure (-want +got):\n%s", diff)
	}
}

func TestChurn(t *testing.T) {
	tests := []struct {
		name      string
		flipReady bool
	}{
		{"probe time", false},
		{"flip ready", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sim, client, _ := newSim(t)
			ctx := t.Context()
			var pods []types.NamespacedName
			for _, name := range []string{"a", "b"} {
				if _, err := sim.RunPod(ctx, PodOptions{Name: name}); err != nil {
					t.Fatalf("RunPod: %v", err)
				}
				pods = append(pods, types.NamespacedName{Namespace: DefaultNamespace, Name: name})
			}
			pods = append(pods, types.NamespacedName{Namespace: DefaultNamespace, Name: "gone"})

			n, err := sim.Churn(ctx, pods, ChurnOptions{PerSecond: 1000, Max: 4, FlipReady: tc.flipReady})
			if err != nil || n != 4 {
				t.Fatalf("Churn = %d, %v; want 4, nil", n, err)
			}
			a, err := client.CoreV1().Pods(DefaultNamespace).Get(ctx, "a", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			// Pod a was updated twice (updates 1 and 4; "gone" is skipped).
			cs := a.Status.ContainerStatuses[0]
			ready := lookupCondition(a, corev1.PodReady)
			if cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("container status = %+v, want running without restarts", cs)
			}
			if tc.flipReady {
				if !cs.Ready || ready.Status != corev1.ConditionTrue {
					t.Errorf("after two flips ready = %v, Ready %s; want true, True", cs.Ready, ready.Status)
				}
			} else if !ready.LastProbeTime.Equal(ptr.To(mt(t0.Add(time.Second)))) {
				// t0, then t0+1s: moved forward on a frozen clock.
				t.Errorf("Ready lastProbeTime = %v, want t0+1s", ready.LastProbeTime)
			}
		})
	}

	t.Run("stops with the context", func(t *testing.T) {
		sim, _, _ := newSim(t)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		n, err := sim.Churn(ctx, []types.NamespacedName{{Namespace: "x", Name: "y"}}, ChurnOptions{PerSecond: 1})
		if n != 0 || err != nil {
			t.Errorf("Churn on an ended context = %d, %v; want 0, nil", n, err)
		}
	})
}
