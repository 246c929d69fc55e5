package output

import (
	"fmt"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/output/render"
)

// Measurement is the measurement of both the events and the metrics. For an
// event DataKit turns it into the event's source, so no key is named source.
const Measurement = "k8s_pod_restart"

// category is where a key is written.
type category uint8

const (
	categoryEvent  category = iota + 1 // POST /v1/write/keyevent
	categoryMetric                     // POST /v1/write/metric
	categoryAgent                      // POST /v1/write/metric, measurement AgentMeasurement
)

// role says whether a key is a tag or a field.
type role uint8

const (
	roleTag role = iota + 1
	roleField
)

func (r role) String() string {
	if r == roleTag {
		return "tag"
	}
	return "field"
}

// valueType is the type of a key's value on the wire.
type valueType uint8

const (
	typeString valueType = iota + 1
	typeInt
	typeFloat
	typeJSON   // a string holding a JSON document
	typeBool   // only inside the JSON documents
	typeObject // only inside the JSON documents
	typeArray  // only inside the JSON documents
)

func (t valueType) String() string {
	switch t {
	case typeInt:
		return "int"
	case typeFloat:
		return "float"
	case typeJSON:
		return "JSON string"
	case typeBool:
		return "bool"
	case typeObject:
		return "object"
	case typeArray:
		return "array"
	default:
		return "string"
	}
}

// schemaKey declares one key of the events or the metrics.
type schemaKey struct {
	name     string
	category category
	role     role
	typ      valueType
	meaning  string // one sentence, written for the README
}

// Keys of the events and metrics. The encoder refers to them by these
// constants; schema declares each one, and the tests check that every key an
// encoded point carries is declared and every declared key is emitted.
const (
	keyCluster           = "cluster_name_k8s"
	keyNamespace         = "namespace"
	keySource            = "df_source"
	keyStatus            = "df_status"
	keySubStatus         = "df_sub_status"
	keyEventID           = "df_event_id"
	keyFaultID           = "df_fault_id"
	keyFaultStatus       = "df_fault_status"
	keyMonitorType       = "df_monitor_type"
	keyChecker           = "df_monitor_checker"
	keyCheckerID         = "df_monitor_checker_id"
	keyCheckerEventRef   = "df_monitor_checker_event_ref"
	keyTitle             = "df_title"
	keyMessage           = "df_message"
	keyDimensionTags     = "df_dimension_tags"
	keyCheckerName       = "df_monitor_checker_name"
	keyCheckerValue      = "df_monitor_checker_value"
	keyDateRange         = "df_date_range"
	keyCheckRangeStart   = "df_check_range_start"
	keyCheckRangeEnd     = "df_check_range_end"
	keyFaultStartTime    = "df_fault_start_time"
	keyFaultDuration     = "df_fault_duration"
	keyIssueStartTime    = "df_issue_start_time"
	keyIssueDuration     = "df_issue_duration"
	keyRestartRatio      = "restart_ratio"
	keyRestartPods       = "restart_pods"
	keyTotalPods         = "total_pods"
	keyRestarts          = "restarts"
	keyAbnormalPods      = "abnormal_pods"
	keyContainerStatuses = "container_statuses"
	keyOmittedPods       = "omitted_pods"
	keyOmittedContainers = "omitted_containers"
	keyFault             = "fault"
	keyCPUUsage          = "cpu_usage"
	keyCPUSeconds        = "cpu_seconds"
	keyMemRSS            = "mem_rss"
	keyOpenFiles         = "open_files"
	keyGoroutines        = "goroutines"
)

