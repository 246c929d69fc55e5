package input

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// jsonStringKeys are the event fields that hold JSON text: the scan's JSON
// embeds them as JSON, not as strings.
var jsonStringKeys = []string{"abnormal_pods", "container_statuses", "causes", "top_workloads", "top_nodes",
	"trigger", "not_counted", "df_dimension_tags"}

// analysisKeys are the event fields that carry the root-cause analysis, which
// a namespace below the rules has too.
var analysisKeys = []string{"abnormal_pods", "container_statuses", "omitted_pods", "omitted_containers", "summary",
	"dominant_cause", "dominant_cause_share", "causes", "top_workloads", "top_nodes", "trigger", "not_counted"}

// scanTagKeys are the tags a namespace's entry keeps: the event's and
// metric's identity tags of a fault (df_event_id, df_fault_id, ...) mean
// nothing for a scan, which opens no fault.
var scanTagKeys = []string{"cluster_name_k8s", "namespace", "df_status"}

// scanFields returns the keys of the namespace's metric point and, at or
// over the rules, of its event, as output encodes them: the scan's JSON
// has the same keys as what the agent writes. Below the rules, a namespace
// with restarts gets the event's analysis keys. It is the one place the
// scan calls output's encoder.
func scanFields(enc *output.Encoder, n *NamespaceScan, at time.Time) (map[string]any, error) {
	out := map[string]any{}
	m, err := enc.Metric(at, &n.Decision.Stats)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Fields() {
		out[f.Key] = f.Raw()
	}
	for _, t := range m.Tags() {
		out[t.Key] = t.Raw()
	}
	out["df_status"] = n.Decision.Level.String()
	d, keep := n.Decision, func(string) bool { return true }
	switch {
	case n.Over():
	case d.Stats.RestartedPods > 0 || len(d.Summary.Expected) > 0:
		// Below the rules there is no event, but the analysis keys of an
		// event depend on the analysis alone, not on the level or the
		// fault: encode the namespace as an anomaly and keep those.
		d.Kind, d.Level, d.EventID = detect.KindAnomaly, detect.LevelWarning, "scan"
		d.Fault = detect.Fault{ID: "scan", Namespace: d.Stats.Namespace, Start: at}
		keep = func(k string) bool { return slices.Contains(analysisKeys, k) }
	default:
		return out, nil
	}
	ev, err := enc.Event(&d)
	if err != nil {
		return nil, err
	}
	for _, f := range ev.Fields() {
		if !keep(f.Key) {
			continue
		}
		v := f.Raw()
		if s, ok := v.(string); ok && slices.Contains(jsonStringKeys, f.Key) {
			v = json.RawMessage(s)
		}
		out[f.Key] = v
	}
	for _, t := range ev.Tags() {
		if n.Over() && slices.Contains(scanTagKeys, t.Key) {
			out[t.Key] = t.Raw()
		}
	}
	return out, nil
}

// scanJSON is the document `scan -o json` writes.
type scanJSON struct {
	Cluster    string           `json:"cluster_name_k8s"`
	At         string           `json:"scanned_at"`
	Window     int64            `json:"df_date_range"`
	Over       int              `json:"over_rules"`
	Warnings   []string         `json:"warnings,omitempty"` // what could not be read besides pods
	Namespaces []map[string]any `json:"namespaces"`
}

// WriteJSON writes the report as one JSON document: every namespace with the
// keys of its metric point, its level as df_status and, at or over the
// rules, the fields of the event the agent would write; below them, the
// event's analysis keys when it has restarts.
func (r *ScanReport) WriteJSON(w io.Writer) error {
	doc := scanJSON{Cluster: r.Cluster, At: r.At.UTC().Format(time.RFC3339), Window: int64(r.Window / time.Second),
		Over: r.Over(), Namespaces: []map[string]any{}}
	for _, w := range r.Warnings {
		doc.Warnings = append(doc.Warnings, w.Error())
	}
	for i := range r.Namespaces {
		doc.Namespaces = append(doc.Namespaces, r.Namespaces[i].Fields)
	}
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(doc)
}

// TextOptions choose what WriteText shows.
type TextOptions struct {
	Color   bool // ANSI colours, for a terminal
	Details bool // the root-cause analysis of each namespace at or over the rules
	All     bool // the root-cause analysis of every namespace
}

// ANSI styles of the levels.
const (
	ansiReset = "\x1b[0m"
	ansiBold  = "\x1b[1m"
)

var levelStyle = map[detect.Level]string{
	detect.LevelNone:     "\x1b[32m",   // green
	detect.LevelWarning:  "\x1b[33m",   // yellow
	detect.LevelError:    "\x1b[31m",   // red
	detect.LevelCritical: "\x1b[1;31m", // bold red
}

