package detect

import (
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	term := func(reason string, exit, signal int32) Termination {
		return Termination{ContainerID: "containerd://x", Reason: reason, ExitCode: exit, Signal: signal, FinishedAt: t0}
	}
	for _, tc := range []struct {
		name string
		c    Container
		want CauseKey
	}{
		{"OOMKilled", Container{Last: term("OOMKilled", 137, 0)}, CauseKey{CauseOOMKilled, 137}},
		{"OOMKilled in an init container", Container{Type: ContainerInit, Last: term("OOMKilled", 137, 0)}, CauseKey{CauseOOMKilled, 137}},
		{"error exit 1", Container{Last: term("Error", 1, 0)}, CauseKey{CauseError, 1}},
		{"error exit 255", Container{Last: term("Error", 255, 0)}, CauseKey{CauseError, 255}},
		{"SIGSEGV by exit code", Container{Last: term("Error", 139, 0)}, CauseKey{CauseSignal, 139}},
		{"SIGKILL by exit code, not OOM", Container{Last: term("Error", 137, 0)}, CauseKey{CauseSignal, 137}},
		{"SIGTERM reported as a signal", Container{Last: term("Error", 0, 15)}, CauseKey{CauseSignal, 143}},
		{"exit 0, restarted", Container{Last: term("Completed", 0, 0)}, CauseKey{CauseCompleted, 0}},
		{"init container failed", Container{Type: ContainerInit, Last: term("Error", 3, 0)}, CauseKey{CauseInit, 3}},
		{"sidecar is not an init failure", Container{Type: ContainerSidecar, Last: term("Error", 3, 0)}, CauseKey{CauseError, 3}},
		{"runtime could not start it", Container{Last: term("StartError", 128, 0)}, CauseKey{CauseConfig, 128}},
		{"ContainerCannotRun", Container{Last: term("ContainerCannotRun", 127, 0)}, CauseKey{CauseConfig, 127}},
		{"then cannot pull its image", Container{State: StateWaiting, StateReason: "ImagePullBackOff", Last: term("Error", 1, 0)}, CauseKey{CauseImage, 0}},
		{"then ErrImagePull", Container{State: StateWaiting, StateReason: "ErrImagePull", Last: term("Error", 1, 0)}, CauseKey{CauseImage, 0}},
		{"then InvalidImageName", Container{State: StateWaiting, StateReason: "InvalidImageName", Last: term("Error", 1, 0)}, CauseKey{CauseImage, 0}},
		{"then CreateContainerConfigError", Container{State: StateWaiting, StateReason: "CreateContainerConfigError", Last: term("Error", 1, 0)}, CauseKey{CauseConfig, 1}},
		{"then CreateContainerError", Container{State: StateWaiting, StateReason: "CreateContainerError", Last: term("Error", 2, 0)}, CauseKey{CauseConfig, 2}},
		{"then RunContainerError", Container{State: StateWaiting, StateReason: "RunContainerError", Last: term("Error", 1, 0)}, CauseKey{CauseConfig, 1}},
		{"CrashLoopBackOff says nothing more", Container{State: StateWaiting, StateReason: "CrashLoopBackOff", Last: term("Error", 2, 0)}, CauseKey{CauseError, 2}},
		{"no termination yet", Container{}, CauseKey{CauseUnknown, 0}},
		{"the kubelet lost it", Container{Last: term("ContainerStatusUnknown", 0, 0)}, CauseKey{CauseUnknown, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(&tc.c); got != tc.want {
				t.Errorf("classify = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSignalName(t *testing.T) {
	for n, want := range map[int]string{9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM", 6: "SIGABRT", 40: "signal 40", 0: "signal 0"} {
		if got := SignalName(n); got != want {
			t.Errorf("SignalName(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProbeKill(t *testing.T) {
	killed := t0.Add(10 * time.Minute)
	liveness := Event{Reason: "Unhealthy", Container: "app", Message: "Liveness probe failed: HTTP probe failed with statuscode: 500",
		Count: 3, FirstSeen: killed.Add(-30 * time.Second), LastSeen: killed.Add(-5 * time.Second)}
	for _, tc := range []struct {
		name   string
		key    CauseKey
		events []Event
		at     time.Time
		want   Cause
	}{
		{"liveness failures before an exit 137", CauseKey{CauseSignal, 137}, []Event{liveness}, killed, CauseLiveness},
		{"liveness failures before an exit 0 (SIGTERM handled)", CauseKey{CauseCompleted, 0}, []Event{liveness}, killed, CauseLiveness},
		{"startup probe", CauseKey{CauseSignal, 143}, []Event{{Reason: "Unhealthy", Container: "app", Message: "Startup probe failed: connection refused",
			FirstSeen: killed.Add(-time.Minute), LastSeen: killed}}, killed, CauseStartup},
		{"a probe event about the whole pod", CauseKey{CauseError, 1}, []Event{{Reason: "Unhealthy", Message: "Liveness probe errored",
			FirstSeen: killed, LastSeen: killed}}, killed, CauseLiveness},
		{"readiness probes kill nothing", CauseKey{CauseSignal, 137}, []Event{{Reason: "Unhealthy", Container: "app",
			Message: "Readiness probe failed", FirstSeen: killed, LastSeen: killed}}, killed, CauseSignal},
		{"another container's probe", CauseKey{CauseSignal, 137}, []Event{{Reason: "Unhealthy", Container: "sidecar",
			Message: "Liveness probe failed", FirstSeen: killed, LastSeen: killed}}, killed, CauseSignal},
		{"long after the failures", CauseKey{CauseSignal, 137}, []Event{liveness}, killed.Add(10 * time.Minute), CauseSignal},
		{"long before the failures", CauseKey{CauseSignal, 137}, []Event{liveness}, killed.Add(-10 * time.Minute), CauseSignal},
		{"an OOM kill stays an OOM kill", CauseKey{CauseOOMKilled, 137}, []Event{liveness}, killed, CauseOOMKilled},
		{"no events", CauseKey{CauseSignal, 137}, nil, killed, CauseSignal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refine(tc.key, tc.events, "app", tc.at); got.Cause != tc.want {
				t.Errorf("refine = %v, want %v", got.Cause, tc.want)
			}
		})
	}
}

// TestCausesOnATimeline checks the causes restarts get as they are counted,
// the termination arriving after restartCount included, and the probe
// refinement from the pod's events when the decision is made.
func TestCausesOnATimeline(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := populate(d, "shop", 4, t0)
	// p0: restartCount first, then its OOM termination.
	rc := with(pods[0], func(p *Pod) { p.Containers[0].RestartCount = 1 })
	d.Observe(rc, t0.Add(time.Minute))
	d.Observe(crashed(pods[0], "app", t0.Add(50*time.Second), "OOMKilled"), t0.Add(70*time.Second))
	// p1: killed by its liveness probe.
	d.PodEvent("shop", pods[1].UID, Event{Name: "ev", Reason: "Unhealthy", Container: "app", Message: "Liveness probe failed: timeout",
		Count: 3, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(90 * time.Second)})
	p1 := crashed(pods[1], "app", t0.Add(2*time.Minute), "Error")
	p1.Containers[0].Last.ExitCode = 137
	d.Observe(p1, t0.Add(2*time.Minute))
	dec := summarize(d, "shop", t0.Add(3*time.Minute))
	got := map[string]CauseKey{}
	for _, r := range dec.Pods {
		got[r.Pod.Name] = r.Causes[0]
	}
	want := map[string]CauseKey{"p0": {CauseOOMKilled, 1}, "p1": {CauseLiveness, 137}}
	if len(got) != 2 || got["p0"].Cause != want["p0"].Cause || got["p1"] != want["p1"] {
		t.Errorf("causes %+v, want %+v", got, want)
	}
}
