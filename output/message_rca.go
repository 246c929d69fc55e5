package output

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Bounds on the root-cause analysis in df_message.
const (
	// maxMessageBytes bounds df_message: past it the message is cut at a
	// line, closing an open code block, with a note.
	maxMessageBytes = 64 << 10
	// maxMessageEvents bounds the Warning events table.
	maxMessageEvents = 20
	// maxLogLines bounds the lines of each log tail in df_message (the
	// field container_statuses carries what log_tail_lines keeps).
	maxLogLines = 20
)

// rcaText is the text of the root-cause analysis in one language. The
// functions get names already made plain text or Markdown.
type rcaText struct {
	summaryLabel, triggerLabel, nodeLabel, notCountedLabel, rulesLabel string

	causesHeading, workloadsHeading, nodesHeading, eventsHeading string
	notCountedHeading, logsHeading                               string

	causeColumns, workloadColumns, nodeColumns []string
	eventColumns, notCountedColumns            []string

	// causeName names a cause briefly, for tables and titles.
	causeName func(k detect.CauseKey) string
	// dominant is the summary's sentence: n of total restarts were the
	// cause, in the workloads and containers, with memory limits for OOM
	// kills ("" for none).
	dominant func(a dominantArgs) string
	// others lists the other causes after the dominant one, with its
	// leading separator.
	others func(items []string) string
	// countCause is "n cause" in others.
	countCause func(n int, cause string) string
	// titleSuffix follows df_title when there are abnormal restarts.
	titleSuffix func(n, total int, cause string) string
	trigger     func(a triggerArgs) string
	node        func(pods, total int, node string, conditions []string, cordoned bool) string
	expected    func(r detect.ExpectedReason, pods, restarts int, where string) string
	rules       func(warning, errorR, critical string, minPods, minRestarted int, overridden []string, baseline string) string
	// noLimit stands for a container without a memory limit.
	noLimit, barePods, noConditions, cordoned string
	logCaption                                func(pod, container string) string
	cut                                       string // the note of a cut message
}

type dominantArgs struct {
	n, total     int
	cause        string
	workloads    []string
	moreWorkload int
	containers   []string
	limits       []string // only for OOM kills
}

type triggerArgs struct {
	workload, revision, replicaSet, since, before string
	images                                        [][3]string // container, from, to
	templateChanged                               bool        // the images did not change
	pods, workloadPods                            int
}

// workloadName is "deployment/checkout", or the bare pods' name.
func (r *rcaText) workloadName(o detect.Owner) string {
	if o.Kind == "" && o.Name == "" {
		return r.barePods
	}
	return strings.ToLower(o.Kind) + "/" + o.Name
}

// summaryLine renders the summary sentence, names through name; "" without
// abnormal restarts.
func (m *messages) summaryLine(s *detect.Summary, name func(string) string) string {
	d := s.Dominant()
	if d == nil {
		return ""
	}
	r := &m.rca
	a := dominantArgs{n: d.Restarts, total: s.Restarts, cause: r.causeName(d.CauseKey), moreWorkload: d.OtherWorkloads}
	for _, w := range d.Workloads {
		a.workloads = append(a.workloads, name(r.workloadName(w)))
	}
	for _, c := range d.Containers {
		a.containers = append(a.containers, name(c))
	}
	if d.Cause == detect.CauseOOMKilled {
		for _, l := range d.MemoryLimits {
			if l == "" {
				l = r.noLimit
			}
			a.limits = append(a.limits, name(l))
		}
	}
	line := r.dominant(a)
	var others []string
	for i := 1; i < len(s.Causes) && i <= 3; i++ {
		others = append(others, r.countCause(s.Causes[i].Restarts, r.causeName(s.Causes[i].CauseKey)))
	}
	if len(others) > 0 {
		line += r.others(others)
	}
	return line
}

