package detect

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func testConfig() Config {
	return Config{
		Window:           30 * time.Minute,
		RecoverAfter:     30 * time.Second,
		Silence:          30 * time.Minute,
		MinPods:          3,
		MinRestartedPods: 2,
		RatioWarning:     0.1,
		RatioError:       0.3,
		RatioCritical:    0.5,
	}
}

// newTestDetector returns a detector whose event IDs count up: event-1, event-2...
func newTestDetector(cfg Config) *Detector {
	n := 0
	cfg.NewID = func() string { n++; return fmt.Sprintf("event-%d", n) }
	return New(cfg)
}

// pod returns a running pod with one app container "app".
func pod(ns, name string) *Pod {
	return &Pod{
		UID: "uid-" + ns + "-" + name, Namespace: ns, Name: name, Node: "node-1", Phase: "Running",
		Containers: []Container{{Name: "app", Type: ContainerApp, ContainerID: "containerd://" + name + "-0", State: StateRunning}},
	}
}

// crashed returns a copy of p whose container c restarted once more, its
// previous run having terminated at finished.
func crashed(p *Pod, c string, finished time.Time, reason string) *Pod {
	q := *p
	q.Containers = append([]Container(nil), p.Containers...)
	for i := range q.Containers {
		k := &q.Containers[i]
		if k.Name != c {
			continue
		}
		k.Last = Termination{ContainerID: k.ContainerID, Reason: reason, ExitCode: 1, FinishedAt: finished}
		k.RestartCount++
		k.ContainerID = fmt.Sprintf("containerd://%s-%s-%d", p.Name, c, k.RestartCount)
		k.State, k.StateReason = StateWaiting, "CrashLoopBackOff"
	}
	return &q
}

// populate adds n running pods named p0..p(n-1) to ns at now.
func populate(d *Detector, ns string, n int, now time.Time) []*Pod {
	pods := make([]*Pod, n)
	for i := range pods {
		pods[i] = pod(ns, fmt.Sprintf("p%d", i))
		d.Observe(pods[i], now)
	}
	return pods
}

// crash makes pods[i] restart at at for each i in idx, observed at at.
func crash(d *Detector, pods []*Pod, at time.Time, idx ...int) {
	for _, i := range idx {
		pods[i] = crashed(pods[i], "app", at, "Error")
		d.Observe(pods[i], at)
	}
}

