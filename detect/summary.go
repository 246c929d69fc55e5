package detect

import (
	"cmp"
	"slices"
	"time"
)

// Summary is the namespace-level root-cause analysis of a decision: what the
// abnormal restarts have in common, what likely triggered them, and what
// was left out of the ratio as expected.
type Summary struct {
	// Causes groups the abnormal restarts inside the window by cause, the
	// most restarts first; Causes[0] is the dominant cause.
	Causes []CauseStat
	// Restarts is the number of abnormal restarts the causes share.
	Restarts int
	// Workloads and Nodes are those with the most restarted pods, at most
	// MaxSummaryItems each.
	Workloads []WorkloadStat
	Nodes     []NodeStat
	// NodeConcentration is set when most restarted pods run on Nodes[0]
	// while the cluster has other nodes: the node is a suspect.
	NodeConcentration bool
	// Trigger is the change of a workload that most likely started the
	// restarts, or nil.
	Trigger *Change
	// Expected is what was not counted inside the window, by reason.
	Expected []ExpectedStat
}

// MaxSummaryItems bounds each list of a Summary.
const MaxSummaryItems = 5

// CauseStat is the abnormal restarts of one cause.
type CauseStat struct {
	CauseKey
	Restarts int
	Pods     int
	// Workloads are the workloads of the restarts, the most restarts first,
	// at most MaxSummaryItems; OtherWorkloads counts the rest.
	Workloads      []Owner
	OtherWorkloads int
	// Containers are the names of the restarted containers, the most
	// restarts first, at most MaxSummaryItems.
	Containers []string
	// MemoryLimits are the distinct memory limits of the restarted
	// containers ("" for none), for OOM kills.
	MemoryLimits []string
}

// Share returns the cause's share of the summary's restarts.
func (s *Summary) Share(c *CauseStat) float64 {
	if s.Restarts == 0 {
		return 0
	}
	return float64(c.Restarts) / float64(s.Restarts)
}

// Dominant returns the dominant cause, or nil without abnormal restarts.
func (s *Summary) Dominant() *CauseStat {
	if len(s.Causes) == 0 {
		return nil
	}
	return &s.Causes[0]
}

// WorkloadStat is one workload's abnormal restarts. Owner.Revision is empty.
type WorkloadStat struct {
	Owner         Owner
	RestartedPods int
	Restarts      int
}

// NodeStat is one node's abnormal restarts with what the node reports.
type NodeStat struct {
	Node
	RestartedPods int
	Restarts      int
}

// Change is a new revision of a workload that started shortly before its
// pods began restarting.
type Change struct {
	Workload Owner // Revision is the new revision's hash
	// Revision and Previous are the new revision and the one before it
	// (nil when unknown).
	Revision Revision
	Previous *Revision
	// Since is when the revision became current; FirstRestart is the first
	// abnormal restart of the workload inside the window.
	Since        time.Time
	FirstRestart time.Time
	// Images lists the containers whose image differs from Previous.
	Images []ImageChange
	// RestartedPods counts the restarted pods of the new revision, out of
	// WorkloadRestartedPods restarted pods of the workload.
	RestartedPods, WorkloadRestartedPods int
}

// ImageChange is one container's image before and after a change; From is
// empty for a container the previous revision did not have.
type ImageChange struct {
	Container, From, To string
}

// ExpectedStat is what was not counted for one reason inside the window.
type ExpectedStat struct {
	Reason ExpectedReason
	// Pods counts the pods that left or began leaving for the reason; for
	// ExpectedRollout, the pods whose restarts were not counted.
	Pods int
	// Restarts counts the restarts not counted for the reason.
	Restarts int
	// Nodes and Workloads are the most frequent, at most MaxSummaryItems.
	Nodes     []Node
	Workloads []Owner
}

// workloadOf returns the owner without its revision, for grouping.
func workloadOf(o Owner) Owner { o.Revision = ""; return o }

// classified is one restart entry with its final cause.
type classified struct {
	restart
	key CauseKey
}

// classifyPod returns the pod's restarts inside the window with their final
// causes: expected for the reasons recorded when they were counted, or
// because a newer revision of the pod's Deployment was rolling out when
// they happened; otherwise refined by the pod's events. The caller holds
// d.mu and pruned s.
func (d *Detector) classifyPod(ns *namespaceState, uid string, s *podState, withEvents bool) []classified {
	if len(s.restarts) == 0 {
		return nil
	}
	superseded := d.supersededSince(s.pod)
	var events []Event
	if withEvents {
		events = ns.podEvents(uid)
	}
	out := make([]classified, 0, len(s.restarts))
	for _, r := range s.restarts {
		k := CauseKey{r.cause, r.code}
		switch {
		case k.Cause == CauseExpected:
		case !superseded.IsZero() && r.at >= superseded.UnixNano():
			k = CauseKey{CauseExpected, uint8(ExpectedRollout)}
		default:
			k = refine(k, events, s.tracks[r.container].name, time.Unix(0, r.at))
		}
		out = append(out, classified{r, k})
	}
	return out
}

