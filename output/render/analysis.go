package render

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
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
func (m *messages) writeRCA(b *strings.Builder, v *Event) {
	d := v.Decision
	name := func(s string) string { return md(s, MaxText) }
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
func (m *messages) writeRCATables(b *strings.Builder, v *Event) {
	d := v.Decision
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
			limits = md(strings.Join(ls, ", "), MaxText)
		}
		rows = append(rows, []string{
			md(r.causeName(c.CauseKey), MaxText), strconv.Itoa(c.Restarts), percent(s.Share(c)), strconv.Itoa(c.Pods),
			md(strings.Join(ws, ", "), MaxText), md(strings.Join(c.Containers, ", "), MaxText), limits,
		})
	}
	table(r.causesHeading, r.causeColumns, rows)

	rows = nil
	for _, w := range s.Workloads {
		rows = append(rows, []string{md(r.workloadName(w.Owner), MaxText), strconv.Itoa(w.RestartedPods), strconv.Itoa(w.Restarts)})
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
		rows = append(rows, []string{md(n.Name, MaxText), strconv.Itoa(n.RestartedPods), strconv.Itoa(n.Restarts), md(c, MaxText)})
	}
	table(r.nodesHeading, r.nodeColumns, rows)

	rows = nil
	type podEvent struct {
		pod string
		e   detect.Event
	}
	var events []podEvent
	for i := range d.Pods[:min(len(d.Pods), MaxPods)] {
		for _, e := range d.Pods[i].Events {
			events = append(events, podEvent{d.Pods[i].Pod.Name, e})
		}
	}
	slices.SortStableFunc(events, func(a, b podEvent) int { return b.e.LastSeen.Compare(a.e.LastSeen) })
	for _, pe := range events[:min(len(events), MaxEvents)] {
		rows = append(rows, []string{
			md(pe.pod, MaxText), md(pe.e.Container, MaxText), md(pe.e.Reason, MaxText),
			strconv.Itoa(int(pe.e.Count)), orDash(rfc3339(pe.e.LastSeen)), md(pe.e.Message, MaxText),
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
			md(strings.Join(ns, ", "), MaxText), md(strings.Join(ws, ", "), MaxText)})
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
			fmt.Fprintf(b, "\n%s\n\n", m.rca.logCaption(md(p.Pod.Name, MaxText), md(p.Pod.Containers[j].Name, MaxText)))
			fence := codeFence(text)
			b.WriteString(fence + "text\n" + codeText(text) + "\n" + fence + "\n")
		}
	}
}
