package collect

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// transform is the pod informer's cache.TransformFunc: it replaces every pod
// the informer is about to store by trimPod's copy, so that the cache holds
// only what PodFromAPI and the event handlers read. Anything that is not a pod
// passes unchanged. It is idempotent, as client-go requires.
func transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return trimPod(o), nil
	case cache.DeletedFinalStateUnknown:
		// client-go does not pass tombstones to the transform (their object
		// was transformed when stored), but if it ever does, keep them small.
		if p, ok := o.Obj.(*corev1.Pod); ok {
			return cache.DeletedFinalStateUnknown{Key: o.Key, Obj: trimPod(p)}, nil
		}
	}
	return obj, nil
}

// trimPod returns a new pod holding exactly the fields PodFromAPI reads, plus
// the resourceVersion the update handler compares, with messages and reasons
// already bounded. It never modifies p. Everything else is dropped:
// managedFields, annotations, labels but pod-template-hash, owner references
// but the one ownerOf resolves, env, volumes, probes, command and args, ports,
// conditions, IPs, and the rest.
//
// When a change needs another field, add it to PodFromAPI and here together;
// TestTransformKeepsWhatPodFromAPIReads fails until both agree. Caching a
// compact type of our own instead of *corev1.Pod changes this file and podOf
// in watcher.go; nothing outside the package sees the cached objects.
func trimPod(p *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              p.Name,
			Namespace:         p.Namespace,
			UID:               p.UID,
			ResourceVersion:   p.ResourceVersion,
			CreationTimestamp: p.CreationTimestamp,
			DeletionTimestamp: p.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{
			NodeName: p.Spec.NodeName,
		},
		Status: corev1.PodStatus{
			Phase:  p.Status.Phase,
			Reason: bound(p.Status.Reason, MaxReasonBytes),
		},
	}
	if ref := ownerRef(p.OwnerReferences); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: ref.APIVersion,
			Kind:       ref.Kind,
			Name:       ref.Name,
			Controller: ref.Controller,
		}}
		if h, ok := p.Labels[templateHashLabel]; ok && ref.Kind == "ReplicaSet" {
			out.Labels = map[string]string{templateHashLabel: h}
		}
	}
	if len(p.Spec.InitContainers) > 0 {
		out.Spec.InitContainers = make([]corev1.Container, len(p.Spec.InitContainers))
		for i := range p.Spec.InitContainers {
			c := &p.Spec.InitContainers[i]
			out.Spec.InitContainers[i] = corev1.Container{
				Name:          c.Name,
				Image:         c.Image,
				Resources:     trimResources(&c.Resources),
				RestartPolicy: c.RestartPolicy,
			}
		}
	}
	if len(p.Spec.Containers) > 0 {
		out.Spec.Containers = make([]corev1.Container, len(p.Spec.Containers))
		for i := range p.Spec.Containers {
			c := &p.Spec.Containers[i]
			out.Spec.Containers[i] = corev1.Container{
				Name:      c.Name,
				Image:     c.Image,
				Resources: trimResources(&c.Resources),
			}
		}
	}
	if len(p.Spec.EphemeralContainers) > 0 {
		out.Spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(p.Spec.EphemeralContainers))
		for i := range p.Spec.EphemeralContainers {
			c := &p.Spec.EphemeralContainers[i].EphemeralContainerCommon
			out.Spec.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon{
				Name:      c.Name,
				Image:     c.Image,
				Resources: trimResources(&c.Resources),
			}
		}
	}
	out.Status.InitContainerStatuses = trimStatuses(p.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = trimStatuses(p.Status.ContainerStatuses)
	out.Status.EphemeralContainerStatuses = trimStatuses(p.Status.EphemeralContainerStatuses)
	return out
}

// trimResources keeps the cpu and memory requests and limits. Each quantity's
// string form is computed once here, where the copy is still private, so that
// PodFromAPI's Quantity.String reads it from the cache instead of formatting.
func trimResources(r *corev1.ResourceRequirements) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: trimList(r.Requests),
		Limits:   trimList(r.Limits),
	}
}

func trimList(l corev1.ResourceList) corev1.ResourceList {
	var out corev1.ResourceList
	for _, name := range [...]corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		q, ok := l[name]
		if !ok {
			continue
		}
		_ = q.String()
		if out == nil {
			out = make(corev1.ResourceList, 2)
		}
		out[name] = q
	}
	return out
}

func trimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i := range in {
		s := &in[i]
		out[i] = corev1.ContainerStatus{
			Name:         s.Name,
			ContainerID:  s.ContainerID,
			RestartCount: s.RestartCount,
			Ready:        s.Ready,
			State:        trimState(&s.State),
		}
		if t := s.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = trimTerminated(t)
		}
	}
	return out
}

// trimState keeps the one state PodFromAPI reads, in its order of precedence.
func trimState(s *corev1.ContainerState) corev1.ContainerState {
	switch {
	case s.Terminated != nil:
		return corev1.ContainerState{Terminated: trimTerminated(s.Terminated)}
	case s.Running != nil:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: s.Running.StartedAt}}
	case s.Waiting != nil:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  bound(s.Waiting.Reason, MaxReasonBytes),
			Message: bound(s.Waiting.Message, MaxMessageBytes),
		}}
	}
	return corev1.ContainerState{}
}

func trimTerminated(t *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{
		ContainerID: t.ContainerID,
		Reason:      bound(t.Reason, MaxReasonBytes),
		Message:     bound(t.Message, MaxMessageBytes),
		ExitCode:    t.ExitCode,
		Signal:      t.Signal,
		StartedAt:   t.StartedAt,
		FinishedAt:  t.FinishedAt,
	}
}