// schema declares every key the encoder writes, once. User tags from the
// configuration come on top of these and are not declared here.
var schema = []schemaKey{
	// Events.
	{keyCluster, categoryEvent, roleTag, typeString, "The Kubernetes cluster's name as configured; one half of the detection dimension."},
	{keyNamespace, categoryEvent, roleTag, typeString, "The namespace whose share of restarting pods is reported; the other half of the detection dimension."},
	{keySource, categoryEvent, roleTag, typeString, "Always `monitor`: the event comes from a checker."},
	{keyStatus, categoryEvent, roleTag, typeString, "The event's level: `warning`, `error` or `critical` while the fault is open, `ok` for the recovery."},
	{keySubStatus, categoryEvent, roleTag, typeString, "The same value as `df_status`."},
	{keyEventID, categoryEvent, roleTag, typeString, "The event's own ID (`event-` and 32 hex digits), new for every event."},
	{keyFaultID, categoryEvent, roleTag, typeString, "The `df_event_id` of the fault's first event, carried by every event of the fault including its recovery."},
	{keyFaultStatus, categoryEvent, roleTag, typeString, "`fault` while the fault is open, `ok` for the recovery."},
	{keyMonitorType, categoryEvent, roleTag, typeString, "Always `bot_obs`, Guance's type for inspection events."},
	{keyChecker, categoryEvent, roleTag, typeString, "Always `k8s_pod_restart`, the checker's function name."},
	{keyCheckerID, categoryEvent, roleTag, typeString, "The checker's ID, `rul_` and 32 hex digits of a SHA-256 of `k8s_pod_restart` and the cluster's name, the same for every event of the cluster."},
	{keyCheckerEventRef, categoryEvent, roleTag, typeString, "32 hex digits of a SHA-256 of `df_monitor_checker_id` and `df_dimension_tags`, the same for every event of one namespace."},
	{keyTitle, categoryEvent, roleField, typeString, "One line saying how many pods restarted in the window, and for later events that the level rose, is unchanged or recovered."},
	{keyMessage, categoryEvent, roleField, typeString, "Markdown, at most 64 KiB: the summary, the likely trigger and what was not counted, the rules, causes, workloads, nodes and Warning events, the 20 pods with the most restarts, their containers' statuses and, with `collect_logs`, their last log lines."},
	{keyDimensionTags, categoryEvent, roleField, typeJSON, "The detection dimension as a JSON object, `{\"cluster_name_k8s\":\"...\",\"namespace\":\"...\"}`."},
	{keyCheckerName, categoryEvent, roleField, typeString, "The checker's human-readable name."},
	{keyCheckerValue, categoryEvent, roleField, typeFloat, "The restart ratio the event was decided on, the same value as `restart_ratio`."},
	{keyDateRange, categoryEvent, roleField, typeInt, "The window restarts count in, in seconds."},
	{keyCheckRangeStart, categoryEvent, roleField, typeInt, "The start of the window, in Unix seconds."},
	{keyCheckRangeEnd, categoryEvent, roleField, typeInt, "The end of the window, the event's time, in Unix seconds."},
	{keyFaultStartTime, categoryEvent, roleField, typeInt, "When the fault's first event was written, in Unix seconds."},
	{keyFaultDuration, categoryEvent, roleField, typeInt, "Seconds from the fault's first event to this one; on the recovery, the fault's whole duration."},
	{keyIssueStartTime, categoryEvent, roleField, typeInt, "The same value as `df_fault_start_time`."},
	{keyIssueDuration, categoryEvent, roleField, typeInt, "The same value as `df_fault_duration`."},
	{keyRestartRatio, categoryEvent, roleField, typeFloat, "The share of the namespace's pods that restarted inside the window, from 0 to 1."},
	{keyRestartPods, categoryEvent, roleField, typeInt, "How many of the namespace's pods restarted inside the window."},
	{keyTotalPods, categoryEvent, roleField, typeInt, "How many pods count in the ratio: existing unfinished pods and any pod that restarted inside the window."},
	{keyRestarts, categoryEvent, roleField, typeInt, "How many container restarts happened in the namespace inside the window."},
	{keyAbnormalPods, categoryEvent, roleField, typeJSON, "A JSON array of the pods that restarted inside the window, most restarts first, at most 100 of them and 64 KiB (see the table below)."},
	{keyContainerStatuses, categoryEvent, roleField, typeJSON, "A JSON array of the containers of the pods in `abnormal_pods`, in the same order, at most 64 KiB (see the table below)."},
	{keyOmittedPods, categoryEvent, roleField, typeInt, "How many pods that restarted inside the window are left out of `abnormal_pods` by its bounds."},
	{keyOmittedContainers, categoryEvent, roleField, typeInt, "How many containers of the pods in `abnormal_pods` are left out of `container_statuses` by its bound."},
	{keySummary, categoryEvent, roleField, typeString, "One line of plain text in the configured language: the dominant cause of the abnormal restarts, its share, workloads, containers and, for OOM kills, memory limits; absent without abnormal restarts."},
	{keyDominantCause, categoryEvent, roleField, typeString, "The cause of the most abnormal restarts: " + causeNamesDoc + "; absent without abnormal restarts."},
	{keyDominantShare, categoryEvent, roleField, typeFloat, "The dominant cause's share of the abnormal restarts, from 0 to 1; absent without abnormal restarts."},
	{keyCauses, categoryEvent, roleField, typeJSON, "A JSON array of the abnormal restarts grouped by cause, the most first (see the table below); absent without abnormal restarts."},
	{keyTopWorkloads, categoryEvent, roleField, typeJSON, "A JSON array of the 5 workloads with the most restarted pods (see the table below); absent without abnormal restarts."},
	{keyTopNodes, categoryEvent, roleField, typeJSON, "A JSON array of the 5 nodes with the most restarted pods and their conditions (see the table below); absent without abnormal restarts."},
	{keyTrigger, categoryEvent, roleField, typeJSON, "A JSON object naming the Deployment revision that rolled out inside the window before the first restart of its pods, the likely trigger (see the table below); absent when there is none."},
	{keyNotCounted, categoryEvent, roleField, typeJSON, "A JSON array of the expected terminations inside the window that were not counted, by reason (see the table below)."},
	{keyExpectedRestarts, categoryEvent, roleField, typeInt, "How many restarts inside the window were not counted because they were expected (pods being deleted, evicted or replaced by a rollout)."},
	{keyDisruptedPods, categoryEvent, roleField, typeInt, "How many pods began leaving inside the window because they were evicted, preempted, drained, tainted out or shut down."},
	{keyBaselineRatio, categoryEvent, roleField, typeFloat, "In baseline mode, the namespace's baseline ratio the thresholds were raised to (plus `baseline_margin`); absent otherwise or before the first sample."},
	{keyFaultPeakLevel, categoryEvent, roleField, typeString, "On reminders and the recovery, the fault's history so far (with `df_fault_start_time` and `df_fault_duration`): the highest level the namespace reached while the fault was open, `warning`, `error` or `critical`."},
	{keyFaultPeakRatio, categoryEvent, roleField, typeFloat, "On reminders and the recovery, the restart ratio at the fault's peak: the highest of the evaluations at the highest level."},
	{keyFaultPeakRestartPods, categoryEvent, roleField, typeInt, "On reminders and the recovery, the restarted pods at the fault's peak."},
	{keyFaultPeakTotalPods, categoryEvent, roleField, typeInt, "On reminders and the recovery, the pods that counted at the fault's peak."},
	{keyFaultPeakTime, categoryEvent, roleField, typeInt, "On reminders and the recovery, when the fault's peak was evaluated, in Unix seconds."},
	{keyFaultRestarts, categoryEvent, roleField, typeInt, "On reminders and the recovery, the fault's abnormal restarts so far, each once: those inside the window the fault opened on, then every one counted while it was open, also those that have left the window since."},
	{keyFaultDominantCause, categoryEvent, roleField, typeString, "On reminders and the recovery, the cause of the most of `fault_restarts`, as `dominant_cause`; absent without abnormal restarts."},
	{keyFaultDominantShare, categoryEvent, roleField, typeFloat, "On reminders and the recovery, the share of `fault_restarts` of `fault_dominant_cause`, from 0 to 1; absent without abnormal restarts."},
	{keyFaultCauses, categoryEvent, roleField, typeJSON, "On reminders and the recovery, a JSON array of `fault_restarts` grouped by cause, the most first, at most 5, with their workloads (see the table below); absent without abnormal restarts."},

	// Metrics.
	{keyCluster, categoryMetric, roleTag, typeString, "The Kubernetes cluster's name as configured."},
	{keyNamespace, categoryMetric, roleTag, typeString, "The namespace measured."},
	{keyRestartRatio, categoryMetric, roleField, typeFloat, "The share of the namespace's pods that restarted inside the window, from 0 to 1."},
	{keyRestartPods, categoryMetric, roleField, typeInt, "How many of the namespace's pods restarted inside the window."},
	{keyTotalPods, categoryMetric, roleField, typeInt, "How many pods count in the ratio: existing unfinished pods and any pod that restarted inside the window."},
	{keyRestarts, categoryMetric, roleField, typeInt, "How many container restarts happened in the namespace inside the window."},
	{keyFault, categoryMetric, roleField, typeInt, "1 while the namespace has an open fault, else 0."},
	{keyExpectedRestarts, categoryMetric, roleField, typeInt, "How many restarts inside the window were not counted because they were expected."},
	{keyDisruptedPods, categoryMetric, roleField, typeInt, "How many pods began leaving inside the window because they were evicted, preempted, drained, tainted out or shut down."},
	{keyBaselineRatio, categoryMetric, roleField, typeFloat, "In baseline mode, the namespace's baseline ratio; absent otherwise or before the first sample."},

	// The agent's own resources.
	{keyCluster, categoryAgent, roleTag, typeString, "The Kubernetes cluster's name as configured; a process watching several clusters writes one point per cluster."},
	{keyCPUUsage, categoryAgent, roleField, typeFloat, "The agent's CPU use since the previous point, in percent of one core (200 is two cores busy); 0 on the first point."},
	{keyCPUSeconds, categoryAgent, roleField, typeFloat, "The CPU time, user and system, the agent used since it started, in seconds."},
	{keyMemRSS, categoryAgent, roleField, typeInt, "The agent's resident memory, in bytes."},
	{keyOpenFiles, categoryAgent, roleField, typeInt, "The file descriptors the agent holds open: files, sockets and pipes."},
	{keyGoroutines, categoryAgent, roleField, typeInt, "The goroutines the agent runs."},
}

