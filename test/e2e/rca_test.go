package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// The root-cause analysis end to end: each test has its own namespace,
// nodes and agent. The df_message users read for each case is in
// output/testdata/message_*.golden, from the same scenarios on fixed
// timelines.

// revisionPods creates n running pods of revision number rev (template
// hash hash, "" for kubesim's default) of Deployment name, with image.
func revisionPods(t *testing.T, sim *kubesim.Sim, ns, node, name, hash string, rev int, image string, n int) []*corev1.Pod {
	t.Helper()
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		p, err := sim.RunPod(t.Context(), kubesim.PodOptions{
			Namespace: ns, Node: node,
			Owner:          kubesim.Owner{Kind: kubesim.KindDeployment, Name: name, Hash: hash, Revision: rev},
			InitContainers: []kubesim.Container{{Name: "migrate"}},
			Containers: []kubesim.Container{{Name: "app", Image: image,
				Requests: kubesim.Resources{CPU: "100m", Memory: "128Mi"}, Limits: kubesim.Resources{Memory: "256Mi"}}},
		})
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = p
	}
	return pods
}

// waitRevisions waits until the agent recorded the Deployment revision of
// each of pods (its ReplicaSet, by its debug log), numbered as revs. The
// agent judges a restart when it first sees it, and ReplicaSets and pods
// come through two watches in no guaranteed order: a test whose crashes
// must be judged against a rollout waits for the rollout first.
func (h *harness) waitRevisions(deployment string, pods []*corev1.Pod, revs []int) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), waitEvent)
	defer cancel()
	for i, p := range pods {
		line := fmt.Sprintf("namespace=%s deployment=%s revision=%d replicaset=%s",
			p.Namespace, deployment, revs[i], metav1.GetControllerOf(p).Name)
		if err := h.agent.WaitLog(ctx, line); err != nil {
			h.t.Fatal(err)
		}
	}
}

// quiet checks that namespace ns got no event.
func (h *harness) quiet(ns string) {
	h.t.Helper()
	if evs := h.events(ns); len(evs) != 0 {
		h.t.Errorf("events for %s, want none:%s", ns, describe(evs))
	}
}

func field[T any](t *testing.T, p datakit.Point, key string) T {
	t.Helper()
	v, ok := p.Fields[key].(T)
	if !ok {
		t.Fatalf("field %s = %#v (%T)", key, p.Fields[key], p.Fields[key])
	}
	return v
}

// TestRCARolloutNoise: a Deployment rolls out a new revision. Its old pods
// restart meanwhile (the new revision migrated the schema under them) and,
// as they are deleted, the kubelet reports the containers it stops as
// restarted. A naive count sees 8 of 16 pods restart; none of it counts.
func TestRCARolloutNoise(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-rollout")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	old := revisionPods(t, sim, ns, "", "api", "", 1, "registry.example/api:1.4.2", 8)
	cur := revisionPods(t, sim, ns, "", "api", "5f6b7c8d9", 2, "registry.example/api:1.5.0", 8)
	// The old pods' restarts are expected only once the agent knows of
	// revision 2; this no longer assumes that the ReplicaSet watch
	// delivers it before the pod watch delivers the crashes.
	h.waitRevisions("api", []*corev1.Pod{old[0], cur[0]}, []int{1, 2})

	crashAll(t, sim, old[:2], "app", kubesim.Crash{Reason: "Error", ExitCode: 1, Message: "relation \"orders_v2\" does not exist"})
	for _, p := range old[2:] {
		if err := sim.BeginDeletePod(t.Context(), ns, p.Name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CrashContainer(t.Context(), ns, p.Name, "app", kubesim.Crash{Reason: "Error", ExitCode: 143}); err != nil {
			t.Fatal(err)
		}
	}
	// The 2 old pods still running and the 8 new ones count; nothing
	// restarted abnormally.
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return p.Fields["expected_restarts"] == int64(8) && p.Fields["restart_pods"] == int64(0) && p.Fields["total_pods"] == int64(10)
	})
	h.quiet(ns)
}

