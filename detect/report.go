package detect

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

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
