package render

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// messages is the text of events in one language. Formats use explicit
// argument indexes ("%[2]d") so a translation may order the arguments its own
// way; the comment on each says what the arguments are. Adding a language is
// adding a catalog to catalogs: the rendering below is shared.
type messages struct {
	checkerName string

	// titles and headings per kind take textArgs: 1 restarted pods,
	// 2 pods, 3 percent, 4 cluster, 5 namespace, 6 window, 7 level,
	// 8 previous level, 9 fault duration.
	titles   map[detect.Kind]string
	headings map[detect.Kind]string

	levels map[detect.Level]string
	kinds  map[detect.Kind]string

	// Overview labels.
	labelEvent, labelStatus, labelPrevious, labelHighest string
	labelCluster, labelNamespace, labelRestartedPods     string
	labelRestarts, labelWindow, labelFault               string
	labelClearSince                                      string

	// Overview values.
	restartedPods string // 1 restarted pods, 2 pods, 3 percent
	window        string // 1 window, 2 start, 3 end
	fault         string // 1 fault ID, 2 start, 3 duration

	// Tables.
	podsHeading       string // 1 window
	containersHeading string
	podColumns        func(window string) []string
	containerColumns  func(window string) []string
	yes, no, term     string // the Deleted column: deleted, not deleted, terminating
	notReady          string

	// Notes on what was left out.
	noPods          string
	podsShown       string // 1 pods shown, 2 pods with restarts
	containersShown string // 1 containers shown, 2 containers
	jsonShown       string // 1 pods in JSON, 2 pods with restarts, 3 containers in JSON, 4 containers

	duration   func(time.Duration) string
	quantities func(cpu, memory string) string

	// rca is the text of the root-cause analysis (analysis.go).
	rca rcaText
}

// catalogs holds the languages New accepts.
var catalogs = map[string]*messages{"en": &english, "zh": &chinese}

// textArgs returns the arguments of titles and headings, names passed
// through name.
func (m *messages) textArgs(v *Event, name func(string) string) []any {
	d := v.Decision
	return []any{
		d.Stats.RestartedPods, d.Stats.Pods, percent(d.Stats.Ratio),
		name(v.Cluster), name(v.Namespace), m.duration(d.Window),
		m.levels[d.Level], m.levels[d.Previous], m.duration(d.Duration()),
	}
}

// title renders df_title: one line of plain text, with the dominant cause
// of the restarts while the fault is open.
func (m *messages) title(v *Event) string {
	t := fmt.Sprintf(m.titles[v.Decision.Kind], m.textArgs(v, func(s string) string { return plain(s, maxTitleName) })...)
	if s := &v.Decision.Summary; v.Decision.Kind != detect.KindRecovery && s.Dominant() != nil {
		c := s.Dominant()
		t += m.rca.titleSuffix(c.Restarts, s.Restarts, m.rca.causeName(c.CauseKey))
	}
	return t
}

