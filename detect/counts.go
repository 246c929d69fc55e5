package detect

// Counts is the size of what a Detector tracks, for the agent's
// self-metrics.
type Counts struct {
	// Namespaces are the namespaces tracked: with pods or an open fault.
	Namespaces int
	// Pods are the pods tracked: existing ones, and deleted ones whose
	// restarts are still inside the window.
	Pods int
	// Faults counts the open faults by the level last reported, indexed by
	// Level; Faults[LevelNone] is always 0.
	Faults [LevelCritical + 1]int
}

// OpenFaults returns the number of open faults at any level.
func (c *Counts) OpenFaults() int {
	n := 0
	for _, f := range c.Faults {
		n += f
	}
	return n
}

// Counts returns what the detector tracks now. It costs one pass over the
// namespaces, not over the pods, under the detector's lock.
func (d *Detector) Counts() Counts {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := Counts{Namespaces: len(d.namespaces)}
	for _, ns := range d.namespaces {
		c.Pods += len(ns.pods)
		if f := ns.fault; f != nil && f.Level > LevelNone && f.Level <= LevelCritical {
			c.Faults[f.Level]++
		}
	}
	return c
}
