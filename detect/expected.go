package detect

import (
	"cmp"
	"slices"
	"time"
)

// ExpectedReason says why a pod's terminations are expected: the pod is
// being taken down or replaced by Kubernetes or by people, not failing on
// its own. Restarts with an expected reason are not counted as abnormal, and
// pods on their way out leave the ratio; the root-cause analysis reports
// them as context. See the README's "Which pods count".
type ExpectedReason uint8

// Expected reasons, the zero value being none.
const (
	ExpectedNone         ExpectedReason = iota
	ExpectedDeleted                     // metadata.deletionTimestamp is set: a rollout, a scale-down, kubectl delete
	ExpectedEvicted                     // the kubelet evicted the pod (node pressure): status.reason Evicted, DisruptionTarget TerminationByKubelet
	ExpectedPreempted                   // the scheduler preempted it: status.reason Preempting, DisruptionTarget PreemptionByScheduler
	ExpectedEvictionAPI                 // evicted through the Eviction API (descheduler, autoscaler): DisruptionTarget EvictionByEvictionAPI
	ExpectedDrain                       // evicted or deleted from a node marked unschedulable (kubectl drain)
	ExpectedTaint                       // deleted for a NoExecute taint: DisruptionTarget DeletionByTaintManager
	ExpectedPodGC                       // deleted by the pod garbage collector: DisruptionTarget DeletionByPodGC
	ExpectedNodeShutdown                // terminated by a graceful node shutdown: status.reason Terminated or Shutdown
	ExpectedDisrupted                   // another DisruptionTarget reason
	ExpectedFinished                    // the pod finished (Succeeded or Failed), such as a Job's pod
	ExpectedRollout                     // a newer revision of the pod's Deployment rolls out: its restarts, its deletion
)

var expectedNames = [...]string{
	ExpectedNone:         "none",
	ExpectedDeleted:      "deleted",
	ExpectedEvicted:      "evicted",
	ExpectedPreempted:    "preempted",
	ExpectedEvictionAPI:  "eviction_api",
	ExpectedDrain:        "drain",
	ExpectedTaint:        "taint",
	ExpectedPodGC:        "pod_gc",
	ExpectedNodeShutdown: "node_shutdown",
	ExpectedDisrupted:    "disrupted",
	ExpectedFinished:     "finished",
	ExpectedRollout:      "rollout",
}

// String returns the reason's name as events carry it: evicted, rollout, ...
func (r ExpectedReason) String() string {
	if int(r) < len(expectedNames) {
		return expectedNames[r]
	}
	return "unknown"
}

// Disruptive reports whether the reason takes a pod down against its
// workload's will: evictions, preemptions, drains, taints, node shutdowns.
// Deletions, finished pods and rollouts are the workload's own life.
func (r ExpectedReason) Disruptive() bool {
	switch r {
	case ExpectedNone, ExpectedDeleted, ExpectedFinished, ExpectedRollout:
		return false
	}
	return true
}

// disruptionOf returns why p is on its way out as this observation shows
// it, most specific first, or ExpectedNone. node is what is known of p's
// node.
func disruptionOf(p *Pod, node Node) ExpectedReason {
	r := ExpectedNone
	switch p.Disruption {
	case "":
	case "TerminationByKubelet":
		r = ExpectedEvicted
	case "PreemptionByScheduler":
		r = ExpectedPreempted
	case "EvictionByEvictionAPI":
		r = ExpectedEvictionAPI
	case "DeletionByTaintManager":
		r = ExpectedTaint
	case "DeletionByPodGC":
		r = ExpectedPodGC
	default:
		r = ExpectedDisrupted
	}
	if r == ExpectedNone {
		switch p.Reason {
		case "Evicted":
			r = ExpectedEvicted
		case "Preempting":
			r = ExpectedPreempted
		case "Terminated", "Shutdown", "NodeShutdown":
			if p.Terminal() {
				r = ExpectedNodeShutdown
			}
		}
	}
	if r == ExpectedNone && p.Deleting {
		r = ExpectedDeleted
	}
	if (r == ExpectedDeleted || r == ExpectedEvictionAPI) && node.Unschedulable {
		r = ExpectedDrain
	}
	if r == ExpectedNone && p.Terminal() {
		r = ExpectedFinished
	}
	return r
}

