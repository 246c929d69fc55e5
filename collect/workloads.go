package collect

import (
	"cmp"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

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

// cachedRevision is what the ReplicaSet informer's store holds of one
// ReplicaSet: its key and RevisionFromAPI's result, a few hundred bytes
// instead of the ~4 KB of a trimmed *appsv1.ReplicaSet (Deployments keep up
// to ten old ReplicaSets each, so there can be more of them than pods).
type cachedRevision struct {
	compactMeta
	rev detect.Revision // Deployment is "" for a ReplicaSet no Deployment controls
	ok  bool            // RevisionFromAPI's verdict
}

var (
	_ runtime.Object = (*cachedRevision)(nil)
	_ metav1.Object  = (*cachedRevision)(nil)
)

func (c *cachedRevision) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy; the copy shares the immutable parts.
func (c *cachedRevision) DeepCopyObject() runtime.Object {
	cp := *c
	return &cp
}

// trimReplicaSet is the ReplicaSet informer's transform: it replaces each
// ReplicaSet by its cachedRevision. It is idempotent: anything else passes
// unchanged.
func trimReplicaSet(obj any) (any, error) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return obj, nil
	}
	return newCachedRevision(rs), nil
}

func newCachedRevision(rs *appsv1.ReplicaSet) *cachedRevision {
	r, ok := RevisionFromAPI(rs)
	return &cachedRevision{compactMeta: newCompactMeta(&rs.ObjectMeta), rev: r, ok: ok}
}

// revisionOf returns obj as the ReplicaSet informer caches it, or nil; a
// *appsv1.ReplicaSet, which only tests hand the handler directly, is
// converted.
func revisionOf(obj any) *cachedRevision {
	switch o := obj.(type) {
	case *cachedRevision:
		return o
	case *appsv1.ReplicaSet:
		return newCachedRevision(o)
	}
	return nil
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
