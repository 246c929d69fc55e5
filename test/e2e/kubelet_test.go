package e2e

import (
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// The tests below drive the status writes a real kubelet makes (see
// test/kubesim/kubelet.go) and check that every terminated container counts
// exactly once: the most restarts any metric point of the namespace ever
// reports is the number of crashes, and the fault ends with one recovery.

// crashLoop crashes container c of pod p n times as the kubelet reports it:
// terminated, back-off, started again (three status writes per crash).
func crashLoop(t *testing.T, sim *kubesim.Sim, p *corev1.Pod, c string, crash kubesim.Crash, n int) {
	t.Helper()
	crash.Waiting = kubesim.CrashLoopBackOff
	for range n {
		if _, err := sim.CrashContainer(t.Context(), p.Namespace, p.Name, c, crash); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.StartContainer(t.Context(), p.Namespace, p.Name, c); err != nil {
			t.Fatal(err)
		}
	}
}

// maxMetric returns the largest value of an integer field over the metric
// points of ns.
func (h *harness) maxMetric(ns, field string) int64 {
	var most int64
	for _, p := range h.dk.Points("metric") {
		if v, ok := p.Fields[field].(int64); ok && p.Tags["namespace"] == ns {
			most = max(most, v)
		}
	}
	return most
}

// checkCounts waits until a metric point of ns reports restarts restarts of
// pods pods, then checks that none ever reported more, and that the fault
// recovers exactly once.
func (h *harness) checkCounts(ns string, restarts, pods int64) []datakit.Point {
	h.t.Helper()
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return p.Fields["restarts"] == restarts && p.Fields["restart_pods"] == pods
	})
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitRecovery)
	if got := h.maxMetric(ns, "restarts"); got != restarts {
		h.t.Errorf("most restarts reported = %d, want %d", got, restarts)
	}
	if got := h.maxMetric(ns, "restart_pods"); got != pods {
		h.t.Errorf("most restarted pods reported = %d, want %d", got, pods)
	}
	checkFault(h.t, evs)
	return evs
}

// annotate sets annotations on namespace ns.
func annotate(t *testing.T, ns string, ann map[string]string) {
	t.Helper()
	obj, err := cp.Client().CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	maps.Copy(obj.Annotations, ann)
	if _, err := cp.Client().CoreV1().Namespaces().Update(t.Context(), obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// causes sums the restarts of each cause the event reports.
func causes(t *testing.T, ev datakit.Point) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, c := range jsonField[[]struct {
		Cause    string `json:"cause"`
		Restarts int    `json:"restarts"`
	}](t, ev, "causes") {
		out[c.Cause] += c.Restarts
	}
	return out
}

// TestKubeletCrashSequenceAppContainers is the case: 4 pods of 10
// crash 3 times each through the kubelet's three writes: 12 restarts, all
// OOM kills, no "unknown" restart diluting the summary.
func TestKubeletCrashSequenceAppContainers(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "kubelet-app")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "checkout", 10, nil)
	for round := range 3 {
		for _, p := range pods[:4] {
			crashLoop(t, sim, p, "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}, 1)
		}
		t.Logf("round %d done", round+1)
	}
	evs := h.checkCounts(ns, 12, 4)
	for _, ev := range evs {
		if ev.Tags["df_status"] == "ok" {
			continue
		}
		if got := causes(t, ev); len(got) != 1 || got["oom_killed"] == 0 {
			t.Errorf("event %s causes = %v, want OOM kills only", ev.Tags["df_event_id"], got)
		}
		if share := ev.Fields["dominant_cause_share"]; share != 1.0 {
			t.Errorf("event %s dominant_cause_share = %v, want 1", ev.Tags["df_event_id"], share)
		}
	}
}