// causeOf returns the cause of a restart the pod's current observation
// shows of container c (nil: not known yet). A restart first seen while the
// pod is on its way out is expected: the kubelet stopping a pod being
// deleted or evicted may report its containers as restarted. A finished
// pod's restarts are its own (a Job's retries): they count.
func (s *podState) causeOf(c *Container) CauseKey {
	switch {
	case s.disrupted != ExpectedNone && s.disrupted != ExpectedFinished:
		return CauseKey{CauseExpected, uint8(s.disrupted)}
	case c == nil:
		return CauseKey{CauseUnknown, 0}
	}
	return classify(c)
}

// disrupt records why the pod is on its way out as p shows it, before its
// restarts are counted, and a departure when it begins leaving. It reports
// whether that changed. first is set for the pod's first observation, when
// the pod may have left long before: a finished pod (evicted, shut down)
// left when its last container terminated, and counts as a departure only
// if that lies inside the window. The caller holds d.mu.
func (d *Detector) disrupt(ns *namespaceState, s *podState, p *Pod, now, horizon int64, first bool) bool {
	reason := disruptionOf(p, d.node(p.Node))
	if reason == ExpectedDeleted && !d.supersededSince(p).IsZero() {
		reason = ExpectedRollout // an old revision's pod the rollout replaces
	}
	if reason == s.disrupted {
		return false
	}
	if s.disrupted == ExpectedNone && reason != ExpectedFinished {
		at := now
		if first && p.Terminal() {
			at = 0
			for i := range p.Containers {
				if c := &p.Containers[i]; c.State == StateTerminated {
					at = max(at, min(unixNano(c.StateSince), now))
				}
			}
		}
		if at >= horizon && at > 0 {
			ns.depart(p, reason, at)
		}
	}
	s.disrupted = reason
	return true
}

// maxDepartures bounds the departures remembered per namespace for the
// context of its events; past it the oldest are forgotten.
const maxDepartures = 256

// departure is one pod that left, or began leaving, for an expected reason:
// the context of a namespace's events.
type departure struct {
	at     int64 // unix nanoseconds
	uid    string
	reason ExpectedReason
	node   string
	owner  Owner
}

// depart records that a pod began leaving for reason at at, keeping the
// departures in time order.
func (ns *namespaceState) depart(p *Pod, reason ExpectedReason, at int64) {
	if len(ns.departures) >= maxDepartures {
		ns.departures = slices.Delete(ns.departures, 0, len(ns.departures)-maxDepartures+1)
	}
	i := len(ns.departures)
	for i > 0 && ns.departures[i-1].at > at {
		i--
	}
	ns.departures = slices.Insert(ns.departures, i, departure{at: at, uid: p.UID, reason: reason, node: p.Node, owner: p.Owner})
}

// pruneDepartures forgets departures older than horizon.
func (ns *namespaceState) pruneDepartures(horizon int64) {
	i := 0
	for i < len(ns.departures) && ns.departures[i].at < horizon {
		i++
	}
	if i > 0 {
		ns.departures = slices.Delete(ns.departures, 0, i)
	}
}

// revisionState is a Deployment's revision as the detector remembers it.
type revisionState struct {
	Revision
	// since is when the revision became the one it is: its creation, or
	// when the agent saw its number rise (a rollback makes an old
	// ReplicaSet the newest revision again).
	since time.Time
}

// supersededSince returns when a newer revision of p's Deployment than
// p's own appeared, or the zero time when none did (or p is not a
// Deployment's pod, or its revision is unknown). The caller holds d.mu.
func (d *Detector) supersededSince(p *Pod) time.Time {
	if p.Owner.Kind != "Deployment" || p.Owner.Revision == "" {
		return time.Time{}
	}
	revs := d.revisions[p.Namespace][p.Owner.Name]
	own := slices.IndexFunc(revs, func(r *revisionState) bool { return r.Hash == p.Owner.Revision })
	if own < 0 {
		return time.Time{}
	}
	var since time.Time
	for _, r := range revs {
		if r.Number > revs[own].Number && (since.IsZero() || r.since.Before(since)) {
			since = r.since
		}
	}
	return since
}

