package collect

import (
	"bytes"
	"strings"
	"sync"
	"unique"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// The lean pod decoder reads a pod's protobuf encoding straight into a
// cachedPod: it reads the few fields newCachedPod reads and skips the others
// (managedFields, env, volumes, probes, most of the status) by their length,
// without building a *corev1.Pod. For the same bytes it builds the same
// cachedPod as newCachedPod does from the standard decoder's pod
// (TestLeanDecodeEqualsTransform, FuzzLeanDecode); whatever it does not
// expect it refuses, and the caller then uses the standard decoder.
//
// Field numbers are those of k8s.io/api/core/v1/generated.proto and
// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto, named beside each
// case. Where a singular message field repeats, protobuf merges the
// occurrences; the decoder does the same by decoding every occurrence into
// the same value.
//
// A field cachedPod gains is read here as well: one case in the message that
// carries it (and a line in build or buildContainer), and the equivalence
// tests fail until it is.

// leanPod is what the decoder gathers of one pod before building its
// cachedPod. Its strings alias the message being decoded.
type leanPod struct {
	name, namespace, uid, resourceVersion string
	created                               stamp
	deleting                              bool
	initialEventsEnd                      bool
	templateHash                          string
	firstRef, controllerRef               leanOwnerRef
	refs                                  int // owner references seen
	hasControllerRef                      bool

	node          string
	restartPolicy string // the pod's spec.restartPolicy
	phase, reason string
	disruption    string
	hasDisruption bool

	specs    [3][]leanSpec   // init (sidecars included), app, ephemeral containers
	statuses [3][]leanStatus // their statuses, in the same order
}

type leanOwnerRef struct {
	apiVersion, kind, name string
	controller             bool
}

// leanSpec is what a container's spec says.
type leanSpec struct {
	name, image string
	always      bool // its own restartPolicy is Always: a sidecar, for an init container
	resources   detect.Resources
}

// leanStatus is a container's status.
type leanStatus struct {
	name, containerID string
	restartCount      int32
	ready             bool
	state, last       leanState
}

// leanState is a corev1.ContainerState: which of its members are present,
// and their values.
type leanState struct {
	waiting, running, terminated  bool
	waitingReason, waitingMessage string
	runningSince                  stamp
	term                          leanTermination
}

// leanTermination is a corev1.ContainerStateTerminated.
type leanTermination struct {
	exitCode, signal             int32
	reason, message, containerID string
	started, finished            stamp
}

// reset empties p for the next pod, keeping its slices' memory but no
// reference to the last message.
func (p *leanPod) reset() {
	specs, statuses := p.specs, p.statuses
	*p = leanPod{}
	for i := range specs {
		clear(specs[i])
		clear(statuses[i])
		p.specs[i] = specs[i][:0]
		p.statuses[i] = statuses[i][:0]
	}
}

// leanPods recycles the decoders' scratch space: a watch event decodes one
// pod, a list thousands, one after the other.
var leanPods = sync.Pool{New: func() any { return new(leanPod) }}

// decodeLeanPod decodes a pod's protobuf encoding (the runtime.Unknown's raw
// bytes, without the envelope); ok is false when it cannot.
func decodeLeanPod(b []byte) (*cachedPod, bool) {
	p := leanPods.Get().(*leanPod)
	defer func() {
		p.reset()
		leanPods.Put(p)
	}()
	if !p.decode(b) {
		return nil, false
	}
	return p.build(), true
}

// decode reads a corev1.Pod.
func (p *leanPod) decode(b []byte) bool {
	var f pbField
	for len(b) > 0 {
		var ok bool
		if b, ok = nextField(b, &f); !ok {
			return false
		}
		switch f.num {
		case 1: // metadata
			ok = decodeMsg(&f, p.meta)
		case 2: // spec
			ok = decodeMsg(&f, p.spec)
		case 3: // status
			ok = decodeMsg(&f, p.status)
		}
		if !ok {
			return false
		}
	}
	return true
}

// decodeMsg decodes the message in f with fn; false when f is not a message.
func decodeMsg(f *pbField, fn func([]byte) bool) bool {
	b, ok := f.msg()
	return ok && fn(b)
}

// eachField calls fn for every field of the message b, until fn returns false.
func eachField(b []byte, fn func(*pbField) bool) bool {
	var f pbField
	for len(b) > 0 {
		var ok bool
		if b, ok = nextField(b, &f); !ok || !fn(&f) {
			return false
		}
	}
	return true
}

// setStr sets *dst to f's string; false when f is not one.
func setStr(f *pbField, dst *string) bool {
	s, ok := f.str()
	if ok {
		*dst = s
	}
	return ok
}

// meta reads a metav1.ObjectMeta.
func (p *leanPod) meta(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // name
			return setStr(f, &p.name)
		case 3: // namespace
			return setStr(f, &p.namespace)
		case 5: // uid
			return setStr(f, &p.uid)
		case 6: // resourceVersion
			return setStr(f, &p.resourceVersion)
		case 8: // creationTimestamp
			return decodeTime(f, &p.created)
		case 9: // deletionTimestamp: a pointer, set when present
			var t stamp
			p.deleting = true
			return decodeTime(f, &t)
		case 11: // labels
			return decodeMapEntry(f, func(k, v string) {
				if k == templateHashLabel {
					p.templateHash = v
				}
			})
		case 12: // annotations
			return decodeMapEntry(f, func(k, v string) {
				if k == metav1.InitialEventsAnnotationKey {
					p.initialEventsEnd = v == "true"
				}
			})
		case 13: // ownerReferences
			var r leanOwnerRef
			if !decodeMsg(f, r.decode) {
				return false
			}
			if p.refs == 0 {
				p.firstRef = r
			}
			p.refs++
			if r.controller && !p.hasControllerRef {
				p.controllerRef, p.hasControllerRef = r, true
			}
		}
		return true
	})
}

