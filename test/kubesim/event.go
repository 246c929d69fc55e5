package kubesim

import (
	"cmp"
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
)

// Reasons of Warning events the kubelet (and node-problem-detector) write.
const (
	// ReasonBackOff: a container is in crash back-off.
	ReasonBackOff = "BackOff"
	// ReasonUnhealthy: a probe failed.
	ReasonUnhealthy = "Unhealthy"
	// ReasonFailed: the kubelet failed to pull or start a container.
	ReasonFailed = "Failed"
	// ReasonOOMKilling: the kernel OOM killer killed a process;
	// node-problem-detector's kernel monitor reports it on the Node.
	ReasonOOMKilling = "OOMKilling"
	// ReasonSystemOOM: the kubelet saw a system OOM; reported on the Node.
	ReasonSystemOOM = "SystemOOM"
)

// Event describes a Warning event. Empty fields get the kubelet's values.
type Event struct {
	// Reason is required, e.g. ReasonBackOff.
	Reason string
	// Message defaults to the kubelet's text for Reason, e.g. "Back-off
	// restarting failed container app in pod web-1_shop(<uid>)" or
	// "Liveness probe failed: HTTP probe failed with statuscode: 500".
	Message string
	// Container, for pod events, sets involvedObject.fieldPath to
	// spec.containers{name} or spec.initContainers{name}.
	Container string
	// Component is source.component and reportingComponent; it defaults to
	// "kubelet", or "kernel-monitor" for OOMKilling.
	Component string
}

// eventKey identifies events the kubelet's correlator aggregates.
type eventKey struct {
	uid                                   types.UID
	reason, message, fieldPath, component string
}

// WarningEvent records a core/v1 Warning event about a pod as the kubelet
// does: involvedObject is the pod (uid, resourceVersion, fieldPath), source
// is the component on the pod's node, firstTimestamp and lastTimestamp come
// from the clock. Repeating an identical event (same pod, reason, message,
// container and component) updates the existing one, incrementing count and
// moving lastTimestamp, like the kubelet's event correlator.
func (s *Sim) WarningEvent(ctx context.Context, ns, pod string, ev Event) (*corev1.Event, error) {
	p, err := s.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("record %s event for pod %s/%s: %w", ev.Reason, ns, pod, err)
	}
	ref := corev1.ObjectReference{
		Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: p.Name,
		UID: p.UID, ResourceVersion: p.ResourceVersion,
	}
	if ev.Container != "" {
		isInit, ok := containerKind(p, ev.Container)
		if !ok {
			return nil, fmt.Errorf("record %s event: pod %s/%s has no container %q", ev.Reason, ns, pod, ev.Container)
		}
		ref.FieldPath = fmt.Sprintf("spec.containers{%s}", ev.Container)
		if isInit {
			ref.FieldPath = fmt.Sprintf("spec.initContainers{%s}", ev.Container)
		}
	}
	if ev.Message == "" {
		ev.Message = defaultPodMessage(p, ev)
	}
	return s.recordEvent(ctx, ns, ref, p.Spec.NodeName, ev)
}

// NodeWarningEvent records a core/v1 Warning event about a node, in the
// default namespace as the kubelet does, e.g. OOMKilling from the kernel
// monitor or SystemOOM from the kubelet. Identical events aggregate as with
// WarningEvent.
func (s *Sim) NodeWarningEvent(ctx context.Context, node string, ev Event) (*corev1.Event, error) {
	n, err := s.client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("record %s event for node %s: %w", ev.Reason, node, err)
	}
	ref := corev1.ObjectReference{Kind: "Node", APIVersion: "v1", Name: n.Name, UID: n.UID}
	if ev.Message == "" {
		switch ev.Reason {
		case ReasonOOMKilling:
			ev.Message = "Memory cgroup out of memory: Killed process 4242 (app) total-vm:1048576kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1200kB oom_score_adj:1000"
		case ReasonSystemOOM:
			ev.Message = "System OOM encountered, victim process: app, pid: 4242"
		default:
			ev.Message = ev.Reason
		}
	}
	return s.recordEvent(ctx, metav1.NamespaceDefault, ref, node, ev)
}

func (s *Sim) recordEvent(ctx context.Context, ns string, ref corev1.ObjectReference, host string, ev Event) (*corev1.Event, error) {
	if ev.Reason == "" {
		return nil, fmt.Errorf("record event about %s %s: no reason", ref.Kind, ref.Name)
	}
	component := ev.Component
	if component == "" {
		component = "kubelet"
		if ev.Reason == ReasonOOMKilling {
			component = "kernel-monitor"
		}
	}
	key := eventKey{ref.UID, ev.Reason, ev.Message, ref.FieldPath, component}
	now := s.metaNow()
	events := s.client.CoreV1().Events(ns)

	s.mu.Lock()
	existing, ok := s.events[key]
	s.mu.Unlock()
	if ok {
		var out *corev1.Event
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			e, err := events.Get(ctx, existing, metav1.GetOptions{})
			if err != nil {
				return err
			}
			e.Count++
			e.LastTimestamp = now
			out, err = events.Update(ctx, e, metav1.UpdateOptions{})
			return err
		})
		if err == nil {
			return out, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("update %s event %s/%s: %w", ev.Reason, ns, existing, err)
		}
		// The event expired or was deleted: record a new one.
	}

	s.mu.Lock()
	s.eventSeq++
	name := fmt.Sprintf("%s.%x", ref.Name, now.UnixNano()+s.eventSeq)
	s.mu.Unlock()
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name, Namespace: ns},
		InvolvedObject:      ref,
		Reason:              ev.Reason,
		Message:             ev.Message,
		Type:                corev1.EventTypeWarning,
		Source:              corev1.EventSource{Component: component, Host: host},
		FirstTimestamp:      now,
		LastTimestamp:       now,
		Count:               1,
		ReportingController: component,
		ReportingInstance:   cmp.Or(host, component),
	}
	created, err := events.Create(ctx, e, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create %s event about %s %s: %w", ev.Reason, ref.Kind, ref.Name, err)
	}
	s.mu.Lock()
	s.events[key] = created.Name
	s.mu.Unlock()
	return created, nil
}

// defaultPodMessage is the kubelet's message for a pod event.
func defaultPodMessage(p *corev1.Pod, ev Event) string {
	c := cmp.Or(ev.Container, firstContainer(p))
	switch ev.Reason {
	case ReasonBackOff:
		return fmt.Sprintf("Back-off restarting failed container %s in pod %s_%s(%s)", c, p.Name, p.Namespace, p.UID)
	case ReasonUnhealthy:
		return "Liveness probe failed: HTTP probe failed with statuscode: 500"
	case ReasonFailed:
		return "Error: ImagePullBackOff"
	case ReasonOOMKilling:
		return fmt.Sprintf("Memory cgroup out of memory: Killed process 4242 (%s) total-vm:1048576kB, anon-rss:524288kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:1200kB oom_score_adj:1000", c)
	default:
		return ev.Reason
	}
}

func firstContainer(p *corev1.Pod) string {
	if len(p.Spec.Containers) > 0 {
		return p.Spec.Containers[0].Name
	}
	return ""
}

// containerKind reports whether p has a container name and whether it is an
// init container.
func containerKind(p *corev1.Pod, name string) (isInit, ok bool) {
	for _, c := range p.Spec.Containers {
		if c.Name == name {
			return false, true
		}
	}
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return true, true
		}
	}
	return false, false
}