// noteRevision records that p belongs to a Deployment revision whose
// ReplicaSet was not seen yet, if it does. The caller holds d.mu.
func (d *Detector) noteRevision(ns *namespaceState, p *Pod, now int64) {
	if d.cfg.RevisionWait <= 0 || p.Owner.Kind != "Deployment" || p.Owner.Revision == "" ||
		slices.ContainsFunc(d.revisions[p.Namespace][p.Owner.Name], func(r *revisionState) bool { return r.Hash == p.Owner.Revision }) {
		return
	}
	key := p.Owner.Name + "/" + p.Owner.Revision
	if _, ok := ns.unseenRevisions[key]; ok {
		return
	}
	if ns.unseenRevisions == nil {
		ns.unseenRevisions = make(map[string]int64)
	}
	ns.unseenRevisions[key] = now
}

// awaitsRevision reports whether the namespace has a pod of a revision
// whose ReplicaSet was not seen, observed first less than wait before now:
// its ReplicaSet is on its way. A ReplicaSet that never comes (it is not
// readable, or no Deployment controls it) holds the namespace that long
// once per window. It forgets revisions first seen before horizon.
func (ns *namespaceState) awaitsRevision(wait time.Duration, now, horizon int64) bool {
	waiting := false
	for k, at := range ns.unseenRevisions {
		switch {
		case at < horizon:
			delete(ns.unseenRevisions, k)
		case now-at < int64(wait):
			waiting = true
		}
	}
	if len(ns.unseenRevisions) == 0 {
		ns.unseenRevisions = nil
	}
	return waiting
}

// SetRevision records a revision of a Deployment (a ReplicaSet) seen at
// now, and reports whether it changed anything the detector decides on:
// a new revision of a Deployment with others, or one that pods observed
// before it wait for.
func (d *Detector) SetRevision(r Revision, now time.Time) bool {
	if r.Deployment == "" || r.Hash == "" {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	awaited := false
	if ns := d.namespaces[r.Namespace]; ns != nil {
		key := r.Deployment + "/" + r.Hash
		if _, awaited = ns.unseenRevisions[key]; awaited {
			delete(ns.unseenRevisions, key)
		}
	}
	byDep := d.revisions[r.Namespace]
	if byDep == nil {
		byDep = make(map[string][]*revisionState)
		d.revisions[r.Namespace] = byDep
	}
	revs := byDep[r.Deployment]
	for _, old := range revs {
		if old.Name != r.Name {
			continue
		}
		changed := old.Number != r.Number
		if r.Number > old.Number {
			old.since = now
		}
		old.Revision = r
		return changed || awaited
	}
	since := r.Created
	if since.IsZero() || since.After(now) {
		since = now
	}
	byDep[r.Deployment] = append(revs, &revisionState{Revision: r, since: since})
	slices.SortFunc(byDep[r.Deployment], func(a, b *revisionState) int { return cmp.Compare(a.Number, b.Number) })
	return len(revs) > 0 || awaited
}

// DeleteRevision forgets a ReplicaSet.
func (d *Detector) DeleteRevision(namespace, deployment, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	byDep := d.revisions[namespace]
	revs := slices.DeleteFunc(byDep[deployment], func(r *revisionState) bool { return r.Name == name })
	if len(revs) == 0 {
		delete(byDep, deployment)
		if len(byDep) == 0 {
			delete(d.revisions, namespace)
		}
		return
	}
	byDep[deployment] = revs
}

// Revision is one revision of a Deployment: one of its ReplicaSets.
type Revision struct {
	Namespace  string
	Deployment string
	Name       string // the ReplicaSet's name, "<deployment>-<hash>"
	Hash       string // its pod-template-hash
	// Number is the deployment.kubernetes.io/revision annotation: the
	// Deployment controller gives every new or rolled-back-to template the
	// next number.
	Number  int64
	Created time.Time
	// Images are the images of the template's containers, init containers
	// first, by container name.
	Images []ContainerImage
}

// ContainerImage is the image of one container of a pod template.
type ContainerImage struct {
	Container string
	Image     string
}
