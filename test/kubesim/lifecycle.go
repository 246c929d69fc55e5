package kubesim

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Waiting reasons the kubelet reports.
const (
	CrashLoopBackOff = "CrashLoopBackOff"
	PodInitializing  = "PodInitializing"
)

// Crash describes how a container died.
type Crash struct {
	// Reason of the termination: "Error" (the default), "OOMKilled",
	// "Completed", "ContainerCannotRun", ...
	Reason string
	// ExitCode defaults to 137 for OOMKilled and to 1 otherwise, except for
	// reason Completed, whose exit code is 0.
	ExitCode int32
	// Signal is the terminating signal. The kubelet leaves it 0 with
	// containerd (CRI reports none), so the default is 0.
	Signal int32
	// Message is the termination message.
	Message string
	// FinishedAt defaults to the clock's now.
	FinishedAt time.Time
	// Waiting selects the state after the crash. Empty: the container is
	// running again at once, under a new container ID. Otherwise the
	// container waits with this reason (usually CrashLoopBackOff) and, like
	// with the kubelet, keeps the dead container's ID until it is started
	// again (StartContainer, MarkRunning, or the next crash).
	Waiting string
	// BackOff is shown in the CrashLoopBackOff message. By default it follows
	// the kubelet: 10s doubling per restart, capped at 5m.
	BackOff time.Duration
}

// CrashContainer makes a container (app, init or sidecar) of a pod terminate
// and writes the pod status as the kubelet does, one write per status the
// kubelet reports (see kubelet.go for the function each follows). The pod
// need not have been marked running: a container without status is taken
// as just started, which models an init container crash-looping in a new
// pod.
//
// A container waiting (in back-off, or never started) is first started
// (StartContainer: write 3 of the previous crash), so repeated calls model a
// crash loop. Then:
//
//  1. the container is terminated (state.terminated with the dead
//     container's ID, reason, exit code, startedAt and finishedAt);
//     restartCount and lastState are unchanged;
//  2. when the restart policy restarts it and Crash.Waiting is set, it waits
//     (usually CrashLoopBackOff) with the termination moved to lastState and
//     restartCount still unchanged; StartContainer is write 3;
//  3. when the restart policy restarts it and Crash.Waiting is empty, it runs
//     again at once under a new ID with restartCount + 1, lastState the
//     termination: the kubelet restarts without back-off when none is due.
//
// A regular init container failing puts the pod back in phase Pending with
// Initialized False. When the container is not restarted (restartPolicy
// Never, or OnFailure and exit code 0), write 1 is the last, and once no app
// container runs the phase becomes Failed or Succeeded; the API server then
// forbids bringing that container back. CrashContainer returns the pod as
// the last write left it.
func (s *Sim) CrashContainer(ctx context.Context, ns, pod, container string, c Crash) (*corev1.Pod, error) {
	waiting, err := s.isWaiting(ctx, ns, pod, container)
	if err != nil {
		return nil, err
	}
	if waiting {
		if _, err := s.StartContainer(ctx, ns, pod, container); err != nil {
			return nil, err
		}
	}
	var restarts bool
	p, err := s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		spec, isInit, cs, err := ensureStatus(p, container)
		if err != nil {
			return err
		}
		now := s.metaNow()
		s.bindStatus(p, now)
		finished := now
		if !c.FinishedAt.IsZero() {
			finished = metaTime(c.FinishedAt)
		}
		if cs.State.Running == nil {
			return fmt.Errorf("container %q is terminated and does not run", container)
		}
		reason := cmp.Or(c.Reason, "Error")
		exit := c.ExitCode
		if exit == 0 && reason != "Completed" {
			exit = 1
			if reason == "OOMKilled" {
				exit = 137
			}
		}
		exitContainer(cs, &corev1.ContainerStateTerminated{
			ExitCode: exit, Signal: c.Signal, Reason: reason, Message: c.Message, FinishedAt: finished,
		})
		restarts = shouldRestart(p.Spec, spec, exit)
		sidecar := isSidecar(spec)
		switch {
		case !restarts:
			p.Status.Phase = phaseAfterExit(p, isInit && !sidecar)
		case isInit && !sidecar:
			p.Status.Phase = corev1.PodPending
			for _, app := range p.Spec.Containers {
				if _, _, _, err := findStatus(p, app.Name); err != nil {
					st := statusFor(nil, app)
					st.State.Waiting.Reason = PodInitializing
					p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, st)
				}
			}
		}
		syncConditions(p, now)
		return nil
	})
	if err != nil || !restarts {
		return p, err
	}
	if c.Waiting == "" {
		return s.StartContainer(ctx, ns, pod, container)
	}
	return s.backOff(ctx, ns, pod, container, c.Waiting, c.BackOff)
}

