package output

import (
	"fmt"
	"strings"
)

// Keys of the root-cause analysis.
const (
	keySummary          = "summary"
	keyDominantCause    = "dominant_cause"
	keyDominantShare    = "dominant_cause_share"
	keyCauses           = "causes"
	keyTopWorkloads     = "top_workloads"
	keyTopNodes         = "top_nodes"
	keyTrigger          = "trigger"
	keyNotCounted       = "not_counted"
	keyExpectedRestarts = "expected_restarts"
	keyDisruptedPods    = "disrupted_pods"
	keyBaselineRatio    = "baseline_ratio"
)

// causeNames documents the values of dominant_cause and causes[].cause.
const causeNamesDoc = "`oom_killed`, `liveness_probe`, `startup_probe`, `image_pull`, `container_config`, `init_container`, `signal`, `error`, `completed` or `unknown`"

// causeKeys declares the keys of a causes entry.
var causeKeys = []jsonKey{
	{"cause", typeString, "The cause: " + causeNamesDoc + "."},
	{"exit_code", typeInt, "The exit code the restarts share, for errors, signals, init containers and OOM kills; absent otherwise."},
	{"signal", typeString, "The signal's name (`SIGSEGV`) for `signal`, from an exit code of 128 and the signal's number or the reported signal."},
	{"restarts", typeInt, "The restarts of this cause inside the window."},
	{"pods", typeInt, "The pods with restarts of this cause."},
	{"share", typeFloat, "The cause's share of the namespace's abnormal restarts, from 0 to 1."},
	{"workloads", typeArray, "The workloads of these restarts (`deployment/checkout`), the most restarts first, at most 5."},
	{"containers", typeArray, "The names of the restarted containers, the most restarts first, at most 5."},
	{"memory_limits", typeArray, "For `oom_killed`, the distinct memory limits of the killed containers, \"\" for none."},
}

// workloadKeys declares the keys of a top_workloads entry.
var workloadKeys = []jsonKey{
	{"kind", typeString, "The workload's kind, a ReplicaSet of a Deployment being the Deployment; empty for bare pods."},
	{"name", typeString, "The workload's name."},
	{"restarted_pods", typeInt, "Its pods that restarted abnormally inside the window."},
	{"restarts", typeInt, "Their abnormal restarts inside the window."},
}

// nodeKeys declares the keys of a top_nodes entry.
var nodeKeys = []jsonKey{
	{"node_name", typeString, "The node's name; empty for pods not scheduled."},
	{"restarted_pods", typeInt, "The pods on the node that restarted abnormally inside the window."},
	{"restarts", typeInt, "Their abnormal restarts inside the window."},
	{"conditions", typeArray, "The node's problem conditions as last seen: `NotReady`, `MemoryPressure`, `DiskPressure`, `PIDPressure`, `NetworkUnavailable`."},
	{"unschedulable", typeBool, "Whether the node is cordoned."},
}

// triggerKeys declares the keys of trigger.
var triggerKeys = []jsonKey{
	{"kind", typeString, "Always `Deployment`."},
	{"name", typeString, "The Deployment's name."},
	{"revision", typeInt, "The revision number of the new ReplicaSet (`deployment.kubernetes.io/revision`)."},
	{"replicaset", typeString, "The new ReplicaSet's name."},
	{"since", typeString, "When the revision became current (created, or rolled back to), RFC 3339."},
	{"first_restart", typeString, "The Deployment's first abnormal restart inside the window, RFC 3339."},
	{"images", typeArray, "The containers whose image changed from the previous revision: objects `{\"container\",\"from\",\"to\"}`, `from` empty for a new container."},
	{"restarted_pods", typeInt, "The restarted pods of the new revision."},
	{"workload_restarted_pods", typeInt, "All restarted pods of the Deployment."},
}

// expectedKeys declares the keys of a not_counted entry.
var expectedKeys = []jsonKey{
	{"reason", typeString, "Why: `deleted`, `evicted`, `preempted`, `eviction_api`, `drain`, `taint`, `pod_gc`, `node_shutdown`, `disrupted` or `rollout` (see Which pods count)."},
	{"pods", typeInt, "The pods that began leaving for the reason inside the window; for `rollout`, the old revision's pods whose restarts were not counted."},
	{"restarts", typeInt, "The restarts not counted for the reason."},
	{"nodes", typeArray, "Their nodes, the most pods first, at most 5."},
	{"workloads", typeArray, "Their workloads, the most pods first, at most 5."},
}

// eventKeys declares the keys of an entry of an abnormal pod's events.
var eventKeys = []jsonKey{
	{"reason", typeString, "The event's reason: BackOff, Unhealthy, Failed, ..."},
	{"container", typeString, "The container it is about, from `involvedObject.fieldPath`; absent for the whole pod."},
	{"message", typeString, "The event's message, at most 256 bytes."},
	{"count", typeInt, "How many times it happened."},
	{"first_seen", typeString, "When it first happened, RFC 3339."},
	{"last_seen", typeString, "When it last happened, RFC 3339."},
}

// faultCauseKeys declares the keys of a fault_causes entry.
var faultCauseKeys = []jsonKey{
	{"cause", typeString, "The cause, as in `causes`."},
	{"exit_code", typeInt, "The exit code, as in `causes`."},
	{"signal", typeString, "The signal's name, as in `causes`."},
	{"restarts", typeInt, "The fault's restarts of this cause."},
	{"share", typeFloat, "The cause's share of `fault_restarts`, from 0 to 1."},
	{"workloads", typeArray, "The workloads of these restarts, the most first, at most 5: objects `{\"kind\",\"name\",\"restarts\"}`, kind and name empty for bare pods."},
}

// writeRCAJSONTables documents the entries of the analysis' JSON fields.
func writeRCAJSONTables(b *strings.Builder) {
	for _, t := range []struct {
		title string
		keys  []jsonKey
	}{
		{fmt.Sprintf("`%s` entries", keyCauses), causeKeys},
		{fmt.Sprintf("`%s` entries", keyTopWorkloads), workloadKeys},
		{fmt.Sprintf("`%s` entries", keyTopNodes), nodeKeys},
		{fmt.Sprintf("`%s`", keyTrigger), triggerKeys},
		{fmt.Sprintf("`%s` entries", keyNotCounted), expectedKeys},
		{fmt.Sprintf("`%s` entries' `events`", keyAbnormalPods), eventKeys},
		{fmt.Sprintf("`%s` entries", keyFaultCauses), faultCauseKeys},
	} {
		fmt.Fprintf(b, "\n### %s\n\n", t.title)
		writeJSONTable(b, t.keys)
	}
}
