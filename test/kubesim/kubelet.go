package kubesim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// What the kubelet writes, container by container. Each function names the
// kubelet code it follows, in k8s.io/kubernetes v1.37: pkg/kubelet/
// kubelet_pods.go (convertToAPIContainerStatuses, which turns the runtime's
// containers into the API's statuses) and pkg/kubelet/kuberuntime
// (kuberuntime_container.go startContainer, kuberuntime_manager.go
// computePodActions and doBackOff).
//
// One crash reaches the API server as three status writes:
//
//  1. exitContainer: the runtime reports the container exited.
//     convertContainerStatus gives state.terminated with the dead container's
//     ID; restartCount is the dead container's own (its restart-count
//     annotation) and lastState the container before it: both unchanged.
//  2. backOff: SyncPod tries to start it again, doBackOff refuses, the
//     reason cache holds CrashLoopBackOff. convertToAPIContainerStatuses
//     ("Handle the containers failed to be started") moves state.terminated
//     to lastState and reports waiting; restartCount and the status's
//     containerID are still the dead container's.
//  3. start: startContainer creates the next container with restartCount =
//     the dead one's + 1; it is the newest, so it gives state.running, the
//     count and the containerID, and the dead one, second newest, gives
//     lastState.

// exitContainer is write 1: the running container cs terminated as term
// says (convertContainerStatus, ContainerStateExited). The container ID,
// startedAt and, unless set, finishedAt come from the running container.
func exitContainer(cs *corev1.ContainerStatus, term *corev1.ContainerStateTerminated) {
	term.ContainerID = cs.ContainerID
	if cs.State.Running != nil {
		term.StartedAt = cs.State.Running.StartedAt
	}
	cs.State = corev1.ContainerState{Terminated: term}
	cs.Ready, cs.Started = false, ptr.To(false)
}

// start is write 3, or a container's first start: a new container runs
// (startContainer). It counts a restart when a dead container precedes it:
// one terminated now, or one whose termination lastState carries while the
// status still shows its ID (back-off). The dead container becomes
// lastState (convertToAPIContainerStatuses' second newest container).
func (s *Sim) start(cs *corev1.ContainerStatus, now metav1.Time) {
	if cs.State.Running != nil {
		return
	}
	switch t := cs.LastTerminationState.Terminated; {
	case cs.State.Terminated != nil:
		cs.LastTerminationState = corev1.ContainerState{Terminated: cs.State.Terminated}
		cs.RestartCount++
	case t != nil && t.ContainerID == cs.ContainerID:
		cs.RestartCount++
	case t != nil && cs.ContainerID == "" && cs.State.Waiting != nil:
		// Waiting in back-off after its dead container was collected
		// (CollectDeadContainer): startContainer finds no status and
		// takes the count from the log directory, which still counts it;
		// the runtime now holds the new container alone: no lastState.
		cs.RestartCount++
		cs.LastTerminationState = corev1.ContainerState{}
	}
	cs.ContainerID = s.containerID()
	cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	cs.Ready, cs.Started = true, ptr.To(true)
}

// backOff is write 2: the terminated container waits with reason (usually
// CrashLoopBackOff) and doBackOff's message, the termination moved to
// lastState (convertToAPIContainerStatuses, "Handle the containers failed to
// be started"). backoff 0 follows the kubelet: 10s doubling per restart,
// capped at 5m.
func (s *Sim) backOff(ctx context.Context, ns, pod, container, reason string, backoff time.Duration) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		_, _, cs, err := findStatus(p, container)
		if err != nil {
			return err
		}
		if cs.State.Terminated == nil {
			return fmt.Errorf("container %q of pod %s/%s has not terminated", container, ns, pod)
		}
		cs.LastTerminationState = corev1.ContainerState{Terminated: cs.State.Terminated}
		w := &corev1.ContainerStateWaiting{Reason: reason}
		if reason == CrashLoopBackOff {
			if backoff == 0 {
				backoff = kubeletBackOff(cs.RestartCount + 1)
			}
			w.Message = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				backoff, container, p.Name, p.Namespace, p.UID)
		}
		cs.State = corev1.ContainerState{Waiting: w}
		syncConditions(p, s.metaNow())
		return nil
	})
}

