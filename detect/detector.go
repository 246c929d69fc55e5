package detect

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Level is how abnormal a namespace's restart ratio is.
type Level uint8

// Levels in rising order.
const (
	LevelNone Level = iota
	LevelWarning
	LevelError
	LevelCritical
)

// String returns the Guance status of the level: ok, warning, error, critical.
func (l Level) String() string {
	switch l {
	case LevelWarning:
		return "warning"
	case LevelError:
		return "error"
	case LevelCritical:
		return "critical"
	default:
		return "ok"
	}
}

// Kind says what a decision reports.
type Kind uint8

// Decision kinds.
const (
	KindAnomaly    Kind = iota + 1 // a fault opens
	KindEscalation                 // an open fault's level rose
	KindReminder                   // an open fault is still there after the silence
	KindRecovery                   // the fault is over
)

// String returns the kind's name as logs and events show it.
func (k Kind) String() string {
	switch k {
	case KindAnomaly:
		return "anomaly"
	case KindEscalation:
		return "escalation"
	case KindReminder:
		return "reminder"
	case KindRecovery:
		return "recovery"
	default:
		return "unknown"
	}
}

// Stats is one namespace's restart ratio at one instant.
type Stats struct {
	Namespace     string
	Pods          int // pods considered (see podState.considered)
	RestartedPods int // considered pods with at least one restart inside the window
	Restarts      int // abnormal restarts inside the window, all pods
	Ratio         float64
	Level         Level // the level the ratio maps to under the rules
	Fault         bool  // a fault is open after the evaluation
	// ExpectedRestarts counts the restarts inside the window that were not
	// counted because they were expected (see ExpectedReason).
	ExpectedRestarts int
	// DisruptedPods counts the pods that began leaving inside the window
	// for a disruptive reason: evicted, preempted, drained, ...
	DisruptedPods int
	// Baseline is the namespace's baseline ratio when HasBaseline (baseline
	// mode, after its first sample).
	Baseline    float64
	HasBaseline bool
}

// Fault is an open fault of one namespace: the state that must survive an
// agent restart so that an ongoing anomaly keeps its ID and gets its recovery.
type Fault struct {
	ID         string    // the first event's ID
	Namespace  string    //
	Start      time.Time // when the first event was written
	Level      Level     // the level last reported
	MaxLevel   Level     // the highest level reached
	LastEvent  time.Time // when the last event was written
	ClearSince time.Time // since when the namespace is below the rules; zero while abnormal
	History    History   // the fault's story so far
}

// PodReport is one abnormal pod in a decision.
type PodReport struct {
	Pod         *Pod // the last observation; never modified
	Deleted     bool // the pod was deleted inside the window
	Restarts    int  // restarts inside the window
	LastRestart time.Time
	// ContainerRestarts holds, for each of Pod.Containers, its restarts
	// inside the window.
	ContainerRestarts []int
	// Causes holds, for each of Pod.Containers, the cause of its last
	// abnormal restart inside the window.
	Causes []CauseKey
	// Events are the pod's recent Warning events, the most recent first.
	Events []Event
	// LogTails holds, for each of Pod.Containers, the redacted tail of its
	// previous run's log, when the agent collects logs; detect leaves it
	// nil, the agent fills it before writing the event.
	LogTails []string
}

// EndReason says why a fault recovered.
type EndReason uint8

// End reasons, the zero value being the ordinary one.
const (
	// EndRecovered: the namespace stayed below the rules for RecoverAfter.
	EndRecovered EndReason = iota
	// EndNoPods: no pod of the namespace is left running (scaled to zero,
	// every pod deleted or finished); nothing can restart any more.
	EndNoPods
	// EndNamespaceDeleted: the namespace is being deleted, or is gone.
	EndNamespaceDeleted
	// EndExcluded: the namespace is no longer watched.
	EndExcluded
	// EndDisabled: the namespace's annotations disabled it.
	EndDisabled
)

var endNames = [...]string{
	EndRecovered:        "recovered",
	EndNoPods:           "no_pods",
	EndNamespaceDeleted: "namespace_deleted",
	EndExcluded:         "excluded",
	EndDisabled:         "disabled",
}

// String returns the reason's name: recovered, no_pods, namespace_deleted,
// excluded or disabled.
func (r EndReason) String() string {
	if int(r) < len(endNames) {
		return endNames[r]
	}
	return "unknown"
}

