package render

import (
	"strconv"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// writeHistory writes the fault's history in df_message: on a reminder the
// story so far, on the recovery the whole of it.
func (x *texts) writeHistory(b *strings.Builder, v *Event) {
	d := v.Decision
	if d.Kind != detect.KindReminder && d.Kind != detect.KindRecovery {
		return
	}
	h := &d.Fault.History
	item := func(label, value string) { b.WriteString("- **" + x.s(label, nil) + "**: " + value + "\n") }
	b.WriteString("\n#### " + x.s("history_heading", nil) + "\n\n")
	item("label_opened", x.s("history_opened", historyOpened{Start: rfc3339(d.Fault.Start), Duration: x.duration(d.Duration()),
		Recovered: d.Kind == detect.KindRecovery}))
	if p := h.Peak; p.Level != detect.LevelNone {
		item("label_peak", x.s("history_peak", historyPeak{Level: x.s("level", p.Level.String()), At: rfc3339(p.At),
			RestartedPods: p.RestartedPods, Pods: p.Pods, Percent: percent(p.Ratio)}))
	}
	item("label_fault_restarts", strconv.Itoa(h.Restarts))
	dom := h.Dominant()
	if dom == nil {
		return
	}
	c := historyCause{N: dom.Restarts, Total: h.Restarts, Share: percent(h.Share(dom)), Cause: x.causeName(dom.CauseKey)}
	for _, w := range dom.Workloads[:min(len(dom.Workloads), detect.MaxSummaryItems)] {
		c.Workloads = append(c.Workloads, md(x.workloadName(w.Owner), MaxText)+" ("+strconv.Itoa(w.Restarts)+")")
	}
	item("label_fault_cause", x.s("history_cause", c))
	var others []string
	for i := 1; i < len(h.Causes) && i <= 3; i++ {
		others = append(others, x.s("count_cause", causeCount{N: h.Causes[i].Restarts, Cause: x.causeName(h.Causes[i].CauseKey)}))
	}
	if len(others) > 0 {
		item("label_fault_others", x.s("history_others", others))
	}
}