// StartContainer starts a container again under a new container ID, as the
// kubelet does when its back-off expires: running, restartCount + 1 when a
// dead container precedes it, lastState the dead container's termination
// (write 3 of a crash; see start). A running container is left alone.
func (s *Sim) StartContainer(ctx context.Context, ns, pod, container string) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		spec, isInit, cs, err := ensureStatus(p, container)
		if err != nil {
			return err
		}
		if cs.State.Running != nil {
			return nil
		}
		if t := cs.State.Terminated; t != nil && !shouldRestart(p.Spec, spec, t.ExitCode) {
			return fmt.Errorf("container %q is terminated and does not run", container)
		}
		now := s.metaNow()
		s.bindStatus(p, now)
		s.start(cs, now)
		if isInit && !isSidecar(spec) {
			cs.Ready, cs.Started = false, ptr.To(false)
		}
		syncConditions(p, now)
		return nil
	})
}

// SetContainerReady sets a container's readiness, as a readiness probe
// would, and the pod's Ready and ContainersReady conditions with it.
func (s *Sim) SetContainerReady(ctx context.Context, ns, pod, container string, ready bool) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		_, _, cs, err := findStatus(p, container)
		if err != nil {
			return err
		}
		cs.Ready = ready
		syncConditions(p, s.metaNow())
		return nil
	})
}

// SetPhase sets the pod's phase and nothing else but the conditions that
// follow from it. The API server refuses to leave Failed or Succeeded.
func (s *Sim) SetPhase(ctx context.Context, ns, pod string, phase corev1.PodPhase) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		p.Status.Phase = phase
		syncConditions(p, s.metaNow())
		return nil
	})
}

// DefaultEvictionMessage is the kubelet's message for a memory-pressure
// eviction.
const DefaultEvictionMessage = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 51200Ki. "

// EvictPod writes the status the kubelet leaves on a pod it evicted: phase
// Failed, reason Evicted, a DisruptionTarget condition (reason
// TerminationByKubelet), every container terminated with exit code 137 and
// reason ContainerStatusUnknown. Restart counts are unchanged: an eviction is
// not a restart. message defaults to DefaultEvictionMessage.
func (s *Sim) EvictPod(ctx context.Context, ns, pod, message string) (*corev1.Pod, error) {
	message = cmp.Or(message, DefaultEvictionMessage)
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		now := s.metaNow()
		p.Status.Phase = corev1.PodFailed
		p.Status.Reason, p.Status.Message = "Evicted", message
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for i := range list {
				cs := &list[i]
				if cs.State.Terminated != nil {
					continue
				}
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode:   137,
					Reason:     "ContainerStatusUnknown",
					Message:    "The container could not be located when the pod was terminated",
					FinishedAt: now,
				}}
				cs.Ready, cs.Started = false, ptr.To(false)
			}
		}
		setCondition(p, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
			Reason: "TerminationByKubelet", Message: message,
		}, now)
		syncConditions(p, now)
		return nil
	})
}

// DeletePod deletes a pod with grace period 0, so it disappears at once even
// though no kubelet confirms the deletion. A missing pod is an error
// (apierrors.IsNotFound).
func (s *Sim) DeletePod(ctx context.Context, ns, name string) error {
	err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", ns, name, err)
	}
	return nil
}

// BeginDeletePod deletes a pod with a grace period. A real API server only
// sets deletionTimestamp and deletionGracePeriodSeconds and waits for the
// kubelet, which is absent, so the pod stays Terminating until DeletePod. The
// fake clientset ignores the grace period and removes the pod.
func (s *Sim) BeginDeletePod(ctx context.Context, ns, name string, grace time.Duration) error {
	secs := max(int64(grace/time.Second), 1)
	err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &secs})
	if err != nil {
		return fmt.Errorf("begin deleting pod %s/%s: %w", ns, name, err)
	}
	return nil
}

// findStatus returns the spec and status of a container of p, and whether
// it is an init container (sidecars included).
func findStatus(p *corev1.Pod, name string) (corev1.Container, bool, *corev1.ContainerStatus, error) {
	for _, set := range []struct {
		specs    []corev1.Container
		statuses []corev1.ContainerStatus
		init     bool
	}{
		{p.Spec.Containers, p.Status.ContainerStatuses, false},
		{p.Spec.InitContainers, p.Status.InitContainerStatuses, true},
	} {
		for _, c := range set.specs {
			if c.Name != name {
				continue
			}
			for i := range set.statuses {
				if set.statuses[i].Name == name {
					return c, set.init, &set.statuses[i], nil
				}
			}
			return c, set.init, nil, fmt.Errorf("container %q of pod %s/%s has no status yet: mark the pod running first", name, p.Namespace, p.Name)
		}
	}
	return corev1.Container{}, false, nil, fmt.Errorf("pod %s/%s has no container %q", p.Namespace, p.Name, name)
}