// jsonKey declares one key of the entries of the JSON arrays in
// abnormal_pods and container_statuses.
type jsonKey struct {
	name    string
	typ     valueType
	meaning string
}

// abnormalPodKeys declares the keys of an abnormal_pods entry; a test checks
// them against podDetail's JSON tags.
var abnormalPodKeys = []jsonKey{
	{"pod_name", typeString, "The pod's name."},
	{"node_name", typeString, "The node the pod is scheduled on; empty while pending."},
	{"owner_kind", typeString, "The kind of workload owning the pod (a ReplicaSet of a Deployment is reported as the Deployment); empty for a bare pod."},
	{"owner_name", typeString, "The owning workload's name."},
	{"phase", typeString, "The pod's phase: Pending, Running, Succeeded, Failed or Unknown."},
	{"reason", typeString, "The pod's status reason, such as Evicted; often empty."},
	{"deleted", typeBool, "Whether the pod was deleted inside the window (it still counts while its restarts are inside the window)."},
	{"terminating", typeBool, "Whether the pod is being deleted."},
	{"restarts", typeInt, "The pod's container restarts inside the window."},
	{"last_restart", typeString, "When the pod's last restart inside the window happened, RFC 3339."},
	{"events", typeArray, "The pod's recent Warning events, at most 8, the most recent first (see the table below)."},
}

