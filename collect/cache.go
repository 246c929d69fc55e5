package collect

import (
	"encoding/hex"
	"slices"
	"strings"
	"time"
	"unique"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// cachedPod is what the pod informer's store holds of one pod: exactly what
// PodFromAPI reads, plus the resourceVersion the update handler compares, in
// about 0.7 KiB instead of the ~8 KB a trimmed *corev1.Pod costs (the Go
// structs of the API types are large even when almost empty); see
// BenchmarkRetainedHeap.
//
// Strings that repeat across pods (namespace, node, phase, owner, container
// specs, reasons) are interned with the unique package: 8 bytes per
// reference, one copy per distinct value, freed when no pod refers to it any
// more. Strings that differ per pod (name, UID, messages) are kept as they
// are, container IDs packed (see packedID). Times are whole seconds, as the
// API carries them (metav1.Time has second precision in JSON and protobuf).
//
// A cachedPod is immutable once built: the informer's store, its handlers and
// the detect.Pod values built from it share it without locks.
type cachedPod struct {
	compactMeta
	node     unique.Handle[string]
	phase    unique.Handle[string]
	owner    unique.Handle[detect.Owner]
	reason   unique.Handle[string] // bounded
	created  stamp
	deleting bool
	// initialEventsEnd marks the bookmark that ends a WatchList's initial
	// events (see GetAnnotations); always false for a stored pod.
	initialEventsEnd bool
	disruption       unique.Handle[string] // the DisruptionTarget condition's reason while True
	containers       []cachedContainer     // init and sidecar, app, ephemeral, as in detect.Pod
}

// cachedContainer is one container of a cachedPod: detect.Container's fields,
// packed.
type cachedContainer struct {
	spec         unique.Handle[containerSpec]
	stateText    unique.Handle[stateText]
	id           packedID
	stateSince   stamp
	last         *cachedTermination // nil without a last termination
	restartCount int32
	state        detect.StateKind
	ready        bool
}

// containerSpec is what a container's spec says: the same for every replica
// of a workload, so interned as one value (one lookup per container when a
// pod is cached, 8 bytes per container in the cache).
type containerSpec struct {
	name          string
	image         string
	typ           detect.ContainerType
	resources     detect.Resources
	restartPolicy detect.RestartPolicy // resolved by restartPolicyOf
}

// stateText is a waiting or terminated container's reason and message,
// bounded, and a terminated one's exit code; interned together, because
// most containers have none and most that have one have a reason without a
// message and one of a few exit codes.
type stateText struct {
	reason, message string
	exitCode        int32
}

// cachedTermination is detect.Termination, packed.
type cachedTermination struct {
	id       packedID
	reason   unique.Handle[string] // bounded
	message  string                // bounded
	exitCode int32
	signal   int32
	started  stamp
	finished stamp
}

// packedID is a container ID. The common form, "<runtime>://<64 hex
// digits>" (containerd, CRI-O, Docker), is kept as the runtime's name and the
// 32 bytes the digits stand for: 48 bytes of memory instead of 80, for the
// three or more IDs of every pod. Other IDs are kept as they are. The first
// byte tells the forms apart, so that equal IDs, and only they, have equal
// packedIDs; "" stays "".
type packedID string

const (
	idPacked = 'p'
	idRaw    = 'r'
	// idDigits is the length of the hex digits of a packable ID.
	idDigits = 64
)

func packID(id string) packedID {
	if id == "" {
		return ""
	}
	runtime, digits, ok := strings.Cut(id, "://")
	if ok && len(digits) == idDigits && isLowerHex(digits) {
		var buf [64]byte // on the stack for the usual runtime names
		b := append(buf[:0], idPacked)
		b = append(b, runtime...)
		b, _ = hex.AppendDecode(b, []byte(digits))
		return packedID(b)
	}
	return packedID(string(idRaw) + id)
}

// String returns the ID as the API wrote it.
func (p packedID) String() string {
	switch {
	case p == "":
		return ""
	case p[0] == idRaw:
		return string(p[1:])
	}
	runtime, raw := p[1:len(p)-idDigits/2], p[len(p)-idDigits/2:]
	var buf [96]byte // on the stack for the usual runtime names
	b := append(buf[:0], runtime...)
	b = append(b, "://"...)
	return string(hex.AppendEncode(b, []byte(raw)))
}

func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// stamp is an instant in whole seconds since January 1, year 1 UTC, so that
// the zero stamp is the zero time.Time.
type stamp int64

// zeroUnix is the Unix time of the zero time.Time.
var zeroUnix = time.Time{}.Unix()

func stampOf(t metav1.Time) stamp {
	if t.IsZero() {
		return 0
	}
	return stamp(t.Unix() - zeroUnix)
}

// time returns the instant in UTC without a monotonic reading, or the zero
// time: equal instants then compare equal with ==.
func (s stamp) time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(int64(s)+zeroUnix, 0).UTC()
}