// Decision is one event to write.
type Decision struct {
	Kind     Kind
	EventID  string
	Level    Level // the level reported; LevelNone for a recovery
	Previous Level // the level reported before; LevelNone for an anomaly
	At       time.Time
	Window   time.Duration
	Fault    Fault // the fault after this decision
	// End says why a recovery ended the fault; EndRecovered otherwise.
	End   EndReason
	Stats Stats
	// Pods are the pods with restarts inside the window, most restarts first,
	// at most Config.MaxReportedPods; OmittedPods counts the rest.
	Pods        []PodReport
	OmittedPods int
	// Summary is the namespace-level root-cause analysis.
	Summary Summary
	// Thresholds are the rules the namespace was judged by.
	Thresholds Thresholds
}

// Duration is how long the fault has lasted at this decision.
func (d *Decision) Duration() time.Duration { return d.At.Sub(d.Fault.Start) }

type namespaceState struct {
	pods  map[string]*podState // by pod UID
	fault *Fault
	// events holds the recent Warning events of pods, by pod UID; a pod's
	// go when the pod is forgotten.
	events map[string][]Event
	// departures are the pods that began leaving for an expected reason,
	// oldest first, pruned to the window.
	departures []departure
	// left are the pods that stopped counting inside the window without
	// having restarted, deleted or finished (see Detector.left), oldest
	// first: they stay in the denominator of the ratio the level is judged
	// on, so that pods leaving never raise it.
	left     []leftPods
	baseline baseline
	// running is the number of pods that exist, have not finished and are
	// not on their way out, as of the last evaluation.
	running int
	// gone is set when the namespace is deleted or no longer watched: its
	// fault ends at the next evaluation and it never opens another.
	gone EndReason
	// historyCut is historyCut of a restored fault while it is open.
	historyCut int64
	// counted counts the observations that counted restarts, accounted
	// its value when the fault's history last took them (see account).
	counted, accounted uint64
	// unseenRevisions are the Deployment revisions ("<deployment>/<hash>")
	// of pods observed before their ReplicaSet, with when the first such
	// pod was observed (unix nanoseconds); SetRevision removes them, the
	// window prunes them. nil while there is none, which is the rule.
	unseenRevisions map[string]int64
}

// leftPods counts pods that left at one instant.
type leftPods struct {
	at int64 // unix nanoseconds
	n  int32
}

// maxLeft bounds the instants of ns.left; past it the two oldest merge at
// the newer instant, keeping the pods a little longer in the denominator.
const maxLeft = 256

// leave records that a pod that had not restarted stopped counting at now.
func (ns *namespaceState) leave(now int64) {
	if n := len(ns.left); n > 0 && ns.left[n-1].at >= now-int64(time.Second) {
		ns.left[n-1].n++
		return
	}
	ns.left = append(ns.left, leftPods{at: now, n: 1})
	if len(ns.left) > maxLeft {
		ns.left[1].n += ns.left[0].n
		ns.left = slices.Delete(ns.left, 0, 1)
	}
}

// leftSince prunes ns.left to horizon and returns how many pods it holds.
func (ns *namespaceState) leftSince(horizon int64) int {
	i := 0
	for i < len(ns.left) && ns.left[i].at < horizon {
		i++
	}
	ns.left = slices.Delete(ns.left, 0, i)
	n := 0
	for _, l := range ns.left {
		n += int(l.n)
	}
	return n
}

// deletedPod is a deleted pod kept for its restarts inside the window.
type deletedPod struct {
	namespace, uid string
	at             int64 // its deletedAt
}

// Detector tracks the pods of one cluster and decides per namespace. It is
// safe for concurrent use: informer handlers call Observe and Delete while the
// agent's loop calls Evaluate; one mutex guards all state.
type Detector struct {
	cfg Config

	mu         sync.Mutex
	namespaces map[string]*namespaceState
	overrides  map[string]Overrides                   // by namespace
	nodes      map[string]Node                        // by name
	revisions  map[string]map[string][]*revisionState // by namespace and Deployment, by number
	// deleted are the deleted pods kept for their restarts, in deletion
	// order: Observe and Delete forget those deleted before the window,
	// so that a replica that never evaluates (a standby) forgets them too.
	deleted []deletedPod
}

