package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// The tests below take a faulty namespace's pods away in the ways they go
// in a real cluster. Each fault must end with exactly one recovery, saying
// why, and never rise on the way.

// minRestarted is the annotation that sets min-restarted-pods: a fault that
// opens only once every crashing pod restarted opens at one level, whatever
// the timing of the agent's evaluations.
const minRestarted = "k8s-pod-restart.guance.com/min-restarted-pods"

// statuses returns the df_status of each event.
func statuses(evs []datakit.Point) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Tags["df_status"]
	}
	return out
}

// waitTicks waits until the agent has evaluated every namespace n more
// times: each periodic evaluation writes one k8s_pod_restart_agent point.
func (h *harness) waitTicks(n int) {
	h.t.Helper()
	ticks := func() int {
		c := 0
		for _, p := range h.dk.Points("metric") {
			if p.Name == "k8s_pod_restart_agent" {
				c++
			}
		}
		return c
	}
	want := ticks() + n
	ctx, cancel := context.WithTimeout(h.t.Context(), time.Duration(n+5)*interval)
	defer cancel()
	if err := h.dk.WaitFor(ctx, func([]datakit.Point) bool { return ticks() >= want }); err != nil {
		h.t.Fatalf("waiting for %d evaluations: %v", n, err)
	}
}

// distinct returns the events without their at-least-once re-sends: the
// first of each event ID.
func distinct(evs []datakit.Point) []datakit.Point {
	seen := map[string]bool{}
	var out []datakit.Point
	for _, e := range evs {
		if id := e.Tags["df_event_id"]; !seen[id] {
			seen[id] = true
			out = append(out, e)
		}
	}
	return out
}

// checkEnded waits for the recovery of ns, then a few intervals more, and
// checks that the events are want (their statuses, re-sends of an event
// left out: checkFault checks them) and that the recovery's message says
// why the fault ended. It no longer assumes that an agent stopped after
// DataKit got an event had also recorded it as sent: the next run may send
// it again, with its ID.
func (h *harness) checkEnded(ns string, want []string, why string) {
	h.t.Helper()
	h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitEvent)
	h.waitTicks(3) // nothing more may come
	evs := h.events(ns)
	checkFault(h.t, evs)
	if got := strings.Join(statuses(distinct(evs)), " "); got != strings.Join(want, " ") {
		h.t.Errorf("events %q, want %q:%s", got, strings.Join(want, " "), describe(evs))
	}
	msg, _ := evs[len(evs)-1].Fields["df_message"].(string)
	if !strings.Contains(msg, "**Ended because**: "+why) {
		h.t.Errorf("recovery message does not say %q:\n%s", why, msg)
	}
}

// deleteNamespace deletes ns as the namespace controller does: the
// namespace turns Terminating, its pods are deleted (each Terminating, then
// gone, as its kubelet confirms), then the namespace is finalized and gone.
// h, when not nil, is an agent running meanwhile: the pods are deleted once
// it recorded the namespace's deletion, as a real cluster deletes them once
// the namespace is Terminating. Its namespace and pod watches give no
// order: without the wait it may see the pods gone first, and the fault end
// because no pod is left rather than because the namespace was deleted.
func deleteNamespace(t *testing.T, sim *kubesim.Sim, ns string, pods []*corev1.Pod, h *harness) {
	t.Helper()
	ctx, client := t.Context(), cp.Client()
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if h != nil {
		waitLog(t, h, `msg="namespace deletion recorded" cluster=e2e namespace=`+ns+"\n", waitEvent)
	}
	for _, p := range pods {
		if err := sim.BeginDeletePod(ctx, ns, p.Name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		if err := sim.DeletePod(ctx, ns, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	obj.Spec.Finalizers = nil
	if _, err := client.CoreV1().Namespaces().Finalize(ctx, obj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The API server removes a deleted namespace once its finalizers are
	// gone (the controller deletes it again when it is still there).
	if err := client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("namespace %s after finalizing: %v, want it gone", ns, err)
	}
}

// TestNamespaceDeletedDuringFault: the namespace of an open fault is
// deleted; the fault recovers once, saying so.
func TestNamespaceDeletedDuringFault(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "ns-deleted")
	// The fault opens once all 4 pods restarted: at error, in one event.
	annotate(t, ns, map[string]string{minRestarted: "4"})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "cart", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "error" }, waitEvent)
	deleteNamespace(t, sim, ns, pods, h)
	h.checkEnded(ns, []string{"error", "ok"}, "the namespace was deleted")
}