// markdown renders df_message. Every value from the cluster goes through md.
func (m *messages) markdown(v *Event) string {
	d := v.Decision
	var b strings.Builder
	name := func(s string) string { return md(s, maxTitleName) }
	fmt.Fprintf(&b, "### "+m.headings[d.Kind]+"\n\n", m.textArgs(v, name)...)
	m.writeRCA(&b, v)

	item := func(label, value string) { fmt.Fprintf(&b, "- **%s**: %s\n", label, value) }
	item(m.labelEvent, m.kinds[d.Kind])
	item(m.labelStatus, "**"+m.levels[d.Level]+"**")
	if d.Previous != detect.LevelNone {
		item(m.labelPrevious, m.levels[d.Previous])
	}
	item(m.labelHighest, m.levels[d.Fault.MaxLevel])
	item(m.labelCluster, md(v.Cluster, MaxText))
	item(m.labelNamespace, md(v.Namespace, MaxText))
	item(m.labelRestartedPods, fmt.Sprintf(m.restartedPods, d.Stats.RestartedPods, d.Stats.Pods, percent(d.Stats.Ratio)))
	item(m.labelRestarts, strconv.Itoa(d.Stats.Restarts))
	item(m.labelWindow, fmt.Sprintf(m.window, m.duration(d.Window), rfc3339(d.At.Add(-d.Window)), rfc3339(d.At)))
	item(m.labelFault, fmt.Sprintf(m.fault, md(d.Fault.ID, MaxText), rfc3339(d.Fault.Start), m.duration(d.Duration())))
	if d.Kind == detect.KindRecovery && !d.Fault.ClearSince.IsZero() {
		item(m.labelClearSince, rfc3339(d.Fault.ClearSince))
	}

	m.writeRCATables(&b, v)

	w := m.duration(d.Window)
	fmt.Fprintf(&b, "\n#### "+m.podsHeading+"\n\n", w)
	det := v
	if det.TotalPods == 0 {
		b.WriteString(m.noPods + "\n")
		return b.String()
	}
	pods := d.Pods[:min(len(d.Pods), MaxPods)]
	writeRow(&b, m.podColumns(w))
	writeRow(&b, slices.Repeat([]string{"---"}, len(m.podColumns(w))))
	for i := range pods {
		writeRow(&b, m.podRow(&pods[i]))
	}
	if len(pods) < det.TotalPods {
		b.WriteString("\n" + fmt.Sprintf(m.podsShown, len(pods), det.TotalPods) + "\n")
	}

	b.WriteString("\n#### " + m.containersHeading + "\n\n")
	writeRow(&b, m.containerColumns(w))
	writeRow(&b, slices.Repeat([]string{"---"}, len(m.containerColumns(w))))
	rows, total := 0, 0
	for i := range pods {
		for j := range pods[i].Pod.Containers {
			total++
			if rows < MaxContainers {
				writeRow(&b, m.containerRow(containerRef{&pods[i], j}))
				rows++
			}
		}
	}
	if rows < total {
		b.WriteString("\n" + fmt.Sprintf(m.containersShown, rows, total) + "\n")
	}
	if det.JSONPods < det.TotalPods || det.JSONContainers < det.TotalContainers {
		b.WriteString("\n" + fmt.Sprintf(m.jsonShown, det.JSONPods, det.TotalPods, det.JSONContainers, det.TotalContainers) + "\n")
	}
	m.writeLogs(&b, pods)
	return capMessage(b.String(), m.rca.cut)
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

func (m *messages) podRow(r *detect.PodReport) []string {
	p := r.Pod
	workload := ""
	if p.Owner.Kind != "" || p.Owner.Name != "" {
		workload = p.Owner.Kind + "/" + p.Owner.Name
	}
	deleted := m.no
	switch {
	case r.Deleted:
		deleted = m.yes
	case p.Deleting:
		deleted = m.term
	}
	return []string{
		md(p.Name, MaxText), md(p.Node, MaxText), md(workload, MaxText),
		md(p.Phase, MaxText), md(p.Reason, MaxText), deleted,
		strconv.Itoa(r.Restarts), orDash(rfc3339(r.LastRestart)),
	}
}

func (m *messages) containerRow(ref containerRef) []string {
	c := ref.container()
	state := c.State.String()
	if c.StateReason != "" {
		state += ": " + c.StateReason
	}
	if c.State == detect.StateRunning && !c.Ready {
		state += " (" + m.notReady + ")"
	}
	exit, signal := "", ""
	if !c.Last.IsZero() {
		exit = strconv.Itoa(int(c.Last.ExitCode))
		if c.Last.Signal != 0 {
			signal = strconv.Itoa(int(c.Last.Signal))
		}
	}
	msg := c.Last.Message
	if msg == "" {
		msg = c.StateMessage
	}
	cause := "-"
	if ref.restarts() > 0 && ref.index < len(ref.report.Causes) {
		cause = md(m.rca.causeName(ref.report.Causes[ref.index]), MaxText)
	}
	return []string{
		md(ref.report.Pod.Name, MaxText), md(c.Name, MaxText), c.Type.String(),
		md(state, MaxText), md(c.Last.Reason, MaxText), cause, orDash(exit), orDash(signal),
		orDash(rfc3339(c.Last.FinishedAt)),
		strconv.Itoa(ref.restarts()) + " / " + strconv.Itoa(int(c.RestartCount)),
		md(m.quantities(c.Resources.CPURequest, c.Resources.MemoryRequest), MaxText),
		md(m.quantities(c.Resources.CPULimit, c.Resources.MemoryLimit), MaxText),
		md(c.Image, MaxText), md(shortContainerID(containerID(c)), MaxText),
		md(msg, MaxText),
	}
}

// shortContainerID drops the runtime prefix ("containerd://") and keeps 12
// characters, as crictl and docker show IDs.
func shortContainerID(id string) string {
	if _, after, ok := strings.Cut(id, "://"); ok {
		id = after
	}
	return truncateRunes(id, 12, "")
}

// percent formats a ratio as a percentage with at most one decimal.
func percent(r float64) string {
	return strconv.FormatFloat(math.Round(r*1000)/10, 'f', -1, 64) + "%"
}

// shortDuration formats d to the second without zero units: 30m, 1h5m, 45s.
func shortDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	h, m, s := d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}