func TestWindowEdges(t *testing.T) {
	for _, tc := range []struct {
		name          string
		after         time.Duration
		wantRestarted int
	}{
		{"29m59s inside", 29*time.Minute + 59*time.Second, 2},
		{"30m inside", 30 * time.Minute, 2},
		{"30m01s outside", 30*time.Minute + time.Second, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			pods := populate(d, "shop", 10, t0.Add(-time.Hour))
			crash(d, pods, t0, 0, 1)
			st, _ := d.Evaluate("shop", t0.Add(tc.after))
			if st.RestartedPods != tc.wantRestarted {
				t.Errorf("restarted pods = %d, want %d", st.RestartedPods, tc.wantRestarted)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		pods      int
		restarted int
		want      Level
	}{
		{"below min restarted pods", 5, 1, LevelNone},
		{"below min pods", 2, 2, LevelNone},
		{"at min pods", 3, 2, LevelCritical},
		{"just below warning", 21, 2, LevelNone},
		{"exactly warning", 20, 2, LevelWarning},
		{"just below error", 11, 3, LevelWarning},
		{"exactly error", 10, 3, LevelError},
		{"just below critical", 11, 5, LevelError},
		{"exactly critical", 10, 5, LevelCritical},
		{"all", 4, 4, LevelCritical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			pods := populate(d, "shop", tc.pods, t0.Add(-time.Hour))
			idx := make([]int, tc.restarted)
			for i := range idx {
				idx[i] = i
			}
			crash(d, pods, t0, idx...)
			st, dec := d.Evaluate("shop", t0)
			if st.Level != tc.want {
				t.Errorf("level = %v, want %v (stats %+v)", st.Level, tc.want, st)
			}
			if (dec != nil) != (tc.want != LevelNone) {
				t.Fatalf("decision = %+v, want one only for an anomaly", dec)
			}
			if dec != nil && (dec.Kind != KindAnomaly || dec.Level != tc.want || dec.Fault.ID != dec.EventID) {
				t.Errorf("decision kind %v level %v fault %q event %q, want an anomaly at %v whose fault ID is its event ID",
					dec.Kind, dec.Level, dec.Fault.ID, dec.EventID, tc.want)
			}
		})
	}
}

// step is one instant of a timeline: crash some pods, then evaluate.
type step struct {
	at    time.Duration // after t0
	crash []int
	// want is "" for no decision or "kind level id fault" of the decision.
	want string
}

func runTimeline(t *testing.T, d *Detector, pods []*Pod, steps []step) {
	t.Helper()
	for _, s := range steps {
		now := t0.Add(s.at)
		crash(d, pods, now, s.crash...)
		_, dec := d.Evaluate("shop", now)
		got := ""
		if dec != nil {
			got = fmt.Sprintf("%v %v %s %s", dec.Kind, dec.Level, dec.EventID, dec.Fault.ID)
		}
		if got != s.want {
			t.Errorf("at %v: decision %q, want %q", s.at, got, s.want)
		}
	}
}

func TestFaultLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   func(*Config)
		steps []step
	}{
		{
			name: "anomaly, escalation, silence, recovery",
			steps: []step{
				{at: 0, crash: []int{0, 1}, want: "anomaly warning event-1 event-1"},
				{at: time.Minute},
				{at: 2 * time.Minute, crash: []int{2}, want: "escalation error event-2 event-1"},
				{at: 3 * time.Minute, crash: []int{3, 4}, want: "escalation critical event-3 event-1"},
				{at: 10 * time.Minute},
				// Restarts at 0 and 2m leave the window; 3 of 10 remain: lower, so quiet.
				{at: 32*time.Minute + time.Second},
				// All out of the window: clear, held for RecoverAfter.
				{at: 33*time.Minute + time.Second},
				{at: 33*time.Minute + 30*time.Second},
				{at: 33*time.Minute + 31*time.Second, want: "recovery ok event-4 event-1"},
				{at: 34 * time.Minute},
			},
		},
		{
			name: "reminder after silence at the current level",
			steps: []step{
				{at: 0, crash: []int{0, 1, 2}, want: "anomaly error event-1 event-1"},
				{at: 20 * time.Minute, crash: []int{0}},
				{at: 29*time.Minute + 59*time.Second},
				// 0, 1, 2 restarted at 0 (30m ago, still inside), 0 again at 20m.
				{at: 30 * time.Minute, want: "reminder error event-2 event-1"},
				// 1 and 2 leave the window, 0 alone: below min restarted pods.
				{at: 30*time.Minute + time.Second},
				{at: 30*time.Minute + 31*time.Second, want: "recovery ok event-3 event-1"},
			},
		},
		{
			name: "no reminder with silence 0",
			cfg:  func(c *Config) { c.Silence = 0 },
			steps: []step{
				{at: 0, crash: []int{0, 1}, want: "anomaly warning event-1 event-1"},
				{at: 10 * time.Minute, crash: []int{0, 1}},
				{at: 29 * time.Minute, crash: []int{0, 1}},
			},
		},
		{
			name: "a lower level, then a rise below the reported level, stays quiet",
			cfg:  func(c *Config) { c.Silence = 2 * time.Hour },
			steps: []step{
				{at: 0, crash: []int{0, 1, 2, 3, 4}, want: "anomaly critical event-1 event-1"},
				{at: 20 * time.Minute, crash: []int{5, 6}},
				{at: 30*time.Minute + time.Second},
				{at: 31 * time.Minute, crash: []int{7}},
			},
		},
		{
			name: "a dip shorter than the hold does not recover",
			cfg:  func(c *Config) { c.Silence = 2 * time.Hour },
			steps: []step{
				{at: 0, crash: []int{0, 1}, want: "anomaly warning event-1 event-1"},
				{at: 30*time.Minute + time.Second},
				{at: 30*time.Minute + 20*time.Second, crash: []int{2, 3}},
				{at: 31 * time.Minute},
				{at: 60 * time.Minute},
				{at: 60*time.Minute + 21*time.Second},
				{at: 60*time.Minute + 50*time.Second},
				{at: 60*time.Minute + 51*time.Second, want: "recovery ok event-2 event-1"},
			},
		},
		{
			name: "a new fault after recovery gets a new fault ID",
			steps: []step{
				{at: 0, crash: []int{0, 1}, want: "anomaly warning event-1 event-1"},
				{at: 31 * time.Minute},
				{at: 32 * time.Minute, want: "recovery ok event-2 event-1"},
				{at: 40 * time.Minute, crash: []int{2, 3}, want: "anomaly warning event-3 event-3"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			d := newTestDetector(cfg)
			pods := populate(d, "shop", 10, t0.Add(-time.Hour))
			runTimeline(t, d, pods, tc.steps)
		})
	}
}