// New returns a detector applying cfg.
func New(cfg Config) *Detector {
	if cfg.MaxReportedPods <= 0 {
		cfg.MaxReportedPods = DefaultMaxReportedPods
	}
	if cfg.NewID == nil {
		cfg.NewID = NewEventID
	}
	return &Detector{cfg: cfg, namespaces: make(map[string]*namespaceState), overrides: make(map[string]Overrides),
		nodes: make(map[string]Node), revisions: make(map[string]map[string][]*revisionState)}
}

func (d *Detector) namespace(name string) *namespaceState {
	ns := d.namespaces[name]
	if ns == nil {
		ns = &namespaceState{pods: make(map[string]*podState)}
		d.namespaces[name] = ns
	}
	return ns
}

// Observe records an observation of a pod made at now and reports whether the
// pod's namespace should be evaluated again: the pod is new, restarted, or
// changed in a way that changes which pods count. The detector keeps p while
// the pod has restarts inside the window, for reports, and only counters
// otherwise.
func (d *Detector) Observe(p *Pod, now time.Time) bool {
	nowNs := now.UnixNano()
	horizon := now.Add(-d.cfg.Window).UnixNano()

	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweep(horizon)
	ns := d.namespace(p.Namespace)
	d.noteRevision(ns, p, nowNs)
	s := ns.pods[p.UID]
	if s == nil {
		s = &podState{}
		d.disrupt(ns, s, p, nowNs, horizon, true)
		if s.first(p, nowNs, horizon) {
			ns.counted++
		}
		s.observed(p)
		ns.pods[p.UID] = s
		return true
	}
	wasRunning, wasTerminal, wasDeleting, wasDeleted := s.running(), s.terminal, s.deleting, s.deletedAt != 0
	// A deleted pod observed again came back into the watch (its labels
	// match the selector again): it exists, and its restarts count.
	s.deletedAt = 0
	disrupted := d.disrupt(ns, s, p, nowNs, horizon, false)
	counted := s.update(p, nowNs, horizon)
	if counted {
		ns.counted++
	}
	s.observed(p)
	if wasRunning && !s.running() {
		d.left(ns, s, horizon, nowNs)
	}
	return counted || disrupted || wasDeleted || wasTerminal != s.terminal || wasDeleting != s.deleting
}

// left records that s stopped counting, when it did without abnormal
// restarts inside the window and for a reason that does not replace it:
// deleted (a scale-down), finished, gone. Pods that a rollout, an eviction,
// a drain, ... takes away come back as new pods. The caller holds d.mu.
func (d *Detector) left(ns *namespaceState, s *podState, horizon, now int64) {
	if s.disrupted == ExpectedRollout || s.disrupted.Disruptive() {
		return
	}
	s.prune(horizon)
	if abnormal, _ := d.split(s); abnormal == 0 {
		ns.leave(now)
	}
}

// sweep forgets the deleted pods deleted before horizon: their restarts
// are all older. The caller holds d.mu.
func (d *Detector) sweep(horizon int64) {
	i := 0
	for ; i < len(d.deleted) && d.deleted[i].at < horizon; i++ {
		dp := &d.deleted[i]
		ns := d.namespaces[dp.namespace]
		if ns == nil {
			continue
		}
		if s := ns.pods[dp.uid]; s != nil && s.deletedAt == dp.at {
			ns.forget(dp.uid)
		}
		if len(ns.pods) == 0 && ns.fault == nil && ns.gone == EndRecovered {
			delete(d.namespaces, dp.namespace)
		}
	}
	if i > 0 {
		d.deleted = slices.Delete(d.deleted, 0, i)
	}
}

// Delete records that the pod is gone and reports whether its namespace
// should be evaluated again. A pod that restarted inside the window keeps
// counting until its restarts leave the window.
func (d *Detector) Delete(namespace, uid string, now time.Time) bool {
	horizon := now.Add(-d.cfg.Window).UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sweep(horizon)
	ns := d.namespaces[namespace]
	if ns == nil {
		return false
	}
	s := ns.pods[uid]
	if s == nil || s.deletedAt != 0 {
		return false
	}
	if s.running() {
		d.left(ns, s, horizon, now.UnixNano())
	}
	if s.prune(horizon) == 0 {
		ns.forget(uid)
	} else {
		s.deletedAt = now.UnixNano()
		d.deleted = append(d.deleted, deletedPod{namespace: namespace, uid: uid, at: s.deletedAt})
	}
	return true
}

