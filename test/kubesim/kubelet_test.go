package kubesim

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

// writes records, for every pod status write, one container's status as
// "state containerID restartCount last=lastState's containerID", the IDs
// named A, B, ... by first appearance.
type writes struct {
	container string
	ids       map[string]string
	got       []string
}

func (w *writes) name(id string) string {
	if id == "" {
		return "-"
	}
	if n, ok := w.ids[id]; ok {
		return n
	}
	n := string(rune('A' + len(w.ids)))
	w.ids[id] = n
	return n
}

func (w *writes) record(p *corev1.Pod) {
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.Name != w.container {
				continue
			}
			var state string
			switch st := cs.State; {
			case st.Running != nil:
				state = "running"
			case st.Terminated != nil:
				state = fmt.Sprintf("terminated(%s %d)", st.Terminated.Reason, st.Terminated.ExitCode)
			case st.Waiting != nil:
				state = "waiting(" + st.Waiting.Reason + ")"
			}
			last := "-"
			if t := cs.LastTerminationState.Terminated; t != nil {
				last = fmt.Sprintf("%s(%s %d)", w.name(t.ContainerID), t.Reason, t.ExitCode)
			}
			w.got = append(w.got, fmt.Sprintf("%s %s %d last=%s", state, w.name(cs.ContainerID), cs.RestartCount, last))
		}
	}
}

// TestKubeletWrites pins each sequence of status writes the simulator makes
// to the kubelet's (see kubelet.go for the function each follows).
func TestKubeletWrites(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      PodOptions
		container string
		run       func(ctx context.Context, s *Sim, clk *clock) error
		want      []string
	}{
		{
			name:      "crash into back-off, then started",
			container: "app",
			run: func(ctx context.Context, s *Sim, clk *clock) error {
				if _, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{Waiting: CrashLoopBackOff}); err != nil {
					return err
				}
				clk.Advance(10 * time.Second)
				_, err := s.StartContainer(ctx, "shop", "web-1", "app")
				return err
			},
			want: []string{
				"terminated(Error 1) A 0 last=-",
				"waiting(CrashLoopBackOff) A 0 last=A(Error 1)",
				"running B 1 last=A(Error 1)",
			},
		},
		{
			name:      "crash loop: each crash starts the waiting container first",
			container: "app",
			run: func(ctx context.Context, s *Sim, clk *clock) error {
				for range 2 {
					clk.Advance(10 * time.Second)
					if _, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{Reason: "OOMKilled", Waiting: CrashLoopBackOff}); err != nil {
						return err
					}
				}
				return nil
			},
			want: []string{
				"terminated(OOMKilled 137) A 0 last=-",
				"waiting(CrashLoopBackOff) A 0 last=A(OOMKilled 137)",
				"running B 1 last=A(OOMKilled 137)",
				"terminated(OOMKilled 137) B 1 last=A(OOMKilled 137)",
				"waiting(CrashLoopBackOff) B 1 last=B(OOMKilled 137)",
			},
		},
		{
			name:      "restarted at once when no back-off is due",
			container: "app",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				_, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{})
				return err
			},
			want: []string{"terminated(Error 1) A 0 last=-", "running B 1 last=A(Error 1)"},
		},
		{
			name:      "init container: Init:Error, Init:CrashLoopBackOff",
			opts:      PodOptions{InitContainers: []Container{{Name: "migrate"}}},
			container: "migrate",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				_, err := s.CrashContainer(ctx, "shop", "web-1", "migrate", Crash{Waiting: CrashLoopBackOff})
				return err
			},
			want: []string{
				"running A 0 last=-",
				"terminated(Error 1) A 0 last=-",
				"waiting(CrashLoopBackOff) A 0 last=A(Error 1)",
			},
		},
		{
			name:      "restartable sidecar",
			opts:      PodOptions{Sidecars: []Container{{Name: "proxy"}}},
			container: "proxy",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				_, err := s.CrashContainer(ctx, "shop", "web-1", "proxy", Crash{Waiting: CrashLoopBackOff})
				return err
			},
			want: []string{
				"terminated(Error 1) A 0 last=-",
				"waiting(CrashLoopBackOff) A 0 last=A(Error 1)",
			},
		},
		{
			name:      "liveness probe kill: exit 137, restarted in the same sync",
			container: "app",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				_, err := s.LivenessKill(ctx, "shop", "web-1", "app", 3)
				return err
			},
			want: []string{"terminated(Error 137) A 0 last=-", "running B 1 last=A(Error 137)"},
		},
		{
			name:      "kubelet restart after garbage collection: count kept, lastState lost",
			container: "app",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				if _, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{}); err != nil {
					return err
				}
				_, err := s.RestartKubelet(ctx, "shop", "web-1")
				return err
			},
			want: []string{"terminated(Error 1) A 0 last=-", "running B 1 last=A(Error 1)", "running B 1 last=-"},
		},
		{
			name:      "dead container collected during back-off, then started",
			container: "app",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				if _, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{Waiting: CrashLoopBackOff}); err != nil {
					return err
				}
				if _, err := s.CollectDeadContainer(ctx, "shop", "web-1", "app"); err != nil {
					return err
				}
				_, err := s.StartContainer(ctx, "shop", "web-1", "app")
				return err
			},
			want: []string{
				"terminated(Error 1) A 0 last=-",
				"waiting(CrashLoopBackOff) A 0 last=A(Error 1)",
				"waiting(CrashLoopBackOff) - 0 last=A(Error 1)",
				"running B 1 last=-",
			},
		},
		{
			name:      "node reboot: exit 255 Unknown, restarted",
			container: "app",
			run: func(ctx context.Context, s *Sim, clk *clock) error {
				_, err := s.RebootNode(ctx, DefaultNode, clk.Now())
				return err
			},
			want: []string{"terminated(Unknown 255) A 0 last=-", "running B 1 last=A(Unknown 255)"},
		},
		{
			name:      "restartPolicy Never: terminated for good",
			opts:      PodOptions{RestartPolicy: corev1.RestartPolicyNever},
			container: "app",
			run: func(ctx context.Context, s *Sim, _ *clock) error {
				_, err := s.CrashContainer(ctx, "shop", "web-1", "app", Crash{Waiting: CrashLoopBackOff})
				return err
			},
			want: []string{"terminated(Error 1) A 0 last=-"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, client, clk := newSim(t)
			ctx := t.Context()
			opts := tc.opts
			opts.Namespace, opts.Name = "shop", "web-1"
			if _, err := s.CreatePod(ctx, opts); err != nil {
				t.Fatal(err)
			}
			if len(opts.InitContainers) == 0 {
				if _, err := s.MarkRunning(ctx, "shop", "web-1"); err != nil {
					t.Fatal(err)
				}
			}
			w := &writes{container: tc.container, ids: map[string]string{}}
			client.PrependReactor("update", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if u, ok := a.(k8stesting.UpdateAction); ok && u.GetSubresource() == "status" {
					w.record(u.GetObject().(*corev1.Pod))
				}
				return false, nil, nil
			})
			if err := tc.run(ctx, s, clk); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, w.got); diff != "" {
				t.Errorf("status writes (-want +got):\n%s", strings.TrimSpace(diff))
			}
		})
	}
}