func TestRecoveryCarriesTheFault(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := populate(d, "shop", 10, t0.Add(-time.Hour))
	crash(d, pods, t0, 0, 1, 2)
	d.Evaluate("shop", t0)
	crash(d, pods, t0.Add(5*time.Minute), 3, 4)
	d.Evaluate("shop", t0.Add(5*time.Minute))
	d.Evaluate("shop", t0.Add(36*time.Minute))
	_, dec := d.Evaluate("shop", t0.Add(37*time.Minute))
	if dec == nil {
		t.Fatal("no recovery")
	}
	want := Fault{ID: "event-1", Namespace: "shop", Start: t0, Level: LevelNone, MaxLevel: LevelCritical,
		LastEvent: t0.Add(37 * time.Minute), ClearSince: t0.Add(36 * time.Minute),
		History: History{
			Peak:     Peak{At: t0.Add(5 * time.Minute), Level: LevelCritical, Ratio: 0.5, RestartedPods: 5, Pods: 10},
			Restarts: 5,
			Causes:   []HistoryCause{{CauseKey: CauseKey{CauseError, 1}, Restarts: 5, Workloads: []WorkloadRestarts{{Owner{}, 5}}}},
			Through:  t0.Add(37 * time.Minute),
		}}
	if diff := cmp.Diff(want, dec.Fault); diff != "" {
		t.Errorf("recovery fault (-want +got):\n%s", diff)
	}
	if dec.Previous != LevelCritical || dec.Duration() != 37*time.Minute {
		t.Errorf("previous %v duration %v, want critical 37m", dec.Previous, dec.Duration())
	}
	if got := d.Faults(); len(got) != 0 {
		t.Errorf("open faults after recovery: %+v", got)
	}
}

// observeAll observes each pod at now and returns the namespace's stats.
func statsAfter(d *Detector, now time.Time, pods ...*Pod) Stats {
	for _, p := range pods {
		d.Observe(p, now)
	}
	st, _ := d.Evaluate("shop", now)
	st.Level, st.Fault = 0, false
	return st
}

