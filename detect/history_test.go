package detect

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	histAPI    = Owner{Kind: "Deployment", Name: "api"}
	histWorker = Owner{Kind: "StatefulSet", Name: "worker"}
	histError  = CauseKey{CauseError, 1}
	histOOM    = CauseKey{CauseOOMKilled, 1}
)

// histStep is one instant of a history timeline: the pods that crash, with
// reason, then an evaluation.
type histStep struct {
	at     time.Duration // after t0
	crash  []int
	reason string // "Error" unless set
	// want is "" for no decision or the decision's kind.
	want string
}

// histPods returns 10 running pods of shop: p0-p5 of deployment api, the
// others of statefulset worker. Those of rebuilt are first observed at -1m
// with the crash at the instant it maps them to, as an agent's first list
// after a restart shows them; the others at -1h.
func histPods(d *Detector, rebuilt map[int]time.Time) []*Pod {
	pods := make([]*Pod, 10)
	for i := range pods {
		pods[i] = pod("shop", fmt.Sprintf("p%d", i))
		pods[i].Owner = histWorker
		if i < 6 {
			pods[i].Owner = Owner{Kind: "Deployment", Name: "api", Revision: "5d8f7b9c6"}
		}
		if at, ok := rebuilt[i]; ok {
			pods[i] = crashed(pods[i], "app", at, "Error")
			d.Observe(pods[i], t0.Add(-time.Minute))
			continue
		}
		d.Observe(pods[i], t0.Add(-time.Hour))
	}
	return pods
}

// runHistory runs the steps and returns the decisions made, by step index.
func runHistory(t *testing.T, d *Detector, pods []*Pod, steps []histStep) map[int]*Decision {
	t.Helper()
	out := map[int]*Decision{}
	for i, s := range steps {
		now := t0.Add(s.at)
		reason := s.reason
		if reason == "" {
			reason = "Error"
		}
		for _, j := range s.crash {
			pods[j] = crashed(pods[j], "app", now, reason)
			d.Observe(pods[j], now)
		}
		_, dec := d.Evaluate("shop", now)
		got := ""
		if dec != nil {
			got = dec.Kind.String()
			out[i] = dec
		}
		if got != s.want {
			t.Fatalf("step %d at %v: decision %q, want %q", i, s.at, got, s.want)
		}
	}
	return out
}

