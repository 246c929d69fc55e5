package output

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	labelClearSince, labelEnd                            string
	ends                                                 map[detect.EndReason]string // why a fault ended early

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

	// rca is the text of the root-cause analysis (message_rca.go).
	rca rcaText
}

// catalogs holds the languages EncoderConfig.Language accepts.
var catalogs = map[string]*messages{"en": &english, "zh": &chinese}

func supportedLanguages() []string { return slices.Sorted(maps.Keys(catalogs)) }

var english = messages{
	checkerName: "Kubernetes pod restarts",
	titles: map[detect.Kind]string{
		detect.KindAnomaly:    "%[1]d of %[2]d pods (%[3]s) in %[4]s/%[5]s restarted in the last %[6]s",
		detect.KindEscalation: "%[1]d of %[2]d pods (%[3]s) in %[4]s/%[5]s restarted in the last %[6]s, up from %[8]s to %[7]s",
		detect.KindReminder:   "%[1]d of %[2]d pods (%[3]s) in %[4]s/%[5]s restarted in the last %[6]s, still %[7]s after %[9]s",
		detect.KindRecovery:   "Pod restarts in %[4]s/%[5]s recovered after %[9]s: %[1]d of %[2]d pods (%[3]s) restarted in the last %[6]s",
	},
	headings: map[detect.Kind]string{
		detect.KindAnomaly:    "Pods restart abnormally in %[4]s/%[5]s",
		detect.KindEscalation: "Pod restarts in %[4]s/%[5]s rose from %[8]s to %[7]s",
		detect.KindReminder:   "Pods still restart abnormally in %[4]s/%[5]s",
		detect.KindRecovery:   "Pod restarts in %[4]s/%[5]s are back to normal",
	},
	levels: map[detect.Level]string{
		detect.LevelNone: "ok", detect.LevelWarning: "warning", detect.LevelError: "error", detect.LevelCritical: "critical",
	},
	kinds: map[detect.Kind]string{
		detect.KindAnomaly: "anomaly", detect.KindEscalation: "escalation", detect.KindReminder: "reminder", detect.KindRecovery: "recovery",
	},
	labelEvent:         "Event",
	labelStatus:        "Status",
	labelPrevious:      "Previous status",
	labelHighest:       "Highest level of the fault",
	labelCluster:       "Cluster",
	labelNamespace:     "Namespace",
	labelRestartedPods: "Restarted pods",
	labelRestarts:      "Restarts",
	labelWindow:        "Window",
	labelFault:         "Fault",
	labelClearSince:    "Below the thresholds since",
	labelEnd:           "Ended because",
	ends: map[detect.EndReason]string{
		detect.EndNoPods:           "no pod of the namespace is left running",
		detect.EndNamespaceDeleted: "the namespace was deleted",
		detect.EndExcluded:         "the namespace is no longer watched",
		detect.EndDisabled:         "the namespace's annotations disabled it",
	},
	restartedPods:     "%[1]d of %[2]d (%[3]s)",
	window:            "%[1]s, %[2]s to %[3]s",
	fault:             "%[1]s, since %[2]s (%[3]s)",
	podsHeading:       "Pods that restarted in the last %[1]s",
	containersHeading: "Their containers",
	podColumns: func(w string) []string {
		return []string{"Pod", "Node", "Workload", "Phase", "Reason", "Deleted", "Restarts in " + w, "Last restart"}
	},
	containerColumns: func(w string) []string {
		return []string{"Pod", "Container", "Type", "State", "Last termination", "Cause", "Exit code", "Signal", "Error time",
			"Restarts in " + w + " / total", "Requests", "Limits", "Image", "Container ID", "Message"}
	},
	noPods:          "No pod restarted inside the window.",
	podsShown:       "Showing the %[1]d of %[2]d pods with the most restarts.",
	containersShown: "Showing %[1]d of these pods' %[2]d containers.",
	jsonShown:       "The field `abnormal_pods` holds %[1]d of the %[2]d pods, `container_statuses` %[3]d of their %[4]d containers.",
	yes:             "yes",
	no:              "no",
	term:            "terminating",
	notReady:        "not ready",
	duration:        shortDuration,
	quantities: func(cpu, memory string) string {
		var parts []string
		if cpu != "" {
			parts = append(parts, "cpu "+cpu)
		}
		if memory != "" {
			parts = append(parts, "memory "+memory)
		}
		return strings.Join(parts, ", ")
	},
	rca: englishRCA,
}

// eventView is what the text of one event is rendered from.
type eventView struct {
	d                  *detect.Decision
	cluster, namespace string // as the tags carry them
	details            *details
}

// textArgs returns the arguments of titles and headings, names passed
// through name.
func (m *messages) textArgs(v *eventView, name func(string) string) []any {
	d := v.d
	return []any{
		d.Stats.RestartedPods, d.Stats.Pods, percent(d.Stats.Ratio),
		name(v.cluster), name(v.namespace), m.duration(d.Window),
		m.levels[d.Level], m.levels[d.Previous], m.duration(d.Duration()),
	}
}