// WriteText writes the report for people: a table of the namespaces,
// worst first, then the root-cause analyses opts asks for.
func (r *ScanReport) WriteText(w io.Writer, opts TextOptions) error {
	tw := &textWriter{w: w, color: opts.Color}
	over := r.Over()
	tw.printf("Cluster %s, %s with pods, %d at or over the rules; restarts in the %s before %s.\n",
		r.Cluster, plural(len(r.Namespaces), "namespace"), over, shortDur(r.Window), r.At.UTC().Format(time.RFC3339))
	for _, w := range r.Warnings {
		tw.printf("Without part of the context: %v\n", w)
	}
	tw.printf("\n")
	header := []string{"NAMESPACE", "RESTARTED/PODS", "RATIO", "LEVEL", "RESTARTS", "DOMINANT CAUSE", "TOP WORKLOAD"}
	var rows [][]string
	var styles []string
	for i := range r.Namespaces {
		d := &r.Namespaces[i].Decision
		st := &d.Stats
		cause, workload := "-", "-"
		if c := d.Summary.Dominant(); c != nil {
			cause = fmt.Sprintf("%s %s", causeLabel(c.CauseKey), percent(d.Summary.Share(c)))
		}
		if len(d.Summary.Workloads) > 0 {
			wl := d.Summary.Workloads[0]
			workload = fmt.Sprintf("%s (%s)", workloadName(wl.Owner), plural(wl.RestartedPods, "pod"))
		}
		rows = append(rows, []string{st.Namespace, fmt.Sprintf("%d/%d", st.RestartedPods, st.Pods), percent(st.Ratio),
			d.Level.String(), strconv.Itoa(st.Restarts), cause, workload})
		styles = append(styles, levelStyle[d.Level])
	}
	tw.table("", header, rows, func(row, col int) string {
		if col == 3 {
			return styles[row]
		}
		return ""
	})

	for i := range r.Namespaces {
		n := &r.Namespaces[i]
		if opts.All || (opts.Details && n.Over()) {
			tw.printf("\n")
			tw.details(n)
		}
	}
	return tw.err
}

// textWriter writes text, keeping the first error.
type textWriter struct {
	w     io.Writer
	color bool
	err   error
}

func (t *textWriter) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *textWriter) style(style, s string) string {
	if !t.color || style == "" {
		return s
	}
	return style + s + ansiReset
}

// table writes rows under header in aligned columns, each line indented;
// style returns the ANSI style of a cell, applied after the padding so that
// colours do not upset the alignment.
func (t *textWriter) table(indent string, header []string, rows [][]string, style func(row, col int) string) {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for c, s := range r {
			widths[c] = max(widths[c], utf8.RuneCountInString(s))
		}
	}
	line := func(cells []string, cellStyle func(col int) string) {
		var b strings.Builder
		b.WriteString(indent)
		for c, s := range cells {
			b.WriteString(t.style(cellStyle(c), s))
			if c < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[c]-utf8.RuneCountInString(s)+2))
			}
		}
		t.printf("%s\n", strings.TrimRight(b.String(), " "))
	}
	line(header, func(int) string { return ansiBold })
	for i, r := range rows {
		line(r, func(c int) string { return style(i, c) })
	}
}

// Bounds of the details, which are for reading, not for completeness:
// -o json carries what the event carries.
const (
	maxTextPods   = 20
	maxTextEvents = 10
	maxTextCell   = 100
)