func TestFaultHistory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restore []Fault
		rebuilt map[int]time.Time // see histPods
		steps   []histStep
		// of is the step whose decision's history is checked.
		of   int
		want History
	}{
		{
			name: "the recovery counts every restart once, also those that left the window",
			steps: []histStep{
				{at: 0, crash: []int{0, 1}, want: "anomaly"}, // 2/10 warning
				{at: time.Minute}, // seen again: no count
				{at: 10 * time.Minute, crash: []int{2, 6, 7}, reason: "OOMKilled", want: "escalation"}, // 5/10 critical
				{at: 20 * time.Minute, crash: []int{0}},                                                // p0 again
				{at: 35 * time.Minute, crash: []int{8}},                                                // the first wave left the window: 5/10 again
				{at: 70 * time.Minute},
				{at: 70*time.Minute + 30*time.Second, want: "recovery"},
			},
			of: 6,
			want: History{
				Peak:     Peak{At: t0.Add(10 * time.Minute), Level: LevelCritical, Ratio: 0.5, RestartedPods: 5, Pods: 10},
				Restarts: 7,
				Causes: []HistoryCause{
					{CauseKey: histError, Restarts: 4, Workloads: []WorkloadRestarts{{histAPI, 3}, {histWorker, 1}}},
					{CauseKey: histOOM, Restarts: 3, Workloads: []WorkloadRestarts{{histWorker, 2}, {histAPI, 1}}},
				},
				Through: t0.Add(70*time.Minute + 30*time.Second),
			},
		},
		{
			name: "a reminder carries the history so far",
			steps: []histStep{
				{at: 0, crash: []int{0, 1}, want: "anomaly"},
				{at: 20 * time.Minute, crash: []int{2}, reason: "OOMKilled", want: "escalation"}, // 3/10 error
				{at: 50 * time.Minute, crash: []int{3, 4}, want: "reminder"},                     // silence since 20m
			},
			of: 2,
			want: History{
				Peak:     Peak{At: t0.Add(20 * time.Minute), Level: LevelError, Ratio: 0.3, RestartedPods: 3, Pods: 10},
				Restarts: 5,
				Causes: []HistoryCause{
					{CauseKey: histError, Restarts: 4, Workloads: []WorkloadRestarts{{histAPI, 4}}},
					{CauseKey: histOOM, Restarts: 1, Workloads: []WorkloadRestarts{{histAPI, 1}}},
				},
				Through: t0.Add(50 * time.Minute),
			},
		},
		{
			name: "the anomaly counts the restarts inside the window it opened on",
			steps: []histStep{
				{at: 0, crash: []int{0}}, // 1 restarted pod: below the rules
				{at: 5 * time.Minute, crash: []int{1}, want: "anomaly"},
			},
			of: 1,
			want: History{
				Peak:     Peak{At: t0.Add(5 * time.Minute), Level: LevelWarning, Ratio: 0.2, RestartedPods: 2, Pods: 10},
				Restarts: 2,
				Causes:   []HistoryCause{{CauseKey: histError, Restarts: 2, Workloads: []WorkloadRestarts{{histAPI, 2}}}},
				Through:  t0.Add(5 * time.Minute),
			},
		},
		{
			name: "a new fault counts again the restarts of its window that the last one counted",
			steps: []histStep{
				{at: 0, crash: []int{0, 1}, want: "anomaly"},
				{at: 31 * time.Minute, crash: []int{6}}, // below the rules, during the fault
				{at: 31*time.Minute + 30*time.Second, want: "recovery"},
				{at: 40 * time.Minute, crash: []int{7}, want: "anomaly"},
			},
			of: 3,
			want: History{
				Peak:     Peak{At: t0.Add(40 * time.Minute), Level: LevelWarning, Ratio: 0.2, RestartedPods: 2, Pods: 10},
				Restarts: 2,
				Causes:   []HistoryCause{{CauseKey: histError, Restarts: 2, Workloads: []WorkloadRestarts{{histWorker, 2}}}},
				Through:  t0.Add(40 * time.Minute),
			},
		},
		{
			name: "a restored fault counts again none of the restarts its saved history holds, and every later one",
			restore: []Fault{{ID: "event-old", Namespace: "shop", Start: t0.Add(-20 * time.Minute), Level: LevelWarning,
				MaxLevel: LevelWarning, LastEvent: t0.Add(-20 * time.Minute), History: History{
					Peak:     Peak{At: t0.Add(-20 * time.Minute), Level: LevelWarning, Ratio: 0.2, RestartedPods: 2, Pods: 10},
					Restarts: 2,
					Causes:   []HistoryCause{{CauseKey: histError, Restarts: 2, Workloads: []WorkloadRestarts{{histAPI, 2}}}},
					Through:  t0.Add(-10*time.Minute + 300*time.Millisecond),
				}}},
			// p0, p1: counted by the saved run; p3: in the second of its
			// last evaluation, taken as counted; p4: after it, not saved.
			rebuilt: map[int]time.Time{0: t0.Add(-15 * time.Minute), 1: t0.Add(-15 * time.Minute),
				3: t0.Add(-10*time.Minute + 600*time.Millisecond), 4: t0.Add(-5 * time.Minute)},
			steps: []histStep{
				{at: 0, crash: []int{2}, want: "escalation"}, // 5/10 critical
				{at: 31 * time.Minute},
				{at: 31*time.Minute + 30*time.Second, want: "recovery"},
			},
			of: 2,
			want: History{
				Peak:     Peak{At: t0, Level: LevelCritical, Ratio: 0.5, RestartedPods: 5, Pods: 10},
				Restarts: 4,
				Causes:   []HistoryCause{{CauseKey: histError, Restarts: 4, Workloads: []WorkloadRestarts{{histAPI, 4}}}},
				Through:  t0.Add(31*time.Minute + 30*time.Second),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			d.RestoreFaults(tc.restore)
			pods := histPods(d, tc.rebuilt)
			decs := runHistory(t, d, pods, tc.steps)
			if diff := cmp.Diff(tc.want, decs[tc.of].Fault.History); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFaultHistoryIsACopy checks that a decision's history does not change
// as the open fault's grows.
func TestFaultHistoryIsACopy(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := histPods(d, nil)
	decs := runHistory(t, d, pods, []histStep{
		{at: 0, crash: []int{0, 1}, want: "anomaly"},
		{at: time.Minute, crash: []int{2, 3}, want: "escalation"},
	})
	want := []HistoryCause{{CauseKey: histError, Restarts: 2, Workloads: []WorkloadRestarts{{histAPI, 2}}}}
	if diff := cmp.Diff(want, decs[0].Fault.History.Causes); diff != "" {
		t.Errorf("the anomaly's causes after the escalation (-want +got):\n%s", diff)
	}
	saved := d.Faults()
	runHistory(t, d, pods, []histStep{{at: 2 * time.Minute, crash: []int{4}, want: "escalation"}})
	if got := saved[0].History.Causes[0].Restarts; got != 4 {
		t.Errorf("saved fault's restarts = %d after a later restart, want 4", got)
	}
}

// TestFaultHistoryJSON checks that a fault with its history survives the
// JSON round trip of input's state store.
func TestFaultHistoryJSON(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := histPods(d, nil)
	runHistory(t, d, pods, []histStep{
		{at: 0, crash: []int{0, 6}, want: "anomaly"},
		{at: time.Minute, crash: []int{7}, reason: "OOMKilled", want: "escalation"},
	})
	want := d.Faults()
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got []Fault
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("faults after a JSON round trip (-want +got):\n%s", diff)
	}
	if want[0].History.Restarts != 3 || len(want[0].History.Causes) != 2 {
		t.Errorf("history %+v, want 3 restarts of 2 causes", want[0].History)
	}
}

// TestHistoryBounds checks that causes and workloads past the bounds count
// only in the totals.
func TestHistoryBounds(t *testing.T) {
	var h History
	for i := range maxHistoryCauses + 2 {
		for j := range maxHistoryWorkloads + 3 {
			h.add(CauseKey{CauseError, uint8(i + 1)}, Owner{Kind: "Deployment", Name: fmt.Sprint(j)}, 1)
		}
	}
	per := maxHistoryWorkloads + 3
	if h.Restarts != (maxHistoryCauses+2)*per || len(h.Causes) != maxHistoryCauses {
		t.Fatalf("restarts %d causes %d, want %d and %d", h.Restarts, len(h.Causes), (maxHistoryCauses+2)*per, maxHistoryCauses)
	}
	for _, c := range h.Causes {
		if c.Restarts != per || len(c.Workloads) != maxHistoryWorkloads {
			t.Errorf("cause %v: restarts %d workloads %d, want %d and %d", c.CauseKey, c.Restarts, len(c.Workloads), per, maxHistoryWorkloads)
		}
	}
}
