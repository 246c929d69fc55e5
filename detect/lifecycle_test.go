package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEveryFaultEnds opens a fault (4 of 10 pods restarted: error), takes
// the namespace's pods away in the ways they go and evaluates for 20
// minutes (the window is 30): each fault must end with
// exactly one recovery, saying why, and never rise on the way.
func TestEveryFaultEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		// away takes the pods away between t0+1m and t0+2m.
		away func(d *Detector, pods []*Pod, eval func(time.Time))
		want []string // decisions from t0 on, "kind level end"
	}{
		{
			name: "namespace deleted: Terminating, pods deleted, namespace gone",
			away: func(d *Detector, pods []*Pod, eval func(time.Time)) {
				d.NamespaceGone("shop", EndNamespaceDeleted)
				eval(t0.Add(time.Minute + time.Second))
				for _, p := range pods {
					d.Observe(with(p, deleting), t0.Add(90*time.Second))
				}
				for _, p := range pods {
					d.Delete("shop", p.UID, t0.Add(100*time.Second))
				}
			},
			want: []string{"anomaly error recovered", "recovery ok namespace_deleted"},
		},
		{
			name: "scaled to zero, healthy pods deleted first",
			away: func(d *Detector, pods []*Pod, eval func(time.Time)) {
				for i := len(pods) - 1; i >= 0; i-- {
					d.Observe(with(pods[i], deleting), t0.Add(time.Minute+time.Duration(10-i)*time.Second))
					eval(t0.Add(time.Minute + time.Duration(10-i)*time.Second))
				}
			},
			want: []string{"anomaly error recovered", "recovery ok no_pods"},
		},
		{
			name: "scaled to zero, pods gone at once",
			away: func(d *Detector, pods []*Pod, eval func(time.Time)) {
				for _, p := range pods {
					d.Delete("shop", p.UID, t0.Add(time.Minute))
				}
			},
			want: []string{"anomaly error recovered", "recovery ok no_pods"},
		},
		{
			name: "scaled down to the crash-looping pods only: no escalation",
			away: func(d *Detector, pods []*Pod, eval func(time.Time)) {
				for _, p := range pods[4:] {
					d.Delete("shop", p.UID, t0.Add(time.Minute))
				}
				crash(d, pods, t0.Add(90*time.Second), 0, 1, 2, 3)
			},
			want: []string{"anomaly error recovered"},
		},
		{
			name: "pods finished, as a Job's do",
			away: func(d *Detector, pods []*Pod, eval func(time.Time)) {
				for _, p := range pods {
					d.Observe(with(p, func(p *Pod) { p.Phase = "Succeeded" }), t0.Add(time.Minute))
				}
			},
			want: []string{"anomaly error recovered", "recovery ok no_pods"},
		},
		{
			name: "namespace no longer watched",
			away: func(d *Detector, _ []*Pod, _ func(time.Time)) { d.NamespaceGone("shop", EndExcluded) },
			want: []string{"anomaly error recovered", "recovery ok excluded"},
		},
		{
			name: "namespace disabled",
			away: func(d *Detector, _ []*Pod, _ func(time.Time)) { d.SetOverrides("shop", Overrides{Disabled: true}) },
			want: []string{"anomaly error recovered", "recovery ok disabled"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			var got []string
			collect := func(now time.Time) {
				_, decs := d.EvaluateAll(now)
				for _, dec := range decs {
					got = append(got, fmt.Sprintf("%v %v %v", dec.Kind, dec.Level, dec.End))
				}
			}
			pods := populate(d, "shop", 10, t0.Add(-time.Hour))
			crash(d, pods, t0, 0, 1, 2, 3)
			collect(t0)
			tc.away(d, pods, collect)
			for s := 2 * time.Minute; s <= 20*time.Minute; s += 30 * time.Second {
				collect(t0.Add(s))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("decisions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRestoredFaultForAGoneNamespace: the agent restarts after the
// namespace of an open fault was deleted; the first evaluation of all
// namespaces must carry the recovery, not drop it with the namespace.
func TestRestoredFaultForAGoneNamespace(t *testing.T) {
	d := newTestDetector(testConfig())
	d.RestoreFaults([]Fault{{ID: "event-old", Namespace: "gone", Start: t0.Add(-time.Hour), Level: LevelError,
		MaxLevel: LevelError, LastEvent: t0.Add(-time.Hour)}})
	populate(d, "shop", 3, t0)
	var got []string
	for _, at := range []time.Duration{0, 30 * time.Second, time.Minute} {
		_, decs := d.EvaluateAll(t0.Add(at))
		for _, dec := range decs {
			got = append(got, fmt.Sprintf("%v %s %s %v %v", at, dec.Stats.Namespace, dec.Fault.ID, dec.Kind, dec.End))
		}
	}
	if diff := cmp.Diff([]string{"0s gone event-old recovery no_pods"}, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if n := d.Counts().Namespaces; n != 1 {
		t.Errorf("namespaces tracked = %d, want 1 (shop)", n)
	}
}

// TestOldEvictionsAreNoDisruptions: pods evicted long before the agent
// started are not disruptions of the window at its start; one evicted
// inside the window is.
func TestOldEvictionsAreNoDisruptions(t *testing.T) {
	evictedAt := func(name string, at time.Time) *Pod {
		return with(pod("shop", name), func(p *Pod) {
			evicted(p)
			p.Containers[0].State, p.Containers[0].StateSince, p.Containers[0].StateExitCode = StateTerminated, at, 137
		})
	}
	d := newTestDetector(testConfig())
	now := t0
	st := statsAfter(d, now, pod("shop", "a"), evictedAt("old", now.Add(-72*time.Hour)), evictedAt("recent", now.Add(-10*time.Minute)))
	if st.DisruptedPods != 1 {
		t.Errorf("disrupted pods = %d, want 1 (the eviction inside the window)", st.DisruptedPods)
	}
}

// TestStandbyForgetsDeletedPods: a replica that never evaluates (a standby)
// still forgets deleted pods once their restarts left the window.
func TestStandbyForgetsDeletedPods(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := populate(d, "shop", 3, t0)
	crash(d, pods, t0.Add(time.Minute), 0, 1)
	d.Delete("shop", pods[0].UID, t0.Add(2*time.Minute))
	d.Delete("shop", pods[1].UID, t0.Add(2*time.Minute))
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{
		{31 * time.Minute, 3},             // the restarts are still inside the window
		{32*time.Minute + time.Second, 1}, // deleted more than a window ago
	} {
		d.Observe(pods[2], t0.Add(tc.at))
		if got := d.Counts().Pods; got != tc.want {
			t.Errorf("at %v: pods tracked = %d, want %d", tc.at, got, tc.want)
		}
	}
}

// TestManyRestartsLeaveTheWindow: past maxRestartsPerPod entries, the
// oldest restarts merge and leave the window with the oldest of them, so
// that none counts after it left (the others leave a little early).
func TestManyRestartsLeaveTheWindow(t *testing.T) {
	d := newTestDetector(testConfig())
	p := pod("shop", "a")
	d.Observe(p, t0)
	const n = maxRestartsPerPod + 8 // restarts every 10s from t0
	for i := range n {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		p = crashed(p, "app", at, "Error")
		d.Observe(p, at)
	}
	for _, tc := range []struct {
		at   time.Duration
		want int
	}{
		{390 * time.Second, 40},
		// 36 restarts (40s..390s) are inside the window; the 9 at 0s..80s
		// merged at 0s have left with it.
		{30*time.Minute + 35*time.Second, 31},
		{36*time.Minute + 31*time.Second, 0},
	} {
		st, _ := d.Evaluate("shop", t0.Add(tc.at))
		if st.Restarts != tc.want {
			t.Errorf("at %v: restarts = %d, want %d", tc.at, st.Restarts, tc.want)
		}
	}
}