func TestWhichPodsCount(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(d *Detector) Stats
		want Stats
	}{
		{
			name: "running pods count, restarted or not",
			run: func(d *Detector) Stats {
				return statsAfter(d, t0, pod("shop", "a"), crashed(pod("shop", "b"), "app", t0, "Error"))
			},
			want: Stats{Namespace: "shop", Pods: 2, RestartedPods: 1, Restarts: 1, Ratio: 0.5},
		},
		{
			name: "finished pods without restarts do not count",
			run: func(d *Detector) Stats {
				done := pod("shop", "job")
				done.Phase = "Succeeded"
				failed := pod("shop", "failed")
				failed.Phase = "Failed"
				return statsAfter(d, t0, pod("shop", "a"), done, failed)
			},
			want: Stats{Namespace: "shop", Pods: 1},
		},
		{
			name: "a finished pod that restarted inside the window counts",
			run: func(d *Detector) Stats {
				p := crashed(pod("shop", "job"), "app", t0.Add(-time.Minute), "Error")
				p.Phase = "Failed"
				return statsAfter(d, t0, pod("shop", "a"), p)
			},
			want: Stats{Namespace: "shop", Pods: 2, RestartedPods: 1, Restarts: 1, Ratio: 0.5},
		},
		{
			name: "a pod deleted without restarts leaves at once",
			run: func(d *Detector) Stats {
				a, b := pod("shop", "a"), pod("shop", "b")
				d.Observe(a, t0)
				d.Observe(b, t0)
				d.Delete("shop", b.UID, t0.Add(time.Minute))
				return statsAfter(d, t0.Add(time.Minute))
			},
			want: Stats{Namespace: "shop", Pods: 1},
		},
		{
			name: "a pod deleted after restarting counts until its restarts leave the window",
			run: func(d *Detector) Stats {
				a, b := pod("shop", "a"), pod("shop", "b")
				d.Observe(a, t0)
				d.Observe(b, t0)
				d.Observe(crashed(b, "app", t0.Add(time.Minute), "OOMKilled"), t0.Add(time.Minute))
				d.Delete("shop", b.UID, t0.Add(2*time.Minute))
				return statsAfter(d, t0.Add(31*time.Minute))
			},
			want: Stats{Namespace: "shop", Pods: 2, RestartedPods: 1, Restarts: 1, Ratio: 0.5},
		},
		{
			name: "and is forgotten after",
			run: func(d *Detector) Stats {
				a, b := pod("shop", "a"), pod("shop", "b")
				d.Observe(a, t0)
				d.Observe(b, t0)
				d.Observe(crashed(b, "app", t0.Add(time.Minute), "OOMKilled"), t0.Add(time.Minute))
				d.Delete("shop", b.UID, t0.Add(2*time.Minute))
				return statsAfter(d, t0.Add(31*time.Minute+time.Second))
			},
			want: Stats{Namespace: "shop", Pods: 1},
		},
		{
			name: "a pod recreated under the same name is a new pod",
			run: func(d *Detector) Stats {
				old := crashed(pod("shop", "a"), "app", t0, "Error")
				d.Observe(old, t0)
				d.Delete("shop", old.UID, t0.Add(time.Minute))
				fresh := pod("shop", "a")
				fresh.UID = "uid-2"
				return statsAfter(d, t0.Add(time.Minute), fresh)
			},
			want: Stats{Namespace: "shop", Pods: 2, RestartedPods: 1, Restarts: 1, Ratio: 0.5},
		},
		{
			// It left the watch (its labels stopped matching the
			// selector) and came back with the same UID.
			name: "a pod observed again after its deletion counts its new restarts",
			run: func(d *Detector) Stats {
				a, b := pod("shop", "a"), pod("shop", "b")
				d.Observe(a, t0)
				b1 := crashed(b, "app", t0, "Error")
				d.Observe(b1, t0)
				d.Delete("shop", b.UID, t0.Add(time.Minute))
				return statsAfter(d, t0.Add(31*time.Minute), crashed(b1, "app", t0.Add(2*time.Minute), "Error"))
			},
			want: Stats{Namespace: "shop", Pods: 2, RestartedPods: 1, Restarts: 1, Ratio: 0.5},
		},
		{
			name: "pods being deleted do not count",
			run: func(d *Detector) Stats {
				p := pod("shop", "a")
				p.Deleting = true
				return statsAfter(d, t0, p, pod("shop", "b"))
			},
			want: Stats{Namespace: "shop", Pods: 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.run(newTestDetector(testConfig()))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRestartCounting(t *testing.T) {
	withContainers := func(p *Pod, cs ...Container) *Pod {
		p.Containers = cs
		return p
	}
	initC := Container{Name: "init", Type: ContainerInit, ContainerID: "containerd://init-0", State: StateRunning}
	sidecar := Container{Name: "proxy", Type: ContainerSidecar, ContainerID: "containerd://proxy-0", State: StateRunning}
	app := Container{Name: "app", Type: ContainerApp, ContainerID: "containerd://app-0", State: StateRunning}
	for _, tc := range []struct {
		name string
		// observations in order, each at t0 + its index minutes
		obs          func() []*Pod
		wantRestarts int
	}{
		{
			name:         "unchanged updates never count",
			obs:          func() []*Pod { p := pod("shop", "a"); return []*Pod{p, p, pod("shop", "a")} },
			wantRestarts: 0,
		},
		{
			name: "one restart, observed twice",
			obs: func() []*Pod {
				p := pod("shop", "a")
				c := crashed(p, "app", t0.Add(time.Minute), "Error")
				return []*Pod{p, c, c}
			},
			wantRestarts: 1,
		},
		{
			name: "restartCount jumping by three counts three",
			obs: func() []*Pod {
				p := pod("shop", "a")
				c := crashed(p, "app", t0.Add(time.Minute), "Error")
				c.Containers[0].RestartCount = 3
				return []*Pod{p, c}
			},
			wantRestarts: 3,
		},
		{
			name: "restartCount first, termination later: one restart",
			obs: func() []*Pod {
				p := pod("shop", "a")
				rc := *p
				rc.Containers = []Container{p.Containers[0]}
				rc.Containers[0].RestartCount = 1
				return []*Pod{p, &rc, crashed(p, "app", t0.Add(time.Minute), "Error")}
			},
			wantRestarts: 1,
		},
		{
			name: "restartCount reset with a new termination: one restart",
			obs: func() []*Pod {
				p := crashed(crashed(pod("shop", "a"), "app", t0.Add(-2*time.Hour), "Error"), "app", t0.Add(-time.Hour), "Error")
				reset := crashed(p, "app", t0.Add(time.Minute), "Error")
				reset.Containers[0].RestartCount = 0
				return []*Pod{p, reset}
			},
			wantRestarts: 1,
		},
		{
			name: "restartCount reset without a termination: nothing",
			obs: func() []*Pod {
				p := crashed(pod("shop", "a"), "app", t0.Add(-time.Hour), "Error")
				reset := *p
				reset.Containers = []Container{p.Containers[0]}
				reset.Containers[0].RestartCount = 0
				return []*Pod{p, &reset}
			},
			wantRestarts: 0,
		},
		{
			name: "init and sidecar containers count",
			obs: func() []*Pod {
				p := withContainers(pod("shop", "a"), initC, sidecar, app)
				q := crashed(crashed(p, "init", t0.Add(time.Minute), "Error"), "proxy", t0.Add(time.Minute), "OOMKilled")
				return []*Pod{p, q}
			},
			wantRestarts: 2,
		},
		{
			name: "first sight rebuilds the window from the last termination",
			obs: func() []*Pod {
				p := withContainers(pod("shop", "a"), initC, sidecar, app)
				p = crashed(p, "proxy", t0.Add(-10*time.Minute), "OOMKilled")
				p = crashed(p, "app", t0.Add(-40*time.Minute), "Error") // before the window
				return []*Pod{p}
			},
			wantRestarts: 1,
		},
		{
			name: "a termination dated in the future counts now",
			obs: func() []*Pod {
				p := pod("shop", "a")
				return []*Pod{p, crashed(p, "app", t0.Add(time.Hour), "Error")}
			},
			wantRestarts: 1,
		},
		{
			name: "an ephemeral container added later starts its history then",
			obs: func() []*Pod {
				p := pod("shop", "a")
				q := *p
				q.Containers = append(append([]Container(nil), p.Containers...),
					Container{Name: "debug", Type: ContainerEphemeral, RestartCount: 2, Last: Termination{ContainerID: "x", FinishedAt: t0}})
				return []*Pod{p, &q}
			},
			wantRestarts: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			obs := tc.obs()
			for i, p := range obs {
				d.Observe(p, t0.Add(time.Duration(i)*time.Minute))
			}
			st, _ := d.Evaluate("shop", t0.Add(time.Duration(len(obs))*time.Minute))
			if st.Restarts != tc.wantRestarts {
				t.Errorf("restarts = %d, want %d", st.Restarts, tc.wantRestarts)
			}
		})
	}
}

func TestRedatedRestart(t *testing.T) {
	d := newTestDetector(testConfig())
	p := pod("shop", "a")
	d.Observe(p, t0)
	rc := *p
	rc.Containers = []Container{p.Containers[0]}
	rc.Containers[0].RestartCount = 1
	d.Observe(&rc, t0.Add(40*time.Minute)) // counted "now"
	d.Observe(crashed(p, "app", t0.Add(39*time.Minute), "Error"), t0.Add(41*time.Minute))
	// Dated 39m, the restart leaves the window at 69m, not 70m.
	if st, _ := d.Evaluate("shop", t0.Add(69*time.Minute+time.Second)); st.Restarts != 0 {
		t.Errorf("restarts = %d, want the restart dated by its termination and out of the window", st.Restarts)
	}
}

func TestObserveReportsWhatNeedsEvaluation(t *testing.T) {
	d := newTestDetector(testConfig())
	p := pod("shop", "a")
	steps := []struct {
		name string
		pod  *Pod
		want bool
	}{
		{"new pod", p, true},
		{"same pod", p, false},
		{"ready flips", func() *Pod {
			q := *p
			q.Containers = []Container{p.Containers[0]}
			q.Containers[0].Ready = true
			return &q
		}(), false},
		{"restart", crashed(p, "app", t0, "Error"), true},
		{"deleting", func() *Pod { q := *crashed(p, "app", t0, "Error"); q.Deleting = true; return &q }(), true},
	}
	for _, s := range steps {
		if got := d.Observe(s.pod, t0); got != s.want {
			t.Errorf("%s: Observe = %v, want %v", s.name, got, s.want)
		}
	}
	if !d.Delete("shop", p.UID, t0) || d.Delete("shop", p.UID, t0) || d.Delete("other", "x", t0) {
		t.Error("Delete should report a change exactly once, for a known pod")
	}
}

func TestReportedPods(t *testing.T) {
	cfg := testConfig()
	cfg.MaxReportedPods = 2
	d := newTestDetector(cfg)
	pods := populate(d, "shop", 10, t0.Add(-time.Hour))
	crash(d, pods, t0, 0, 1, 2)
	crash(d, pods, t0.Add(time.Minute), 2, 1)
	_, dec := d.Evaluate("shop", t0.Add(time.Minute))
	if dec == nil {
		t.Fatal("no anomaly")
	}
	var got []string
	for _, r := range dec.Pods {
		got = append(got, fmt.Sprintf("%s %d %v %v", r.Pod.Name, r.Restarts, r.ContainerRestarts, r.LastRestart.Sub(t0)))
	}
	want := []string{"p1 2 [2] 1m0s", "p2 2 [2] 1m0s"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reported pods (-want +got):\n%s", diff)
	}
	if dec.OmittedPods != 1 {
		t.Errorf("omitted = %d, want 1", dec.OmittedPods)
	}
}

func TestRestoredFaultKeepsItsID(t *testing.T) {
	restored := Fault{ID: "event-old", Namespace: "shop", Start: t0.Add(-10 * time.Minute), Level: LevelWarning,
		MaxLevel: LevelWarning, LastEvent: t0.Add(-10 * time.Minute)}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{
			name: "still abnormal: no second anomaly",
			steps: []step{
				{at: 0, crash: []int{0, 1}},
				{at: time.Minute, crash: []int{2, 3}, want: "escalation error event-1 event-old"},
			},
		},
		{
			name: "over while the agent was away: recovery",
			steps: []step{
				{at: 0},
				{at: 30 * time.Second, want: "recovery ok event-1 event-old"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			d.RestoreFaults([]Fault{restored})
			pods := populate(d, "shop", 10, t0.Add(-time.Hour))
			runTimeline(t, d, pods, tc.steps)
		})
	}
}

func TestEvaluateAll(t *testing.T) {
	d := newTestDetector(testConfig())
	a := populate(d, "a", 4, t0)
	populate(d, "b", 3, t0)
	crash(d, a, t0, 0, 1)
	gone := pod("c", "x")
	d.Observe(gone, t0)
	d.Delete("c", gone.UID, t0)

	stats, decs := d.EvaluateAll(t0)
	var got []string
	for _, s := range stats {
		got = append(got, fmt.Sprintf("%s %d/%d %v", s.Namespace, s.RestartedPods, s.Pods, s.Fault))
	}
	if diff := cmp.Diff([]string{"a 2/4 true", "b 0/3 false"}, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if len(decs) != 1 || decs[0].Stats.Namespace != "a" || !decs[0].Stats.Fault {
		t.Errorf("decisions = %+v, want one anomaly for a", decs)
	}
}

func TestConfigValidate(t *testing.T) {
	good := testConfig()
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	bad := Config{RatioWarning: 0.5, RatioError: 0.3, RatioCritical: 2, Silence: -1, RevisionWait: -1}
	err := bad.Validate()
	for _, want := range []string{"window", "recover-after", "silence", "revision wait", "min pods", "ratios"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %q", err, want)
		}
	}
}

func TestNewEventID(t *testing.T) {
	a, b := NewEventID(), NewEventID()
	if a == b || len(a) != len("event-")+32 || !strings.HasPrefix(a, "event-") {
		t.Errorf("NewEventID() = %q, %q: want distinct event-<32 hex>", a, b)
	}
}

// TestStandardLibraryOnly keeps detect free of Kubernetes and every other
// module: it is the part anyone must be able to read and test alone.
func TestStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if diff := cmp.Diff([]string{"github.com/k8s-pod-restart/k8s-pod-restart/detect"}, deps); diff != "" {
		t.Errorf("detect's non-standard dependencies (-want +got):\n%s", diff)
	}
}
