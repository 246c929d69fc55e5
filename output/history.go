package output

import (
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Keys of the fault's history, on reminders and recoveries.
const (
	keyFaultPeakLevel       = "fault_peak_level"
	keyFaultPeakRatio       = "fault_peak_ratio"
	keyFaultPeakRestartPods = "fault_peak_restart_pods"
	keyFaultPeakTotalPods   = "fault_peak_total_pods"
	keyFaultPeakTime        = "fault_peak_time"
	keyFaultRestarts        = "fault_restarts"
	keyFaultDominantCause   = "fault_dominant_cause"
	keyFaultDominantShare   = "fault_dominant_cause_share"
	keyFaultCauses          = "fault_causes"
)

// faultCauseDetail is one entry of fault_causes; faultCauseKeys documents
// it.
type faultCauseDetail struct {
	Cause     string                `json:"cause"`
	ExitCode  *int                  `json:"exit_code,omitempty"`
	Signal    string                `json:"signal,omitempty"`
	Restarts  int                   `json:"restarts"`
	Share     float64               `json:"share"`
	Workloads []faultWorkloadDetail `json:"workloads"`
}

type faultWorkloadDetail struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Restarts int    `json:"restarts"`
}

// maxFaultCauses bounds fault_causes; detect keeps a few more.
const maxFaultCauses = 5

// hasHistory reports whether an event of kind k tells the fault's history:
// a reminder tells it so far, the recovery whole.
func hasHistory(k detect.Kind) bool { return k == detect.KindReminder || k == detect.KindRecovery }

// historyFields writes the fault's history.
func historyFields(b *kvBuilder, d *detect.Decision) error {
	h := &d.Fault.History
	if p := h.Peak; p.Level != detect.LevelNone {
		b.field(keyFaultPeakLevel, p.Level.String())
		b.field(keyFaultPeakRatio, p.Ratio)
		b.field(keyFaultPeakRestartPods, int64(p.RestartedPods))
		b.field(keyFaultPeakTotalPods, int64(p.Pods))
		b.field(keyFaultPeakTime, p.At.Unix())
	}
	b.field(keyFaultRestarts, int64(h.Restarts))
	dom := h.Dominant()
	if dom == nil {
		return nil
	}
	b.field(keyFaultDominantCause, dom.Cause.String())
	b.field(keyFaultDominantShare, h.Share(dom))
	causes := make([]faultCauseDetail, 0, min(len(h.Causes), maxFaultCauses))
	for i := range h.Causes[:min(len(h.Causes), maxFaultCauses)] {
		c := &h.Causes[i]
		cd := faultCauseDetail{Cause: c.Cause.String(), Restarts: c.Restarts, Share: h.Share(c), Workloads: []faultWorkloadDetail{}}
		cd.ExitCode, cd.Signal = causeCode(c.CauseKey)
		for _, w := range c.Workloads[:min(len(c.Workloads), detect.MaxSummaryItems)] {
			cd.Workloads = append(cd.Workloads, faultWorkloadDetail{Kind: jsonString(w.Owner.Kind), Name: jsonString(w.Owner.Name), Restarts: w.Restarts})
		}
		causes = append(causes, cd)
	}
	return jsonField(b, keyFaultCauses, causes)
}
