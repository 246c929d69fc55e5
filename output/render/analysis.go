package render

import (
	"strconv"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// This file lays out the root-cause analysis in df_message: the summary
// lines at its top and the tables of causes, workloads, nodes, Warning
// events and what was not counted; and the collected logs at its end.

// causeName names a cause briefly, for tables and titles.
func (x *texts) causeName(k detect.CauseKey) string {
	return x.s("cause", causeName{
		Cause: k.Cause.String(), Code: int(k.Code), Signal: detect.SignalName(k.Signal()),
		Expected: detect.ExpectedReason(k.Code).String(),
	})
}

// workloadName is "deployment/checkout", or the bare pods' name.
func (x *texts) workloadName(o detect.Owner) string {
	if o.Kind == "" && o.Name == "" {
		return x.s("bare_pods", nil)
	}
	return strings.ToLower(o.Kind) + "/" + o.Name
}

// memoryLimits names the memory limits of OOM-killed containers, "" being
// none.
func (x *texts) memoryLimits(limits []string) []string {
	var out []string
	for _, l := range limits {
		if l == "" {
			l = x.s("no_limit", nil)
		}
		out = append(out, l)
	}
	return out
}

// summaryLine renders the summary sentence, names through name; "" without
// abnormal restarts.
func (x *texts) summaryLine(s *detect.Summary, name func(string) string) string {
	d := s.Dominant()
	if d == nil {
		return ""
	}
	a := dominantText{N: d.Restarts, Total: s.Restarts, Cause: x.causeName(d.CauseKey), MoreWorkloads: d.OtherWorkloads}
	for _, w := range d.Workloads {
		a.Workloads = append(a.Workloads, name(x.workloadName(w)))
	}
	a.AllWorkloads = len(a.Workloads) + a.MoreWorkloads
	for _, c := range d.Containers {
		a.Containers = append(a.Containers, name(c))
	}
	if d.Cause == detect.CauseOOMKilled {
		for _, l := range x.memoryLimits(d.MemoryLimits) {
			a.Limits = append(a.Limits, name(l))
		}
	}
	line := x.s("dominant", a)
	var others []string
	for i := 1; i < len(s.Causes) && i <= 3; i++ {
		others = append(others, x.s("count_cause", causeCount{N: s.Causes[i].Restarts, Cause: x.causeName(s.Causes[i].CauseKey)}))
	}
	if len(others) > 0 {
		line += x.s("others", others)
	}
	return line
}

// triggerLine renders the likely trigger; "" without one.
func (x *texts) triggerLine(s *detect.Summary, name func(string) string) string {
	t := s.Trigger
	if t == nil {
		return ""
	}
	a := triggerText{
		Workload: name(x.workloadName(detect.Owner{Kind: t.Workload.Kind, Name: t.Workload.Name})),
		Revision: strconv.FormatInt(t.Revision.Number, 10), ReplicaSet: name(t.Revision.Name),
		Since: rfc3339(t.Since), Before: x.duration(t.FirstRestart.Sub(t.Since)),
		Pods: t.RestartedPods, WorkloadPods: t.WorkloadRestartedPods,
		TemplateChanged: t.Previous != nil && len(t.Images) == 0,
	}
	for _, c := range t.Images {
		from := "" // a container the previous revision did not have
		if c.From != "" {
			from = name(c.From)
		}
		a.Images = append(a.Images, imageChange{name(c.Container), from, name(c.To)})
	}
	return x.s("trigger", a)
}

// nodeLine renders the node most restarted pods run on, when they
// concentrate there; "" otherwise.
func (x *texts) nodeLine(s *detect.Summary, restartedPods int, name func(string) string) string {
	if !s.NodeConcentration {
		return ""
	}
	n := &s.Nodes[0]
	return x.s("node", nodeText{Pods: n.RestartedPods, Total: restartedPods, Node: name(n.Name),
		Conditions: n.Conditions.Names(), Cordoned: n.Unschedulable})
}

// notCountedLine renders what was not counted; "" for nothing.
func (x *texts) notCountedLine(s *detect.Summary, name func(string) string) string {
	var items []string
	for _, e := range s.Expected {
		var where []string
		if e.Reason == detect.ExpectedRollout || e.Reason == detect.ExpectedDeleted {
			for _, w := range e.Workloads {
				where = append(where, name(x.workloadName(w)))
			}
		} else {
			for _, n := range e.Nodes {
				where = append(where, name(x.nodeWithConditions(n)))
			}
		}
		items = append(items, x.s("expected", expectedText{Reason: e.Reason.String(), Pods: e.Pods, Restarts: e.Restarts,
			Where: strings.Join(where, ", ")}))
	}
	if len(items) == 0 {
		return ""
	}
	return strings.Join(items, "; ") + "."
}

// nodeWithConditions is "node-a (MemoryPressure, cordoned)".
func (x *texts) nodeWithConditions(n detect.Node) string {
	c := n.Conditions.Names()
	if n.Unschedulable {
		c = append(c, x.s("cordoned", nil))
	}
	if len(c) == 0 {
		return n.Name
	}
	return n.Name + " (" + strings.Join(c, ", ") + ")"
}

// rulesLine renders the thresholds the namespace was judged by.
func (x *texts) rulesLine(t *detect.Thresholds) string {
	r := rulesText{Warning: percent(t.RatioWarning), Error: percent(t.RatioError), Critical: percent(t.RatioCritical),
		MinPods: t.MinPods, MinRestarted: t.MinRestartedPods, Overridden: t.Overridden}
	if t.HasBaseline {
		r.Baseline = percent(t.Baseline)
	}
	return x.s("rules", r)
}

// writeAnalysis writes the summary lines at the top of df_message.
func (x *texts) writeAnalysis(b *strings.Builder, v *Event) {
	d := v.Decision
	name := func(s string) string { return md(s, MaxText) }
	para := func(label, text string) {
		if text != "" {
			b.WriteString("**" + x.s(label, nil) + "**: " + text + "\n\n")
		}
	}
	para("summary_label", x.summaryLine(&d.Summary, name))
	para("trigger_label", x.triggerLine(&d.Summary, name))
	para("node_label", x.nodeLine(&d.Summary, d.Stats.RestartedPods, name))
	para("not_counted_label", x.notCountedLine(&d.Summary, name))
	if d.Thresholds.MinPods > 0 {
		para("rules_label", x.rulesLine(&d.Thresholds))
	}
}