// details writes one namespace's root-cause analysis.
func (t *textWriter) details(n *NamespaceScan) {
	d := &n.Decision
	st, s := &d.Stats, &d.Summary
	t.printf("%s  %s: %d of %s (%s) restarted in the last %s, %s\n",
		t.style(ansiBold, st.Namespace), t.style(levelStyle[d.Level], d.Level.String()),
		st.RestartedPods, plural(st.Pods, "pod"), percent(st.Ratio), shortDur(d.Window), plural(st.Restarts, "restart"))
	if sum, ok := n.Fields["summary"].(string); ok {
		t.printf("  Summary: %s\n", sum)
	}
	if len(s.Causes) > 0 {
		t.printf("  Causes:\n")
		var rows [][]string
		for i := range s.Causes {
			c := &s.Causes[i]
			ws := make([]string, len(c.Workloads))
			for j, o := range c.Workloads {
				ws[j] = workloadName(o)
			}
			limits := "-"
			if c.Cause == detect.CauseOOMKilled {
				limits = orDash(strings.Join(c.MemoryLimits, ", "))
			}
			rows = append(rows, []string{causeLabel(c.CauseKey), strconv.Itoa(c.Restarts), percent(s.Share(c)), strconv.Itoa(c.Pods),
				orDash(strings.Join(ws, ", ")), orDash(strings.Join(c.Containers, ", ")), limits})
		}
		t.table("    ", []string{"CAUSE", "RESTARTS", "SHARE", "PODS", "WORKLOADS", "CONTAINERS", "MEMORY LIMITS"}, rows, noStyle)
	}
	if len(s.Workloads) > 0 {
		var parts []string
		for _, wl := range s.Workloads {
			parts = append(parts, fmt.Sprintf("%s %s, %s", workloadName(wl.Owner), plural(wl.RestartedPods, "pod"), plural(wl.Restarts, "restart")))
		}
		t.printf("  Workloads: %s\n", strings.Join(parts, "; "))
	}
	if len(s.Nodes) > 0 {
		var parts []string
		for _, nd := range s.Nodes {
			p := fmt.Sprintf("%s %s, %s", orDash(nd.Name), plural(nd.RestartedPods, "pod"), plural(nd.Restarts, "restart"))
			conds := nd.Conditions.Names()
			if nd.Unschedulable {
				conds = append(conds, "cordoned")
			}
			if len(conds) > 0 {
				p += " (" + strings.Join(conds, ", ") + ")"
			}
			parts = append(parts, p)
		}
		t.printf("  Nodes: %s\n", strings.Join(parts, "; "))
	}
	if c := s.Trigger; c != nil {
		p := fmt.Sprintf("%s revision %d (ReplicaSet %s) current since %s, first restart %s",
			workloadName(c.Workload), c.Revision.Number, c.Revision.Name, rfc3339(c.Since), rfc3339(c.FirstRestart))
		for _, im := range c.Images {
			p += fmt.Sprintf("; %s: %s -> %s", im.Container, orDash(im.From), im.To)
		}
		t.printf("  Likely trigger: %s\n", p)
	}
	if len(s.Expected) > 0 {
		var parts []string
		for _, x := range s.Expected {
			parts = append(parts, fmt.Sprintf("%s %s, %s", x.Reason, plural(x.Pods, "pod"), plural(x.Restarts, "restart")))
		}
		t.printf("  Not counted: %s\n", strings.Join(parts, "; "))
	}
	th := &d.Thresholds
	rules := fmt.Sprintf("warning from %s, error from %s, critical from %s, with at least %d pods and %d restarted pods",
		percent(th.RatioWarning), percent(th.RatioError), percent(th.RatioCritical), th.MinPods, th.MinRestartedPods)
	if th.Disabled {
		rules = "disabled by the namespace's annotation"
	} else if len(th.Overridden) > 0 {
		rules += " (set by the namespace: " + strings.Join(th.Overridden, ", ") + ")"
	}
	t.printf("  Rules: %s\n", rules)

	if len(d.Pods) == 0 {
		return
	}
	t.printf("  Restarted pods:\n")
	var rows, events [][]string
	for i := range d.Pods[:min(len(d.Pods), maxTextPods)] {
		r := &d.Pods[i]
		for j := range r.Pod.Containers {
			if r.ContainerRestarts[j] == 0 {
				continue
			}
			c := &r.Pod.Containers[j]
			last := r.Pod.LatestTermination(c)
			exit := "-"
			if !last.IsZero() {
				exit = strconv.Itoa(int(last.ExitCode))
			}
			state := c.State.String()
			if c.StateReason != "" {
				state += " " + c.StateReason
			}
			rows = append(rows, []string{r.Pod.Name, orDash(r.Pod.Node), workloadName(r.Pod.Owner), c.Name,
				strconv.Itoa(r.ContainerRestarts[j]), causeLabel(r.Causes[j]), exit, rfc3339(last.FinishedAt), state})
		}
		for _, e := range r.Events {
			if len(events) < maxTextEvents {
				events = append(events, []string{r.Pod.Name, orDash(e.Container), e.Reason, strconv.Itoa(int(e.Count)),
					rfc3339(e.LastSeen), cut(e.Message, maxTextCell)})
			}
		}
	}
	t.table("    ", []string{"POD", "NODE", "WORKLOAD", "CONTAINER", "RESTARTS", "CAUSE", "EXIT", "LAST TERMINATION", "STATE"}, rows, noStyle)
	if more := len(d.Pods) + d.OmittedPods - min(len(d.Pods), maxTextPods); more > 0 {
		t.printf("    and %d more pods (-o json lists up to 100)\n", more)
	}
	if len(events) > 0 {
		t.printf("  Warning events:\n")
		t.table("    ", []string{"POD", "CONTAINER", "REASON", "COUNT", "LAST SEEN", "MESSAGE"}, events, noStyle)
	}
}

func noStyle(int, int) string { return "" }

// plural writes n with noun, plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// causeLabel names a cause with its exit code or signal.
func causeLabel(k detect.CauseKey) string {
	switch {
	case k.Signal() > 0:
		return fmt.Sprintf("%s %s", k.Cause, detect.SignalName(k.Signal()))
	case k.Code != 0 && k.Cause != detect.CauseExpected:
		return fmt.Sprintf("%s (exit %d)", k.Cause, k.Code)
	}
	return k.Cause.String()
}

// workloadName writes a workload as kubectl names it: deployment/api.
func workloadName(o detect.Owner) string {
	if o.Kind == "" {
		return "(bare pod)"
	}
	return strings.ToLower(o.Kind) + "/" + o.Name
}

func percent(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// shortDur writes 30m0s as 30m and 1h0m0s as 1h.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// cut shortens s to n runes on one line.
func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