// triggerLine renders the likely trigger; "" without one.
func (m *messages) triggerLine(s *detect.Summary, name func(string) string) string {
	t := s.Trigger
	if t == nil {
		return ""
	}
	r := &m.rca
	a := triggerArgs{
		workload: name(r.workloadName(detect.Owner{Kind: t.Workload.Kind, Name: t.Workload.Name})),
		revision: strconv.FormatInt(t.Revision.Number, 10), replicaSet: name(t.Revision.Name),
		since: rfc3339(t.Since), before: m.duration(t.FirstRestart.Sub(t.Since)),
		pods: t.RestartedPods, workloadPods: t.WorkloadRestartedPods,
		templateChanged: t.Previous != nil && len(t.Images) == 0,
	}
	for _, c := range t.Images {
		from := "" // a container the previous revision did not have
		if c.From != "" {
			from = name(c.From)
		}
		a.images = append(a.images, [3]string{name(c.Container), from, name(c.To)})
	}
	return r.trigger(a)
}

// nodeLine renders the node most restarted pods run on, when they
// concentrate there; "" otherwise.
func (m *messages) nodeLine(s *detect.Summary, restartedPods int, name func(string) string) string {
	if !s.NodeConcentration {
		return ""
	}
	n := &s.Nodes[0]
	return m.rca.node(n.RestartedPods, restartedPods, name(n.Name), n.Conditions.Names(), n.Unschedulable)
}

// notCountedLine renders what was not counted; "" for nothing.
func (m *messages) notCountedLine(s *detect.Summary, name func(string) string) string {
	var items []string
	for _, e := range s.Expected {
		where := ""
		switch {
		case e.Reason == detect.ExpectedRollout || e.Reason == detect.ExpectedDeleted:
			var ws []string
			for _, w := range e.Workloads {
				ws = append(ws, name(m.rca.workloadName(w)))
			}
			where = strings.Join(ws, ", ")
		default:
			var ns []string
			for _, n := range e.Nodes {
				ns = append(ns, name(nodeWithConditions(n, m.rca.cordoned)))
			}
			where = strings.Join(ns, ", ")
		}
		items = append(items, m.rca.expected(e.Reason, e.Pods, e.Restarts, where))
	}
	if len(items) == 0 {
		return ""
	}
	return strings.Join(items, "; ") + "."
}

// nodeWithConditions is "node-a (MemoryPressure, cordoned)".
func nodeWithConditions(n detect.Node, cordoned string) string {
	c := n.Conditions.Names()
	if n.Unschedulable {
		c = append(c, cordoned)
	}
	if len(c) == 0 {
		return n.Name
	}
	return n.Name + " (" + strings.Join(c, ", ") + ")"
}

// rulesLine renders the thresholds the namespace was judged by.
func (m *messages) rulesLine(t *detect.Thresholds) string {
	baseline := ""
	if t.HasBaseline {
		baseline = percent(t.Baseline)
	}
	return m.rca.rules(percent(t.RatioWarning), percent(t.RatioError), percent(t.RatioCritical),
		t.MinPods, t.MinRestartedPods, t.Overridden, baseline)
}

// writeRCA writes the summary lines at the top of df_message.
func (m *messages) writeRCA(b *strings.Builder, v *eventView) {
	d := v.d
	name := func(s string) string { return md(s, maxMessageText) }
	para := func(label, text string) {
		if text != "" {
			fmt.Fprintf(b, "**%s**: %s\n\n", label, text)
		}
	}
	para(m.rca.summaryLabel, m.summaryLine(&d.Summary, name))
	para(m.rca.triggerLabel, m.triggerLine(&d.Summary, name))
	para(m.rca.nodeLabel, m.nodeLine(&d.Summary, d.Stats.RestartedPods, name))
	para(m.rca.notCountedLabel, m.notCountedLine(&d.Summary, name))
	if d.Thresholds.MinPods > 0 {
		para(m.rca.rulesLabel, m.rulesLine(&d.Thresholds))
	}
}

