package detect

import "time"

// Inspect returns the namespace's ratio and root-cause analysis at now as a
// decision would carry them, whatever its level, without touching its fault:
// a one-shot scan shows it for namespaces below the rules too. The decision
// has no kind or IDs; its Level is the level the ratio maps to.
func (d *Detector) Inspect(namespace string, now time.Time) Decision {
	d.mu.Lock()
	defer d.mu.Unlock()
	dec := Decision{At: now, Window: d.cfg.Window, Stats: Stats{Namespace: namespace}}
	ns := d.namespaces[namespace]
	if ns == nil {
		return dec
	}
	dec.Stats = d.stats(namespace, ns, now)
	dec.Stats.Fault = ns.fault != nil
	dec.Level = dec.Stats.Level
	d.report(ns, &dec)
	return dec
}
