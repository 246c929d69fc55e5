package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// oomStorm builds the example: deployment checkout, 10 pods, 7
// OOMKilled with a 256Mi limit and 2 failing with exit code 1, most on
// node-a, which reports MemoryPressure.
func oomStorm(d *Detector) {
	d.SetNode(Node{Name: "node-a", Conditions: NodeMemoryPressure})
	d.SetNode(Node{Name: "node-b"})
	for i := range 10 {
		p := deployed(fmt.Sprintf("checkout-%d", i), "checkout", "h1")
		p.Node = "node-a"
		if i >= 6 {
			p.Node = "node-b"
		}
		p.Containers[0].Resources.MemoryLimit = "256Mi"
		d.Observe(p, t0)
		switch {
		case i < 7:
			d.Observe(crashed(p, "app", t0.Add(time.Duration(i)*time.Second), "OOMKilled"), t0.Add(time.Minute))
		case i < 9:
			d.Observe(crashed(p, "app", t0.Add(time.Duration(i)*time.Second), "Error"), t0.Add(time.Minute))
		}
	}
}

func TestSummary(t *testing.T) {
	d := newTestDetector(testConfig())
	oomStorm(d)
	dec := summarize(d, "shop", t0.Add(2*time.Minute))
	s := dec.Summary
	checkout := Owner{Kind: "Deployment", Name: "checkout"}
	want := Summary{
		Restarts: 9,
		Causes: []CauseStat{
			{CauseKey: CauseKey{CauseOOMKilled, 1}, Restarts: 7, Pods: 7, Workloads: []Owner{checkout}, Containers: []string{"app"}, MemoryLimits: []string{"256Mi"}},
			{CauseKey: CauseKey{CauseError, 1}, Restarts: 2, Pods: 2, Workloads: []Owner{checkout}, Containers: []string{"app"}, MemoryLimits: []string{"256Mi"}},
		},
		Workloads: []WorkloadStat{{Owner: checkout, RestartedPods: 9, Restarts: 9}},
		Nodes: []NodeStat{
			{Node: Node{Name: "node-a", Conditions: NodeMemoryPressure}, RestartedPods: 6, Restarts: 6},
			{Node: Node{Name: "node-b"}, RestartedPods: 3, Restarts: 3},
		},
		NodeConcentration: true,
	}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	if got := s.Share(s.Dominant()); got != 7.0/9 {
		t.Errorf("dominant share %v, want 7/9", got)
	}
}