// TestRCAEvictionStorm: node memory pressure makes the kubelet evict 6
// pods, reporting a restart of each as it kills them. That is context, not
// a restart anomaly: no event. When 2 other pods then crash for real, the
// anomaly counts them only, and carries the evictions as context.
func TestRCAEvictionStorm(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-evict")
	nodeA, nodeB := ns+"-a", ns+"-b"
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	var cache []*corev1.Pod
	for range 6 {
		p, err := sim.RunPod(t.Context(), kubesim.PodOptions{Namespace: ns, Node: nodeA, Owner: kubesim.Owner{Kind: kubesim.KindStatefulSet, Name: "cache"}})
		if err != nil {
			t.Fatal(err)
		}
		cache = append(cache, p)
	}
	var web []*corev1.Pod
	for range 4 {
		p, err := sim.RunPod(t.Context(), kubesim.PodOptions{Namespace: ns, Node: nodeB, Owner: kubesim.Owner{Kind: kubesim.KindDeployment, Name: "web"},
			Containers: []kubesim.Container{{Name: "app", Limits: kubesim.Resources{Memory: "512Mi"}}}})
		if err != nil {
			t.Fatal(err)
		}
		web = append(web, p)
	}

	if _, err := sim.SetNodeCondition(t.Context(), nodeA, corev1.NodeCondition{
		Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue, Reason: "KubeletHasInsufficientMemory", Message: "kubelet has insufficient memory available",
	}); err != nil {
		t.Fatal(err)
	}
	// The anomaly shows the node's conditions as the agent last saw them:
	// this no longer assumes that the node watch delivers the pressure
	// before the pod watch delivers the evictions and crashes.
	waitLog(t, h, `msg="node recorded" cluster=e2e node=`+nodeA+" conditions=MemoryPressure ", waitEvent)
	for _, p := range cache {
		if _, err := sim.MarkDisruptionTarget(t.Context(), ns, p.Name, kubesim.DisruptionByKubelet, kubesim.DefaultEvictionMessage); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CrashContainer(t.Context(), ns, p.Name, "app", kubesim.Crash{Reason: "Error", ExitCode: 137}); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.EvictPod(t.Context(), ns, p.Name, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return p.Fields["disrupted_pods"] == int64(6) && p.Fields["expected_restarts"] == int64(6) &&
			p.Fields["restart_pods"] == int64(0) && p.Fields["total_pods"] == int64(4)
	})
	h.quiet(ns)

	crashAll(t, sim, web[:2], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	ev := h.waitEvents(ns, 1, waitEvent)[0]
	if ev.Fields["restart_pods"] != int64(2) || ev.Fields["total_pods"] != int64(4) || ev.Fields["disrupted_pods"] != int64(6) {
		t.Errorf("anomaly restart_pods %v total_pods %v disrupted_pods %v, want 2 of 4 and 6 disrupted",
			ev.Fields["restart_pods"], ev.Fields["total_pods"], ev.Fields["disrupted_pods"])
	}
	type notCounted struct {
		Reason   string   `json:"reason"`
		Pods     int      `json:"pods"`
		Restarts int      `json:"restarts"`
		Nodes    []string `json:"nodes"`
	}
	nc := jsonField[[]notCounted](t, ev, "not_counted")
	if len(nc) != 1 || nc[0].Reason != "evicted" || nc[0].Pods != 6 || nc[0].Restarts != 6 || len(nc[0].Nodes) != 1 || nc[0].Nodes[0] != nodeA {
		t.Errorf("not_counted = %+v, want 6 pods evicted from %s", nc, nodeA)
	}
	msg := field[string](t, ev, "df_message")
	if want := "**Not counted**: 6 pods evicted by the kubelet (6 restarts not counted): " + nodeA + " (MemoryPressure)."; !strings.Contains(msg, want) {
		t.Errorf("df_message lacks %q:\n%s", want, msg)
	}
	if got := field[string](t, ev, "summary"); got != "2 of 2 restarts were OOMKilled, all in deployment/web, container app, memory limit 512Mi." {
		t.Errorf("summary %q", got)
	}
}

// TestRCAOOMStorm: 7 of 9 restarts are OOM kills. The agents start after
// the storm; the window is rebuilt from the pods, and the event's summary,
// in English and in Chinese, names the dominant cause. It does not assume
// the agents start within window of the storm: their window is lateWindow.
func TestRCAOOMStorm(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-oom")
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "checkout", 10, nil)
	crashAll(t, sim, pods[:7], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	crashAll(t, sim, pods[7:9], "app", kubesim.Crash{Reason: "Error", ExitCode: 1, Message: "java.lang.OutOfMemoryError: Java heap space"})
	en := startAgent(t, agentConfig{Namespaces: []string{ns}, Window: lateWindow})
	zh := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: `  language = "zh"`, Window: lateWindow})

	ev := en.waitEvents(ns, 1, waitEvent)[0]
	for k, want := range map[string]any{
		"restart_pods":         int64(9),
		"dominant_cause":       "oom_killed",
		"dominant_cause_share": 7.0 / 9,
		"summary":              "7 of 9 restarts were OOMKilled, all in deployment/checkout, container app, memory limit 256Mi. Others: 2 errors with exit code 1.",
		"df_title":             fmt.Sprintf("9 of 10 pods (90%%) in e2e/%s restarted in the last 10m; 7 of 9 restarts were OOMKilled", ns), // lateWindow
	} {
		if ev.Fields[k] != want {
			t.Errorf("%s = %#v, want %#v", k, ev.Fields[k], want)
		}
	}
	type cause struct {
		Cause        string   `json:"cause"`
		ExitCode     *int     `json:"exit_code"`
		Restarts     int      `json:"restarts"`
		Workloads    []string `json:"workloads"`
		MemoryLimits []string `json:"memory_limits"`
	}
	causes := jsonField[[]cause](t, ev, "causes")
	if len(causes) != 2 || causes[0].Cause != "oom_killed" || causes[0].Restarts != 7 || causes[0].MemoryLimits[0] != "256Mi" ||
		causes[1].Cause != "error" || *causes[1].ExitCode != 1 || causes[1].Workloads[0] != "deployment/checkout" {
		t.Errorf("causes = %+v", causes)
	}
	statuses := jsonField[[]struct {
		ContainerName string `json:"container_name"`
		Cause         string `json:"cause"`
		Message       string `json:"last_termination_message"`
	}](t, ev, "container_statuses")
	found := false
	for _, s := range statuses {
		found = found || (s.ContainerName == "app" && s.Cause == "error" && strings.Contains(s.Message, "OutOfMemoryError"))
	}
	if !found {
		t.Errorf("container_statuses lack the error with its termination message: %+v", statuses)
	}

	evZh := zh.waitEvents(ns, 1, waitEvent)[0]
	if got, want := evZh.Fields["summary"], "9 次重启中有 7 次为 OOMKilled（内存超限被杀），全部在 deployment/checkout，容器 app，内存限制 256Mi。其他：2 次 错误退出（退出码 1）。"; got != want {
		t.Errorf("zh summary %q, want %q", got, want)
	}
	if title := field[string](t, evZh, "df_title"); !strings.Contains(title, "10 个 Pod 中有 9 个重启") {
		t.Errorf("zh title %q", title)
	}
}

