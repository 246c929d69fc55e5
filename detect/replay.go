package detect

import "time"

// Pending is what must be remembered of a decision until its event is safely
// queued: enough to write the same event again, with the same IDs, after the
// agent restarted in between.
type Pending struct {
	Kind     Kind
	EventID  string
	Level    Level
	Previous Level
	At       time.Time
	Fault    Fault
}

// Pending returns what to remember of d until its event is queued.
func (d *Decision) Pending() Pending {
	return Pending{Kind: d.Kind, EventID: d.EventID, Level: d.Level, Previous: d.Previous, At: d.At, Fault: d.Fault}
}

// Replay rebuilds the decision of a pending event: the same kind, IDs, level
// and fault, with the namespace's pods and ratio as they are at now (the
// window is rebuilt from pod status after a restart, so they are close to
// what the lost event would have said). It changes no state.
func (d *Detector) Replay(p Pending, now time.Time) Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	dec := Decision{Kind: p.Kind, EventID: p.EventID, Level: p.Level, Previous: p.Previous, At: p.At,
		Window: d.cfg.Window, Fault: p.Fault, Stats: Stats{Namespace: p.Fault.Namespace}}
	ns := d.namespaces[p.Fault.Namespace]
	if ns == nil {
		return dec
	}
	dec.Stats = d.stats(p.Fault.Namespace, ns, now)
	dec.Stats.Fault = ns.fault != nil
	d.report(ns, &dec)
	return dec
}
