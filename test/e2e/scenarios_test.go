package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// TestCrashStorm: 20 pods, 10 crash-loop in three waves (OOMKilled and Error
// mixed): one anomaly, an escalation per rising level, then exactly one
// recovery with the same fault ID once the window drains.
//
// Each wave waits for its event before the next, and a wave's pods may be
// seen in one evaluation or several; each wave crosses one level, so the
// four events are the same either way. The recovery is checked against the
// restarts' own finishedAt, not against when the test finished writing
// them, which a busy machine may delay by seconds; the final metric is one
// decided after the recovery, not any earlier one that happens to match.
func TestCrashStorm(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "storm")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "checkout", 20, nil)

	oom := kubesim.Crash{Reason: "OOMKilled", ExitCode: 137, Message: "memory limit 256Mi reached"}
	crashAll(t, sim, pods[0:3], "app", oom) // 3/20 = 15%: warning
	evs := h.waitEvents(ns, 1, waitEvent)
	crashAll(t, sim, pods[3:7], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // 7/20 = 35%: error
	evs = h.waitEvents(ns, 2, waitEvent)
	lastWave := crashAll(t, sim, pods[7:10], "app", oom) // 10/20 = 50%: critical
	evs = h.waitEvents(ns, 3, waitEvent)
	evs = h.waitEvents(ns, 4, waitRecovery)
	// 9 restarted pods must leave the window before 1 of 20 is below the
	// rules, so the recovery comes at least window after the last wave's
	// first restart.
	if since := evs[3].Time.Sub(lastWave); since < window {
		t.Errorf("recovery decided %v after the last wave's first restart, before the %v window drained", since, window)
	}

	var got []string
	for _, e := range evs {
		got = append(got, e.Tags["df_status"]+"/"+e.Tags["df_fault_status"])
	}
	if want := []string{"warning/fault", "error/fault", "critical/fault", "ok/ok"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v:%s", got, want, describe(evs))
	}
	faultID := evs[0].Tags["df_event_id"]
	ids := map[string]bool{}
	for _, e := range evs {
		if e.Tags["df_fault_id"] != faultID {
			t.Errorf("event %s has fault ID %s, want the first event's %s", e.Tags["df_event_id"], e.Tags["df_fault_id"], faultID)
		}
		ids[e.Tags["df_event_id"]] = true
		for k, want := range map[string]string{"cluster_name_k8s": "e2e", "namespace": ns, "suite": "e2e",
			"df_source": "monitor", "df_monitor_checker": "k8s_pod_restart", "df_monitor_type": "bot_obs"} {
			if e.Tags[k] != want {
				t.Errorf("event tag %s = %q, want %q", k, e.Tags[k], want)
			}
		}
		if e.Name != "k8s_pod_restart" || e.Query.Get("input") != "k8s_pod_restart" || !e.Query.Has("ignore_global_host_tags") {
			t.Errorf("event %s measurement %q query %v", e.Tags["df_event_id"], e.Name, e.Query)
		}
	}
	if len(ids) != 4 {
		t.Errorf("event IDs not distinct: %v", ids)
	}

	// The anomaly's root-cause analysis.
	anomaly := evs[0]
	// The anomaly opens at 2 or 3 restarted pods, as the first wave's
	// status updates arrive in one evaluation or two.
	restarted, _ := anomaly.Fields["restart_pods"].(int64)
	want := fmt.Sprintf("%d of 20 pods", restarted)
	if title, _ := anomaly.Fields["df_title"].(string); !strings.Contains(title, want) || !strings.Contains(title, ns) {
		t.Errorf("anomaly title %q, want %q in %s", title, want, ns)
	}
	if (restarted != 2 && restarted != 3) || anomaly.Fields["total_pods"] != int64(20) {
		t.Errorf("anomaly restart_pods %v total_pods %v, want 2 or 3 and 20", anomaly.Fields["restart_pods"], anomaly.Fields["total_pods"])
	}
	statuses := jsonField[[]containerStatus](t, evs[2], "container_statuses")
	reasons := map[string]int{}
	crashed := map[string]bool{}
	for _, p := range pods[:10] {
		crashed[p.Name] = true
	}
	for _, c := range statuses {
		if !crashed[c.PodName] {
			t.Errorf("container status of pod %s, which did not restart", c.PodName)
		}
		switch c.ContainerName {
		case "app":
			reasons[c.LastTerminationReason]++
			// The event is decided at whichever of the kubelet's writes
			// tips the ratio: the last pod to crash may still show its
			// first write (state.terminated, reported as the latest
			// termination) or already the back-off (waiting, lastState).
			backOff := c.State == "waiting" && c.StateReason == "CrashLoopBackOff"
			justDied := c.State == "terminated" && c.StateReason == c.LastTerminationReason
			if c.ContainerType != "app" || !bareContainerID.MatchString(c.ContainerID) || !(backOff || justDied) ||
				c.ExitCode == nil || c.ErrorTime == "" || c.Restarts != 1 ||
				c.Resources.Limits.Memory != "256Mi" || c.Resources.Requests.CPU != "100m" {
				t.Errorf("app container status %+v", c)
			}
			if want := map[string]int32{"OOMKilled": 137, "Error": 1}[c.LastTerminationReason]; c.ExitCode != nil && *c.ExitCode != want {
				t.Errorf("%s exit code %d, want %d", c.LastTerminationReason, *c.ExitCode, want)
			}
		case "migrate":
			if c.ContainerType != "init" {
				t.Errorf("init container reported as %q", c.ContainerType)
			}
		}
	}
	if reasons["OOMKilled"] != 6 || reasons["Error"] != 4 {
		t.Errorf("termination reasons %v, want 6 OOMKilled and 4 Error", reasons)
	}
	abnormal := jsonField[[]abnormalPod](t, evs[2], "abnormal_pods")
	if len(abnormal) != 10 || abnormal[0].OwnerKind != "Deployment" || abnormal[0].OwnerName != "checkout" || abnormal[0].NodeName == "" {
		t.Errorf("abnormal pods %+v, want the 10 pods of deployment checkout", abnormal)
	}
	recovery := evs[3]
	if d, _ := recovery.Fields["df_fault_duration"].(int64); d < int64(window/time.Second) {
		t.Errorf("recovery df_fault_duration %v, want at least the window", recovery.Fields["df_fault_duration"])
	}

	// Metrics flow every interval and show the fault closed.
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return !p.Time.Before(recovery.Time) && p.Fields["fault"] == int64(0) && p.Fields["total_pods"] == int64(20)
	})
}