// NamespaceGone records that a namespace is being deleted or is gone
// (EndNamespaceDeleted), or is no longer watched (EndExcluded): its open
// fault recovers at its next evaluation, saying why, and it opens no other.
// EndRecovered takes the namespace back (created again under the same
// name). It reports whether the namespace should be evaluated again.
func (d *Detector) NamespaceGone(namespace string, why EndReason) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.namespaces[namespace]
	if ns == nil {
		if why == EndRecovered {
			return false
		}
		ns = d.namespace(namespace)
	}
	if ns.gone == why {
		return false
	}
	ns.gone = why
	return true
}

// Evaluate computes the namespace's ratio at now and returns it with the
// decision it leads to, if any.
func (d *Detector) Evaluate(namespace string, now time.Time) (Stats, *Decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.namespaces[namespace]
	if ns == nil {
		return Stats{Namespace: namespace}, nil
	}
	return d.evaluate(namespace, ns, now)
}

// EvaluateAll evaluates every namespace, as the periodic tick does: the
// returned stats feed the metrics, the decisions the events. Both are ordered
// by namespace.
func (d *Detector) EvaluateAll(now time.Time) ([]Stats, []Decision) {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.namespaces))
	for name := range d.namespaces {
		names = append(names, name)
	}
	slices.Sort(names)
	stats := make([]Stats, 0, len(names))
	var decisions []Decision
	for _, name := range names {
		ns := d.namespaces[name]
		st, dec := d.evaluate(name, ns, now)
		if d.cfg.Baseline.Enabled {
			ns.baseline.sample(st.Ratio, now, &d.cfg)
		}
		if dec != nil {
			// Before the namespace may be forgotten below: the
			// recovery of a namespace without pods is its last event.
			decisions = append(decisions, *dec)
		}
		if st.Pods == 0 && !st.Fault {
			// Nothing left to report: forget the namespace until it has
			// pods again (a gone one is forgotten by evaluate).
			if len(ns.pods) == 0 && ns.gone == EndRecovered {
				delete(d.namespaces, name)
			}
			if dec == nil {
				continue
			}
		}
		stats = append(stats, st)
	}
	return stats, decisions
}

func (d *Detector) evaluate(name string, ns *namespaceState, now time.Time) (Stats, *Decision) {
	st := d.stats(name, ns, now)
	opening := ns.fault == nil
	if !opening {
		// Before deciding: a reminder or the recovery tells the story up
		// to this evaluation.
		d.account(ns, ns.fault, st, false, now)
	}
	waiting := ns.awaitsRevision(d.cfg.RevisionWait, now.UnixNano(), now.Add(-d.cfg.Window).UnixNano())
	dec := d.decide(ns, st, d.ending(name, ns), waiting, now)
	if opening && ns.fault != nil {
		d.account(ns, ns.fault, st, true, now)
		dec.Fault = ns.fault.clone()
	}
	if ns.fault == nil {
		ns.historyCut = 0
	}
	st.Fault = ns.fault != nil
	if dec != nil {
		dec.Stats.Fault = st.Fault
		d.report(ns, dec)
	}
	if ns.gone != EndRecovered && ns.fault == nil && len(ns.pods) == 0 {
		delete(d.namespaces, name)
	}
	return st, dec
}

// ending returns why the namespace's fault must end now rather than after
// RecoverAfter, or EndRecovered when nothing ends it. The caller holds d.mu
// and ran stats.
func (d *Detector) ending(name string, ns *namespaceState) EndReason {
	switch {
	case ns.gone != EndRecovered:
		return ns.gone
	case d.overrides[name].Disabled:
		return EndDisabled
	case ns.running == 0:
		return EndNoPods
	}
	return EndRecovered
}

