package render

import (
	"fmt"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// english is the catalog of language "en".
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
	restartedPods:      "%[1]d of %[2]d (%[3]s)",
	window:             "%[1]s, %[2]s to %[3]s",
	fault:              "%[1]s, since %[2]s (%[3]s)",
	podsHeading:        "Pods that restarted in the last %[1]s",
	containersHeading:  "Their containers",
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