// decode reads a metav1.OwnerReference.
func (r *leanOwnerRef) decode(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // kind
			return setStr(f, &r.kind)
		case 3: // name
			return setStr(f, &r.name)
		case 5: // apiVersion
			return setStr(f, &r.apiVersion)
		case 6: // controller
			var ok bool
			r.controller, ok = f.bool()
			return ok
		}
		return true
	})
}

// decodeTime reads a metav1.Time as its Unmarshal does (time_proto.go):
// empty bytes are the zero time, otherwise the seconds of its Timestamp
// (seconds = 1, nanos = 2), whose nanoseconds it ignores.
func decodeTime(f *pbField, dst *stamp) bool {
	b, ok := f.msg()
	if !ok {
		return false
	}
	if len(b) == 0 {
		*dst = 0
		return true
	}
	var sec int64
	ok = eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1:
			var ok bool
			sec, ok = f.int64()
			return ok
		case 2:
			return f.wire == wireVarint
		}
		return true
	})
	*dst = stamp(sec - zeroUnix)
	return ok
}

// decodeMapEntry reads an entry of a map<string, string> (key = 1, value =
// 2) and hands it to fn.
func decodeMapEntry(f *pbField, fn func(k, v string)) bool {
	var k, v string
	if !decodeMsg(f, func(b []byte) bool {
		return eachField(b, func(f *pbField) bool {
			switch f.num {
			case 1:
				return setStr(f, &k)
			case 2:
				return setStr(f, &v)
			}
			return true
		})
	}) {
		return false
	}
	fn(k, v)
	return true
}

// spec reads a corev1.PodSpec.
func (p *leanPod) spec(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 3: // restartPolicy
			return setStr(f, &p.restartPolicy)
		case 10: // nodeName
			return setStr(f, &p.node)
		case 20: // initContainers
			return p.container(f, 0, (*leanSpec).decode)
		case 2: // containers
			return p.container(f, 1, (*leanSpec).decode)
		case 34: // ephemeralContainers
			return p.container(f, 2, (*leanSpec).decodeEphemeral)
		}
		return true
	})
}

func (p *leanPod) container(f *pbField, kind int, decode func(*leanSpec, []byte) bool) bool {
	p.specs[kind] = append(p.specs[kind], leanSpec{})
	s := &p.specs[kind][len(p.specs[kind])-1]
	return decodeMsg(f, func(b []byte) bool { return decode(s, b) })
}

// decode reads a corev1.Container, or the EphemeralContainerCommon of an
// ephemeral container, which has the same field numbers.
func (s *leanSpec) decode(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // name
			return setStr(f, &s.name)
		case 2: // image
			return setStr(f, &s.image)
		case 8: // resources
			return decodeMsg(f, s.decodeResources)
		case 24: // restartPolicy
			var policy string
			if !setStr(f, &policy) {
				return false
			}
			s.always = policy == string(corev1.ContainerRestartPolicyAlways)
		}
		return true
	})
}