// isWaiting reports whether the container waits (in back-off, or not
// started yet).
func (s *Sim) isWaiting(ctx context.Context, ns, pod, container string) (bool, error) {
	p, err := s.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("get pod %s/%s: %w", ns, pod, err)
	}
	_, _, cs, err := ensureStatus(p, container)
	if err != nil {
		return false, err
	}
	return cs.State.Waiting != nil, nil
}

// LivenessKill kills a container after its liveness probe failed failures
// times, as the kubelet does: an Unhealthy Warning event "Liveness probe
// failed: ..." (prober's recordContainerEvent, aggregated by the event
// correlator), then computePodActions kills the container (exit 137 after
// the grace period, reason Error) and starts the next one in the same sync:
// write 1, then write 3, without back-off.
func (s *Sim) LivenessKill(ctx context.Context, ns, pod, container string, failures int) (*corev1.Pod, error) {
	for range max(failures, 1) {
		if _, err := s.WarningEvent(ctx, ns, pod, Event{Reason: ReasonUnhealthy, Container: container,
			Message: "Liveness probe failed: HTTP probe failed with statuscode: 500"}); err != nil {
			return nil, err
		}
	}
	return s.CrashContainer(ctx, ns, pod, container, Crash{Reason: "Error", ExitCode: 137})
}

// RestartKubelet writes the statuses a kubelet rebuilds after it restarted
// on a node whose runtime no longer holds the pod's dead containers (they
// were garbage-collected): convertToAPIContainerStatuses sees one container
// per name, so restartCount (that container's annotation) is kept and
// lastState is empty.
func (s *Sim) RestartKubelet(ctx context.Context, ns, pod string) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
			for i := range list {
				list[i].LastTerminationState = corev1.ContainerState{}
			}
		}
		return nil
	})
}

// CollectDeadContainer removes the dead containers of one container, as the
// kubelet's container garbage collector does under disk pressure
// (kuberuntime_gc.go evictContainers); restartCount is kept. What the next
// status shows follows convertToAPIContainerStatuses: a running container is
// the only one the runtime returns, so lastState is empty; a container
// waiting in back-off has none left, so its status keeps the previous
// status's lastState and loses its container ID.
func (s *Sim) CollectDeadContainer(ctx context.Context, ns, pod, container string) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		_, _, cs, err := findStatus(p, container)
		if err != nil {
			return err
		}
		if cs.State.Waiting != nil {
			cs.ContainerID = ""
		} else {
			cs.LastTerminationState = corev1.ContainerState{}
		}
		return nil
	})
}

// RebootNode restarts every running container of every pod on node, as a
// node reboot does: the runtime reports each container exited with code 255
// and reason Unknown at bootedAt (write 1 for all containers of a pod at
// once), then the new sandbox's containers start under new IDs with
// restartCount + 1, the kubelet recovering the count from the log directory
// (startContainer, calcRestartCountByLogDir), lastState the exited one
// (write 3, without back-off). It returns the pods it restarted.
func (s *Sim) RebootNode(ctx context.Context, node string, bootedAt time.Time) ([]*corev1.Pod, error) {
	pods, err := s.client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*corev1.Pod
	for _, p := range pods.Items {
		if p.Spec.NodeName != node || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		each := func(f func(cs *corev1.ContainerStatus)) func(*corev1.Pod) error {
			return func(q *corev1.Pod) error {
				for _, list := range [][]corev1.ContainerStatus{q.Status.InitContainerStatuses, q.Status.ContainerStatuses} {
					for i := range list {
						f(&list[i])
					}
				}
				syncConditions(q, s.metaNow())
				return nil
			}
		}
		if _, err := s.updatePodStatus(ctx, p.Namespace, p.Name, each(func(cs *corev1.ContainerStatus) {
			if cs.State.Running != nil {
				exitContainer(cs, &corev1.ContainerStateTerminated{ExitCode: 255, Reason: "Unknown", FinishedAt: metaTime(bootedAt)})
			}
		})); err != nil {
			return out, err
		}
		q, err := s.updatePodStatus(ctx, p.Namespace, p.Name, each(func(cs *corev1.ContainerStatus) {
			if t := cs.State.Terminated; t != nil && t.Reason == "Unknown" && t.ExitCode == 255 {
				s.start(cs, s.metaNow())
			}
		}))
		if err != nil {
			return out, err
		}
		out = append(out, q)
	}
	return out, nil
}
