package detect

import (
	"cmp"
	"maps"
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

// report fills the decision's abnormal pods, most restarts first, and its
// summary. The caller holds d.mu; stats pruned the namespace at dec.At.
func (d *Detector) report(ns *namespaceState, dec *Decision) {
	dec.Thresholds = d.thresholds(dec.Stats.Namespace, ns)
	b := newReportBuilder(d, ns, dec)
	for _, uid := range slices.Sorted(maps.Keys(ns.pods)) { // a stable order for ties
		b.addPod(uid, ns.pods[uid])
	}
	b.abnormalPods()
	b.causes()
	b.workloads()
	b.nodes()
	dec.Summary.Trigger = d.trigger(dec.Stats.Namespace, dec.Summary.Workloads, b.firstRestart, b.revisionPods, dec.Window)
	dec.Summary.Expected = d.expectedContext(ns, &b.expected)
}

// reportBuilder collects, pod by pod, what a decision reports (addPod),
// then fills the decision step by step. The caller holds d.mu.
type reportBuilder struct {
	d   *Detector
	ns  *namespaceState
	dec *Decision

	pods       []PodReport
	byCause    map[CauseKey]*causeAcc
	causeOrder []CauseKey // first seen first
	// Restarted pods and their restarts by workload and by node.
	byWorkload       counter[Owner]
	workloadRestarts map[Owner]int
	byNode           counter[string]
	nodeRestarts     map[string]int
	// For the trigger: each workload's first abnormal restart, and its
	// restarted pods by revision hash.
	firstRestart map[Owner]time.Time
	revisionPods map[Owner]map[string]int
	expected     expectedRestarts
}

func newReportBuilder(d *Detector, ns *namespaceState, dec *Decision) *reportBuilder {
	return &reportBuilder{d: d, ns: ns, dec: dec,
		byCause: map[CauseKey]*causeAcc{}, workloadRestarts: map[Owner]int{}, nodeRestarts: map[string]int{},
		firstRestart: map[Owner]time.Time{}, revisionPods: map[Owner]map[string]int{},
		expected: expectedRestarts{restarts: map[ExpectedReason]int{}, pods: map[ExpectedReason]map[string]bool{}},
	}
}

// causeAcc is what the report knows of one cause.
type causeAcc struct {
	restarts   int
	pods       map[string]bool // by UID
	workloads  counter[Owner]
	containers counter[string]
	limits     map[string]bool // memory limits
}

// expectedRestarts are the restarts inside the window that were expected.
type expectedRestarts struct {
	restarts map[ExpectedReason]int
	pods     map[ExpectedReason]map[string]bool // by UID
	rollout  counter[Owner]                     // restarts of old revisions, by workload
}

// addPod adds one pod's classified restarts inside the window.
func (b *reportBuilder) addPod(uid string, s *podState) {
	cls := b.d.classifyPod(b.ns, uid, s, true)
	if len(cls) == 0 {
		return
	}
	p := s.pod
	r := PodReport{Pod: p, Deleted: s.deletedAt != 0, ContainerRestarts: make([]int, len(p.Containers)),
		Causes: make([]CauseKey, len(p.Containers))}
	wl := workloadOf(p.Owner)
	for _, c := range cls {
		if c.key.Cause == CauseExpected {
			b.expected.add(ExpectedReason(c.key.Code), uid, wl, int(c.n))
			continue
		}
		b.addRestart(uid, s, &r, wl, c)
	}
	if r.Restarts == 0 {
		return
	}
	r.Events = b.ns.podEvents(uid)
	b.pods = append(b.pods, r)
	b.byWorkload.add(wl, 1)
	b.byNode.add(p.Node, 1)
	b.workloadRestarts[wl] += r.Restarts
	b.nodeRestarts[p.Node] += r.Restarts
	if b.revisionPods[wl] == nil {
		b.revisionPods[wl] = map[string]int{}
	}
	b.revisionPods[wl][p.Owner.Revision]++
}

// addRestart adds one abnormal restart entry c of pod s to its report r
// and to the cause it has.
func (b *reportBuilder) addRestart(uid string, s *podState, r *PodReport, wl Owner, c classified) {
	p := s.pod
	n := int(c.n)
	name := s.tracks[c.container].name
	ci := slices.IndexFunc(p.Containers, func(k Container) bool { return k.Name == name })
	if ci >= 0 {
		r.ContainerRestarts[ci] += n
		r.Causes[ci] = c.key // restarts are oldest first: the last one wins
	}
	at := time.Unix(0, c.at).UTC()
	r.Restarts += n
	r.LastRestart = at
	if t, ok := b.firstRestart[wl]; !ok || at.Before(t) {
		b.firstRestart[wl] = at
	}
	a := b.byCause[c.key]
	if a == nil {
		a = &causeAcc{pods: map[string]bool{}, limits: map[string]bool{}}
		b.byCause[c.key] = a
		b.causeOrder = append(b.causeOrder, c.key)
	}
	a.restarts += n
	a.pods[uid] = true
	a.workloads.add(wl, n)
	a.containers.add(name, n)
	if ci >= 0 {
		a.limits[p.Containers[ci].Resources.MemoryLimit] = true
	}
	b.dec.Summary.Restarts += n
}

// add counts n expected restarts of pod uid of workload wl.
func (e *expectedRestarts) add(reason ExpectedReason, uid string, wl Owner, n int) {
	e.restarts[reason] += n
	if e.pods[reason] == nil {
		e.pods[reason] = map[string]bool{}
	}
	e.pods[reason][uid] = true
	if reason == ExpectedRollout {
		e.rollout.add(wl, n)
	}
}

// abnormalPods fills the decision's pods: the most restarts first, at most
// MaxReportedPods of them.
func (b *reportBuilder) abnormalPods() {
	pods := b.pods
	slices.SortFunc(pods, func(a, b PodReport) int {
		return cmp.Or(
			cmp.Compare(b.Restarts, a.Restarts),
			b.LastRestart.Compare(a.LastRestart),
			cmp.Compare(a.Pod.Name, b.Pod.Name),
			cmp.Compare(a.Pod.UID, b.Pod.UID),
		)
	})
	if limit := b.d.cfg.MaxReportedPods; len(pods) > limit {
		b.dec.OmittedPods = len(pods) - limit
		pods = pods[:limit]
	}
	b.dec.Pods = pods
}

// causes fills the summary's causes: the most restarts first, then by cause
// and code.
func (b *reportBuilder) causes() {
	slices.SortStableFunc(b.causeOrder, func(x, y CauseKey) int {
		return cmp.Or(cmp.Compare(b.byCause[y].restarts, b.byCause[x].restarts), cmp.Compare(x.Cause, y.Cause), cmp.Compare(x.Code, y.Code))
	})
	for _, k := range b.causeOrder {
		a := b.byCause[k]
		cs := CauseStat{CauseKey: k, Restarts: a.restarts, Pods: len(a.pods)}
		cs.Workloads, cs.OtherWorkloads = a.workloads.top(MaxSummaryItems)
		cs.Containers, _ = a.containers.top(MaxSummaryItems)
		cs.MemoryLimits = slices.Sorted(maps.Keys(a.limits))
		b.dec.Summary.Causes = append(b.dec.Summary.Causes, cs)
	}
}

// workloads fills the summary's workloads with the most restarted pods.
func (b *reportBuilder) workloads() {
	top, _ := b.byWorkload.top(MaxSummaryItems)
	for _, w := range top {
		b.dec.Summary.Workloads = append(b.dec.Summary.Workloads,
			WorkloadStat{Owner: w, RestartedPods: b.byWorkload.n[w], Restarts: b.workloadRestarts[w]})
	}
}

// nodes fills the summary's nodes with the most restarted pods, and says
// whether one of them holds most of them.
func (b *reportBuilder) nodes() {
	sum := &b.dec.Summary
	top, _ := b.byNode.top(MaxSummaryItems)
	for _, n := range top {
		sum.Nodes = append(sum.Nodes, NodeStat{Node: b.d.node(n), RestartedPods: b.byNode.n[n], Restarts: b.nodeRestarts[n]})
	}
	// A node holding most restarted pods is a suspect when there are other
	// nodes the pods could have run on.
	restartedPods := len(b.dec.Pods) + b.dec.OmittedPods
	if len(sum.Nodes) > 0 && sum.Nodes[0].Name != "" && restartedPods >= 2 &&
		2*sum.Nodes[0].RestartedPods > restartedPods && (len(sum.Nodes) > 1 || len(b.d.nodes) > 1) {
		sum.NodeConcentration = true
	}
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