// containerStatusKeys declares the keys of a container_statuses entry; a test
// checks them against containerDetail's JSON tags.
var containerStatusKeys = []jsonKey{
	{"pod_name", typeString, "The pod the container belongs to."},
	{"container_name", typeString, "The container's name."},
	{"container_type", typeString, "`init`, `sidecar` (an init container that keeps running), `app` or `ephemeral`."},
	{"container_id", typeString, "The runtime's container ID without the runtime's prefix, as DataKit's container collector writes its tag `container_id` (Guance's container pages are keyed on it); of the last terminated container while no new one started."},
	{"container_runtime", typeString, "The runtime the ID's prefix names: `containerd`, `cri-o`, `docker`, ...; empty without an ID."},
	{"image", typeString, "The container's image."},
	{"state", typeString, "The current state: `running`, `waiting`, `terminated` or `unknown`."},
	{"state_reason", typeString, "The waiting or terminated reason, such as CrashLoopBackOff."},
	{"state_message", typeString, "The waiting or terminated message, at most 1 KiB."},
	{"ready", typeBool, "Whether the container passes its readiness probe."},
	{"restart_count", typeInt, "The container's restart count as Kubernetes reports it."},
	{"restarts", typeInt, "The container's restarts inside the window."},
	{"last_termination_reason", typeString, "Why the last terminated container ended, such as OOMKilled or Error."},
	{"last_termination_message", typeString, "The last terminated container's termination message, at most 1 KiB."},
	{"exit_code", typeInt, "The last terminated container's exit code; absent when it never terminated."},
	{"signal", typeInt, "The signal that ended the last terminated container; absent when it never terminated."},
	{"error_time", typeString, "When the last terminated container ended (its finishedAt), RFC 3339."},
	{"resources", typeObject, "An object `{\"requests\":{\"cpu\":..,\"memory\":..},\"limits\":{...}}` of Kubernetes quantities; unset ones are left out."},
	{"cause", typeString, "The cause of the container's last abnormal restart inside the window, as in `causes`; absent without one."},
	{"log_tail", typeString, "With `collect_logs`, the redacted last lines of the container's previous run; absent otherwise."},
}