// ensureStatus is findStatus, adding a waiting status for a container that
// has none yet (a pod that never ran).
func ensureStatus(p *corev1.Pod, name string) (corev1.Container, bool, *corev1.ContainerStatus, error) {
	spec, isInit, cs, err := findStatus(p, name)
	if cs != nil || spec.Name == "" {
		return spec, isInit, cs, err
	}
	list := &p.Status.ContainerStatuses
	if isInit {
		list = &p.Status.InitContainerStatuses
	}
	*list = append(*list, statusFor(nil, spec))
	return spec, isInit, &(*list)[len(*list)-1], nil
}

// shouldRestart reports whether the kubelet restarts c after it exited.
func shouldRestart(spec corev1.PodSpec, c corev1.Container, exit int32) bool {
	policy := string(spec.RestartPolicy)
	if c.RestartPolicy != nil {
		policy = string(*c.RestartPolicy)
	}
	switch corev1.RestartPolicy(policy) {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exit != 0
	default:
		return true
	}
}

// phaseAfterExit is the pod phase once a container stopped for good.
func phaseAfterExit(p *corev1.Pod, initFailed bool) corev1.PodPhase {
	if initFailed {
		return corev1.PodFailed
	}
	failed := false
	for _, cs := range p.Status.ContainerStatuses {
		t := cs.State.Terminated
		if t == nil {
			return p.Status.Phase
		}
		failed = failed || t.ExitCode != 0
	}
	if failed {
		return corev1.PodFailed
	}
	return corev1.PodSucceeded
}

// kubeletBackOff is the kubelet's crash back-off after restarts restarts.
func kubeletBackOff(restarts int32) time.Duration {
	d := 10 * time.Second
	for i := int32(1); i < restarts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// syncConditions derives the kubelet's pod conditions from the container
// statuses, in the kubelet's order, keeping other conditions after them.
func syncConditions(p *corev1.Pod, now metav1.Time) {
	terminal := p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
	var notInit, notReady []string
	for _, c := range p.Spec.InitContainers {
		cs := lookup(p.Status.InitContainerStatuses, c.Name)
		if isSidecar(c) {
			if cs == nil || cs.Started == nil || !*cs.Started {
				notInit = append(notInit, c.Name)
			}
			if cs == nil || !cs.Ready {
				notReady = append(notReady, c.Name)
			}
			continue
		}
		if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			notInit = append(notInit, c.Name)
		}
	}
	for _, c := range p.Spec.Containers {
		if cs := lookup(p.Status.ContainerStatuses, c.Name); cs == nil || !cs.Ready {
			notReady = append(notReady, c.Name)
		}
	}

	setCondition(p, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: boolStatus(!terminal)}, now)
	// Once initialized, a pod stays initialized; only a Pending pod is
	// re-evaluated.
	if p.Status.Phase == corev1.PodPending || lookupCondition(p, corev1.PodInitialized) == nil {
		init := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
		if len(notInit) > 0 {
			init.Status, init.Reason = corev1.ConditionFalse, "ContainersNotInitialized"
			init.Message = fmt.Sprintf("containers with incomplete status: %v", notInit)
		}
		setCondition(p, init, now)
	}
	ready := corev1.PodCondition{Status: corev1.ConditionTrue}
	switch {
	case terminal:
		ready.Status, ready.Reason = corev1.ConditionFalse, "PodCompleted"
	case len(notReady) > 0:
		ready.Status, ready.Reason = corev1.ConditionFalse, "ContainersNotReady"
		ready.Message = fmt.Sprintf("containers with unready status: %v", notReady)
	}
	ready.Type = corev1.PodReady
	setCondition(p, ready, now)
	ready.Type = corev1.ContainersReady
	setCondition(p, ready, now)
	setCondition(p, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)

	order := []corev1.PodConditionType{
		corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady,
		corev1.ContainersReady, corev1.PodScheduled,
	}
	sorted := make([]corev1.PodCondition, 0, len(p.Status.Conditions))
	for _, t := range order {
		if c := lookupCondition(p, t); c != nil {
			sorted = append(sorted, *c)
		}
	}
	for _, c := range p.Status.Conditions {
		if !slices.Contains(order, c.Type) {
			sorted = append(sorted, c)
		}
	}
	p.Status.Conditions = sorted
}

// setCondition sets c on p, keeping the transition time when the status is
// unchanged.
func setCondition(p *corev1.Pod, c corev1.PodCondition, now metav1.Time) {
	c.LastTransitionTime = now
	if old := lookupCondition(p, c.Type); old != nil {
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		c.LastProbeTime = old.LastProbeTime
		*old = c
		return
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}

func lookupCondition(p *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func lookup(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

func boolStatus(b bool) corev1.ConditionStatus {
	if b {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}