// TestRCAProbeFailures: containers killed after failing their liveness
// probe exit like any killed process (137); the pods' Unhealthy Warning
// events say why. The agent starts after the restarts, with lateWindow so
// that they are still inside it however long it takes to start.
func TestRCAProbeFailures(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-probe")
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "web", 6, nil)
	for _, p := range pods[:4] {
		for range 3 {
			if _, err := sim.WarningEvent(t.Context(), ns, p.Name, kubesim.Event{Reason: kubesim.ReasonUnhealthy, Container: "app"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 137})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Window: lateWindow})

	ev := h.waitEvents(ns, 1, waitEvent)[0]
	if got := ev.Fields["dominant_cause"]; got != "liveness_probe" {
		t.Errorf("dominant_cause %v, want liveness_probe; summary %q", got, ev.Fields["summary"])
	}
	if got, want := ev.Fields["summary"], "4 of 4 restarts were liveness probe failures, all in deployment/web, container app."; got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	type event struct {
		Reason    string `json:"reason"`
		Container string `json:"container"`
		Message   string `json:"message"`
		Count     int    `json:"count"`
	}
	abnormal := jsonField[[]struct {
		Events []event `json:"events"`
	}](t, ev, "abnormal_pods")
	for _, p := range abnormal {
		if len(p.Events) != 1 || p.Events[0].Reason != "Unhealthy" || p.Events[0].Count != 3 || p.Events[0].Container != "app" ||
			!strings.HasPrefix(p.Events[0].Message, "Liveness probe failed") {
			t.Errorf("pod events %+v, want its Unhealthy event, 3 times", p.Events)
		}
	}
	if msg := field[string](t, ev, "df_message"); !strings.Contains(msg, "#### Warning events of these pods") {
		t.Errorf("df_message lacks the Warning events:\n%s", msg)
	}
}

