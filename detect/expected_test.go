package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deployed returns a running pod of Deployment dep at revision hash.
func deployed(name, dep, hash string) *Pod {
	p := pod("shop", name)
	p.Owner = Owner{Kind: "Deployment", Name: dep, Revision: hash}
	return p
}

// with returns a copy of p changed by f.
func with(p *Pod, f func(*Pod)) *Pod {
	q := *p
	q.Containers = append([]Container(nil), p.Containers...)
	f(&q)
	return &q
}

func deleting(p *Pod) { p.Deleting = true }

func evicted(p *Pod) {
	p.Phase, p.Reason, p.Disruption = "Failed", "Evicted", "TerminationByKubelet"
}

// counts is what TestWhichRestartsCount compares.
type counts struct {
	Pods, RestartedPods, Restarts, ExpectedRestarts, DisruptedPods int
}

func countsOf(st Stats) counts {
	return counts{st.Pods, st.RestartedPods, st.Restarts, st.ExpectedRestarts, st.DisruptedPods}
}

// summarize returns the decision the namespace would carry at now,
// whether or not it would be reported.
func summarize(d *Detector, namespace string, now time.Time) Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.namespaces[namespace]
	dec := Decision{At: now, Window: d.cfg.Window, Stats: d.stats(namespace, ns, now)}
	d.report(ns, &dec)
	return dec
}

