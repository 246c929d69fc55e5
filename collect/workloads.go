package collect

import (
	"cmp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// revisionAnnotation is the annotation the Deployment controller numbers a
// ReplicaSet's revision with.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// RevisionSink receives the revisions of Deployments: their ReplicaSets.
type RevisionSink interface {
	RevisionChanged(r detect.Revision)
	RevisionDeleted(namespace, deployment, name string)
}

// RevisionFromAPI converts a ReplicaSet to the Deployment revision it is,
// and reports false for a ReplicaSet no Deployment controls.
func RevisionFromAPI(rs *appsv1.ReplicaSet) (detect.Revision, bool) {
	ref := ownerRef(rs.OwnerReferences)
	if ref == nil || ref.Kind != "Deployment" {
		return detect.Revision{}, false
	}
	n, _ := strconv.ParseInt(rs.Annotations[revisionAnnotation], 10, 64)
	r := detect.Revision{
		Namespace:  rs.Namespace,
		Deployment: ref.Name,
		Name:       rs.Name,
		Hash:       rs.Labels[templateHashLabel],
		Number:     n,
		Created:    rs.CreationTimestamp.UTC(),
	}
	spec := &rs.Spec.Template.Spec
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range list {
			r.Images = append(r.Images, detect.ContainerImage{Container: c.Name, Image: c.Image})
		}
	}
	return r, r.Hash != ""
}

// trimReplicaSet is the ReplicaSet informer's transform: it keeps what
// RevisionFromAPI reads.
func trimReplicaSet(obj any) (any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return obj, nil
	}
	out := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
		Name: rs.Name, Namespace: rs.Namespace, UID: rs.UID, ResourceVersion: rs.ResourceVersion,
		CreationTimestamp: rs.CreationTimestamp,
	}}
	if ref := ownerRef(rs.OwnerReferences); ref != nil {
		out.OwnerReferences = []metav1.OwnerReference{{APIVersion: ref.APIVersion, Kind: ref.Kind, Name: ref.Name, Controller: ref.Controller}}
	}
	if h, ok := rs.Labels[templateHashLabel]; ok {
		out.Labels = map[string]string{templateHashLabel: h}
	}
	if v, ok := rs.Annotations[revisionAnnotation]; ok {
		out.Annotations = map[string]string{revisionAnnotation: v}
	}
	spec := &rs.Spec.Template.Spec
	for _, c := range spec.InitContainers {
		out.Spec.Template.Spec.InitContainers = append(out.Spec.Template.Spec.InitContainers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	for _, c := range spec.Containers {
		out.Spec.Template.Spec.Containers = append(out.Spec.Template.Spec.Containers, corev1.Container{Name: c.Name, Image: c.Image})
	}
	return out, nil
}

// disruptionTarget returns the reason of the pod's DisruptionTarget
// condition while it is True: the API server, scheduler or kubelet sets it
// before taking the pod down (EvictionByEvictionAPI, PreemptionByScheduler,
// TerminationByKubelet, DeletionByTaintManager, DeletionByPodGC).
func disruptionTarget(p *corev1.Pod) string {
	for i := range p.Status.Conditions {
		c := &p.Status.Conditions[i]
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue {
			return bound(cmp.Or(c.Reason, "DisruptionTarget"), MaxReasonBytes)
		}
	}
	return ""
}