// title renders df_title: one line of plain text, with the dominant cause
// of the restarts while the fault is open.
func (m *messages) title(v *eventView) string {
	t := fmt.Sprintf(m.titles[v.d.Kind], m.textArgs(v, func(s string) string { return plain(s, maxTitleName) })...)
	if s := &v.d.Summary; v.d.Kind != detect.KindRecovery && s.Dominant() != nil {
		c := s.Dominant()
		t += m.rca.titleSuffix(c.Restarts, s.Restarts, m.rca.causeName(c.CauseKey))
	}
	return t
}

// markdown renders df_message. Every value from the cluster goes through md.
func (m *messages) markdown(v *eventView) string {
	d := v.d
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
	item(m.labelCluster, md(v.cluster, maxMessageText))
	item(m.labelNamespace, md(v.namespace, maxMessageText))
	item(m.labelRestartedPods, fmt.Sprintf(m.restartedPods, d.Stats.RestartedPods, d.Stats.Pods, percent(d.Stats.Ratio)))
	item(m.labelRestarts, strconv.Itoa(d.Stats.Restarts))
	item(m.labelWindow, fmt.Sprintf(m.window, m.duration(d.Window), rfc3339(d.At.Add(-d.Window)), rfc3339(d.At)))
	item(m.labelFault, fmt.Sprintf(m.fault, md(d.Fault.ID, maxMessageText), rfc3339(d.Fault.Start), m.duration(d.Duration())))
	if d.Kind == detect.KindRecovery && !d.Fault.ClearSince.IsZero() {
		item(m.labelClearSince, rfc3339(d.Fault.ClearSince))
	}
	if why, ok := m.ends[d.End]; ok && d.Kind == detect.KindRecovery {
		item(m.labelEnd, why)
	}

	m.writeRCATables(&b, v)

	w := m.duration(d.Window)
	fmt.Fprintf(&b, "\n#### "+m.podsHeading+"\n\n", w)
	det := v.details
	if det.totalPods == 0 {
		b.WriteString(m.noPods + "\n")
		return b.String()
	}
	pods := d.Pods[:min(len(d.Pods), maxMessagePods)]
	writeRow(&b, m.podColumns(w))
	writeRow(&b, slices.Repeat([]string{"---"}, len(m.podColumns(w))))
	for i := range pods {
		writeRow(&b, m.podRow(&pods[i]))
	}
	if len(pods) < det.totalPods {
		b.WriteString("\n" + fmt.Sprintf(m.podsShown, len(pods), det.totalPods) + "\n")
	}

	b.WriteString("\n#### " + m.containersHeading + "\n\n")
	writeRow(&b, m.containerColumns(w))
	writeRow(&b, slices.Repeat([]string{"---"}, len(m.containerColumns(w))))
	rows, total := 0, 0
	for i := range pods {
		for j := range pods[i].Pod.Containers {
			total++
			if rows < maxMessageContainers {
				writeRow(&b, m.containerRow(containerRef{&pods[i], j}))
				rows++
			}
		}
	}
	if rows < total {
		b.WriteString("\n" + fmt.Sprintf(m.containersShown, rows, total) + "\n")
	}
	if det.jsonPods < det.totalPods || det.jsonContainers < det.totalContainers {
		b.WriteString("\n" + fmt.Sprintf(m.jsonShown, det.jsonPods, det.totalPods, det.jsonContainers, det.totalContainers) + "\n")
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
		md(p.Name, maxMessageText), md(p.Node, maxMessageText), md(workload, maxMessageText),
		md(p.Phase, maxMessageText), md(p.Reason, maxMessageText), deleted,
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
		cause = md(m.rca.causeName(ref.report.Causes[ref.index]), maxMessageText)
	}
	return []string{
		md(ref.report.Pod.Name, maxMessageText), md(c.Name, maxMessageText), c.Type.String(),
		md(state, maxMessageText), md(c.Last.Reason, maxMessageText), cause, orDash(exit), orDash(signal),
		orDash(rfc3339(c.Last.FinishedAt)),
		strconv.Itoa(ref.restarts()) + " / " + strconv.Itoa(int(c.RestartCount)),
		md(m.quantities(c.Resources.CPURequest, c.Resources.MemoryRequest), maxMessageText),
		md(m.quantities(c.Resources.CPULimit, c.Resources.MemoryLimit), maxMessageText),
		md(c.Image, maxMessageText), md(shortContainerID(containerID(c)), maxMessageText),
		md(msg, maxMessageText),
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

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plain makes s one line of plain text of at most limit characters: invalid
// UTF-8 becomes U+FFFD, control and bidirectional-override characters and
// runs of white space become one space.
func plain(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if isControl(r) || isBidiControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncateRunes(s, limit, "…")
}

// md makes s Markdown text that renders as s itself, on one line and inside
// a table cell: plain, then Markdown's punctuation backslash-escaped and
// HTML's special characters as entities. Empty text becomes "-".
func md(s string, limit int) string {
	s = plain(s, limit)
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '|', '~', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return r == '\u200e' || r == '\u200f' || ('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// truncateRunes cuts s to at most n characters, ending a cut string with
// mark (counted in n).
func truncateRunes(s string, n int, mark string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep, end := n-utf8.RuneCountInString(mark), 0
	for i := range s {
		if keep < 0 {
			break
		}
		end = i
		keep--
	}
	return s[:end] + mark
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
