package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The helpers below write a container's status as the kubelet does, in
// detect's types (test/kubesim does the same through the API): one crash
// reaches the API server as three writes (convertToAPIContainerStatuses in
// pkg/kubelet/kubelet_pods.go).

// edit returns a copy of p with container name changed by f.
func edit(p *Pod, name string, f func(c *Container)) *Pod {
	q := *p
	q.Containers = append([]Container(nil), p.Containers...)
	for i := range q.Containers {
		if q.Containers[i].Name == name {
			f(&q.Containers[i])
		}
	}
	return &q
}

// exited is write 1: the container is terminated; restartCount and
// lastState are unchanged.
func exited(p *Pod, name string, at time.Time, reason string, exit int32) *Pod {
	return edit(p, name, func(c *Container) {
		c.State, c.StateReason, c.StateMessage, c.StateSince, c.StateExitCode = StateTerminated, reason, "", at, exit
		c.Ready = false
	})
}

// backedOff is write 2: the termination moves to lastState, the container
// waits in CrashLoopBackOff under the dead container's ID; restartCount is
// still the dead container's.
func backedOff(p *Pod, name string) *Pod {
	return edit(p, name, func(c *Container) {
		c.Last = Termination{ContainerID: c.ContainerID, Reason: c.StateReason, ExitCode: c.StateExitCode, FinishedAt: c.StateSince}
		c.State, c.StateReason, c.StateSince, c.StateExitCode = StateWaiting, "CrashLoopBackOff", time.Time{}, 0
	})
}

// restarted is write 3: the next container runs, restartCount + 1,
// lastState unchanged (the previous write's, or write 1's termination when
// there was no back-off).
func restarted(p *Pod, name string, at time.Time) *Pod {
	return edit(p, name, func(c *Container) {
		if c.State == StateTerminated {
			c.Last = Termination{ContainerID: c.ContainerID, Reason: c.StateReason, ExitCode: c.StateExitCode, FinishedAt: c.StateSince}
		}
		c.RestartCount++
		c.ContainerID = fmt.Sprintf("containerd://%s-%d", name, c.RestartCount)
		c.State, c.StateReason, c.StateSince, c.StateExitCode, c.Ready = StateRunning, "", at, 0, true
	})
}

// crashLoop returns the writes of one crash of container name of p at at:
// exited, back-off, running again 10s later.
func crashLoop(p *Pod, name string, at time.Time, reason string, exit int32) []*Pod {
	a := exited(p, name, at, reason, exit)
	b := backedOff(a, name)
	return []*Pod{a, b, restarted(b, name, at.Add(10*time.Second))}
}

// timed is one observation and when the agent sees it.
type timed struct {
	at  time.Time
	pod *Pod
}

// seq chains writes: each step builds on the last pod of the previous one
// and is seen at its own instant.
type seq struct {
	out  []timed
	last *Pod
}

func start(p *Pod, at time.Time) *seq { return &seq{out: []timed{{at, p}}, last: p} }

func (s *seq) then(at time.Time, pods ...*Pod) *seq {
	for _, p := range pods {
		s.out = append(s.out, timed{at, p})
		s.last = p
	}
	return s
}

// crash appends the three writes of a crash at at, seen at at, at+1s and
// at+10s.
func (s *seq) crash(name string, at time.Time, reason string, exit int32) *seq {
	w := crashLoop(s.last, name, at, reason, exit)
	return s.then(at, w[0]).then(at.Add(time.Second), w[1]).then(at.Add(10*time.Second), w[2])
}

func withInit(p *Pod) *Pod {
	q := *p
	q.Phase = "Pending"
	q.Containers = append([]Container{{Name: "init", Type: ContainerInit, RestartPolicy: RestartOnFailure,
		ContainerID: "containerd://init-0", State: StateRunning}}, p.Containers...)
	q.Containers[1].State, q.Containers[1].ContainerID, q.Containers[1].StateReason = StateWaiting, "", "PodInitializing"
	return &q
}

