package e2e

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// bareContainerID is a container ID as DataKit's container collector tags
// containers: the CRI ID alone, 64 hex digits, no "containerd://".
var bareContainerID = regexp.MustCompile(`^[0-9a-f]{64}$`)

// TestRecoveryTellsHistory: 10 pods, 3 OOM-killed (warning), then 2
// exiting with an error (error), then the recovery. The recovery carries the
// fault's history: every restart once, the peak, the dominant cause over the
// fault and its workload; the containers of the events carry the bare
// runtime ID.
//
// Each wave waits for its event before the next. The thresholds make the
// peak exact whatever the timing: the first wave is a warning at 2 or 3 of
// 10 pods, and only all 5 restarted pods together reach error (from 45%),
// so the escalation is decided at 5 of 10, which nothing exceeds; the
// restarts count once each however many evaluations see them.
func TestRecoveryTellsHistory(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "history")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: "  ratio_error = 0.45\n  ratio_critical = 0.9"})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "api", 10, nil)

	crashAll(t, sim, pods[0:3], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}) // 3/10: warning
	h.waitEvents(ns, 1, waitEvent)
	crashAll(t, sim, pods[3:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // 5/10: error
	h.waitEvents(ns, 2, waitEvent)
	evs := h.waitEvents(ns, 3, waitRecovery)

	var got []string
	for _, e := range evs {
		got = append(got, e.Tags["df_status"])
	}
	if want := []string{"warning", "error", "ok"}; !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v:%s", got, want, describe(evs))
	}
	anomaly, escalation, recovery := evs[0], evs[1], evs[2]

	// Anomaly and escalation tell no history; the recovery tells it whole.
	for _, e := range evs[:2] {
		for k := range e.Fields {
			if strings.HasPrefix(k, "fault_") {
				t.Errorf("%s event carries %s", e.Tags["df_status"], k)
			}
		}
	}
	for k, want := range map[string]any{
		"fault_peak_level": "error", "fault_peak_ratio": 0.5, "fault_peak_restart_pods": int64(5), "fault_peak_total_pods": int64(10),
		"fault_restarts": int64(5), "fault_dominant_cause": "oom_killed", "fault_dominant_cause_share": 0.6,
		"df_fault_start_time": anomaly.Time.Unix(),
	} {
		if got := recovery.Fields[k]; got != want {
			t.Errorf("recovery %s = %#v, want %#v", k, got, want)
		}
	}
	// The peak is the escalation's evaluation.
	if peak := recovery.Fields["fault_peak_time"]; peak != escalation.Time.Unix() {
		t.Errorf("fault_peak_time %v, want the escalation's %d", peak, escalation.Time.Unix())
	}
	// The duration is in whole seconds of the exact instants, which the
	// two times truncated to seconds may put a second further apart.
	if d, _ := recovery.Fields["df_fault_duration"].(int64); d != recovery.Time.Unix()-anomaly.Time.Unix() &&
		d != recovery.Time.Unix()-anomaly.Time.Unix()-1 {
		t.Errorf("df_fault_duration %d, want the %d s from the anomaly to the recovery", d, recovery.Time.Unix()-anomaly.Time.Unix())
	}
	type workload struct {
		Kind     string `json:"kind"`
		Name     string `json:"name"`
		Restarts int    `json:"restarts"`
	}
	type cause struct {
		Cause     string     `json:"cause"`
		ExitCode  *int       `json:"exit_code"`
		Restarts  int        `json:"restarts"`
		Workloads []workload `json:"workloads"`
	}
	var causes []string
	for _, c := range jsonField[[]cause](t, recovery, "fault_causes") {
		exit := -1
		if c.ExitCode != nil {
			exit = *c.ExitCode
		}
		causes = append(causes, fmt.Sprintf("%s %d %d", c.Cause, exit, c.Restarts))
		if len(c.Workloads) != 1 || c.Workloads[0] != (workload{"Deployment", "api", c.Restarts}) {
			t.Errorf("cause %s workloads %+v, want deployment api with %d restarts", c.Cause, c.Workloads, c.Restarts)
		}
	}
	if want := []string{"oom_killed 137 3", "error 1 2"}; !slices.Equal(causes, want) {
		t.Errorf("fault_causes %q, want %q", causes, want)
	}
	msg, _ := recovery.Fields["df_message"].(string)
	for _, want := range []string{"#### History of the fault", "- **Restarts during the fault**: 5\n",
		"- **Dominant cause over the fault**: OOMKilled, 3 of 5 restarts (60%), in deployment/api (3)\n"} {
		if !strings.Contains(msg, want) {
			t.Errorf("recovery df_message lacks %q:\n%s", want, msg)
		}
	}

	// Every container of the escalation names its runtime apart from its
	// bare ID, as DataKit's container collector writes container_id.
	type container struct {
		containerStatus
		Runtime string `json:"container_runtime"`
	}
	statuses := jsonField[[]container](t, escalation, "container_statuses")
	if len(statuses) != 10 { // 5 pods, an init and an app container each
		t.Errorf("escalation has %d container statuses, want 10", len(statuses))
	}
	for _, c := range statuses {
		if !bareContainerID.MatchString(c.ContainerID) || c.Runtime != "containerd" {
			t.Errorf("container %s/%s: container_id %q runtime %q, want 64 hex digits and containerd",
				c.PodName, c.ContainerName, c.ContainerID, c.Runtime)
		}
	}
}

// TestHistorySurvivesRestart: the agent is SIGKILLed after the anomaly and
// started again; its recovery counts every restart of the fault once: the
// three the killed run counted (which the new run's window holds again) and
// the two after the restart.
//
// At least 3 restarted pods are needed, so the anomaly is decided with all
// three of the first wave, and the state saved with its event holds them.
func TestHistorySurvivesRestart(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "history-kill")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: "  min_restarted_pods = 3\n  ratio_error = 0.45\n  ratio_critical = 0.9"})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "api", 10, nil)

	crashAll(t, sim, pods[0:3], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}) // 3/10: warning
	h.waitEvents(ns, 1, waitEvent)
	h.agent.Kill()
	h.restart()
	crashAll(t, sim, pods[3:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // 5/10: error
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitEvent+waitRecovery)
	checkFault(t, evs)
	requireStatuses(t, evs, "warning", "error", "ok")
	recovery := evs[len(evs)-1]
	for k, want := range map[string]any{
		"fault_restarts": int64(5), "fault_dominant_cause": "oom_killed", "fault_dominant_cause_share": 0.6,
		"fault_peak_level": "error", "fault_peak_restart_pods": int64(5), "fault_peak_total_pods": int64(10),
	} {
		if got := recovery.Fields[k]; got != want {
			t.Errorf("recovery %s = %#v, want %#v:%s", k, got, want, describe(evs))
		}
	}
}
