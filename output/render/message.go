package render

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// This file lays out the title and the Markdown message; every word of
// them comes from the language's templates (texts.go).

// headline returns what titles and headings are given, names passed
// through name.
func (x *texts) headline(v *Event, name func(string) string) headline {
	d := v.Decision
	return headline{
		Kind: d.Kind.String(), RestartedPods: d.Stats.RestartedPods, Pods: d.Stats.Pods,
		Percent: percent(d.Stats.Ratio), Cluster: name(v.Cluster), Namespace: name(v.Namespace),
		Window: x.duration(d.Window), Level: x.s("level", d.Level.String()), Previous: x.s("level", d.Previous.String()),
		Duration: x.duration(d.Duration()),
	}
}

// duration formats d to the second without zero units.
func (x *texts) duration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return x.s("duration", durationParts{Zero: true})
	}
	return x.s("duration", durationParts{
		H: int64(d / time.Hour), M: int64(d % time.Hour / time.Minute), S: int64(d % time.Minute / time.Second),
	})
}

// title renders df_title: one line of plain text, with the dominant cause
// of the restarts while the fault is open.
func (x *texts) title(v *Event) string {
	t := x.s("title", x.headline(v, func(s string) string { return plain(s, maxTitleName) }))
	if s := &v.Decision.Summary; v.Decision.Kind != detect.KindRecovery && s.Dominant() != nil {
		c := s.Dominant()
		t += x.s("title_suffix", causeCount{N: c.Restarts, Total: s.Restarts, Cause: x.causeName(c.CauseKey)})
	}
	return t
}

// markdown renders df_message. Every value from the cluster goes through md.
func (x *texts) markdown(v *Event) string {
	d := v.Decision
	var b strings.Builder
	h := x.headline(v, func(s string) string { return md(s, maxTitleName) })
	b.WriteString("### " + x.s("heading", h) + "\n\n")
	x.writeAnalysis(&b, v)

	item := func(label, value string) { b.WriteString("- **" + x.s(label, nil) + "**: " + value + "\n") }
	level := func(l detect.Level) string { return x.s("level", l.String()) }
	item("label_event", x.s("kind", d.Kind.String()))
	item("label_status", "**"+level(d.Level)+"**")
	if d.Previous != detect.LevelNone {
		item("label_previous", level(d.Previous))
	}
	item("label_highest", level(d.Fault.MaxLevel))
	item("label_cluster", md(v.Cluster, MaxText))
	item("label_namespace", md(v.Namespace, MaxText))
	item("label_restarted_pods", x.s("restarted_pods", h))
	item("label_restarts", strconv.Itoa(d.Stats.Restarts))
	item("label_window", x.s("window", windowText{x.duration(d.Window), rfc3339(d.At.Add(-d.Window)), rfc3339(d.At)}))
	item("label_fault", x.s("fault", faultText{md(d.Fault.ID, MaxText), rfc3339(d.Fault.Start), x.duration(d.Duration())}))
	if d.Kind == detect.KindRecovery && !d.Fault.ClearSince.IsZero() {
		item("label_clear_since", rfc3339(d.Fault.ClearSince))
	}
	if d.Kind == detect.KindRecovery && d.End != detect.EndRecovered {
		item("label_end", x.s("end", d.End.String()))
	}
	x.writeHistory(&b, v)

	x.writeAnalysisTables(&b, v)

	w := x.duration(d.Window)
	b.WriteString("\n#### " + x.s("pods_heading", w) + "\n\n")
	if v.TotalPods == 0 {
		b.WriteString(x.s("no_pods", nil) + "\n")
		return b.String()
	}
	pods := d.Pods[:min(len(d.Pods), MaxPods)]
	writeTable(&b, x.lines("pod_columns", w), len(pods), func(i int) []string { return x.podRow(&pods[i]) })
	if len(pods) < v.TotalPods {
		b.WriteString("\n" + x.s("pods_shown", shown{len(pods), v.TotalPods}) + "\n")
	}

	b.WriteString("\n#### " + x.s("containers_heading", nil) + "\n\n")
	containers := ContainerRefs(pods)
	rows := min(len(containers), MaxContainers)
	writeTable(&b, x.lines("container_columns", w), rows, func(i int) []string { return x.containerRow(containers[i]) })
	if rows < len(containers) {
		b.WriteString("\n" + x.s("containers_shown", shown{rows, len(containers)}) + "\n")
	}
	if v.JSONPods < v.TotalPods || v.JSONContainers < v.TotalContainers {
		b.WriteString("\n" + x.s("json_shown", v) + "\n")
	}
	x.writeLogs(&b, pods)
	return capMessage(b.String(), x.s("cut", nil))
}

// writeTable writes a Markdown table: the header of columns, the delimiter
// row, and n rows.
func writeTable(b *strings.Builder, columns []string, n int, row func(i int) []string) {
	writeRow(b, columns)
	writeRow(b, slices.Repeat([]string{"---"}, len(columns)))
	for i := range n {
		writeRow(b, row(i))
	}
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + c + " |")
	}
	b.WriteString("\n")
}

func (x *texts) podRow(r *detect.PodReport) []string {
	p := r.Pod
	workload := ""
	if p.Owner.Kind != "" || p.Owner.Name != "" {
		workload = p.Owner.Kind + "/" + p.Owner.Name
	}
	deleted := "deleted_no"
	switch {
	case r.Deleted:
		deleted = "deleted_yes"
	case p.Deleting:
		deleted = "deleted_terminating"
	}
	return []string{
		md(p.Name, MaxText), md(p.Node, MaxText), md(workload, MaxText),
		md(p.Phase, MaxText), md(p.Reason, MaxText), x.s(deleted, nil),
		strconv.Itoa(r.Restarts), orDash(rfc3339(r.LastRestart)),
	}
}

func (x *texts) containerRow(ref ContainerRef) []string {
	c := ref.Container()
	state := c.State.String()
	if c.StateReason != "" {
		state += ": " + c.StateReason
	}
	if c.State == detect.StateRunning && !c.Ready {
		state += " (" + x.s("not_ready", nil) + ")"
	}
	last := ref.Report.Pod.LatestTermination(c)
	exit, signal := "", ""
	if !last.IsZero() {
		exit = strconv.Itoa(int(last.ExitCode))
		if last.Signal != 0 {
			signal = strconv.Itoa(int(last.Signal))
		}
	}
	msg := last.Message
	if msg == "" {
		msg = c.StateMessage
	}
	cause := "-"
	if ref.Restarts() > 0 && ref.Index < len(ref.Report.Causes) {
		cause = md(x.causeName(ref.Report.Causes[ref.Index]), MaxText)
	}
	return []string{
		md(ref.Report.Pod.Name, MaxText), md(c.Name, MaxText), c.Type.String(),
		md(state, MaxText), md(last.Reason, MaxText), cause, orDash(exit), orDash(signal),
		orDash(rfc3339(last.FinishedAt)),
		strconv.Itoa(ref.Restarts()) + " / " + strconv.Itoa(int(c.RestartCount)),
		md(x.s("quantities", quantities{c.Resources.CPURequest, c.Resources.MemoryRequest}), MaxText),
		md(x.s("quantities", quantities{c.Resources.CPULimit, c.Resources.MemoryLimit}), MaxText),
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
