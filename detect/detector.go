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

// Decision is one event to write.
type Decision struct {
	Kind     Kind
	EventID  string
	Level    Level // the level reported; LevelNone for a recovery
	Previous Level // the level reported before; LevelNone for an anomaly
	At       time.Time
	Window   time.Duration
	Fault    Fault // the fault after this decision
	Stats    Stats
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
	baseline   baseline
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
	ns := d.namespace(p.Namespace)
	s := ns.pods[p.UID]
	if s == nil {
		s = &podState{}
		d.disrupt(ns, s, p, nowNs)
		s.first(p, nowNs, horizon)
		s.observed(p)
		ns.pods[p.UID] = s
		return true
	}
	wasTerminal, wasDeleting := s.terminal, s.deleting
	if s.deletedAt != 0 {
		// A late update of a pod already deleted: keep it deleted.
		s.observed(p)
		return false
	}
	disrupted := d.disrupt(ns, s, p, nowNs)
	counted := s.update(p, nowNs, horizon)
	s.observed(p)
	return counted || disrupted || wasTerminal != s.terminal || wasDeleting != s.deleting
}

// Delete records that the pod is gone and reports whether its namespace
// should be evaluated again. A pod that restarted inside the window keeps
// counting until its restarts leave the window.
func (d *Detector) Delete(namespace, uid string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	ns := d.namespaces[namespace]
	if ns == nil {
		return false
	}
	s := ns.pods[uid]
	if s == nil || s.deletedAt != 0 {
		return false
	}
	if s.prune(now.Add(-d.cfg.Window).UnixNano()) == 0 {
		ns.forget(uid)
	} else {
		s.deletedAt = now.UnixNano()
	}
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
		st, dec := d.evaluate(name, d.namespaces[name], now)
		if d.cfg.Baseline.Enabled {
			d.namespaces[name].baseline.sample(st.Ratio, now, &d.cfg)
		}
		if st.Pods == 0 && !st.Fault {
			// Nothing left to report: forget the namespace until it has pods again.
			if len(d.namespaces[name].pods) == 0 {
				delete(d.namespaces, name)
			}
			continue
		}
		stats = append(stats, st)
		if dec != nil {
			decisions = append(decisions, *dec)
		}
	}
	return stats, decisions
}

func (d *Detector) evaluate(name string, ns *namespaceState, now time.Time) (Stats, *Decision) {
	st := d.stats(name, ns, now)
	dec := d.decide(ns, st, now)
	st.Fault = ns.fault != nil
	if dec != nil {
		dec.Stats.Fault = st.Fault
		d.report(ns, dec)
	}
	return st, dec
}

// stats prunes the namespace's restarts to the window at now and computes
// its ratio and the level it maps to.
func (d *Detector) stats(name string, ns *namespaceState, now time.Time) Stats {
	horizon := now.Add(-d.cfg.Window).UnixNano()
	st := Stats{Namespace: name}
	for uid, s := range ns.pods {
		n := s.prune(horizon)
		if n == 0 && s.deletedAt != 0 {
			ns.forget(uid)
			continue
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
	st.Baseline, st.HasBaseline = t.Baseline, t.HasBaseline
	return st
}

// decide runs the namespace's fault state machine.
func (d *Detector) decide(ns *namespaceState, st Stats, now time.Time) *Decision {
	f := ns.fault
	switch {
	case f == nil && st.Level == LevelNone:
		return nil
	case f == nil:
		id := d.cfg.NewID()
		ns.fault = &Fault{ID: id, Namespace: st.Namespace, Start: now, Level: st.Level, MaxLevel: st.Level, LastEvent: now}
		return d.decision(KindAnomaly, id, st.Level, LevelNone, ns.fault, st, now)
	case st.Level == LevelNone:
		if f.ClearSince.IsZero() {
			f.ClearSince = now
		}
		if now.Sub(f.ClearSince) < d.cfg.RecoverAfter {
			return nil
		}
		ns.fault = nil
		prev := f.Level
		f.Level, f.LastEvent = LevelNone, now
		return d.decision(KindRecovery, d.cfg.NewID(), LevelNone, prev, f, st, now)
	}
	f.ClearSince = time.Time{}
	prev := f.Level
	switch {
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
	return &Decision{Kind: k, EventID: id, Level: level, Previous: prev, At: now, Window: d.cfg.Window, Fault: *f, Stats: st}
}

// Faults returns the open faults, for persisting them.
func (d *Detector) Faults() []Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Fault
	for _, ns := range d.namespaces {
		if ns.fault != nil {
			out = append(out, *ns.fault)
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
		f := f
		d.namespace(f.Namespace).fault = &f
	}
}