// intern returns the canonical handle of s.
func intern(s string) unique.Handle[string] { return unique.Make(s) }

// newCachedPod converts p. It reads p, never modifies it, and keeps none of
// its memory: interned strings are cloned by the unique package, the others
// are the decoder's own small allocations (bounded ones are cut copies).
func newCachedPod(p *corev1.Pod) *cachedPod {
	out := &cachedPod{
		compactMeta: newCompactMeta(&p.ObjectMeta),
		node:        intern(p.Spec.NodeName),
		phase:       intern(string(p.Status.Phase)),
		owner:       unique.Make(ownerOf(p)),
		reason:      intern(bound(p.Status.Reason, MaxReasonBytes)),
		created:     stampOf(p.CreationTimestamp),
		deleting:    p.DeletionTimestamp != nil,
		disruption:  intern(disruptionTarget(p)),
	}
	n := len(p.Spec.InitContainers) + len(p.Spec.Containers) + len(p.Spec.EphemeralContainers)
	if n == 0 {
		return out
	}
	out.containers = make([]cachedContainer, 0, n)
	for i := range p.Spec.InitContainers {
		c := &p.Spec.InitContainers[i]
		t := detect.ContainerInit
		if alwaysRestarts(c) {
			t = detect.ContainerSidecar
		}
		out.containers = append(out.containers, newCachedContainer(c.Name, t, c.Image, &c.Resources,
			restartPolicyOf(p.Spec.RestartPolicy, t, alwaysRestarts(c)), findStatus(p.Status.InitContainerStatuses, i, c.Name)))
	}
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		out.containers = append(out.containers, newCachedContainer(c.Name, detect.ContainerApp, c.Image, &c.Resources,
			restartPolicyOf(p.Spec.RestartPolicy, detect.ContainerApp, alwaysRestarts(c)), findStatus(p.Status.ContainerStatuses, i, c.Name)))
	}
	for i := range p.Spec.EphemeralContainers {
		c := &p.Spec.EphemeralContainers[i].EphemeralContainerCommon
		out.containers = append(out.containers, newCachedContainer(c.Name, detect.ContainerEphemeral, c.Image, &c.Resources,
			detect.RestartNever, findStatus(p.Status.EphemeralContainerStatuses, i, c.Name)))
	}
	return out
}

var (
	noReason    = intern("")
	noStateText = unique.Make(stateText{})
)