func withSidecar(p *Pod) *Pod {
	q := *p
	q.Containers = append([]Container{{Name: "proxy", Type: ContainerSidecar, ContainerID: "containerd://proxy-0",
		State: StateRunning}}, p.Containers...)
	return &q
}

// TestKubeletSequences feeds the status writes a real kubelet makes and
// checks the restarts counted, exactly.
func TestKubeletSequences(t *testing.T) {
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, tc := range []struct {
		name       string
		obs        func() []timed
		wantCount  int // restarts inside the window
		wantCauses map[string]int
	}{
		{
			name:       "one crash: exited, back-off, running",
			obs:        func() []timed { return start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "Error", 1).out },
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "three crashes",
			obs: func() []timed {
				return start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "Error", 1).
					crash("app", at(2*time.Minute), "Error", 1).crash("app", at(4*time.Minute), "Error", 1).out
			},
			wantCount:  3,
			wantCauses: map[string]int{"error": 3},
		},
		{
			name: "every write seen twice (resyncs, unrelated updates)",
			obs: func() []timed {
				s := start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "Error", 1)
				var out []timed
				for _, o := range s.out {
					out = append(out, o, o)
				}
				return out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "back-off write missed: exited, then running",
			obs: func() []timed {
				w := crashLoop(pod("shop", "a"), "app", at(time.Minute), "Error", 1)
				return start(pod("shop", "a"), at(0)).then(at(time.Minute), w[0]).then(at(2*time.Minute), w[2]).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "exited write missed: back-off, then running",
			obs: func() []timed {
				w := crashLoop(pod("shop", "a"), "app", at(time.Minute), "Error", 1)
				return start(pod("shop", "a"), at(0)).then(at(time.Minute), w[1]).then(at(2*time.Minute), w[2]).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "OOM kill",
			obs: func() []timed {
				return start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "OOMKilled", 137).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"oom_killed": 1},
		},
		{
			name: "liveness probe kill: exited 137, restarted without back-off",
			obs: func() []timed {
				p := pod("shop", "a")
				a := exited(p, "app", at(time.Minute), "Error", 137)
				return start(p, at(0)).then(at(time.Minute), a).then(at(time.Minute+time.Second), restarted(a, "app", at(time.Minute+time.Second))).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"signal": 1},
		},
		{
			name: "init container: Init:Error, Init:CrashLoopBackOff, running",
			obs: func() []timed {
				return start(withInit(pod("shop", "a")), at(0)).crash("init", at(time.Minute), "Error", 1).
					crash("init", at(2*time.Minute), "Error", 1).out
			},
			wantCount:  2,
			wantCauses: map[string]int{"init_container": 2},
		},
		{
			name: "init container completing does not restart",
			obs: func() []timed {
				p := withInit(pod("shop", "a"))
				return start(p, at(0)).then(at(time.Minute), exited(p, "init", at(time.Minute), "Completed", 0)).out
			},
			wantCount: 0,
		},
		{
			name: "restartable sidecar",
			obs: func() []timed {
				return start(withSidecar(pod("shop", "a")), at(0)).crash("proxy", at(time.Minute), "Error", 1).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "kubelet restart: count kept, lastState lost, then a crash",
			obs: func() []timed {
				s := start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "Error", 1)
				lost := edit(s.last, "app", func(c *Container) { c.Last = Termination{} })
				return s.then(at(3*time.Minute), lost).crash("app", at(4*time.Minute), "Error", 1).out
			},
			wantCount:  2,
			wantCauses: map[string]int{"error": 2},
		},
		{
			name: "dead container garbage-collected: lastState gone",
			obs: func() []timed {
				s := start(pod("shop", "a"), at(0)).crash("app", at(time.Minute), "Error", 1)
				return s.then(at(5*time.Minute), edit(s.last, "app", func(c *Container) { c.Last = Termination{} })).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "dead container garbage-collected in back-off: no container ID, lastState kept",
			obs: func() []timed {
				p := pod("shop", "a")
				w := crashLoop(p, "app", at(time.Minute), "Error", 1)
				gone := edit(w[1], "app", func(c *Container) { c.ContainerID = "" })
				return start(p, at(0)).then(at(time.Minute), w[0], w[1]).then(at(2*time.Minute), gone).
					then(at(3*time.Minute), edit(restarted(gone, "app", at(3*time.Minute)), "app", func(c *Container) { c.Last = Termination{} })).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "container that could not be located: ContainerStatusUnknown, restartCount + 1 at once",
			obs: func() []timed {
				p := pod("shop", "a")
				lost := edit(p, "app", func(c *Container) {
					c.Last = Termination{Reason: "ContainerStatusUnknown", ExitCode: 137}
					c.RestartCount++
					c.ContainerID, c.State, c.StateReason, c.StateSince = "", StateWaiting, "ContainerCreating", time.Time{}
				})
				again := edit(lost, "app", func(c *Container) {
					c.Last, c.ContainerID, c.State, c.StateReason, c.StateSince = Termination{}, "containerd://app-new", StateRunning, "", at(2*time.Minute)
				})
				return start(p, at(0)).then(at(time.Minute), lost).then(at(2*time.Minute), again).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"signal": 1},
		},
		{
			name: "node reboot: every container restarted in one write, exit 255 Unknown",
			obs: func() []timed {
				p := withSidecar(pod("shop", "a"))
				rebooted := exited(exited(p, "app", at(time.Minute), "Unknown", 255), "proxy", at(time.Minute), "Unknown", 255)
				rebooted = restarted(restarted(rebooted, "app", at(2*time.Minute)), "proxy", at(2*time.Minute))
				return start(p, at(0)).then(at(2*time.Minute), rebooted).out
			},
			wantCount:  2,
			wantCauses: map[string]int{"error": 2},
		},
		{
			name: "restartCount jumps past the terminations seen: the rest count now",
			obs: func() []timed {
				s := start(pod("shop", "a"), at(0))
				w := crashLoop(s.last, "app", at(time.Minute), "Error", 1)
				jumped := edit(w[2], "app", func(c *Container) { c.RestartCount = 3 })
				return s.then(at(2*time.Minute), jumped).out
			},
			wantCount:  3,
			wantCauses: map[string]int{"error": 3},
		},
		{
			name: "restartPolicy Never: a terminated container is no restart",
			obs: func() []timed {
				p := edit(pod("shop", "a"), "app", func(c *Container) { c.RestartPolicy = RestartNever })
				return start(p, at(0)).then(at(time.Minute), exited(p, "app", at(time.Minute), "Error", 1)).out
			},
			wantCount: 0,
		},
		{
			name: "restartPolicy OnFailure: exit 0 is no restart, exit 1 is",
			obs: func() []timed {
				p := edit(pod("shop", "a"), "app", func(c *Container) { c.RestartPolicy = RestartOnFailure })
				s := start(p, at(0)).crash("app", at(time.Minute), "Error", 1)
				return s.then(at(3*time.Minute), exited(s.last, "app", at(3*time.Minute), "Completed", 0)).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "containers stopped by a deletion are no restarts",
			obs: func() []timed {
				p := pod("shop", "a")
				del := with(p, deleting)
				return start(p, at(0)).then(at(time.Minute), del, exited(del, "app", at(time.Minute), "Error", 143)).out
			},
			wantCount: 0,
		},
		{
			name: "agent started between exited and back-off",
			obs: func() []timed {
				w := crashLoop(pod("shop", "a"), "app", at(time.Minute), "Error", 1)
				return start(w[0], at(time.Minute)).then(at(2*time.Minute), w[1], w[2]).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
		{
			name: "agent started during back-off",
			obs: func() []timed {
				w := crashLoop(pod("shop", "a"), "app", at(time.Minute), "Error", 1)
				return start(w[1], at(time.Minute)).then(at(2*time.Minute), w[2]).out
			},
			wantCount:  1,
			wantCauses: map[string]int{"error": 1},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			obs := tc.obs()
			for _, o := range obs {
				d.Observe(o.pod, o.at)
			}
			dec := summarize(d, "shop", obs[len(obs)-1].at)
			if dec.Stats.Restarts != tc.wantCount {
				t.Errorf("restarts = %d, want %d", dec.Stats.Restarts, tc.wantCount)
			}
			got := map[string]int{}
			for _, c := range dec.Summary.Causes {
				got[c.Cause.String()] += c.Restarts
			}
			if len(got) == 0 {
				got = nil
			}
			if diff := cmp.Diff(tc.wantCauses, got); diff != "" {
				t.Errorf("causes (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCrashLoopStorm is the case: 4 pods that crashed 3 times each
// through the kubelet's three writes are 12 restarts, all of one cause.
func TestCrashLoopStorm(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := populate(d, "shop", 4, t0)
	for i := range 3 {
		for j, p := range pods {
			at := t0.Add(time.Duration(i*5+1)*time.Minute + time.Duration(j)*time.Second)
			w := crashLoop(p, "app", at, "OOMKilled", 137)
			for k, q := range w {
				d.Observe(q, at.Add(time.Duration(k)*5*time.Second))
			}
			pods[j] = w[2]
		}
	}
	dec := summarize(d, "shop", t0.Add(20*time.Minute))
	got := fmt.Sprintf("%d restarts, %d of %d pods, dominant %v %d of %d", dec.Stats.Restarts, dec.Stats.RestartedPods,
		dec.Stats.Pods, dec.Summary.Dominant().Cause, dec.Summary.Dominant().Restarts, dec.Summary.Restarts)
	if want := "12 restarts, 4 of 4 pods, dominant oom_killed 12 of 12"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLatestTermination checks which termination the events report for a
// container: the kubelet's first write of a crash shows it only as
// state.terminated, and it is the restart being counted; a container that
// stays terminated reports its last termination.
func TestLatestTermination(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	last := Termination{ContainerID: "containerd://old", Reason: "Error", ExitCode: 1, FinishedAt: t0.Add(-5 * time.Minute)}
	crashed := Termination{ContainerID: "containerd://new", Reason: "OOMKilled", ExitCode: 137, FinishedAt: t0}
	terminated := Container{Name: "app", ContainerID: crashed.ContainerID, State: StateTerminated, StateReason: crashed.Reason,
		StateExitCode: crashed.ExitCode, StateSince: crashed.FinishedAt, Last: last}
	tests := []struct {
		name string
		pod  Pod
		c    Container
		want Termination
	}{
		{"step 1: terminated, will restart", Pod{Phase: "Running"}, terminated, crashed},
		{"step 2: back-off, moved into lastState", Pod{Phase: "Running"},
			Container{Name: "app", ContainerID: crashed.ContainerID, State: StateWaiting, StateReason: "CrashLoopBackOff", Last: crashed}, crashed},
		{"running again", Pod{Phase: "Running"}, Container{Name: "app", State: StateRunning, Last: last}, last},
		{"restartPolicy Never", Pod{Phase: "Running"}, func() Container { c := terminated; c.RestartPolicy = RestartNever; return c }(), last},
		{"OnFailure, exit 0", Pod{Phase: "Running"}, func() Container {
			c := terminated
			c.RestartPolicy, c.StateExitCode = RestartOnFailure, 0
			return c
		}(), last},
		{"pod being deleted", Pod{Phase: "Running", Deleting: true}, terminated, last},
		{"pod failed", Pod{Phase: "Failed"}, terminated, last},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.pod.LatestTermination(&tc.c)); diff != "" {
				t.Errorf("LatestTermination (-want +got):\n%s", diff)
			}
		})
	}
}