// decodeEphemeral reads a corev1.EphemeralContainer.
func (s *leanSpec) decodeEphemeral(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		if f.num == 1 { // ephemeralContainerCommon
			return decodeMsg(f, s.decode)
		}
		return true
	})
}

// decodeResources reads a corev1.ResourceRequirements: limits = 1 and
// requests = 2, maps of resource names to Quantity messages (string = 1).
// Every quantity is parsed, as the standard decoder does, which fails on an
// invalid one; cpu and memory are kept in canonical form.
func (s *leanSpec) decodeResources(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		var cpu, mem *string
		switch f.num {
		case 1:
			cpu, mem = &s.resources.CPULimit, &s.resources.MemoryLimit
		case 2:
			cpu, mem = &s.resources.CPURequest, &s.resources.MemoryRequest
		default:
			return true
		}
		var name, q string
		hasQ := false
		if !decodeMsg(f, func(b []byte) bool {
			return eachField(b, func(f *pbField) bool {
				switch f.num {
				case 1:
					return setStr(f, &name)
				case 2:
					hasQ = true
					return decodeMsg(f, func(b []byte) bool { return decodeQuantity(b, &q) })
				}
				return true
			})
		}) {
			return false
		}
		if !hasQ {
			q = "0" // the zero Quantity a map entry without a value stands for
		}
		switch corev1.ResourceName(name) {
		case corev1.ResourceCPU:
			*cpu = q
		case corev1.ResourceMemory:
			*mem = q
		}
		return true
	})
}

// decodeQuantity reads a resource.Quantity message as its Unmarshal does
// (quantity_proto.go): the last string = 1 parsed, the zero quantity without
// one; it sets *dst to the quantity's canonical form.
func decodeQuantity(b []byte, dst *string) bool {
	raw, has := "", false
	if !eachField(b, func(f *pbField) bool {
		if f.num == 1 {
			has = true
			return setStr(f, &raw)
		}
		return true
	}) {
		return false
	}
	if !has {
		*dst = "0"
		return true
	}
	c, ok := canonicalQuantity(raw)
	*dst = c
	return ok
}

// maxQuantities bounds the cache of canonical quantityCache. A cluster's pods
// use a few dozen distinct requests and limits.
const maxQuantities = 4096

// quantityCache caches the canonical form of quantityCache as they are written in
// pod specs, so that a pod update parses none. Its values never alias a
// decoder's buffer.
var quantityCache = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// canonicalQuantity returns raw in Kubernetes' canonical notation, as
// Quantity.String does after parsing it; ok is false when raw is not a
// quantity.
func canonicalQuantity(raw string) (string, bool) {
	quantityCache.Lock()
	c, ok := quantityCache.m[raw]
	quantityCache.Unlock()
	if ok {
		return c, true
	}
	q, err := resource.ParseQuantity(raw)
	if err != nil {
		return "", false
	}
	c = strings.Clone(q.String())
	quantityCache.Lock()
	if len(quantityCache.m) < maxQuantities {
		quantityCache.m[strings.Clone(raw)] = c
	}
	quantityCache.Unlock()
	return c, true
}

// status reads a corev1.PodStatus.
func (p *leanPod) status(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // phase
			return setStr(f, &p.phase)
		case 4: // reason
			return setStr(f, &p.reason)
		case 2: // conditions
			return decodeMsg(f, p.condition)
		case 10: // initContainerStatuses
			return p.containerStatus(f, 0)
		case 8: // containerStatuses
			return p.containerStatus(f, 1)
		case 13: // ephemeralContainerStatuses
			return p.containerStatus(f, 2)
		}
		return true
	})
}

// condition reads a corev1.PodCondition, keeping the first DisruptionTarget
// condition that is True, as disruptionTarget does.
func (p *leanPod) condition(b []byte) bool {
	var typ, status, reason string
	if !eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // type
			return setStr(f, &typ)
		case 2: // status
			return setStr(f, &status)
		case 5: // reason
			return setStr(f, &reason)
		}
		return true
	}) {
		return false
	}
	if !p.hasDisruption && typ == string(corev1.DisruptionTarget) && status == string(corev1.ConditionTrue) {
		p.disruption, p.hasDisruption = reason, true
		if reason == "" {
			p.disruption = string(corev1.DisruptionTarget)
		}
	}
	return true
}

