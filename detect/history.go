package detect

import (
	"cmp"
	"slices"
	"time"
)

// History is the story of a fault so far, which its reminders and its
// recovery tell (Guance's inspection shows it as the fault's history). It is
// part of Fault and persisted with it, so it holds only exported values that
// survive a JSON round trip.
type History struct {
	// Peak is the evaluation with the highest level while the fault was
	// open, the highest ratio among those.
	Peak Peak
	// Restarts counts the fault's abnormal restarts: those inside the
	// window it opened on, then every one counted while it was open.
	Restarts int
	// Causes groups Restarts by cause, the most first, at most
	// maxHistoryCauses; restarts of further causes count only in Restarts.
	Causes []HistoryCause
	// Through is the last evaluation accounted. A restored fault does not
	// count again the restarts up to it that the new run's first
	// observations show (see historyCut): the run that saved it counted
	// them. Restarts the new run sees happen count.
	Through time.Time
}

// Peak is one evaluation of a fault's namespace: the worst one.
type Peak struct {
	At                  time.Time
	Level               Level
	Ratio               float64
	RestartedPods, Pods int
}

// HistoryCause is the abnormal restarts of one cause over a fault.
type HistoryCause struct {
	CauseKey
	Restarts int
	// Workloads are the workloads of the restarts (Owner.Revision empty),
	// the most restarts first, at most maxHistoryWorkloads; restarts of
	// further workloads count only in Restarts.
	Workloads []WorkloadRestarts
}

// WorkloadRestarts is one workload's restarts of one cause over a fault.
type WorkloadRestarts struct {
	Owner    Owner
	Restarts int
}

// Bounds on a fault's history, which is persisted with every open fault:
// enough for the dominant cause and its workloads, and no more.
const (
	maxHistoryCauses    = 16
	maxHistoryWorkloads = 16
)

// Dominant returns the cause of the most restarts over the fault, or nil
// without abnormal restarts.
func (h *History) Dominant() *HistoryCause {
	if len(h.Causes) == 0 {
		return nil
	}
	return &h.Causes[0]
}

// Share returns the cause's share of the fault's restarts.
func (h *History) Share(c *HistoryCause) float64 {
	if h.Restarts == 0 {
		return 0
	}
	return float64(c.Restarts) / float64(h.Restarts)
}

// add counts n restarts of cause k in workload w.
func (h *History) add(k CauseKey, w Owner, n int) {
	h.Restarts += n
	i := slices.IndexFunc(h.Causes, func(c HistoryCause) bool { return c.CauseKey == k })
	if i < 0 {
		if len(h.Causes) == maxHistoryCauses {
			return
		}
		h.Causes = append(h.Causes, HistoryCause{CauseKey: k})
		i = len(h.Causes) - 1
	}
	c := &h.Causes[i]
	c.Restarts += n
	j := slices.IndexFunc(c.Workloads, func(x WorkloadRestarts) bool { return x.Owner == w })
	if j < 0 {
		if len(c.Workloads) == maxHistoryWorkloads {
			return
		}
		c.Workloads = append(c.Workloads, WorkloadRestarts{Owner: w})
		j = len(c.Workloads) - 1
	}
	c.Workloads[j].Restarts += n
}

// sort orders causes as Summary does (the most restarts, then by cause and
// code) and each cause's workloads by restarts, ties in first-seen order.
func (h *History) sort() {
	slices.SortStableFunc(h.Causes, func(a, b HistoryCause) int {
		return cmp.Or(cmp.Compare(b.Restarts, a.Restarts), cmp.Compare(a.Cause, b.Cause), cmp.Compare(a.Code, b.Code))
	})
	for i := range h.Causes {
		slices.SortStableFunc(h.Causes[i].Workloads, func(a, b WorkloadRestarts) int { return cmp.Compare(b.Restarts, a.Restarts) })
	}
}

// clone returns a copy of f that shares nothing with it: decisions and
// persisted faults must not change as the open fault's history grows.
func (f *Fault) clone() Fault {
	c := *f
	c.History.Causes = slices.Clone(f.History.Causes)
	for i := range c.History.Causes {
		c.History.Causes[i].Workloads = slices.Clone(c.History.Causes[i].Workloads)
	}
	return c
}

// historyCut returns, for a fault restored with its history, the instant
// before which the restarts that pods' first observations show were counted
// by the run that saved it, in unix nanoseconds; 0 without a history. It is
// Through rounded up to the second: the kubelet dates terminations to the
// second (metav1.Time), so one the saved evaluation saw may be dated up to a
// second before it, and one in that second cannot be told apart.
func historyCut(f *Fault) int64 {
	if f.History.Through.IsZero() {
		return 0
	}
	return f.History.Through.Truncate(time.Second).Add(time.Second).UnixNano()
}

// account adds the evaluation at now to the fault's history: the peak, and
// the abnormal restarts not accounted yet, every one inside the window when
// the fault opens. Each restart entry remembers how many of its restarts
// were accounted, so a restart counts once however many evaluations see it.
// The caller holds d.mu and ran stats.
func (d *Detector) account(ns *namespaceState, f *Fault, st Stats, opening bool, now time.Time) {
	h := &f.History
	if st.Level > LevelNone && (st.Level > h.Peak.Level || st.Level == h.Peak.Level && st.Ratio > h.Peak.Ratio) {
		h.Peak = Peak{At: now, Level: st.Level, Ratio: st.Ratio, RestartedPods: st.RestartedPods, Pods: st.Pods}
	}
	cut := ns.historyCut // only for a restored fault
	if opening {
		cut = 0
	} else if ns.counted == ns.accounted {
		h.Through = now
		return // no restart was counted since: nothing to look for
	}
	ns.accounted = ns.counted
	var uids []string
	for uid, s := range ns.pods {
		if slices.ContainsFunc(s.restarts, func(r restart) bool { return opening || r.accounted < r.n }) {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids) // a stable first-seen order for ties
	for _, uid := range uids {
		s := ns.pods[uid]
		cls := d.classifyPod(ns, uid, s, true) // one per entry of s.restarts, in order
		for i, c := range cls {
			r := &s.restarts[i]
			n := r.n - r.accounted
			if opening {
				n = r.n
			}
			r.accounted = r.n
			if n > 0 && c.key.Cause != CauseExpected && !(r.rebuilt && r.at < cut) {
				h.add(c.key, workloadOf(s.pod.Owner), int(n))
			}
		}
	}
	h.sort()
	h.Through = now
}
