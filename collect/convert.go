package collect

import (
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Bounds on the strings a conversion keeps. A container's termination message
// is whatever it wrote to its termination log (the kubelet caps it at 4 KiB per
// container but only 12 KiB per pod when read from the log, and not at all in
// older or patched kubelets); reasons are short CamelCase words.
const (
	// MaxMessageBytes bounds waiting and termination messages.
	MaxMessageBytes = 4 << 10
	// MaxReasonBytes bounds waiting, termination and pod reasons.
	MaxReasonBytes = 256
)

// truncated is appended to a string cut by bound.
const truncated = "…"

// templateHashLabel is the label the Deployment controller puts on a
// ReplicaSet's pods; the ReplicaSet is named "<deployment>-<hash>".
const templateHashLabel = "pod-template-hash"

// PodFromAPI converts a pod to detect's domain type. It is a pure function: it
// reads p, never modifies it, and keeps no reference to anything but p's
// strings, bounded first. Containers come in the order init and sidecar, app,
// ephemeral, each joined to its status by name; a container without a status
// yet (a pending pod) has only its spec fields.
//
// It goes through the informer cache's compact form (see cachedPod), so that
// what the watcher hands over and what PodFromAPI returns cannot differ. A
// field detect.Pod gains is added to cachedPod, newCachedPod, pod and
// sameContent together; TestCachedPodKeepsEveryField fails until they agree.
// The lean decoder (lean.go) reads it too, from the protobuf: a case in the
// message that carries it and a line in its build; TestLeanDecodeEqualsTransform
// fails until it does.
func PodFromAPI(p *corev1.Pod) *detect.Pod {
	return newCachedPod(p).pod()
}

// findStatus returns the status of the container named name, or nil. The
// kubelet reports statuses in spec order, so the status at the container's own
// index is tried first; the scan keeps a pod with thousands of containers in
// another order correct, if slower.
func findStatus(statuses []corev1.ContainerStatus, i int, name string) *corev1.ContainerStatus {
	if i < len(statuses) && statuses[i].Name == name {
		return &statuses[i]
	}
	for j := range statuses {
		if statuses[j].Name == name {
			return &statuses[j]
		}
	}
	return nil
}

// resources returns the cpu and memory requests and limits in Kubernetes'
// canonical notation. Quantity.String caches its result in the quantity it is
// called on: the map values are copies, so the cached object is not touched.
func resources(r *corev1.ResourceRequirements) detect.Resources {
	return detect.Resources{
		CPURequest:    quantity(r.Requests, corev1.ResourceCPU),
		CPULimit:      quantity(r.Limits, corev1.ResourceCPU),
		MemoryRequest: quantity(r.Requests, corev1.ResourceMemory),
		MemoryLimit:   quantity(r.Limits, corev1.ResourceMemory),
	}
}

func quantity(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return ""
	}
	return q.String()
}

// ownerOf resolves the workload that owns p: its controller owner reference
// (or, when no reference is marked controller, the first one), with a
// ReplicaSet named "<deployment>-<pod-template-hash>" reported as that
// Deployment. A Job is reported as the Job even when a CronJob created it: the
// Job's name alone cannot tell (a Job may be named like a CronJob's), and
// guessing would be wrong some of the time. A pod without owners is bare:
// Owner{}.
func ownerOf(p *corev1.Pod) detect.Owner {
	ref := ownerRef(p.OwnerReferences)
	if ref == nil {
		return detect.Owner{}
	}
	if d, ok := deploymentOf(ref, p.Labels[templateHashLabel]); ok {
		return detect.Owner{Kind: "Deployment", Name: d, Revision: p.Labels[templateHashLabel]}
	}
	return detect.Owner{Kind: ref.Kind, Name: ref.Name}
}

// ownerRef returns the controller reference among refs, else the first one,
// else nil. The transform keeps only this reference.
func ownerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if c := refs[i].Controller; c != nil && *c {
			return &refs[i]
		}
	}
	if len(refs) > 0 {
		return &refs[0]
	}
	return nil
}

// deploymentOf returns the Deployment that owns the ReplicaSet ref, known by
// the ReplicaSet's name being the Deployment's, "-" and the pod's
// pod-template-hash label.
func deploymentOf(ref *metav1.OwnerReference, hash string) (string, bool) {
	if ref.Kind != "ReplicaSet" || !strings.HasPrefix(ref.APIVersion, "apps/") || hash == "" {
		return "", false
	}
	d, ok := strings.CutSuffix(ref.Name, "-"+hash)
	if !ok || d == "" {
		return "", false
	}
	return d, true
}

// bound returns s cut to at most limit bytes on a UTF-8 boundary, ending with
// "…" when cut. bound(bound(s, n), n) == bound(s, n).
func bound(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len(truncated)
	if cut < 0 {
		cut = 0
	}
	// Back off to the start of a rune, at most utf8.UTFMax-1 bytes: past that
	// the bytes are not UTF-8 anyway.
	for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
		cut--
	}
	return s[:cut] + truncated
}