// alwaysRestarts reports whether the container's own restartPolicy is
// Always: a sidecar, for an init container.
func alwaysRestarts(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// restartPolicyOf returns whether the kubelet restarts a container of type
// t after it exits (kuberuntime's ShouldContainerBeRestarted and
// podutil's IsRestartableInitContainer), given the pod's restartPolicy and
// whether the container's own is Always: a sidecar always; another init
// container on failure unless the pod's policy is Never; an app container
// by its own restartPolicy when Always, else by the pod's.
func restartPolicyOf(pod corev1.RestartPolicy, t detect.ContainerType, always bool) detect.RestartPolicy {
	switch {
	case t == detect.ContainerSidecar:
		return detect.RestartAlways
	case t == detect.ContainerInit:
		if pod == corev1.RestartPolicyNever {
			return detect.RestartNever
		}
		return detect.RestartOnFailure
	case always:
		return detect.RestartAlways
	}
	switch pod {
	case corev1.RestartPolicyNever:
		return detect.RestartNever
	case corev1.RestartPolicyOnFailure:
		return detect.RestartOnFailure
	}
	return detect.RestartAlways
}

func newCachedContainer(name string, t detect.ContainerType, image string, res *corev1.ResourceRequirements,
	policy detect.RestartPolicy, st *corev1.ContainerStatus) cachedContainer {
	c := cachedContainer{
		spec:      unique.Make(containerSpec{name: name, image: image, typ: t, resources: resources(res), restartPolicy: policy}),
		stateText: noStateText,
	}
	if st == nil {
		return c
	}
	c.id = packID(st.ContainerID)
	c.restartCount = max(st.RestartCount, 0)
	c.ready = st.Ready
	switch s := &st.State; {
	case s.Terminated != nil:
		c.state = detect.StateTerminated
		c.stateText = unique.Make(stateText{bound(s.Terminated.Reason, MaxReasonBytes), bound(s.Terminated.Message, MaxMessageBytes), s.Terminated.ExitCode})
		c.stateSince = stampOf(s.Terminated.FinishedAt)
	case s.Running != nil:
		c.state = detect.StateRunning
		c.stateSince = stampOf(s.Running.StartedAt)
	case s.Waiting != nil:
		c.state = detect.StateWaiting
		c.stateText = unique.Make(stateText{reason: bound(s.Waiting.Reason, MaxReasonBytes), message: bound(s.Waiting.Message, MaxMessageBytes)})
	}
	if t := st.LastTerminationState.Terminated; t != nil {
		c.last = &cachedTermination{
			id:       packID(t.ContainerID),
			reason:   intern(bound(t.Reason, MaxReasonBytes)),
			message:  bound(t.Message, MaxMessageBytes),
			exitCode: t.ExitCode,
			signal:   t.Signal,
			started:  stampOf(t.StartedAt),
			finished: stampOf(t.FinishedAt),
		}
	}
	return c
}

// pod returns the detect.Pod the cached pod stands for: a new value each
// time, whose strings but the container IDs share the cache's memory.
func (c *cachedPod) pod() *detect.Pod {
	out := &detect.Pod{
		UID:        c.uid,
		Namespace:  c.namespace.Value(),
		Name:       c.name,
		Node:       c.node.Value(),
		Owner:      c.owner.Value(),
		Phase:      c.phase.Value(),
		Reason:     c.reason.Value(),
		Deleting:   c.deleting,
		Disruption: c.disruption.Value(),
		CreatedAt:  c.created.time(),
	}
	if len(c.containers) == 0 {
		return out
	}
	out.Containers = make([]detect.Container, len(c.containers))
	for i := range c.containers {
		cc := &c.containers[i]
		d := &out.Containers[i]
		text, spec := cc.stateText.Value(), cc.spec.Value()
		*d = detect.Container{
			Name:          spec.name,
			Type:          spec.typ,
			Image:         spec.image,
			ContainerID:   cc.id.String(),
			RestartCount:  cc.restartCount,
			Ready:         cc.ready,
			State:         cc.state,
			StateReason:   text.reason,
			StateMessage:  text.message,
			StateSince:    cc.stateSince.time(),
			StateExitCode: text.exitCode,
			RestartPolicy: spec.restartPolicy,
			Resources:     spec.resources,
		}
		if t := cc.last; t != nil {
			d.Last = detect.Termination{
				ContainerID: t.id.String(),
				Reason:      t.reason.Value(),
				Message:     t.message,
				ExitCode:    t.exitCode,
				Signal:      t.signal,
				StartedAt:   t.started.time(),
				FinishedAt:  t.finished.time(),
			}
		}
	}
	return out
}

// sameContent reports whether c and o stand for the same detect.Pod, that is
// whether they differ at most in resourceVersion. It allocates nothing.
func (c *cachedPod) sameContent(o *cachedPod) bool {
	return c.name == o.name && c.uid == o.uid && c.namespace == o.namespace && c.node == o.node &&
		c.phase == o.phase && c.owner == o.owner && c.reason == o.reason && c.created == o.created &&
		c.deleting == o.deleting && c.disruption == o.disruption &&
		slices.EqualFunc(c.containers, o.containers, func(a, b cachedContainer) bool { return a.same(&b) })
}

func (c *cachedContainer) same(o *cachedContainer) bool {
	if c.spec != o.spec || c.id != o.id || c.stateText != o.stateText || c.stateSince != o.stateSince ||
		c.restartCount != o.restartCount || c.state != o.state || c.ready != o.ready {
		return false
	}
	switch {
	case c.last == nil || o.last == nil:
		return c.last.isZero() == o.last.isZero()
	default:
		return *c.last == *o.last
	}
}

// isZero reports whether t carries nothing: no last termination, or one
// whose fields are all unset, which detect.Pod cannot tell apart.
func (t *cachedTermination) isZero() bool {
	return t == nil || *t == cachedTermination{reason: noReason}
}

// compactMeta is the part of metav1.Object that client-go's informers read
// of the objects they store: the namespace and name for keys, the
// resourceVersion to tell resyncs, the UID. Embedded in a compact type of
// our own, with GetObjectKind and DeepCopyObject, it lets an informer's
// transform cache that type instead of the API's (see cachedPod). Its
// setters do nothing: cached objects are immutable, and client-go never
// modifies stored objects.
type compactMeta struct {
	namespace       unique.Handle[string]
	name            string
	uid             string
	resourceVersion string
}

func newCompactMeta(m *metav1.ObjectMeta) compactMeta {
	return compactMeta{namespace: intern(m.Namespace), name: m.Name, uid: string(m.UID), resourceVersion: m.ResourceVersion}
}

var (
	_ runtime.Object = (*cachedPod)(nil)
	_ metav1.Object  = (*cachedPod)(nil)
)

func (c *cachedPod) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// initialEventsEnd is the annotation of the bookmark that ends a WatchList's
// initial events, the one annotation a reflector reads.
var initialEventsEnd = map[string]string{metav1.InitialEventsAnnotationKey: "true"}

// GetAnnotations returns the annotation a reflector looks for on the
// bookmark that ends a WatchList's initial events, when c is that bookmark;
// the cache keeps no annotations. The map is shared: don't modify it.
func (c *cachedPod) GetAnnotations() map[string]string {
	if c.initialEventsEnd {
		return initialEventsEnd
	}
	return nil
}

// DeepCopyObject returns a copy; the copy shares the immutable parts.
func (c *cachedPod) DeepCopyObject() runtime.Object {
	cp := *c
	cp.containers = slices.Clone(c.containers)
	return &cp
}

func (m *compactMeta) GetNamespace() string                          { return m.namespace.Value() }
func (m *compactMeta) GetName() string                               { return m.name }
func (m *compactMeta) GetUID() types.UID                             { return types.UID(m.uid) }
func (m *compactMeta) GetResourceVersion() string                    { return m.resourceVersion }
func (m *compactMeta) GetCreationTimestamp() metav1.Time             { return metav1.Time{} }
func (m *compactMeta) GetDeletionTimestamp() *metav1.Time            { return nil }
func (m *compactMeta) GetGenerateName() string                       { return "" }
func (m *compactMeta) GetGeneration() int64                          { return 0 }
func (m *compactMeta) GetSelfLink() string                           { return "" }
func (m *compactMeta) GetDeletionGracePeriodSeconds() *int64         { return nil }
func (m *compactMeta) GetLabels() map[string]string                  { return nil }
func (m *compactMeta) GetAnnotations() map[string]string             { return nil }
func (m *compactMeta) GetFinalizers() []string                       { return nil }
func (m *compactMeta) GetOwnerReferences() []metav1.OwnerReference   { return nil }
func (m *compactMeta) GetManagedFields() []metav1.ManagedFieldsEntry { return nil }
func (m *compactMeta) SetNamespace(string)                           {}
func (m *compactMeta) SetName(string)                                {}
func (m *compactMeta) SetGenerateName(string)                        {}
func (m *compactMeta) SetUID(types.UID)                              {}
func (m *compactMeta) SetResourceVersion(string)                     {}
func (m *compactMeta) SetGeneration(int64)                           {}
func (m *compactMeta) SetSelfLink(string)                            {}
func (m *compactMeta) SetCreationTimestamp(metav1.Time)              {}
func (m *compactMeta) SetDeletionTimestamp(*metav1.Time)             {}
func (m *compactMeta) SetDeletionGracePeriodSeconds(*int64)          {}
func (m *compactMeta) SetLabels(map[string]string)                   {}
func (m *compactMeta) SetAnnotations(map[string]string)              {}
func (m *compactMeta) SetFinalizers([]string)                        {}
func (m *compactMeta) SetOwnerReferences([]metav1.OwnerReference)    {}
func (m *compactMeta) SetManagedFields([]metav1.ManagedFieldsEntry)  {}