func (p *leanPod) containerStatus(f *pbField, kind int) bool {
	p.statuses[kind] = append(p.statuses[kind], leanStatus{})
	s := &p.statuses[kind][len(p.statuses[kind])-1]
	return decodeMsg(f, s.decode)
}

// decode reads a corev1.ContainerStatus.
func (s *leanStatus) decode(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		var ok bool
		switch f.num {
		case 1: // name
			return setStr(f, &s.name)
		case 2: // state
			return decodeMsg(f, s.state.decode)
		case 3: // lastState
			return decodeMsg(f, s.last.decode)
		case 4: // ready
			s.ready, ok = f.bool()
			return ok
		case 5: // restartCount
			s.restartCount, ok = f.int32()
			return ok
		case 8: // containerID
			return setStr(f, &s.containerID)
		}
		return true
	})
}

// decode reads a corev1.ContainerState.
func (s *leanState) decode(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1: // waiting: reason = 1, message = 2
			s.waiting = true
			return decodeMsg(f, func(b []byte) bool {
				return eachField(b, func(f *pbField) bool {
					switch f.num {
					case 1:
						return setStr(f, &s.waitingReason)
					case 2:
						return setStr(f, &s.waitingMessage)
					}
					return true
				})
			})
		case 2: // running: startedAt = 1
			s.running = true
			return decodeMsg(f, func(b []byte) bool {
				return eachField(b, func(f *pbField) bool {
					if f.num == 1 {
						return decodeTime(f, &s.runningSince)
					}
					return true
				})
			})
		case 3: // terminated
			s.terminated = true
			return decodeMsg(f, s.term.decode)
		}
		return true
	})
}

// decode reads a corev1.ContainerStateTerminated.
func (t *leanTermination) decode(b []byte) bool {
	return eachField(b, func(f *pbField) bool {
		var ok bool
		switch f.num {
		case 1: // exitCode
			t.exitCode, ok = f.int32()
			return ok
		case 2: // signal
			t.signal, ok = f.int32()
			return ok
		case 3: // reason
			return setStr(f, &t.reason)
		case 4: // message
			return setStr(f, &t.message)
		case 5: // startedAt
			return decodeTime(f, &t.started)
		case 6: // finishedAt
			return decodeTime(f, &t.finished)
		case 7: // containerID
			return setStr(f, &t.containerID)
		}
		return true
	})
}

// build returns the cachedPod newCachedPod returns for the pod p read. Every
// string it keeps is copied out of the message.
func (p *leanPod) build() *cachedPod {
	out := &cachedPod{
		compactMeta: compactMeta{
			namespace:       intern(p.namespace),
			name:            strings.Clone(p.name),
			uid:             strings.Clone(p.uid),
			resourceVersion: strings.Clone(p.resourceVersion),
		},
		node:             intern(p.node),
		phase:            intern(p.phase),
		owner:            unique.Make(p.owner()),
		reason:           intern(bound(p.reason, MaxReasonBytes)),
		created:          p.created,
		deleting:         p.deleting,
		disruption:       intern(bound(p.disruption, MaxReasonBytes)),
		initialEventsEnd: p.initialEventsEnd,
	}
	n := len(p.specs[0]) + len(p.specs[1]) + len(p.specs[2])
	if n == 0 {
		return out
	}
	out.containers = make([]cachedContainer, 0, n)
	for kind, specs := range p.specs {
		for i := range specs {
			s := &specs[i]
			t := [...]detect.ContainerType{detect.ContainerInit, detect.ContainerApp, detect.ContainerEphemeral}[kind]
			if kind == 0 && s.always {
				t = detect.ContainerSidecar
			}
			policy := detect.RestartNever // ephemeral containers never restart
			if t != detect.ContainerEphemeral {
				policy = restartPolicyOf(corev1.RestartPolicy(p.restartPolicy), t, s.always)
			}
			out.containers = append(out.containers, s.build(t, policy, leanFindStatus(p.statuses[kind], i, s.name)))
		}
	}
	return out
}

// owner resolves the pod's workload as ownerOf does.
func (p *leanPod) owner() detect.Owner {
	ref := &p.firstRef
	switch {
	case p.hasControllerRef:
		ref = &p.controllerRef
	case p.refs == 0:
		return detect.Owner{}
	}
	api := metav1.OwnerReference{APIVersion: ref.apiVersion, Kind: ref.kind, Name: ref.name}
	if d, ok := deploymentOf(&api, p.templateHash); ok {
		return detect.Owner{Kind: "Deployment", Name: d, Revision: p.templateHash}
	}
	return detect.Owner{Kind: ref.kind, Name: ref.name}
}