// TestQuietNamespace: 1 of 50 pods restarting once is no anomaly, but the
// metrics still show it.
func TestQuietNamespace(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "quiet")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "web", 50, nil)
	crashAll(t, sim, pods[:1], "app", kubesim.Crash{Reason: "Error", ExitCode: 2})
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return p.Fields["restart_pods"] == int64(1) && p.Fields["total_pods"] == int64(50)
	})
	if evs := h.events(ns); len(evs) != 0 {
		t.Errorf("events for a quiet namespace:%s", describe(evs))
	}
}

// TestRollingReplacement: pods deleted and replaced by fresh ones are no
// restarts.
//
// The metric it waits for must be evaluated after the replacement was
// written: one from before the deletions, when the old pods were 10 with no
// restarts either, would match without testing anything.
func TestRollingReplacement(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "rollout")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	old := workload(t, sim, ns, "api", 10, nil)
	for _, p := range old {
		if err := sim.DeletePod(t.Context(), ns, p.Name); err != nil {
			t.Fatal(err)
		}
	}
	workload(t, sim, ns, "api", 10, nil)
	replaced := time.Now()
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool {
		return p.Time.After(replaced) && p.Fields["total_pods"] == int64(10) && p.Fields["restart_pods"] == int64(0)
	})
	if evs := h.events(ns); len(evs) != 0 {
		t.Errorf("events for a rolling replacement:%s", describe(evs))
	}
}

