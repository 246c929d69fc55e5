package detect

import (
	"cmp"
	"slices"
)

// NodeConditions are the problem conditions a node reports, as a set.
type NodeConditions uint8

// Node conditions that explain restarts: Ready not True, and the pressure
// and network conditions True.
const (
	NodeNotReady NodeConditions = 1 << iota
	NodeMemoryPressure
	NodeDiskPressure
	NodePIDPressure
	NodeNetworkUnavailable
)

var nodeConditionNames = []struct {
	c    NodeConditions
	name string
}{
	{NodeNotReady, "NotReady"},
	{NodeMemoryPressure, "MemoryPressure"},
	{NodeDiskPressure, "DiskPressure"},
	{NodePIDPressure, "PIDPressure"},
	{NodeNetworkUnavailable, "NetworkUnavailable"},
}

// Names returns the conditions' names as Kubernetes spells them, NotReady
// first.
func (c NodeConditions) Names() []string {
	var out []string
	for _, n := range nodeConditionNames {
		if c&n.c != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Node is what the root-cause analysis knows of a node.
type Node struct {
	Name          string
	Unschedulable bool // spec.unschedulable: cordoned, as kubectl drain does first
	Conditions    NodeConditions
}

// SetNode records a node's state and reports whether it changed.
func (d *Detector) SetNode(n Node) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if old, ok := d.nodes[n.Name]; ok && old == n {
		return false
	}
	d.nodes[n.Name] = n
	return true
}

// DeleteNode forgets a node.
func (d *Detector) DeleteNode(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.nodes, name)
}

// node returns what is known of the node named name: just its name when
// nothing is. The caller holds d.mu.
func (d *Detector) node(name string) Node {
	if n, ok := d.nodes[name]; ok {
		return n
	}
	return Node{Name: name}
}

// PodEvent records a Warning event about the pod uid of namespace. Events
// about pods the detector does not track (not watched, or gone) are
// dropped; a pod keeps its MaxPodEvents most recent events, an update of the
// same Event object replacing it, and forgets them when it is forgotten.
func (d *Detector) PodEvent(namespace, uid string, e Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.namespaces[namespace]
	if ns == nil {
		return
	}
	if s := ns.pods[uid]; s == nil || s.deletedAt != 0 {
		return
	}
	ring := ns.events[uid]
	if i := slices.IndexFunc(ring, func(o Event) bool { return o.Name == e.Name }); i >= 0 {
		ring = slices.Delete(ring, i, i+1)
	}
	// Keep the ring ordered by LastSeen, the newest last; drop the oldest.
	i, _ := slices.BinarySearchFunc(ring, e, func(a, b Event) int { return a.LastSeen.Compare(b.LastSeen) })
	ring = slices.Insert(ring, i, e)
	if len(ring) > MaxPodEvents {
		ring = slices.Delete(ring, 0, len(ring)-MaxPodEvents)
	}
	if ns.events == nil {
		ns.events = make(map[string][]Event)
	}
	ns.events[uid] = ring
}

// podEvents returns the pod's events merged by reason, container and
// message, the most recent first. The caller holds d.mu.
func (ns *namespaceState) podEvents(uid string) []Event {
	ring := ns.events[uid]
	if len(ring) == 0 {
		return nil
	}
	out := make([]Event, 0, len(ring))
	for _, e := range ring {
		i := slices.IndexFunc(out, func(o Event) bool {
			return o.Reason == e.Reason && o.Container == e.Container && o.Message == e.Message
		})
		if i < 0 {
			out = append(out, e)
			continue
		}
		m := &out[i]
		m.Count += e.Count
		if e.FirstSeen.Before(m.FirstSeen) {
			m.FirstSeen = e.FirstSeen
		}
		if e.LastSeen.After(m.LastSeen) {
			m.LastSeen = e.LastSeen
		}
	}
	slices.SortStableFunc(out, func(a, b Event) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}

// forget drops a pod and what the detector keeps about it.
func (ns *namespaceState) forget(uid string) {
	delete(ns.pods, uid)
	delete(ns.events, uid)
}