// writeRCATables writes the causes, workloads, nodes, Warning events and
// what was not counted, each when there is something to show.
func (m *messages) writeRCATables(b *strings.Builder, v *eventView) {
	d := v.d
	s := &d.Summary
	r := &m.rca
	table := func(heading string, cols []string, rows [][]string) {
		if len(rows) == 0 {
			return
		}
		b.WriteString("\n#### " + heading + "\n\n")
		writeRow(b, cols)
		writeRow(b, slices.Repeat([]string{"---"}, len(cols)))
		for _, row := range rows {
			writeRow(b, row)
		}
	}
	var rows [][]string
	for i := range s.Causes {
		c := &s.Causes[i]
		var ws []string
		for _, w := range c.Workloads {
			ws = append(ws, r.workloadName(w))
		}
		if c.OtherWorkloads > 0 {
			ws = append(ws, "+"+strconv.Itoa(c.OtherWorkloads))
		}
		limits := "-"
		if c.Cause == detect.CauseOOMKilled {
			var ls []string
			for _, l := range c.MemoryLimits {
				if l == "" {
					l = r.noLimit
				}
				ls = append(ls, l)
			}
			limits = md(strings.Join(ls, ", "), maxMessageText)
		}
		rows = append(rows, []string{
			md(r.causeName(c.CauseKey), maxMessageText), strconv.Itoa(c.Restarts), percent(s.Share(c)), strconv.Itoa(c.Pods),
			md(strings.Join(ws, ", "), maxMessageText), md(strings.Join(c.Containers, ", "), maxMessageText), limits,
		})
	}
	table(r.causesHeading, r.causeColumns, rows)

	rows = nil
	for _, w := range s.Workloads {
		rows = append(rows, []string{md(r.workloadName(w.Owner), maxMessageText), strconv.Itoa(w.RestartedPods), strconv.Itoa(w.Restarts)})
	}
	table(r.workloadsHeading, r.workloadColumns, rows)

	rows = nil
	for _, n := range s.Nodes {
		conds := n.Conditions.Names()
		if n.Unschedulable {
			conds = append(conds, r.cordoned)
		}
		c := r.noConditions
		if len(conds) > 0 {
			c = strings.Join(conds, ", ")
		}
		rows = append(rows, []string{md(n.Name, maxMessageText), strconv.Itoa(n.RestartedPods), strconv.Itoa(n.Restarts), md(c, maxMessageText)})
	}
	table(r.nodesHeading, r.nodeColumns, rows)

	rows = nil
	type podEvent struct {
		pod string
		e   detect.Event
	}
	var events []podEvent
	for i := range d.Pods[:min(len(d.Pods), maxMessagePods)] {
		for _, e := range d.Pods[i].Events {
			events = append(events, podEvent{d.Pods[i].Pod.Name, e})
		}
	}
	slices.SortStableFunc(events, func(a, b podEvent) int { return b.e.LastSeen.Compare(a.e.LastSeen) })
	for _, pe := range events[:min(len(events), maxMessageEvents)] {
		rows = append(rows, []string{
			md(pe.pod, maxMessageText), md(pe.e.Container, maxMessageText), md(pe.e.Reason, maxMessageText),
			strconv.Itoa(int(pe.e.Count)), orDash(rfc3339(pe.e.LastSeen)), md(pe.e.Message, maxMessageText),
		})
	}
	table(r.eventsHeading, r.eventColumns, rows)

	rows = nil
	for _, e := range s.Expected {
		var ns, ws []string
		for _, n := range e.Nodes {
			ns = append(ns, nodeWithConditions(n, r.cordoned))
		}
		for _, w := range e.Workloads {
			ws = append(ws, r.workloadName(w))
		}
		rows = append(rows, []string{e.Reason.String(), strconv.Itoa(e.Pods), strconv.Itoa(e.Restarts),
			md(strings.Join(ns, ", "), maxMessageText), md(strings.Join(ws, ", "), maxMessageText)})
	}
	table(r.notCountedHeading, r.notCountedColumns, rows)
}

// writeLogs writes the collected log tails as code blocks, the last
// maxLogLines lines of each.
func (m *messages) writeLogs(b *strings.Builder, pods []detect.PodReport) {
	heading := false
	for i := range pods {
		p := &pods[i]
		for j, tail := range p.LogTails {
			if tail == "" || j >= len(p.Pod.Containers) {
				continue
			}
			if !heading {
				b.WriteString("\n#### " + m.rca.logsHeading + "\n")
				heading = true
			}
			lines := strings.Split(tail, "\n")
			lines = lines[max(0, len(lines)-maxLogLines):]
			text := strings.Join(lines, "\n")
			fmt.Fprintf(b, "\n%s\n\n", m.rca.logCaption(md(p.Pod.Name, maxMessageText), md(p.Pod.Containers[j].Name, maxMessageText)))
			fence := codeFence(text)
			b.WriteString(fence + "text\n" + codeText(text) + "\n" + fence + "\n")
		}
	}
}