// TestRCABadRollout: a new revision of a Deployment, with a new image,
// crash-loops; the event names the rollout as the likely trigger.
func TestRCABadRollout(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-badroll")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	good := revisionPods(t, sim, ns, "", "api", "", 1, "registry.example/api:1.4.2", 6)
	bad := revisionPods(t, sim, ns, "", "api", "7b8c9d6f5", 2, "registry.example/api:1.5.0", 3)
	// The event that counts the crashes names the trigger only if the
	// agent knew both revisions when it judged them; this no longer
	// assumes that the ReplicaSet watch delivers them before the pod watch
	// delivers the crashes.
	h.waitRevisions("api", []*corev1.Pod{good[0], bad[0]}, []int{1, 2})
	crashAll(t, sim, bad, "app", kubesim.Crash{Reason: "Error", ExitCode: 1, Message: "config: required key FEATURE_FLAGS_URL missing value"})

	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Fields["restart_pods"] == int64(3) }, waitEvent)
	ev := evs[len(evs)-1]
	type trigger struct {
		Kind          string `json:"kind"`
		Name          string `json:"name"`
		Revision      int    `json:"revision"`
		ReplicaSet    string `json:"replicaset"`
		RestartedPods int    `json:"restarted_pods"`
		Images        []struct {
			Container, From, To string
		} `json:"images"`
	}
	tr := jsonField[trigger](t, ev, "trigger")
	if tr.Kind != "Deployment" || tr.Name != "api" || tr.Revision != 2 || tr.ReplicaSet != "api-7b8c9d6f5" || tr.RestartedPods != 3 ||
		len(tr.Images) != 1 || tr.Images[0].Container != "app" || tr.Images[0].From != "registry.example/api:1.4.2" || tr.Images[0].To != "registry.example/api:1.5.0" {
		t.Errorf("trigger = %+v", tr)
	}
	msg := field[string](t, ev, "df_message")
	for _, want := range []string{
		"**Likely trigger**: deployment/api rolled out revision 2 (ReplicaSet api-7b8c9d6f5)",
		"image of container app changed from registry.example/api:1.4.2 to registry.example/api:1.5.0. 3 of its 3 restarted pods run this revision.",
		"config: required key FEATURE\\_FLAGS\\_URL missing value",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("df_message lacks %q:\n%s", want, msg)
		}
	}
}