// TestKubeletCrashSequenceInitSidecarProbe: init containers crash-looping
// in new pods (Init:Error, Init:CrashLoopBackOff), restartable sidecars
// crashing, and a container killed by its liveness probe (Unhealthy events,
// exit 137, restarted without back-off), each counted once per crash.
func TestKubeletCrashSequenceInitSidecarProbe(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "kubelet-kinds")
	// The fault opens once all 5 pods restarted, the liveness kill last:
	// the anomaly then reports every restart.
	annotate(t, ns, map[string]string{minRestarted: "5"})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	ctx := t.Context()
	opts := func(i int) kubesim.PodOptions {
		return kubesim.PodOptions{Namespace: ns, Name: fmt.Sprintf("api-%d", i),
			Owner:          kubesim.Owner{Kind: kubesim.KindStatefulSet, Name: "api"},
			InitContainers: []kubesim.Container{{Name: "migrate"}}, Sidecars: []kubesim.Container{{Name: "proxy"}}}
	}
	var pods []*corev1.Pod
	for i := range 6 {
		p, err := sim.CreatePod(ctx, opts(i))
		if err != nil {
			t.Fatal(err)
		}
		if i >= 2 {
			if p, err = sim.MarkRunning(ctx, ns, p.Name); err != nil {
				t.Fatal(err)
			}
		}
		pods = append(pods, p)
	}
	// Two new pods whose init container fails twice and waits in back-off.
	for _, p := range pods[:2] {
		for range 2 {
			if _, err := sim.CrashContainer(ctx, ns, p.Name, "migrate", kubesim.Crash{Reason: "Error", ExitCode: 2, Waiting: kubesim.CrashLoopBackOff}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Two sidecars crash once, a liveness probe kills one app container.
	for _, p := range pods[2:4] {
		crashLoop(t, sim, p, "proxy", kubesim.Crash{Reason: "Error", ExitCode: 1}, 1)
	}
	// The liveness kill as sim.LivenessKill writes it, its Unhealthy events
	// first, but the kill only once the agent has the events: the anomaly
	// opens at this restart and explains it by them, and this no longer
	// assumes that the event watch delivers them before the pod watch
	// delivers the kill. The pod must be known for its events to be kept.
	killed := pods[4]
	waitLog(t, h, fmt.Sprintf("namespace=%s pod=%s uid=%s", ns, killed.Name, killed.UID), waitEvent)
	for range 3 {
		if _, err := sim.WarningEvent(ctx, ns, killed.Name, kubesim.Event{Reason: kubesim.ReasonUnhealthy, Container: "app"}); err != nil {
			t.Fatal(err)
		}
	}
	waitLog(t, h, fmt.Sprintf("namespace=%s pod=%s container=app reason=Unhealthy count=3", ns, killed.Name), waitEvent)
	if _, err := sim.CrashContainer(ctx, ns, killed.Name, "app", kubesim.Crash{Reason: "Error", ExitCode: 137}); err != nil {
		t.Fatal(err)
	}
	evs := h.checkCounts(ns, 7, 5)
	want := map[string]int{"init_container": 4, "error": 2, "liveness_probe": 1}
	if got := causes(t, evs[0]); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("causes of the anomaly = %v, want %v", got, want)
	}
	if len(evs) != 2 {
		t.Errorf("want exactly the anomaly and its recovery; got %d:%s", len(evs), describe(evs))
	}
}

// TestKubeletCrashSequenceKubeletRestart: a kubelet restarted after garbage
// collection (lastState lost, restartCount kept) and a dead container
// collected during back-off add no restart; the next crashes count once
// each.
func TestKubeletCrashSequenceKubeletRestart(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "kubelet-restart")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	ctx := t.Context()
	pods := workload(t, sim, ns, "ledger", 5, nil)
	for _, p := range pods[:2] {
		crashLoop(t, sim, p, "app", kubesim.Crash{Reason: "Error", ExitCode: 1}, 1)
		if _, err := sim.RestartKubelet(ctx, ns, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods[:2] {
		if _, err := sim.CrashContainer(ctx, ns, p.Name, "app", kubesim.Crash{Reason: "Error", ExitCode: 1, Waiting: kubesim.CrashLoopBackOff}); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.CollectDeadContainer(ctx, ns, p.Name, "app"); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.StartContainer(ctx, ns, p.Name, "app"); err != nil {
			t.Fatal(err)
		}
	}
	h.checkCounts(ns, 4, 2)
}

// TestKubeletCrashSequenceNodeReboot: a node reboots; every container of
// its pods exits 255 (Unknown) and starts again: one restart per container.
func TestKubeletCrashSequenceNodeReboot(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "kubelet-reboot")
	node := ns + "-node"
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	for i := range 6 {
		o := kubesim.PodOptions{Namespace: ns, Owner: kubesim.Owner{Kind: kubesim.KindDaemonSet, Name: "agent"},
			Sidecars: []kubesim.Container{{Name: "proxy"}}}
		if i < 3 {
			o.Node = node
		}
		if _, err := sim.RunPod(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	rebooted, err := sim.RebootNode(t.Context(), node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(rebooted) != 3 {
		t.Fatalf("rebooted %d pods, want 3", len(rebooted))
	}
	h.checkCounts(ns, 6, 3)
}
