package output

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// TestHistoryFields checks which events tell the fault's history and what
// the recovery of the fixture fault says.
func TestHistoryFields(t *testing.T) {
	keys := []string{keyFaultPeakLevel, keyFaultPeakRatio, keyFaultPeakRestartPods, keyFaultPeakTotalPods, keyFaultPeakTime,
		keyFaultRestarts, keyFaultDominantCause, keyFaultDominantShare, keyFaultCauses}
	recovery := map[string]any{
		keyFaultPeakLevel: "error", keyFaultPeakRatio: 0.45, keyFaultPeakRestartPods: int64(9), keyFaultPeakTotalPods: int64(20),
		keyFaultPeakTime: encT0.Unix() + 600, keyFaultRestarts: int64(34), keyFaultDominantCause: "oom_killed",
		keyFaultDominantShare: 22.0 / 34,
		keyFaultCauses: `[{"cause":"oom_killed","exit_code":137,"restarts":22,"share":0.6470588235294118,"workloads":[{"kind":"Deployment","name":"shop-api","restarts":22}]},` +
			`{"cause":"error","exit_code":1,"restarts":10,"share":0.29411764705882354,"workloads":[{"kind":"StatefulSet","name":"shop-worker","restarts":9},{"kind":"","name":"","restarts":1}]},` +
			`{"cause":"signal","exit_code":143,"signal":"SIGTERM","restarts":2,"share":0.058823529411764705,"workloads":[{"kind":"CronJob","name":"shop-cron","restarts":2}]}]`,
	}
	noCauses := func(d *detect.Decision) { d.Fault.History.Causes = nil }
	for _, tc := range []struct {
		name   string
		kind   detect.Kind
		change func(*detect.Decision)
		want   map[string]any // nil: none of the keys
	}{
		{name: "anomaly", kind: detect.KindAnomaly},
		{name: "escalation", kind: detect.KindEscalation},
		{name: "recovery", kind: detect.KindRecovery, want: recovery},
		{name: "reminder without abnormal restarts", kind: detect.KindReminder, change: noCauses, want: map[string]any{
			keyFaultPeakLevel: "error", keyFaultPeakRatio: 0.45, keyFaultPeakRestartPods: int64(9), keyFaultPeakTotalPods: int64(20),
			keyFaultPeakTime: encT0.Unix() + 600, keyFaultRestarts: int64(31)}},
		{name: "recovery of a fault restored without history", kind: detect.KindRecovery,
			change: func(d *detect.Decision) { d.Fault.History = detect.History{} }, want: map[string]any{keyFaultRestarts: int64(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := encDecision(tc.kind)
			if tc.change != nil {
				tc.change(d)
			}
			pt, err := encNewEncoder(t, encTestConfig).Event(d)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			for _, k := range keys {
				if v := pt.Get(k); v != nil {
					got[k] = v
				}
			}
			want := tc.want
			if want == nil {
				want = map[string]any{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("history fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContainerID(t *testing.T) {
	for _, tc := range []struct {
		name           string
		current, last  string
		wantRT, wantID string
	}{
		{"containerd", "containerd://4f9a", "", "containerd", "4f9a"},
		{"cri-o", "cri-o://77ab", "", "cri-o", "77ab"},
		{"docker", "docker://c0ffee", "", "docker", "c0ffee"},
		{"the last terminated one before a new one started", "", "containerd://dead", "containerd", "dead"},
		{"no runtime prefix", "4f9a", "", "", "4f9a"},
		{"never started", "", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, id := containerID(&detect.Container{ContainerID: tc.current, Last: detect.Termination{ContainerID: tc.last}})
			if rt != tc.wantRT || id != tc.wantID {
				t.Errorf("containerID = %q, %q; want %q, %q", rt, id, tc.wantRT, tc.wantID)
			}
		})
	}
}
