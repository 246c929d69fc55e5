package render

import (
	"slices"
	"strconv"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// writeAnalysisTables writes the causes, workloads, nodes, Warning events
// and what was not counted, each when there is something to show.
func (x *texts) writeAnalysisTables(b *strings.Builder, v *Event) {
	d := v.Decision
	s := &d.Summary
	table := func(heading, columns string, rows [][]string) {
		if len(rows) == 0 {
			return
		}
		b.WriteString("\n#### " + x.s(heading, nil) + "\n\n")
		writeTable(b, x.lines(columns, nil), len(rows), func(i int) []string { return rows[i] })
	}
	var rows [][]string
	for i := range s.Causes {
		c := &s.Causes[i]
		var ws []string
		for _, w := range c.Workloads {
			ws = append(ws, x.workloadName(w))
		}
		if c.OtherWorkloads > 0 {
			ws = append(ws, "+"+strconv.Itoa(c.OtherWorkloads))
		}
		limits := "-"
		if c.Cause == detect.CauseOOMKilled {
			limits = md(strings.Join(x.memoryLimits(c.MemoryLimits), ", "), MaxText)
		}
		rows = append(rows, []string{
			md(x.causeName(c.CauseKey), MaxText), strconv.Itoa(c.Restarts), percent(s.Share(c)), strconv.Itoa(c.Pods),
			md(strings.Join(ws, ", "), MaxText), md(strings.Join(c.Containers, ", "), MaxText), limits,
		})
	}
	table("causes_heading", "cause_columns", rows)

	rows = nil
	for _, w := range s.Workloads {
		rows = append(rows, []string{md(x.workloadName(w.Owner), MaxText), strconv.Itoa(w.RestartedPods), strconv.Itoa(w.Restarts)})
	}
	table("workloads_heading", "workload_columns", rows)

	rows = nil
	for _, n := range s.Nodes {
		conds := n.Conditions.Names()
		if n.Unschedulable {
			conds = append(conds, x.s("cordoned", nil))
		}
		c := x.s("no_conditions", nil)
		if len(conds) > 0 {
			c = strings.Join(conds, ", ")
		}
		rows = append(rows, []string{md(n.Name, MaxText), strconv.Itoa(n.RestartedPods), strconv.Itoa(n.Restarts), md(c, MaxText)})
	}
	table("nodes_heading", "node_columns", rows)

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
	table("events_heading", "event_columns", rows)

	rows = nil
	for _, e := range s.Expected {
		var ns, ws []string
		for _, n := range e.Nodes {
			ns = append(ns, x.nodeWithConditions(n))
		}
		for _, w := range e.Workloads {
			ws = append(ws, x.workloadName(w))
		}
		rows = append(rows, []string{e.Reason.String(), strconv.Itoa(e.Pods), strconv.Itoa(e.Restarts),
			md(strings.Join(ns, ", "), MaxText), md(strings.Join(ws, ", "), MaxText)})
	}
	table("not_counted_heading", "not_counted_columns", rows)
}

// writeLogs writes the collected log tails as code blocks, the last
// maxLogLines lines of each.
func (x *texts) writeLogs(b *strings.Builder, pods []detect.PodReport) {
	heading := false
	for i := range pods {
		p := &pods[i]
		for j, tail := range p.LogTails {
			if tail == "" || j >= len(p.Pod.Containers) {
				continue
			}
			if !heading {
				b.WriteString("\n#### " + x.s("logs_heading", nil) + "\n")
				heading = true
			}
			lines := strings.Split(tail, "\n")
			lines = lines[max(0, len(lines)-maxLogLines):]
			text := strings.Join(lines, "\n")
			b.WriteString("\n" + x.s("log_caption", logCaption{md(p.Pod.Name, MaxText), md(p.Pod.Containers[j].Name, MaxText)}) + "\n\n")
			fence := codeFence(text)
			b.WriteString(fence + "text\n" + codeText(text) + "\n" + fence + "\n")
		}
	}
}