// TestScaleToZeroDuringFault: a Deployment with a fault at error (4 of 10
// pods restarted) is scaled to zero, its healthy pods deleted first; the
// crash-looping pods left alone must not raise the fault to critical, and
// once no pod runs the fault recovers.
func TestScaleToZeroDuringFault(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "scale-zero")
	annotate(t, ns, map[string]string{minRestarted: "4"})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	ctx := t.Context()
	pods := workload(t, sim, ns, "cart", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "error" }, waitEvent)
	for _, p := range pods[4:] {
		if err := sim.BeginDeletePod(ctx, ns, p.Name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods[4:] {
		if err := sim.DeletePod(ctx, ns, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	// The crash-looping pods stay, alone, for a few evaluations. This no
	// longer assumes that the agent saw the healthy pods leave within 3
	// evaluations: it waits for the metric that says so before the pods
	// left alone crash again.
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool { return p.Fields["total_pods"] == int64(4) })
	h.waitTicks(3)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitTicks(3)
	if got := statuses(h.events(ns)); strings.Join(got, " ") != "error" {
		t.Errorf("events after the healthy pods left: %q, want the anomaly alone", got)
	}
	for _, p := range pods[:4] {
		if err := sim.BeginDeletePod(ctx, ns, p.Name, 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	h.checkEnded(ns, []string{"error", "ok"}, "no pod of the namespace is left running")
	for _, p := range pods[:4] {
		if err := sim.DeletePod(ctx, ns, p.Name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJobFinishedDuringFault: a Job's pods (restartPolicy OnFailure) retry
// after failures, which opens a fault; then every pod completes. A finish
// is no restart, and a Job with no pod running ends the fault.
func TestJobFinishedDuringFault(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "job-done")
	annotate(t, ns, map[string]string{minRestarted: "3"})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	ctx := t.Context()
	var pods []*corev1.Pod
	for range 5 {
		p, err := sim.RunPod(ctx, kubesim.PodOptions{Namespace: ns, Owner: kubesim.Owner{Kind: kubesim.KindJob, Name: "report"}})
		if err != nil {
			t.Fatal(err)
		}
		pods = append(pods, p)
	}
	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "critical" }, waitEvent)
	for _, p := range pods {
		done, err := sim.CrashContainer(ctx, ns, p.Name, "app", kubesim.Crash{Reason: "Completed"})
		if err != nil {
			t.Fatal(err)
		}
		if done.Status.Phase != corev1.PodSucceeded {
			t.Fatalf("pod %s is %s after completing, want Succeeded", p.Name, done.Status.Phase)
		}
	}
	h.checkEnded(ns, []string{"critical", "ok"}, "no pod of the namespace is left running")
	m := h.waitMetric(ns, waitEvent, func(p datakit.Point) bool { return p.Fields["fault"] == int64(0) })
	if m.Fields["restarts"] != int64(3) {
		t.Errorf("restarts after the Job finished = %v, want 3 (the retries; the finishes are none)", m.Fields["restarts"])
	}
}

// TestFaultRestoredForGoneNamespace: the agent stops during a fault, the
// namespace is deleted while it is down, and the agent starts again: the
// fault it restores recovers once, with its fault ID, saying why.
func TestFaultRestoredForGoneNamespace(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "ns-gone")
	annotate(t, ns, map[string]string{minRestarted: "3"})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "cart", 5, nil)
	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "critical" }, waitEvent)
	if err := h.agent.Stop(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	deleteNamespace(t, sim, ns, pods, nil) // the agent is stopped
	h.restart()
	h.checkEnded(ns, []string{"critical", "ok"}, "the namespace was deleted")
}