// SchemaMarkdown renders the keys of the events and the metrics as the
// README's Markdown tables.
func SchemaMarkdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### Events\n\nMeasurement `%s`, written to `/v1/write/keyevent`; DataKit makes the measurement the event's `source`.\n\n", Measurement)
	writeSchemaTable(&b, categoryEvent)
	fmt.Fprintf(&b, "\n### Metrics\n\nMeasurement `%s`, written to `/v1/write/metric` at every evaluation for every namespace with pods or an open fault.\n\n", Measurement)
	writeSchemaTable(&b, categoryMetric)
	fmt.Fprintf(&b, "\n### Agent metrics\n\nMeasurement `%s`, written to `/v1/write/metric` at every `interval` with the agent's own resources.\n\n", AgentMeasurement)
	writeSchemaTable(&b, categoryAgent)
	b.WriteString("\nThe tags of the `tags` setting are added to all three as tags. Keys never contain dots, and no key is both a tag and a field.\n")
	fmt.Fprintf(&b, "\n### `%s` entries\n\n", keyAbnormalPods)
	writeJSONTable(&b, abnormalPodKeys)
	fmt.Fprintf(&b, "\n### `%s` entries\n\n", keyContainerStatuses)
	writeJSONTable(&b, containerStatusKeys)
	writeRCAJSONTables(&b)
	fmt.Fprintf(&b, "\nString values in the arrays are cut to %d bytes, but `log_tail`, which `log_tail_bytes` bounds. `df_message` lists at most %d pods, %d containers and %d Warning events, cutting free text to %d characters, and says how many it left out; it is at most %d KiB, cut at a line with a note past that.\n",
		maxJSONString, render.MaxPods, render.MaxContainers, render.MaxEvents, render.MaxText, render.MaxBytes>>10)
	return b.String()
}

func writeSchemaTable(b *strings.Builder, c category) {
	b.WriteString("| Key | Tag or field | Type | Meaning |\n|---|---|---|---|\n")
	for _, k := range schema {
		if k.category == c {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", k.name, k.role, k.typ, k.meaning)
		}
	}
}

func writeJSONTable(b *strings.Builder, keys []jsonKey) {
	b.WriteString("| Key | Type | Meaning |\n|---|---|---|\n")
	for _, k := range keys {
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", k.name, k.typ, k.meaning)
	}
}

// declaredAnywhere reports whether the schema declares name in any category.
func declaredAnywhere(name string) bool {
	for _, k := range schema {
		if k.name == name {
			return true
		}
	}
	return false
}