// TestRCAAnnotations: a namespace's annotations change its rules while the
// agent runs: a lower threshold reports a single restart, an invalid value
// is logged once and ignored, disabled recovers the fault.
func TestRCAAnnotations(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-annot")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "payments", 15, nil)
	annotate := func(kv map[string]string) {
		t.Helper()
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			n, err := cp.Client().CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Annotations == nil {
				n.Annotations = map[string]string{}
			}
			for k, v := range kv {
				n.Annotations[collect.AnnotationPrefix+k] = v
			}
			_, err = cp.Client().CoreV1().Namespaces().Update(t.Context(), n, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	annotate(map[string]string{"ratio-warning": "0.05", "min-restarted-pods": "1", "ratio-critical": "lots"})
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	// The agent logs the invalid value once it applied the valid ones: the
	// crash below no longer relies on the namespace watch delivering them
	// before the pod watch delivers it.
	if err := h.agent.WaitLog(ctx, "namespace annotation ignored"); err != nil {
		t.Fatalf("the invalid annotation was not logged: %v", err)
	}

	// 1 of 15 (6.7%): nothing under the configured rules (2 restarted pods,
	// 10%), a warning under the namespace's.
	crashAll(t, sim, pods[:1], "app", kubesim.Crash{Reason: "Error", ExitCode: 139})
	ev := h.waitEvents(ns, 1, waitEvent)[0]
	if ev.Tags["df_status"] != "warning" || ev.Fields["restart_pods"] != int64(1) {
		t.Errorf("event %s with %v restarted pods, want a warning for 1", ev.Tags["df_status"], ev.Fields["restart_pods"])
	}
	if msg, want := field[string](t, ev, "df_message"), "set by the namespace's annotations: ratio-warning, min-restarted-pods."; !strings.Contains(msg, want) {
		t.Errorf("df_message lacks %q:\n%s", want, msg)
	}
	if got := ev.Fields["summary"]; got != "1 of 1 restarts were kills by SIGSEGV (exit code 139), all in deployment/payments, container app." {
		t.Errorf("summary %q", got)
	}

	annotate(map[string]string{"disabled": "true"})
	evs := h.waitEvents(ns, 2, waitEvent)
	if evs[1].Tags["df_status"] != "ok" || evs[1].Tags["df_fault_id"] != ev.Tags["df_event_id"] {
		t.Errorf("after disabled: %s, want the fault's recovery", describe(evs))
	}
	if n := strings.Count(h.agent.Logs(), "ratio-critical"); n != 1 {
		t.Errorf("the invalid annotation was logged %d times, want once:\n%s", n, grep(h.agent.Logs(), "ratio-critical"))
	}
}

// TestRCALogsRBAC: the log fetcher's request, made for real against the
// API server as an identity holding exactly the ClusterRoles of
// manifests/rbac.yaml and then of the logs overlay. No kubelet serves logs
// here, so only the authorization is checked: forbidden with the base
// install, allowed (failing further on, reaching no kubelet) with the
// overlay. The fetching itself is tested with a fake API server in collect.
func TestRCALogsRBAC(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rca-logs")
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "api", 1, nil)
	crashAll(t, sim, pods, "app", kubesim.Crash{Reason: "Error", ExitCode: 1})

	kc, err := cp.KubeconfigFor(t.Context(), ns, "log-reader")
	if err != nil {
		t.Fatal(err)
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	// The manifests' ClusterRoles, under this test's names, bound to its
	// ServiceAccount: the shared install's bindings stay untouched.
	bind := func(file, role string) {
		t.Helper()
		raw, err := os.ReadFile("../../manifests/" + file)
		if err != nil {
			t.Fatal(err)
		}
		var rules []rbacv1.PolicyRule
		for _, doc := range strings.Split(string(raw), "\n---") {
			var cr rbacv1.ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &cr); err == nil && cr.Kind == "ClusterRole" && cr.Name == role {
				rules = cr.Rules
			}
		}
		if rules == nil {
			t.Fatalf("no ClusterRole %s in %s", role, file)
		}
		name := ns + "-" + role
		rbac := cp.Client().RbacV1()
		if _, err := rbac.ClusterRoles().Create(t.Context(), &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := rbac.ClusterRoleBindings().Create(t.Context(), &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: ns, Name: "log-reader"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx := context.WithoutCancel(t.Context())
			_ = rbac.ClusterRoleBindings().Delete(ctx, name, metav1.DeleteOptions{})
			_ = rbac.ClusterRoles().Delete(ctx, name, metav1.DeleteOptions{})
		})
	}
	fetch := func() error {
		p := collect.PodFromAPI(pods[0])
		p.Containers[1].State = detect.StateWaiting
		dec := &detect.Decision{Kind: detect.KindAnomaly, Pods: []detect.PodReport{{Pod: p, ContainerRestarts: []int{0, 1}}}}
		f := collect.NewLogFetcher(collect.ClientLogSource{Client: client}, collect.LogOptions{TailLines: 20, TailBytes: 2048})
		errs := f.Fill(t.Context(), dec)
		if len(errs) != 1 {
			t.Fatalf("fetch errors %v, want one: no kubelet serves logs here", errs)
		}
		return errs[0]
	}

	bind("rbac.yaml", "k8s-pod-restart")
	waitAllowed(t, client, "list", "pods", "", ns)
	if err := fetch(); !apierrors.IsForbidden(err) {
		t.Errorf("with manifests/rbac.yaml only: %v, want 403 Forbidden", err)
	}

	bind("overlays/logs/rbac-logs.yaml", "k8s-pod-restart-logs")
	waitAllowed(t, client, "get", "pods", "log", ns)
	err = fetch()
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		t.Errorf("with the logs overlay: %v, want the request authorized", err)
	}
	t.Logf("with the logs overlay, authorized and failing further on: %v", err)
}

// waitAllowed waits until the identity of client may verb the resource in
// ns (see waitAccess).
func waitAllowed(t *testing.T, client kubernetes.Interface, verb, resource, sub, ns string) {
	t.Helper()
	waitAccess(t, client, access{verb: verb, resource: resource, subresource: sub, namespace: ns, name: "x"})
}
