package kubesim

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Reasons of the DisruptionTarget condition.
const (
	DisruptionByKubelet     = "TerminationByKubelet"
	DisruptionByEvictionAPI = "EvictionByEvictionAPI"
	DisruptionByPreemption  = "PreemptionByScheduler"
)

// MarkDisruptionTarget sets the pod's DisruptionTarget condition True, as
// the kubelet, the Eviction API or the scheduler do before they take a pod
// down (then EvictPod, BeginDeletePod or DeletePod). Nothing else changes.
func (s *Sim) MarkDisruptionTarget(ctx context.Context, ns, pod, reason, message string) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, pod, func(p *corev1.Pod) error {
		setCondition(p, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		}, s.metaNow())
		return nil
	})
}
