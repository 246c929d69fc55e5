package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/render"
)

// podDetail is one entry of abnormal_pods; abnormalPodKeys documents it.
type podDetail struct {
	PodName     string        `json:"pod_name"`
	NodeName    string        `json:"node_name"`
	OwnerKind   string        `json:"owner_kind"`
	OwnerName   string        `json:"owner_name"`
	Phase       string        `json:"phase"`
	Reason      string        `json:"reason"`
	Deleted     bool          `json:"deleted"`
	Terminating bool          `json:"terminating"`
	Restarts    int           `json:"restarts"`
	LastRestart string        `json:"last_restart,omitempty"`
	Events      []eventDetail `json:"events"`
}

// containerDetail is one entry of container_statuses; containerStatusKeys
// documents it.
type containerDetail struct {
	PodName                string          `json:"pod_name"`
	ContainerName          string          `json:"container_name"`
	ContainerType          string          `json:"container_type"`
	ContainerID            string          `json:"container_id"`
	ContainerRuntime       string          `json:"container_runtime"`
	Image                  string          `json:"image"`
	State                  string          `json:"state"`
	StateReason            string          `json:"state_reason"`
	StateMessage           string          `json:"state_message"`
	Ready                  bool            `json:"ready"`
	RestartCount           int32           `json:"restart_count"`
	Restarts               int             `json:"restarts"`
	LastTerminationReason  string          `json:"last_termination_reason"`
	LastTerminationMessage string          `json:"last_termination_message"`
	ExitCode               *int32          `json:"exit_code,omitempty"`
	Signal                 *int32          `json:"signal,omitempty"`
	ErrorTime              string          `json:"error_time,omitempty"`
	Resources              resourcesDetail `json:"resources"`
	Cause                  string          `json:"cause,omitempty"`
	LogTail                string          `json:"log_tail,omitempty"`
}

type resourcesDetail struct {
	Requests *quantities `json:"requests,omitempty"`
	Limits   *quantities `json:"limits,omitempty"`
}

type quantities struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

func newQuantities(cpu, memory string) *quantities {
	if cpu == "" && memory == "" {
		return nil
	}
	return &quantities{CPU: jsonString(cpu), Memory: jsonString(memory)}
}

// details is what an event reports of the abnormal pods, bounded.
type details struct {
	podsJSON, containersJSON string
	// totalPods counts every pod that restarted inside the window, reported
	// or not; jsonPods those in podsJSON.
	totalPods, jsonPods int
	// totalContainers counts the containers of the pods in podsJSON;
	// jsonContainers those in containersJSON.
	totalContainers, jsonContainers int
}

func buildDetails(d *detect.Decision) (*details, error) {
	det := &details{totalPods: len(d.Pods) + d.OmittedPods}
	pods := d.Pods[:min(len(d.Pods), maxJSONPods)]
	var err error
	det.podsJSON, det.jsonPods, err = boundedArray(pods, maxJSONBytes, newPodDetail)
	if err != nil {
		return nil, fmt.Errorf("abnormal pods: %w", err)
	}
	containers := render.ContainerRefs(pods[:det.jsonPods])
	det.totalContainers = len(containers)
	det.containersJSON, det.jsonContainers, err = boundedArray(containers, maxJSONBytes, newContainerDetail)
	if err != nil {
		return nil, fmt.Errorf("container statuses: %w", err)
	}
	return det, nil
}

func newPodDetail(r *detect.PodReport) podDetail {
	p := r.Pod
	return podDetail{
		PodName:     jsonString(p.Name),
		NodeName:    jsonString(p.Node),
		OwnerKind:   jsonString(p.Owner.Kind),
		OwnerName:   jsonString(p.Owner.Name),
		Phase:       jsonString(p.Phase),
		Reason:      jsonString(p.Reason),
		Deleted:     r.Deleted,
		Terminating: p.Deleting,
		Restarts:    r.Restarts,
		LastRestart: rfc3339(r.LastRestart),
		Events:      newEventDetails(r.Events),
	}
}

// containerID returns the current container's ID, or the last terminated
// one's before a new one started, split into the runtime and the bare ID
// that DataKit's container collector writes as container_id: the kubelet
// writes "<runtime>://<CRI ID>" into the pod status (ContainerID.String in
// pkg/kubelet/container/runtime.go).
func containerID(c *detect.Container) (runtime, id string) {
	id = c.ContainerID
	if id == "" {
		id = c.Last.ContainerID
	}
	if rt, bare, ok := strings.Cut(id, "://"); ok {
		return rt, bare
	}
	return "", id
}

func newContainerDetail(ref *render.ContainerRef) containerDetail {
	c := ref.Container()
	last := ref.Report.Pod.LatestTermination(c)
	runtime, id := containerID(c)
	cd := containerDetail{
		PodName:                jsonString(ref.Report.Pod.Name),
		ContainerName:          jsonString(c.Name),
		ContainerType:          c.Type.String(),
		ContainerID:            jsonString(id),
		ContainerRuntime:       jsonString(runtime),
		Image:                  jsonString(c.Image),
		State:                  c.State.String(),
		StateReason:            jsonString(c.StateReason),
		StateMessage:           jsonString(c.StateMessage),
		Ready:                  c.Ready,
		RestartCount:           c.RestartCount,
		Restarts:               ref.Restarts(),
		LastTerminationReason:  jsonString(last.Reason),
		LastTerminationMessage: jsonString(last.Message),
		ErrorTime:              rfc3339(last.FinishedAt),
		Resources: resourcesDetail{
			Requests: newQuantities(c.Resources.CPURequest, c.Resources.MemoryRequest),
			Limits:   newQuantities(c.Resources.CPULimit, c.Resources.MemoryLimit),
		},
	}
	if !last.IsZero() {
		exit, sig := last.ExitCode, last.Signal
		cd.ExitCode, cd.Signal = &exit, &sig
	}
	if ref.Restarts() > 0 && ref.Index < len(ref.Report.Causes) {
		cd.Cause = ref.Report.Causes[ref.Index].Cause.String()
	}
	if ref.Index < len(ref.Report.LogTails) {
		cd.LogTail = strings.ToValidUTF8(ref.Report.LogTails[ref.Index], "\uFFFD")
	}
	return cd
}

// boundedArray marshals items in order into a JSON array of at most
// maxBytes and reports how many items it holds.
func boundedArray[T, D any](items []T, maxBytes int, conv func(*T) D) (string, int, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for i := range items {
		b, err := marshalJSON(conv(&items[i]))
		if err != nil {
			return "", 0, err
		}
		sep := 0
		if n > 0 {
			sep = 1
		}
		if buf.Len()+sep+len(b)+1 > maxBytes {
			break
		}
		if sep > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(b)
		n++
	}
	buf.WriteByte(']')
	return buf.String(), n, nil
}

// marshalJSON encodes v without HTML escaping: the JSON is data, not markup.
func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// jsonString returns s as valid UTF-8 of at most maxJSONString bytes,
// marking a cut with an ellipsis.
func jsonString(s string) string {
	return truncateBytes(strings.ToValidUTF8(s, "\uFFFD"), maxJSONString)
}

// truncateBytes cuts valid UTF-8 s to at most n bytes at a character
// boundary, ending a cut string with "…".
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// rfc3339 formats t in UTC to the second; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