// TestWhichRestartsCount pins each rule of "Which pods count" on a fixed
// timeline: what each expected termination does to the ratio's numerator
// (restarted pods, restarts), to its denominator (pods) and to the context
// (expected restarts, disrupted pods).
func TestWhichRestartsCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(d *Detector) time.Time // returns the instant to evaluate at
		want counts
		// wantExpected, when set, is the reasons of Summary.Expected.
		wantExpected []string
	}{
		{
			name: "a restart seen while the pod is being deleted is expected, and the pod leaves",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				d.Observe(with(pods[0], deleting), t0.Add(time.Second))
				d.Observe(crashed(with(pods[0], deleting), "app", t0.Add(2*time.Second), "Error"), t0.Add(2*time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 3, ExpectedRestarts: 1},
			wantExpected: []string{"deleted"},
		},
		{
			name: "restarts before the deletion still count, and so does the pod",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				c := crashed(pods[0], "app", t0.Add(time.Second), "Error")
				d.Observe(c, t0.Add(time.Second))
				d.Observe(with(c, deleting), t0.Add(time.Minute))
				return t0.Add(2 * time.Minute)
			},
			want:         counts{Pods: 4, RestartedPods: 1, Restarts: 1},
			wantExpected: []string{"deleted"},
		},
		{
			name: "the kubelet's eviction: restarts seen with it are expected, the pod leaves",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				d.Observe(crashed(with(pods[0], evicted), "app", t0.Add(time.Second), "Error"), t0.Add(time.Second))
				d.Observe(with(pods[1], evicted), t0.Add(time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 2, ExpectedRestarts: 1, DisruptedPods: 2},
			wantExpected: []string{"evicted"},
		},
		{
			name: "status.reason Evicted without the condition (older kubelets)",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 3, t0)
				d.Observe(with(pods[0], func(p *Pod) { p.Phase, p.Reason = "Failed", "Evicted" }), t0.Add(time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 2, DisruptedPods: 1},
			wantExpected: []string{"evicted"},
		},
		{
			name: "preemption: the condition comes first, the restart while being killed is expected",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 3, t0)
				pre := with(pods[0], func(p *Pod) { p.Disruption = "PreemptionByScheduler" })
				d.Observe(pre, t0.Add(time.Second))
				d.Observe(crashed(with(pre, deleting), "app", t0.Add(2*time.Second), "Error"), t0.Add(2*time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 2, ExpectedRestarts: 1, DisruptedPods: 1},
			wantExpected: []string{"preempted"},
		},
		{
			name: "a drain: evictions through the API from a cordoned node",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				d.SetNode(Node{Name: "node-1", Unschedulable: true})
				for _, p := range pods[:2] {
					d.Observe(with(p, func(p *Pod) { p.Disruption = "EvictionByEvictionAPI" }), t0.Add(time.Second))
				}
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 2, DisruptedPods: 2},
			wantExpected: []string{"drain"},
		},
		{
			name: "an eviction through the API from a schedulable node is not a drain",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				d.Observe(with(pods[0], func(p *Pod) { p.Disruption = "EvictionByEvictionAPI" }), t0.Add(time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 3, DisruptedPods: 1},
			wantExpected: []string{"eviction_api"},
		},
		{
			name: "taint manager, pod GC and node shutdown",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 5, t0)
				d.Observe(with(pods[0], func(p *Pod) { p.Disruption = "DeletionByTaintManager" }), t0.Add(time.Second))
				d.Observe(with(pods[1], func(p *Pod) { p.Disruption = "DeletionByPodGC" }), t0.Add(time.Second))
				d.Observe(with(pods[2], func(p *Pod) { p.Phase, p.Reason = "Failed", "Terminated" }), t0.Add(time.Second))
				return t0.Add(time.Minute)
			},
			want:         counts{Pods: 2, DisruptedPods: 3},
			wantExpected: []string{"taint", "pod_gc", "node_shutdown"},
		},
		{
			name: "a DisruptionTarget condition reset to False: the pod counts again",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 3, t0)
				d.Observe(with(pods[0], func(p *Pod) { p.Disruption = "PreemptionByScheduler" }), t0.Add(time.Second))
				d.Observe(pods[0], t0.Add(2*time.Minute))
				return t0.Add(3 * time.Minute)
			},
			want:         counts{Pods: 3, DisruptedPods: 1},
			wantExpected: []string{"preempted"},
		},
		{
			name: "finished Job pods: completion is no restart and the pods leave",
			run: func(d *Detector) time.Time {
				populate(d, "shop", 3, t0)
				job := pod("shop", "job-1")
				job.Owner = Owner{Kind: "Job", Name: "job"}
				d.Observe(job, t0)
				d.Observe(with(job, func(p *Pod) { p.Phase = "Succeeded" }), t0.Add(time.Second))
				return t0.Add(time.Minute)
			},
			want: counts{Pods: 3},
		},
		{
			name: "a Job pod's retries (restartPolicy OnFailure) count, even once it failed",
			run: func(d *Detector) time.Time {
				populate(d, "shop", 3, t0)
				job := pod("shop", "job-1")
				job.Owner = Owner{Kind: "Job", Name: "job"}
				d.Observe(job, t0)
				c := crashed(job, "app", t0.Add(time.Second), "Error")
				d.Observe(c, t0.Add(time.Second))
				d.Observe(with(c, func(p *Pod) { p.Phase = "Failed" }), t0.Add(2*time.Second))
				return t0.Add(time.Minute)
			},
			want: counts{Pods: 4, RestartedPods: 1, Restarts: 1},
		},
		{
			name: "a rollout: the old revision's restarts after the new revision appeared are expected; its pods still count",
			run: func(d *Detector) time.Time {
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-old", Hash: "old", Number: 1, Created: t0.Add(-time.Hour)}, t0)
				var old []*Pod
				for i := range 4 {
					old = append(old, deployed(fmt.Sprintf("api-old-%d", i), "api", "old"))
					d.Observe(old[i], t0)
				}
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-new", Hash: "new", Number: 2, Created: t0.Add(time.Minute)}, t0.Add(time.Minute))
				d.Observe(deployed("api-new-0", "api", "new"), t0.Add(time.Minute))
				for _, p := range old[:3] {
					d.Observe(crashed(p, "app", t0.Add(2*time.Minute), "Error"), t0.Add(2*time.Minute))
				}
				return t0.Add(3 * time.Minute)
			},
			want:         counts{Pods: 5, ExpectedRestarts: 3},
			wantExpected: []string{"rollout"},
		},
		{
			name: "a rollout deleting the old revision's pods: replaced, restarts while stopping expected",
			run: func(d *Detector) time.Time {
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-old", Hash: "old", Number: 1, Created: t0.Add(-time.Hour)}, t0)
				var old []*Pod
				for i := range 3 {
					old = append(old, deployed(fmt.Sprintf("api-old-%d", i), "api", "old"))
					d.Observe(old[i], t0)
				}
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-new", Hash: "new", Number: 2, Created: t0.Add(time.Minute)}, t0.Add(time.Minute))
				for i, p := range old {
					d.Observe(deployed(fmt.Sprintf("api-new-%d", i), "api", "new"), t0.Add(time.Minute))
					d.Observe(with(p, deleting), t0.Add(2*time.Minute))
					d.Observe(crashed(with(p, deleting), "app", t0.Add(2*time.Minute), "Error"), t0.Add(2*time.Minute))
				}
				return t0.Add(3 * time.Minute)
			},
			want:         counts{Pods: 3, ExpectedRestarts: 3},
			wantExpected: []string{"rollout"},
		},
		{
			name: "the old revision's restarts before the new revision count",
			run: func(d *Detector) time.Time {
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-old", Hash: "old", Number: 1, Created: t0.Add(-time.Hour)}, t0)
				var old []*Pod
				for i := range 4 {
					old = append(old, deployed(fmt.Sprintf("api-old-%d", i), "api", "old"))
					d.Observe(old[i], t0)
				}
				for _, p := range old[:2] {
					d.Observe(crashed(p, "app", t0.Add(time.Minute), "Error"), t0.Add(time.Minute))
				}
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-new", Hash: "new", Number: 2, Created: t0.Add(2 * time.Minute)}, t0.Add(2*time.Minute))
				return t0.Add(3 * time.Minute)
			},
			want: counts{Pods: 4, RestartedPods: 2, Restarts: 2},
		},
		{
			name: "a bad rollout: the new revision's restarts count",
			run: func(d *Detector) time.Time {
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-old", Hash: "old", Number: 1, Created: t0.Add(-time.Hour)}, t0)
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-new", Hash: "new", Number: 2, Created: t0}, t0)
				for i := range 3 {
					d.Observe(deployed(fmt.Sprintf("api-old-%d", i), "api", "old"), t0)
					p := deployed(fmt.Sprintf("api-new-%d", i), "api", "new")
					d.Observe(p, t0)
					d.Observe(crashed(p, "app", t0.Add(time.Minute), "Error"), t0.Add(time.Minute))
				}
				return t0.Add(2 * time.Minute)
			},
			want: counts{Pods: 6, RestartedPods: 3, Restarts: 3},
		},
		{
			name: "a rollback: the revision rolled back to becomes the newest when its number rises",
			run: func(d *Detector) time.Time {
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-good", Hash: "good", Number: 1, Created: t0.Add(-time.Hour)}, t0)
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-bad", Hash: "bad", Number: 2, Created: t0}, t0)
				bad := deployed("api-bad-0", "api", "bad")
				d.Observe(bad, t0)
				bad = crashed(bad, "app", t0.Add(time.Minute), "Error") // counts: bad is the newest
				d.Observe(bad, t0.Add(time.Minute))
				d.SetRevision(Revision{Namespace: "shop", Deployment: "api", Name: "api-good", Hash: "good", Number: 3, Created: t0.Add(-time.Hour)}, t0.Add(2*time.Minute))
				d.Observe(crashed(bad, "app", t0.Add(3*time.Minute), "Error"), t0.Add(3*time.Minute)) // expected: rolled back
				for i := range 2 {
					d.Observe(deployed(fmt.Sprintf("api-good-%d", i), "api", "good"), t0.Add(3*time.Minute))
				}
				return t0.Add(4 * time.Minute)
			},
			want:         counts{Pods: 3, RestartedPods: 1, Restarts: 1, ExpectedRestarts: 1},
			wantExpected: []string{"rollout"},
		},
		{
			name: "an expected restart leaves the window like any other",
			run: func(d *Detector) time.Time {
				pods := populate(d, "shop", 4, t0)
				d.Observe(crashed(with(pods[0], evicted), "app", t0, "Error"), t0)
				return t0.Add(30*time.Minute + time.Second)
			},
			want: counts{Pods: 3},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			now := tc.run(d)
			dec := summarize(d, "shop", now)
			if diff := cmp.Diff(tc.want, countsOf(dec.Stats)); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			var reasons []string
			for _, e := range dec.Summary.Expected {
				reasons = append(reasons, e.Reason.String())
			}
			if diff := cmp.Diff(tc.wantExpected, reasons); diff != "" {
				t.Errorf("not counted (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEvictionStormIsNoAnomaly: a node under memory pressure evicts most of
// a namespace's pods, the kubelet reporting a restart of each as it kills
// them; the namespace is not in fault, and once genuine crashes open one,
// the evictions are its context.
func TestEvictionStormIsNoAnomaly(t *testing.T) {
	d := newTestDetector(testConfig())
	d.SetNode(Node{Name: "node-a", Conditions: NodeMemoryPressure})
	pods := populate(d, "shop", 10, t0)
	for _, p := range pods[:6] {
		p := with(p, func(p *Pod) { p.Node = "node-a" })
		d.Observe(p, t0)
		d.Observe(crashed(with(p, evicted), "app", t0.Add(time.Second), "OOMKilled"), t0.Add(time.Second))
	}
	if st, dec := d.Evaluate("shop", t0.Add(time.Minute)); dec != nil || st.RestartedPods != 0 || st.DisruptedPods != 6 {
		t.Fatalf("eviction storm: stats %+v, decision %v; want no decision, 0 restarted and 6 disrupted pods", st, dec)
	}
	crash(d, pods, t0.Add(2*time.Minute), 6, 7)
	_, dec := d.Evaluate("shop", t0.Add(2*time.Minute))
	if dec == nil || dec.Stats.RestartedPods != 2 || dec.Stats.Pods != 4 {
		t.Fatalf("decision %+v, want an anomaly of 2 restarted pods of 4", dec)
	}
	e := dec.Summary.Expected
	if len(e) != 1 || e[0].Reason != ExpectedEvicted || e[0].Pods != 6 || e[0].Restarts != 6 ||
		len(e[0].Nodes) != 1 || e[0].Nodes[0] != (Node{Name: "node-a", Conditions: NodeMemoryPressure}) {
		t.Errorf("not counted = %+v, want 6 pods evicted from node-a under MemoryPressure", e)
	}
}

func TestDepartureRingIsBounded(t *testing.T) {
	d := newTestDetector(testConfig())
	for i := range maxDepartures + 10 {
		p := pod("shop", fmt.Sprintf("p%d", i))
		d.Observe(p, t0)
		d.Observe(with(p, deleting), t0.Add(time.Duration(i)*time.Millisecond))
	}
	dec := summarize(d, "shop", t0.Add(time.Minute))
	if got := dec.Summary.Expected[0].Pods; got != maxDepartures {
		t.Errorf("%d departures remembered, want the bound %d", got, maxDepartures)
	}
	if dec := summarize(d, "shop", t0.Add(31*time.Minute)); len(dec.Summary.Expected) != 0 {
		t.Errorf("departures outside the window still reported: %+v", dec.Summary.Expected)
	}
}

// TestRevisionSeenAfterItsPods pins what happens when the pods of a
// Deployment revision reach the detector before their ReplicaSet, which
// comes through another watch: the namespace's fault waits, at most
// RevisionWait, to open or rise, so that the restarts are judged against
// the rollout.
func TestRevisionSeenAfterItsPods(t *testing.T) {
	rev := func(hash string, n int64, created time.Duration) *Revision {
		return &Revision{Namespace: "shop", Deployment: "api", Name: "api-" + hash, Hash: hash, Number: n, Created: t0.Add(created),
			Images: []ContainerImage{{Container: "app", Image: "api:" + hash}}}
	}
	type step struct {
		at          time.Duration // after t0
		observe     string        // observe a pod of this revision ("" none) ...
		crash       []int         // ... and crash these pods (0-3 old, 4-7 new, then the pods observed)
		setRevision *Revision     // seen at that instant
		wantSet     bool          // what SetRevision reports
		want        string        // the decision's kind, "" for none
		wantTrigger string        // the trigger's ReplicaSet, "" for none
	}
	for _, tc := range []struct {
		name  string
		wait  time.Duration
		steps []step
	}{
		{
			name: "the old revision's restarts wait for the new ReplicaSet, then are expected",
			wait: 10 * time.Second,
			steps: []step{
				{at: 2 * time.Second, crash: []int{0, 1}},
				{at: 3 * time.Second, setRevision: rev("new", 2, time.Second), wantSet: true},
				{at: 4 * time.Second},
			},
		},
		{
			name: "the new revision's restarts wait for its ReplicaSet, which is then their trigger",
			wait: 10 * time.Second,
			steps: []step{
				{at: 2 * time.Second, crash: []int{4, 5}},
				{at: 3 * time.Second, setRevision: rev("new", 2, time.Second), wantSet: true, want: "anomaly", wantTrigger: "api-new"},
			},
		},
		{
			name: "a ReplicaSet that never comes holds the fault RevisionWait only",
			wait: 10 * time.Second,
			steps: []step{
				{at: 2 * time.Second, crash: []int{4, 5}},
				{at: 10*time.Second + 999*time.Millisecond},
				{at: 11 * time.Second, want: "anomaly"},
			},
		},
		{
			name: "a rise waits for the ReplicaSet too",
			wait: 10 * time.Second,
			steps: []step{
				{at: 11 * time.Second, crash: []int{4, 5}, want: "anomaly"},                                              // 2 of 8: warning
				{at: 12 * time.Second, observe: "newest", crash: []int{8, 6}},                                            // 4 of 9: error, held
				{at: 13 * time.Second, setRevision: rev("newest", 3, 12*time.Second), wantSet: true, want: "escalation"}, // api restarted before it: no trigger
			},
		},
		{
			name: "without RevisionWait, the restarts are judged at once",
			steps: []step{
				{at: 2 * time.Second, crash: []int{0, 1}, want: "anomaly"},
				{at: 3 * time.Second, setRevision: rev("new", 2, time.Second), wantSet: true},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.RevisionWait = tc.wait
			d := newTestDetector(cfg)
			d.SetRevision(*rev("old", 1, -time.Hour), t0)
			// 4 pods of the old revision and 4 of the new one, whose
			// ReplicaSet is not seen, at t0+1s.
			var pods []*Pod
			observe := func(hash string, at time.Time) {
				p := deployed(fmt.Sprintf("api-%s-%d", hash, len(pods)), "api", hash)
				d.Observe(p, at)
				pods = append(pods, p)
			}
			for i := range 8 {
				observe(map[bool]string{true: "old", false: "new"}[i < 4], t0.Add(time.Second))
			}
			for _, s := range tc.steps {
				now := t0.Add(s.at)
				if s.observe != "" {
					observe(s.observe, now)
				}
				for _, i := range s.crash {
					d.Observe(crashed(pods[i], "app", now, "Error"), now)
				}
				if s.setRevision != nil {
					if got := d.SetRevision(*s.setRevision, now); got != s.wantSet {
						t.Errorf("at %v: SetRevision = %v, want %v", s.at, got, s.wantSet)
					}
				}
				_, dec := d.Evaluate("shop", now)
				got, trigger := "", ""
				if dec != nil {
					got = dec.Kind.String()
					if dec.Summary.Trigger != nil {
						trigger = dec.Summary.Trigger.Revision.Name
					}
				}
				if got != s.want || trigger != s.wantTrigger {
					t.Errorf("at %v: decision %q with trigger %q, want %q with %q", s.at, got, trigger, s.want, s.wantTrigger)
				}
			}
		})
	}
}