func TestNodeConcentration(t *testing.T) {
	for _, tc := range []struct {
		name  string
		nodes []string // of the restarted pods
		known int      // nodes the cluster has
		want  bool
	}{
		{"most on one node of several", []string{"a", "a", "a", "b"}, 2, true},
		{"half is not most", []string{"a", "a", "b", "b"}, 2, false},
		{"a one-node cluster", []string{"a", "a", "a"}, 1, false},
		{"all on one node of many", []string{"a", "a", "a"}, 5, true},
		{"a single restarted pod", []string{"a"}, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			for i := range tc.known {
				d.SetNode(Node{Name: string(rune('a' + i))})
			}
			for i, n := range tc.nodes {
				p := pod("shop", fmt.Sprintf("p%d", i))
				p.Node = n
				d.Observe(p, t0)
				d.Observe(crashed(p, "app", t0, "Error"), t0)
			}
			if got := summarize(d, "shop", t0).Summary.NodeConcentration; got != tc.want {
				t.Errorf("concentration %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTrigger(t *testing.T) {
	old := Revision{Namespace: "shop", Deployment: "api", Name: "api-h1", Hash: "h1", Number: 1, Created: t0.Add(-24 * time.Hour),
		Images: []ContainerImage{{"migrate", "reg/migrate:1"}, {"app", "reg/api:1.4.2"}}}
	for _, tc := range []struct {
		name    string
		created time.Duration // the new revision's creation, after t0
		images  []ContainerImage
		crashes string // hash of the crashing pods
		want    *Change
	}{
		{
			name: "a new image rolled out a minute before the restarts", created: -time.Minute,
			images: []ContainerImage{{"migrate", "reg/migrate:1"}, {"app", "reg/api:1.5.0"}}, crashes: "h2",
			want: &Change{Images: []ImageChange{{Container: "app", From: "reg/api:1.4.2", To: "reg/api:1.5.0"}}},
		},
		{
			name: "a template change without a new image", created: -time.Minute,
			images: old.Images, crashes: "h2", want: &Change{},
		},
		{
			name: "a new container", created: -time.Minute,
			images: append(append([]ContainerImage(nil), old.Images...), ContainerImage{"proxy", "reg/proxy:2"}), crashes: "h2",
			want: &Change{Images: []ImageChange{{Container: "proxy", To: "reg/proxy:2"}}},
		},
		{name: "the revision came after the restarts", created: 10 * time.Minute, crashes: "h1"},
		{name: "the revision is older than the window", created: -2 * time.Hour, crashes: "h2"},
		{name: "only the old revision's pods restart", created: -time.Minute, crashes: "h1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			d.SetRevision(old, t0.Add(-time.Hour))
			created := t0.Add(tc.created)
			nr := Revision{Namespace: "shop", Deployment: "api", Name: "api-h2", Hash: "h2", Number: 2, Created: created, Images: tc.images}
			if tc.created < 0 {
				d.SetRevision(nr, created)
			}
			for i := range 3 {
				p := deployed(fmt.Sprintf("api-%s-%d", tc.crashes, i), "api", tc.crashes)
				d.Observe(p, t0)
				d.Observe(crashed(p, "app", t0.Add(time.Duration(i)*time.Second), "Error"), t0.Add(time.Second))
			}
			if tc.created >= 0 {
				d.SetRevision(nr, created)
			}
			got := summarize(d, "shop", t0.Add(time.Minute)).Summary.Trigger
			if tc.want != nil {
				tc.want.Workload = Owner{Kind: "Deployment", Name: "api", Revision: "h2"}
				tc.want.Revision = nr
				tc.want.Previous = &old
				tc.want.Since = created
				tc.want.FirstRestart = t0
				tc.want.RestartedPods, tc.want.WorkloadRestartedPods = 3, 3
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("trigger (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPodEvents(t *testing.T) {
	d := newTestDetector(testConfig())
	p := pod("shop", "a")
	d.Observe(p, t0)
	d.PodEvent("shop", "unknown-uid", Event{Name: "x", Reason: "BackOff"})
	d.PodEvent("other", p.UID, Event{Name: "x", Reason: "BackOff"})
	for i := range MaxPodEvents + 4 {
		d.PodEvent("shop", p.UID, Event{Name: fmt.Sprintf("e%d", i), Reason: fmt.Sprintf("R%d", i), Count: 1, LastSeen: t0.Add(time.Duration(i) * time.Second)})
	}
	// An update of an event replaces it, and two events alike merge.
	d.PodEvent("shop", p.UID, Event{Name: "e11", Reason: "R11", Count: 5, LastSeen: t0.Add(time.Minute)})
	d.PodEvent("shop", p.UID, Event{Name: "e12", Reason: "R11", Count: 2, LastSeen: t0.Add(30 * time.Second)})

	d.mu.Lock()
	got := d.namespaces["shop"].podEvents(p.UID)
	unknown := len(d.namespaces["shop"].events)
	d.mu.Unlock()
	if len(got) != MaxPodEvents-1 || got[0].Reason != "R11" || got[0].Count != 7 || !got[0].LastSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("events %+v, want %d merged events, R11 (7 times) first", got, MaxPodEvents-1)
	}
	if unknown != 1 {
		t.Errorf("events kept for %d pods, want only the known one", unknown)
	}

	d.Delete("shop", p.UID, t0.Add(2*time.Minute))
	d.mu.Lock()
	left := len(d.namespaces["shop"].events)
	d.mu.Unlock()
	if left != 0 {
		t.Errorf("events of a deleted pod kept")
	}
}