// codeFence returns a backtick fence longer than any run of backticks in
// text, so that text cannot close it.
func codeFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// codeText makes log text safe inside a code block: valid UTF-8, no
// control characters but newlines and tabs, no bidirectional overrides.
func codeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if isControl(r) || isBidiControl(r) {
			return ' '
		}
		return r
	}, s)
}

// capMessage cuts a message longer than maxMessageBytes at a line
// boundary, closes a code block left open, and says so.
func capMessage(s, note string) string {
	if len(s) <= maxMessageBytes {
		return s
	}
	limit := maxMessageBytes - len(note) - 16
	cut := strings.LastIndexByte(s[:limit], '\n')
	if cut < 0 {
		cut = limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	out := s[:cut]
	// A fence opened and not closed: count the fence lines.
	open := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "```") {
			f := line[:len(line)-len(strings.TrimLeft(line, "`"))]
			switch {
			case open == "":
				open = f
			case f == open && strings.TrimLeft(line, "`") == "":
				open = ""
			}
		}
	}
	if open != "" {
		out += "\n" + open
	}
	return out + "\n\n" + note + "\n"
}

// englishRCA is the English root-cause analysis text.
var englishRCA = rcaText{
	summaryLabel:      "Summary",
	triggerLabel:      "Likely trigger",
	nodeLabel:         "Node",
	notCountedLabel:   "Not counted",
	rulesLabel:        "Rules",
	causesHeading:     "Causes",
	workloadsHeading:  "Workloads with the most restarted pods",
	nodesHeading:      "Nodes with the most restarted pods",
	eventsHeading:     "Warning events of these pods",
	notCountedHeading: "Expected terminations, not counted",
	logsHeading:       "Last log lines of the previous runs",
	causeColumns:      []string{"Cause", "Restarts", "Share", "Pods", "Workloads", "Containers", "Memory limits"},
	workloadColumns:   []string{"Workload", "Restarted pods", "Restarts"},
	nodeColumns:       []string{"Node", "Restarted pods", "Restarts", "Conditions"},
	eventColumns:      []string{"Pod", "Container", "Reason", "Count", "Last seen", "Message"},
	notCountedColumns: []string{"Reason", "Pods", "Restarts", "Nodes", "Workloads"},
	causeName: func(k detect.CauseKey) string {
		switch k.Cause {
		case detect.CauseOOMKilled:
			return "OOMKilled"
		case detect.CauseLiveness:
			return "liveness probe failures"
		case detect.CauseStartup:
			return "startup probe failures"
		case detect.CauseImage:
			return "image pull errors"
		case detect.CauseConfig:
			if k.Code != 0 {
				return fmt.Sprintf("container start or config errors (exit code %d)", k.Code)
			}
			return "container start or config errors"
		case detect.CauseInit:
			return fmt.Sprintf("init container failures with exit code %d", k.Code)
		case detect.CauseSignal:
			return fmt.Sprintf("kills by %s (exit code %d)", detect.SignalName(k.Signal()), k.Code)
		case detect.CauseError:
			return fmt.Sprintf("errors with exit code %d", k.Code)
		case detect.CauseCompleted:
			return "exits with code 0"
		case detect.CauseExpected:
			return "expected (" + detect.ExpectedReason(k.Code).String() + ")"
		}
		return "of unknown cause"
	},
	dominant: func(a dominantArgs) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%d of %d restarts were %s", a.n, a.total, a.cause)
		switch {
		case len(a.workloads) == 1 && a.moreWorkload == 0:
			b.WriteString(", all in " + a.workloads[0])
		case len(a.workloads) > 0:
			b.WriteString(", in " + strings.Join(a.workloads, ", "))
			if a.moreWorkload > 0 {
				fmt.Fprintf(&b, " and %d more workloads", a.moreWorkload)
			}
		}
		switch len(a.containers) {
		case 0:
		case 1:
			b.WriteString(", container " + a.containers[0])
		default:
			b.WriteString(", containers " + strings.Join(a.containers, ", "))
		}
		switch len(a.limits) {
		case 0:
		case 1:
			b.WriteString(", memory limit " + a.limits[0])
		default:
			b.WriteString(", memory limits " + strings.Join(a.limits, ", "))
		}
		return b.String() + "."
	},
	others:     func(items []string) string { return " Others: " + strings.Join(items, ", ") + "." },
	countCause: func(n int, cause string) string { return fmt.Sprintf("%d %s", n, cause) },
	titleSuffix: func(n, total int, cause string) string {
		return fmt.Sprintf("; %d of %d restarts were %s", n, total, cause)
	},
	trigger: func(a triggerArgs) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s rolled out revision %s (ReplicaSet %s) at %s, %s before its first restart", a.workload, a.revision, a.replicaSet, a.since, a.before)
		var changes []string
		for _, c := range a.images {
			if c[1] == "" {
				changes = append(changes, fmt.Sprintf("container %s added with image %s", c[0], c[2]))
			} else {
				changes = append(changes, fmt.Sprintf("image of container %s changed from %s to %s", c[0], c[1], c[2]))
			}
		}
		if len(changes) > 0 {
			b.WriteString("; " + strings.Join(changes, "; "))
		} else if a.templateChanged {
			b.WriteString("; its pod template changed, not its images")
		}
		fmt.Fprintf(&b, ". %d of its %d restarted pods run this revision.", a.pods, a.workloadPods)
		return b.String()
	},
	node: func(pods, total int, node string, conditions []string, cordoned bool) string {
		s := fmt.Sprintf("%d of %d restarted pods run on %s", pods, total, node)
		switch {
		case len(conditions) > 0:
			s += ", which reports " + strings.Join(conditions, ", ")
		default:
			s += ", which reports no problem condition"
		}
		if cordoned {
			s += " and is cordoned"
		}
		return s + "."
	},
	expected: func(r detect.ExpectedReason, pods, restarts int, where string) string {
		var s string
		switch r {
		case detect.ExpectedDeleted:
			s = fmt.Sprintf("%d pods deleted", pods)
		case detect.ExpectedEvicted:
			s = fmt.Sprintf("%d pods evicted by the kubelet", pods)
		case detect.ExpectedPreempted:
			s = fmt.Sprintf("%d pods preempted by the scheduler", pods)
		case detect.ExpectedEvictionAPI:
			s = fmt.Sprintf("%d pods evicted through the Eviction API", pods)
		case detect.ExpectedDrain:
			s = fmt.Sprintf("%d pods drained from cordoned nodes", pods)
		case detect.ExpectedTaint:
			s = fmt.Sprintf("%d pods deleted for NoExecute taints", pods)
		case detect.ExpectedPodGC:
			s = fmt.Sprintf("%d pods garbage-collected", pods)
		case detect.ExpectedNodeShutdown:
			s = fmt.Sprintf("%d pods terminated by a node shutdown", pods)
		case detect.ExpectedRollout:
			s = fmt.Sprintf("%d pods of older revisions replaced or restarting during a rollout", pods)
		default:
			s = fmt.Sprintf("%d pods disrupted", pods)
		}
		if restarts > 0 {
			s += fmt.Sprintf(" (%d restarts not counted)", restarts)
		}
		if where != "" {
			s += ": " + where
		}
		return s
	},
	rules: func(w, e, c string, minPods, minRestarted int, overridden []string, baseline string) string {
		s := fmt.Sprintf("warning from %s, error from %s, critical from %s, with at least %d pods and %d restarted pods", w, e, c, minPods, minRestarted)
		if baseline != "" {
			s += "; baseline " + baseline
		}
		if len(overridden) > 0 {
			s += "; set by the namespace's annotations: " + strings.Join(overridden, ", ")
		}
		return s + "."
	},
	noLimit:      "none",
	barePods:     "bare pods",
	noConditions: "no problem",
	cordoned:     "cordoned",
	logCaption:   func(pod, container string) string { return fmt.Sprintf("%s, container %s:", pod, container) },
	cut:          "The message was cut at 64 KiB; the fields `abnormal_pods` and `container_statuses` hold the details.",
}
