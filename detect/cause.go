package detect

import (
	"strconv"
	"strings"
	"time"
)

// Cause is why one container restarted, as the root-cause analysis groups
// restarts. Restarts are classified when they are counted, from the
// container's last termination and current state, and refined when a
// decision is reported, from the pod's Warning events (probe kills).
type Cause uint8

// Causes, from the most specific. CauseExpected marks a restart that is not
// counted (see ExpectedReason); its code is the ExpectedReason.
const (
	CauseUnknown   Cause = iota // no termination known, or nothing telling
	CauseOOMKilled              // last termination reason OOMKilled
	CauseLiveness               // killed after its liveness probe failed (an Unhealthy event)
	CauseStartup                // killed after its startup probe failed (an Unhealthy event)
	CauseImage                  // cannot start again: image pull errors
	CauseConfig                 // cannot start: container config or runtime start errors
	CauseInit                   // an init container exited with an error
	CauseSignal                 // killed by a signal: exit code 128+N or a reported signal
	CauseError                  // exited with an error exit code
	CauseCompleted              // exited with code 0 and was restarted
	CauseExpected               // not counted: the pod was being disrupted or replaced
)

var causeNames = [...]string{
	CauseUnknown:   "unknown",
	CauseOOMKilled: "oom_killed",
	CauseLiveness:  "liveness_probe",
	CauseStartup:   "startup_probe",
	CauseImage:     "image_pull",
	CauseConfig:    "container_config",
	CauseInit:      "init_container",
	CauseSignal:    "signal",
	CauseError:     "error",
	CauseCompleted: "completed",
	CauseExpected:  "expected",
}

// String returns the cause's name as events carry it: oom_killed, error, ...
func (c Cause) String() string {
	if int(c) < len(causeNames) {
		return causeNames[c]
	}
	return "unknown"
}

// CauseKey is a cause with its code: the exit code for CauseError,
// CauseSignal, CauseInit and CauseOOMKilled (0 when none was reported), the
// ExpectedReason for CauseExpected.
type CauseKey struct {
	Cause Cause
	Code  uint8
}

// Signal returns the signal number of a CauseSignal key, 0 otherwise.
func (k CauseKey) Signal() int {
	if k.Cause == CauseSignal && k.Code > 128 {
		return int(k.Code) - 128
	}
	return 0
}

// SignalName returns the name of Linux signal n ("SIGSEGV"), or "signal n"
// for one without a well-known name.
func SignalName(n int) string {
	if n > 0 && n < len(signalNames) && signalNames[n] != "" {
		return signalNames[n]
	}
	return "signal " + strconv.Itoa(n)
}

var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE",
	9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
	16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO",
	30: "SIGPWR", 31: "SIGSYS",
}

// Waiting reasons the kubelet reports when it cannot start a container again.
var (
	imageReasons = map[string]bool{
		"ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true, "ErrImageNeverPull": true,
		"RegistryUnavailable": true, "SignatureValidationFailed": true,
	}
	configReasons = map[string]bool{
		"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
		"PreCreateHookError": true, "PreStartHookError": true, "PostStartHookError": true,
	}
	// startReasons are termination reasons of a container the runtime could
	// not start: a bad entrypoint, a missing binary, a bad mount.
	startReasons = map[string]bool{"StartError": true, "ContainerCannotRun": true}
)

// classify returns the cause of the restart that c's status shows: c has
// just restarted, c.Last is the terminated run. The current waiting reason
// wins when it says the container cannot come back (image, config): that is
// what must be fixed. An OOM kill is reported as such even in an init
// container.
func classify(c *Container) CauseKey {
	t := &c.Last
	code := uint8(0)
	if t.ExitCode > 0 && t.ExitCode < 256 {
		code = uint8(t.ExitCode)
	}
	switch {
	case t.Reason == "OOMKilled":
		return CauseKey{CauseOOMKilled, code}
	case c.State == StateWaiting && imageReasons[c.StateReason]:
		return CauseKey{CauseImage, 0}
	case c.State == StateWaiting && configReasons[c.StateReason], startReasons[t.Reason]:
		return CauseKey{CauseConfig, code}
	case t.IsZero():
		return CauseKey{CauseUnknown, 0}
	case c.Type == ContainerInit && t.ExitCode != 0:
		return CauseKey{CauseInit, code}
	case t.Signal > 0 && t.Signal < 128:
		return CauseKey{CauseSignal, uint8(128 + t.Signal)}
	case t.ExitCode > 128 && t.ExitCode < 128+32:
		return CauseKey{CauseSignal, code}
	case t.ExitCode != 0:
		return CauseKey{CauseError, code}
	case t.Reason == "Completed":
		return CauseKey{CauseCompleted, 0}
	}
	return CauseKey{CauseUnknown, 0}
}

// Bounds on the Warning events kept per pod.
const (
	// MaxPodEvents is how many distinct events are kept per pod, the most
	// recent ones.
	MaxPodEvents = 8
	// MaxEventMessageBytes bounds an event's message; collect cuts it.
	MaxEventMessageBytes = 256
)

// Event is a Kubernetes Warning event about a pod, as the root-cause
// analysis keeps it: the kubelet's BackOff, Unhealthy, Failed, ...
type Event struct {
	Name      string // the Event object's name, which repeats of one event share
	Reason    string
	Message   string // bounded by collect to MaxEventMessageBytes
	Container string // from involvedObject.fieldPath; "" when about the whole pod
	Count     int32
	FirstSeen time.Time
	LastSeen  time.Time
}

// probeSlack bounds how long after a probe's last reported failure the
// container's termination may end and still be the probe's kill: the
// kubelet stops the container with its termination grace period (30s by
// default) after the failure.
const probeSlack = 2 * time.Minute

// probeKill returns the probe cause (CauseLiveness or CauseStartup) of a
// restart of container at the instant at, when the pod's events show that
// probe failing around then; CauseUnknown otherwise. The kubelet reports a
// failing probe as a Warning "Unhealthy" event "Liveness probe failed: ..."
// on the container before it kills it.
func probeKill(events []Event, container string, at time.Time) Cause {
	for i := range events {
		e := &events[i]
		if e.Reason != "Unhealthy" || (e.Container != "" && e.Container != container) {
			continue
		}
		var c Cause
		switch {
		case strings.HasPrefix(e.Message, "Liveness probe"):
			c = CauseLiveness
		case strings.HasPrefix(e.Message, "Startup probe"):
			c = CauseStartup
		default:
			continue // readiness probes do not restart containers
		}
		first := e.FirstSeen
		if first.IsZero() {
			first = e.LastSeen
		}
		// The failures come before the kill; allow a little clock skew.
		if !at.Before(first.Add(-30*time.Second)) && !at.After(e.LastSeen.Add(probeSlack)) {
			return c
		}
	}
	return CauseUnknown
}

// refine returns k with a probe kill found in events for a restart of
// container at at. OOM kills, start and image errors are not probe kills.
func refine(k CauseKey, events []Event, container string, at time.Time) CauseKey {
	switch k.Cause {
	case CauseError, CauseSignal, CauseCompleted, CauseUnknown:
		if c := probeKill(events, container, at); c != CauseUnknown {
			return CauseKey{c, k.Code}
		}
	}
	return k
}
