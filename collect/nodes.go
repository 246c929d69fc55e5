package collect

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// NodeSink receives the state of nodes: whether they are cordoned and which
// problem conditions they report.
type NodeSink interface {
	NodeChanged(n detect.Node)
	NodeDeleted(name string)
}

// NodeFromAPI converts a node to what the root-cause analysis reads of it.
func NodeFromAPI(n *corev1.Node) detect.Node {
	out := detect.Node{Name: n.Name, Unschedulable: n.Spec.Unschedulable}
	ready := false
	for _, c := range n.Status.Conditions {
		switch c.Type {
		case corev1.NodeReady:
			ready = c.Status == corev1.ConditionTrue
		case corev1.NodeMemoryPressure:
			out.Conditions |= problem(c.Status, detect.NodeMemoryPressure)
		case corev1.NodeDiskPressure:
			out.Conditions |= problem(c.Status, detect.NodeDiskPressure)
		case corev1.NodePIDPressure:
			out.Conditions |= problem(c.Status, detect.NodePIDPressure)
		case corev1.NodeNetworkUnavailable:
			out.Conditions |= problem(c.Status, detect.NodeNetworkUnavailable)
		}
	}
	if !ready {
		out.Conditions |= detect.NodeNotReady
	}
	return out
}

func problem(s corev1.ConditionStatus, c detect.NodeConditions) detect.NodeConditions {
	if s == corev1.ConditionTrue {
		return c
	}
	return 0
}

// trimNode is the node informer's transform: a node object is large (its
// images alone can be tens of KiB); the cache keeps what NodeFromAPI reads.
func trimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return obj, nil
	}
	out := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion},
		Spec:       corev1.NodeSpec{Unschedulable: n.Spec.Unschedulable},
	}
	for _, c := range n.Status.Conditions {
		out.Status.Conditions = append(out.Status.Conditions, corev1.NodeCondition{Type: c.Type, Status: c.Status})
	}
	return out, nil
}