// TestInitContainerCrashLoop: pods stuck in Init:CrashLoopBackOff are an
// anomaly that names the init container.
func TestInitContainerCrashLoop(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "init")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := make([]*corev1.Pod, 10)
	for i := range pods {
		p, err := sim.CreatePod(t.Context(), kubesim.PodOptions{
			Namespace: ns, Owner: kubesim.Owner{Kind: kubesim.KindStatefulSet, Name: "db"},
			InitContainers: []kubesim.Container{{Name: "schema-migrate"}},
			Containers:     []kubesim.Container{{Name: "postgres"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = p
	}
	crashAll(t, sim, pods[:5], "schema-migrate", kubesim.Crash{Reason: "Error", ExitCode: 3, Message: "relation \"users\" already exists"})
	// 5 of 10 is critical: the event at that level saw all five.
	var critical datakit.Point
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	err := h.dk.WaitFor(ctx, func([]datakit.Point) bool {
		for _, e := range h.events(ns) {
			if e.Tags["df_status"] == "critical" {
				critical = e
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no critical event: %v%s", err, describe(h.events(ns)))
	}
	found := 0
	for _, c := range jsonField[[]containerStatus](t, critical, "container_statuses") {
		if c.ContainerName == "schema-migrate" && c.ContainerType == "init" && c.Restarts == 1 && c.LastTerminationReason == "Error" {
			found++
		}
	}
	if found != 5 {
		t.Errorf("%d crash-looping init containers reported, want 5", found)
	}
	if msg, _ := critical.Fields["df_message"].(string); !strings.Contains(msg, "schema-migrate") {
		t.Errorf("message does not name the init container:\n%s", msg)
	}
}

// TestScoping: namespaces, exclude_namespaces and pod_label_selector.
//
// The metric showing the selector at work must be evaluated after the batch
// pods were written: one from before them would show the web pods alone
// whatever the selector.
func TestScoping(t *testing.T) {
	t.Parallel()
	in, out, labelled := newNamespace(t, "scope-in"), newNamespace(t, "scope-out"), newNamespace(t, "scope-label")
	only := startAgent(t, agentConfig{Namespaces: []string{in, labelled}, LabelSelector: "tier!=batch"})
	excl := startAgent(t, agentConfig{ExcludeNamespaces: []string{out}})
	sim := kubesim.New(cp.Client())
	for _, ns := range []string{in, out} {
		pods := workload(t, sim, ns, "svc", 6, nil)
		crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	}
	web := workload(t, sim, labelled, "web", 6, map[string]string{"tier": "web"})
	batch := workload(t, sim, labelled, "batch", 6, map[string]string{"tier": "batch"})
	crashAll(t, sim, batch, "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	batchWritten := time.Now()

	only.waitEvents(in, 1, waitEvent)
	excl.waitEvents(in, 1, waitEvent)
	// labelled: the selector hides the crashing batch pods from "only"; the
	// other agent sees 6 of 12.
	excl.waitEvents(labelled, 1, waitEvent)
	only.waitMetric(labelled, waitEvent, func(p datakit.Point) bool {
		return p.Time.After(batchWritten) && p.Fields["total_pods"] == int64(len(web)) && p.Fields["restart_pods"] == int64(0)
	})
	for _, h := range []*harness{only, excl} {
		if evs := h.events(out); len(evs) != 0 {
			t.Errorf("events for a namespace not watched:%s", describe(evs))
		}
	}
	if evs := only.events(labelled); len(evs) != 0 {
		t.Errorf("events for pods outside the label selector:%s", describe(evs))
	}
	for _, p := range only.dk.Points("metric") {
		if p.Name != "k8s_pod_restart" {
			continue // the agent's own resources: no namespace
		}
		if ns := p.Tags["namespace"]; ns != in && ns != labelled {
			t.Fatalf("metric for namespace %s, outside namespaces", ns)
		}
	}
}

// TestStartAfterRestarts: the agent starts after the restarts happened; the
// window is rebuilt from the pod status and the anomaly is reported once.
// It does not assume the agent starts within window of the restarts: its
// window is lateWindow.
func TestStartAfterRestarts(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "late")
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "billing", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Window: lateWindow})
	evs := h.waitEvents(ns, 1, waitEvent)
	if evs[0].Tags["df_status"] != "error" || evs[0].Fields["restart_pods"] != int64(4) { // 4 of 10
		t.Errorf("rebuilt anomaly:%s fields %v", describe(evs), evs[0].Fields["restart_pods"])
	}
	// A few evaluations later, still exactly one event.
	h.waitMetric(ns, waitEvent, func(p datakit.Point) bool { return p.Time.After(evs[0].ReceivedAt.Add(2 * interval)) })
	if evs := h.events(ns); len(evs) != 1 {
		t.Errorf("want exactly one event, got %d:%s", len(evs), describe(evs))
	}
}