// leanFindStatus is findStatus for leanStatus.
func leanFindStatus(statuses []leanStatus, i int, name string) *leanStatus {
	if i < len(statuses) && statuses[i].name == name {
		return &statuses[i]
	}
	for j := range statuses {
		if statuses[j].name == name {
			return &statuses[j]
		}
	}
	return nil
}

// build returns the cachedContainer newCachedContainer returns.
func (s *leanSpec) build(t detect.ContainerType, policy detect.RestartPolicy, st *leanStatus) cachedContainer {
	c := cachedContainer{
		spec:      unique.Make(containerSpec{name: s.name, image: s.image, typ: t, resources: s.resources, restartPolicy: policy}),
		stateText: noStateText,
	}
	if st == nil {
		return c
	}
	c.id = packID(st.containerID)
	c.restartCount = max(st.restartCount, 0)
	c.ready = st.ready
	switch s := &st.state; {
	case s.terminated:
		c.state = detect.StateTerminated
		c.stateText = unique.Make(stateText{bound(s.term.reason, MaxReasonBytes), bound(s.term.message, MaxMessageBytes), s.term.exitCode})
		c.stateSince = s.term.finished
	case s.running:
		c.state = detect.StateRunning
		c.stateSince = s.runningSince
	case s.waiting:
		c.state = detect.StateWaiting
		c.stateText = unique.Make(stateText{bound(s.waitingReason, MaxReasonBytes), bound(s.waitingMessage, MaxMessageBytes), 0})
	}
	if st.last.terminated {
		t := &st.last.term
		c.last = &cachedTermination{
			id:       packID(t.containerID),
			reason:   intern(bound(t.reason, MaxReasonBytes)),
			message:  strings.Clone(bound(t.message, MaxMessageBytes)),
			exitCode: t.exitCode,
			signal:   t.signal,
			started:  t.started,
			finished: t.finished,
		}
	}
	return c
}

// unsafeString returns b as a string without copying it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// protobufMagic starts every protobuf-encoded Kubernetes object
// (k8s.io/apimachinery/pkg/runtime/serializer/protobuf).
var protobufMagic = []byte{'k', '8', 's', 0}

// leanObject decodes the protobuf envelope of a Pod or a PodList: the magic
// and a runtime.Unknown (typeMeta = 1: apiVersion = 1, kind = 2; raw = 2).
// ok is false for anything else.
func leanObject(data []byte) (obj any, ok bool) {
	b, ok := bytes.CutPrefix(data, protobufMagic)
	if !ok {
		return nil, false
	}
	var apiVersion, kind string
	var raw []byte
	if !eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1:
			return decodeMsg(f, func(b []byte) bool {
				return eachField(b, func(f *pbField) bool {
					switch f.num {
					case 1:
						return setStr(f, &apiVersion)
					case 2:
						return setStr(f, &kind)
					}
					return true
				})
			})
		case 2:
			raw, ok = f.msg()
			return ok
		case 3, 4: // contentEncoding, contentType: the standard decoder ignores them too
		}
		return true
	}) || apiVersion != "v1" {
		return nil, false
	}
	switch kind {
	case "Pod":
		p, ok := decodeLeanPod(raw)
		return p, ok
	case "PodList":
		l, ok := decodeLeanPodList(raw)
		return l, ok
	}
	return nil, false
}

// decodeLeanPodList decodes a corev1.PodList: metadata = 1 (a ListMeta:
// resourceVersion = 2, continue = 3, remainingItemCount = 4), items = 2.
func decodeLeanPodList(b []byte) (*cachedPodList, bool) {
	out := &cachedPodList{}
	ok := eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1:
			return decodeMsg(f, func(b []byte) bool {
				return eachField(b, func(f *pbField) bool {
					switch f.num {
					case 2:
						return setStr(f, &out.ResourceVersion)
					case 3:
						return setStr(f, &out.Continue)
					case 4:
						n, ok := f.int64()
						out.RemainingItemCount = &n
						return ok
					}
					return true
				})
			})
		case 2:
			b, ok := f.msg()
			if !ok {
				return false
			}
			p, ok := decodeLeanPod(b)
			out.Items = append(out.Items, p)
			return ok
		}
		return true
	})
	out.ResourceVersion, out.Continue = strings.Clone(out.ResourceVersion), strings.Clone(out.Continue)
	return out, ok
}
