// Package detect decides, per namespace, when the share of restarting pods is
// abnormal and when it is back to normal, and gathers what explains it.
//
// It is pure Go on purpose: it knows nothing of Kubernetes' API types (collect
// converts them into the types below), does no I/O and never reads the clock:
// every decision takes the instant it is made at. That keeps it fast, small in
// memory and testable on fixed timelines.
package detect

import "time"

// ContainerType says where a container sits in the pod spec.
type ContainerType uint8

// Container types, as the root-cause analysis reports them.
const (
	ContainerApp       ContainerType = iota // spec.containers
	ContainerInit                           // spec.initContainers that run to completion
	ContainerSidecar                        // spec.initContainers with restartPolicy Always
	ContainerEphemeral                      // spec.ephemeralContainers (kubectl debug)
)

// String returns the name written in events: app, init, sidecar or ephemeral.
func (t ContainerType) String() string {
	switch t {
	case ContainerInit:
		return "init"
	case ContainerSidecar:
		return "sidecar"
	case ContainerEphemeral:
		return "ephemeral"
	default:
		return "app"
	}
}

// StateKind is the container's current state.
type StateKind uint8

// Container states, as in the pod status.
const (
	StateUnknown StateKind = iota
	StateWaiting
	StateRunning
	StateTerminated
)

// String returns the state's name as kubectl shows it.
func (s StateKind) String() string {
	switch s {
	case StateWaiting:
		return "waiting"
	case StateRunning:
		return "running"
	case StateTerminated:
		return "terminated"
	default:
		return "unknown"
	}
}

// RestartPolicy is whether the kubelet restarts a container that exited:
// its own restartPolicy (sidecars: Always) or the pod's; for init
// containers, OnFailure unless the pod's is Never.
type RestartPolicy uint8

// Restart policies, Always being the zero value.
const (
	RestartAlways RestartPolicy = iota
	RestartOnFailure
	RestartNever
)

// Termination is a container's last termination (status.lastState.terminated).
type Termination struct {
	ContainerID string
	Reason      string // OOMKilled, Error, Completed, ...
	Message     string // the container's termination message, already bounded by collect
	ExitCode    int32
	Signal      int32
	StartedAt   time.Time
	FinishedAt  time.Time
}

// IsZero reports whether there is no last termination.
func (t *Termination) IsZero() bool {
	return t.ContainerID == "" && t.FinishedAt.IsZero() && t.Reason == "" && t.ExitCode == 0
}

// LatestTermination returns the most recent termination of c, one of p's
// containers: its current state while it is terminated and the kubelet will
// restart it (the kubelet's first write after a crash, before the
// termination moves into lastState; convertToAPIContainerStatuses in
// pkg/kubelet/kubelet_pods.go), else its last termination. A container
// that stays terminated (completed, or in a finished or departing pod) is
// not a restart: its last termination is the one that was.
func (p *Pod) LatestTermination(c *Container) Termination {
	if c.State == StateTerminated && willRestart(p, c) {
		return c.stateTermination()
	}
	return c.Last
}

// stateTermination returns c's current state as a termination, for a
// container that is terminated.
func (c *Container) stateTermination() Termination {
	return Termination{ContainerID: c.ContainerID, Reason: c.StateReason, Message: c.StateMessage,
		ExitCode: c.StateExitCode, FinishedAt: c.StateSince}
}

// Resources are a container's requests and limits as Kubernetes quantities
// ("250m", "256Mi"); empty when unset.
type Resources struct {
	CPURequest    string
	CPULimit      string
	MemoryRequest string
	MemoryLimit   string
}

// Container is the part of one container's spec and status that detection and
// root-cause analysis read.
type Container struct {
	Name         string
	Type         ContainerType
	Image        string
	ContainerID  string // the current container's ID, "" before it first started
	RestartCount int32
	Ready        bool
	State        StateKind
	StateReason  string    // waiting or terminated reason, e.g. CrashLoopBackOff
	StateMessage string    // waiting or terminated message, bounded by collect
	StateSince   time.Time // running since, or terminated at (state.terminated.finishedAt)
	// StateExitCode is state.terminated.exitCode while terminated.
	StateExitCode int32
	// RestartPolicy says whether the kubelet restarts the container after
	// it exits.
	RestartPolicy RestartPolicy
	Last          Termination
	Resources     Resources
}

// Owner is the workload a pod belongs to, resolved the way people name it:
// a ReplicaSet created by a Deployment is reported as that Deployment.
type Owner struct {
	Kind string // Deployment, StatefulSet, DaemonSet, Job, CronJob, ReplicaSet, ...; "" for a bare pod
	Name string
	// Revision is the pod's revision of a Deployment: its pod-template-hash
	// label, which names the ReplicaSet; "" for other owners.
	Revision string
}

// Pod is one observation of a pod: collect builds a new one for every change
// and hands it over. Detect keeps the pointer and never modifies it; nor may
// the caller after handing it over.
type Pod struct {
	UID       string
	Namespace string
	Name      string
	Node      string
	Owner     Owner
	Phase     string // Pending, Running, Succeeded, Failed, Unknown
	Reason    string // status.reason, e.g. Evicted
	Deleting  bool   // metadata.deletionTimestamp is set
	// Disruption is the reason of the pod's DisruptionTarget condition while
	// it is True (EvictionByEvictionAPI, PreemptionByScheduler,
	// TerminationByKubelet, DeletionByTaintManager, DeletionByPodGC), else "".
	Disruption string
	CreatedAt  time.Time

	// Containers holds init, sidecar, app and ephemeral containers, in that
	// order. Kubernetes keeps their names unique within a pod.
	Containers []Container
}

// Terminal reports whether the pod has finished for good (Succeeded or Failed).
func (p *Pod) Terminal() bool { return p.Phase == "Succeeded" || p.Phase == "Failed" }