// stats prunes the namespace's restarts to the window at now and computes
// its ratio and the level it maps to.
func (d *Detector) stats(name string, ns *namespaceState, now time.Time) Stats {
	horizon := now.Add(-d.cfg.Window).UnixNano()
	st := Stats{Namespace: name}
	ns.running = 0
	for uid, s := range ns.pods {
		n := s.prune(horizon)
		if n == 0 && s.deletedAt != 0 {
			ns.forget(uid)
			continue
		}
		if s.running() {
			ns.running++
		}
		abnormal, expected := d.split(s)
		st.ExpectedRestarts += expected
		if !s.considered(abnormal) {
			continue
		}
		st.Pods++
		if abnormal > 0 {
			st.RestartedPods++
			st.Restarts += abnormal
		}
	}
	if st.Pods > 0 {
		st.Ratio = float64(st.RestartedPods) / float64(st.Pods)
	}
	ns.pruneDepartures(horizon)
	for _, dp := range ns.departures {
		if dp.reason.Disruptive() {
			st.DisruptedPods++
		}
	}
	t := d.thresholds(name, ns)
	st.Level = t.Level(st.Pods, st.RestartedPods, st.Ratio)
	if left := ns.leftSince(horizon); left > 0 && st.Level > LevelNone {
		// Judged as if the pods that left without restarting were still
		// there: a scale-down, a finished Job or a deleted namespace
		// may lower the level, never raise it.
		st.Level = min(st.Level, t.Level(st.Pods, st.RestartedPods, float64(st.RestartedPods)/float64(st.Pods+left)))
	}
	if ns.running == 0 || ns.gone != EndRecovered {
		st.Level = LevelNone // nothing left that can restart
	}
	st.Baseline, st.HasBaseline = t.Baseline, t.HasBaseline
	return st
}

// decide runs the namespace's fault state machine; end is why its fault
// must end at once, if it must; waiting holds a fault from opening or
// rising until the ReplicaSets of the namespace's pods are seen (see
// Config.RevisionWait).
func (d *Detector) decide(ns *namespaceState, st Stats, end EndReason, waiting bool, now time.Time) *Decision {
	f := ns.fault
	switch {
	case f == nil && (st.Level == LevelNone || waiting):
		return nil
	case f == nil:
		id := d.cfg.NewID()
		ns.fault = &Fault{ID: id, Namespace: st.Namespace, Start: now, Level: st.Level, MaxLevel: st.Level, LastEvent: now}
		return d.decision(KindAnomaly, id, st.Level, LevelNone, ns.fault, st, now)
	case st.Level == LevelNone:
		if f.ClearSince.IsZero() {
			f.ClearSince = now
		}
		if end == EndRecovered && now.Sub(f.ClearSince) < d.cfg.RecoverAfter {
			return nil
		}
		ns.fault = nil
		prev := f.Level
		f.Level, f.LastEvent = LevelNone, now
		dec := d.decision(KindRecovery, d.cfg.NewID(), LevelNone, prev, f, st, now)
		dec.End = end
		return dec
	}
	f.ClearSince = time.Time{}
	prev := f.Level
	switch {
	case waiting && st.Level > f.Level:
		return nil
	case st.Level > f.Level:
		f.Level, f.LastEvent = st.Level, now
		f.MaxLevel = max(f.MaxLevel, st.Level)
		return d.decision(KindEscalation, d.cfg.NewID(), st.Level, prev, f, st, now)
	case d.cfg.Silence > 0 && now.Sub(f.LastEvent) >= d.cfg.Silence:
		f.Level, f.LastEvent = st.Level, now
		return d.decision(KindReminder, d.cfg.NewID(), st.Level, prev, f, st, now)
	}
	return nil
}

func (d *Detector) decision(k Kind, id string, level, prev Level, f *Fault, st Stats, now time.Time) *Decision {
	return &Decision{Kind: k, EventID: id, Level: level, Previous: prev, At: now, Window: d.cfg.Window, Fault: f.clone(), Stats: st}
}

// Faults returns the open faults, for persisting them.
func (d *Detector) Faults() []Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Fault
	for _, ns := range d.namespaces {
		if ns.fault != nil {
			out = append(out, ns.fault.clone())
		}
	}
	slices.SortFunc(out, func(a, b Fault) int { return cmp.Compare(a.Namespace, b.Namespace) })
	return out
}

// RestoreFaults reinstates faults persisted by an earlier run, so that an
// ongoing anomaly keeps its fault ID and gets exactly one recovery.
func (d *Detector) RestoreFaults(faults []Fault) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, f := range faults {
		f := f.clone()
		ns := d.namespace(f.Namespace)
		ns.fault = &f
		ns.historyCut = historyCut(&f)
	}
}