// split counts the pod's abnormal and expected restarts inside the window.
// The caller holds d.mu and pruned s.
func (d *Detector) split(s *podState) (abnormal, expected int) {
	if len(s.restarts) == 0 {
		return 0, 0
	}
	superseded := d.supersededSince(s.pod)
	for _, r := range s.restarts {
		if r.cause == CauseExpected || (!superseded.IsZero() && r.at >= superseded.UnixNano()) {
			expected += int(r.n)
		} else {
			abnormal += int(r.n)
		}
	}
	return abnormal, expected
}

// counter counts occurrences of comparable keys and returns the most
// frequent ones.
type counter[K comparable] struct {
	n     map[K]int
	order []K // first seen first, for stable ties
}

func (c *counter[K]) add(k K, n int) {
	if c.n == nil {
		c.n = make(map[K]int)
	}
	if _, ok := c.n[k]; !ok {
		c.order = append(c.order, k)
	}
	c.n[k] += n
}

// top returns the keys by count, most first, ties in first-seen order, at
// most limit of them, and how many were left out.
func (c *counter[K]) top(limit int) ([]K, int) {
	keys := slices.Clone(c.order)
	slices.SortStableFunc(keys, func(a, b K) int { return cmp.Compare(c.n[b], c.n[a]) })
	if len(keys) > limit {
		return keys[:limit], len(keys) - limit
	}
	return keys, 0
}

// trigger finds, among the workloads with the most restarted pods, a
// Deployment whose newest revision became current inside the window before
// its first abnormal restart, while some of its restarted pods belong to
// that revision. The caller holds d.mu.
func (d *Detector) trigger(namespace string, workloads []WorkloadStat, first map[Owner]time.Time,
	revisionPods map[Owner]map[string]int, window time.Duration) *Change {
	for _, w := range workloads {
		if w.Owner.Kind != "Deployment" {
			continue
		}
		revs := d.revisions[namespace][w.Owner.Name]
		if len(revs) == 0 {
			continue
		}
		cur := revs[len(revs)-1] // sorted by number
		t1 := first[w.Owner]
		if cur.since.After(t1) || t1.Sub(cur.since) > window || revisionPods[w.Owner][cur.Hash] == 0 {
			continue
		}
		ch := &Change{
			Workload: Owner{Kind: w.Owner.Kind, Name: w.Owner.Name, Revision: cur.Hash},
			Revision: cur.Revision, Since: cur.since, FirstRestart: t1,
			RestartedPods: revisionPods[w.Owner][cur.Hash], WorkloadRestartedPods: w.RestartedPods,
		}
		if len(revs) > 1 {
			prev := revs[len(revs)-2].Revision
			ch.Previous = &prev
			for _, img := range cur.Images {
				i := slices.IndexFunc(prev.Images, func(o ContainerImage) bool { return o.Container == img.Container })
				switch {
				case i < 0:
					ch.Images = append(ch.Images, ImageChange{Container: img.Container, To: img.Image})
				case prev.Images[i].Image != img.Image:
					ch.Images = append(ch.Images, ImageChange{Container: img.Container, From: prev.Images[i].Image, To: img.Image})
				}
			}
		}
		return ch
	}
	return nil
}

// expectedContext groups what was not counted inside the window by reason:
// the namespace's departures and its expected restarts. The caller holds
// d.mu; stats pruned the departures.
func (d *Detector) expectedContext(ns *namespaceState, e *expectedRestarts) []ExpectedStat {
	restarts, restartPods, rollout := e.restarts, e.pods, &e.rollout
	type acc struct {
		pods      map[string]bool // by UID
		nodes     counter[string]
		workloads counter[Owner]
	}
	accs := map[ExpectedReason]*acc{}
	get := func(r ExpectedReason) *acc {
		if accs[r] == nil {
			accs[r] = &acc{pods: map[string]bool{}}
		}
		return accs[r]
	}
	for _, dp := range ns.departures {
		a := get(dp.reason)
		a.pods[dp.uid] = true
		if dp.node != "" {
			a.nodes.add(dp.node, 1)
		}
		a.workloads.add(workloadOf(dp.owner), 1)
	}
	for r := range restarts {
		a := get(r)
		for uid := range restartPods[r] {
			a.pods[uid] = true
		}
	}
	if a := accs[ExpectedRollout]; a != nil {
		// The old revisions' pods that restarted without leaving (yet).
		for _, w := range rollout.order {
			a.workloads.add(w, rollout.n[w])
		}
	}
	var out []ExpectedStat
	for r := ExpectedDeleted; r <= ExpectedRollout; r++ {
		a := accs[r]
		if a == nil {
			continue
		}
		st := ExpectedStat{Reason: r, Pods: len(a.pods), Restarts: restarts[r]}
		nodes, _ := a.nodes.top(MaxSummaryItems)
		for _, n := range nodes {
			st.Nodes = append(st.Nodes, d.node(n))
		}
		st.Workloads, _ = a.workloads.top(MaxSummaryItems)
		out = append(out, st)
	}
	// The most pods first; the reasons' order breaks ties.
	slices.SortStableFunc(out, func(a, b ExpectedStat) int { return cmp.Compare(b.Pods+b.Restarts, a.Pods+a.Restarts) })
	return out
}
