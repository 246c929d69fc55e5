package output

import (
	"fmt"
	"strings"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// causeDetail is one entry of causes; causeKeys documents it.
type causeDetail struct {
	Cause        string   `json:"cause"`
	ExitCode     *int     `json:"exit_code,omitempty"`
	Signal       string   `json:"signal,omitempty"`
	Restarts     int      `json:"restarts"`
	Pods         int      `json:"pods"`
	Share        float64  `json:"share"`
	Workloads    []string `json:"workloads"`
	Containers   []string `json:"containers"`
	MemoryLimits []string `json:"memory_limits,omitempty"`
}

// workloadDetail is one entry of top_workloads; workloadKeys documents it.
type workloadDetail struct {
	Kind          string `json:"kind"`
	Name          string `json:"name"`
	RestartedPods int    `json:"restarted_pods"`
	Restarts      int    `json:"restarts"`
}

// nodeDetail is one entry of top_nodes; nodeKeys documents it.
type nodeDetail struct {
	NodeName      string   `json:"node_name"`
	RestartedPods int      `json:"restarted_pods"`
	Restarts      int      `json:"restarts"`
	Conditions    []string `json:"conditions"`
	Unschedulable bool     `json:"unschedulable"`
}

// triggerDetail is trigger; triggerKeys documents it.
type triggerDetail struct {
	Kind                  string        `json:"kind"`
	Name                  string        `json:"name"`
	Revision              int64         `json:"revision"`
	ReplicaSet            string        `json:"replicaset"`
	Since                 string        `json:"since"`
	FirstRestart          string        `json:"first_restart"`
	Images                []imageDetail `json:"images"`
	RestartedPods         int           `json:"restarted_pods"`
	WorkloadRestartedPods int           `json:"workload_restarted_pods"`
}

type imageDetail struct {
	Container string `json:"container"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// expectedDetail is one entry of not_counted; expectedKeys documents it.
type expectedDetail struct {
	Reason    string   `json:"reason"`
	Pods      int      `json:"pods"`
	Restarts  int      `json:"restarts"`
	Nodes     []string `json:"nodes"`
	Workloads []string `json:"workloads"`
}

// eventDetail is one entry of an abnormal pod's events; eventKeys
// documents it.
type eventDetail struct {
	Reason    string `json:"reason"`
	Container string `json:"container,omitempty"`
	Message   string `json:"message"`
	Count     int32  `json:"count"`
	FirstSeen string `json:"first_seen"`
	LastSeen  string `json:"last_seen"`
}

func newEventDetails(events []detect.Event) []eventDetail {
	out := make([]eventDetail, 0, len(events))
	for _, e := range events {
		out = append(out, eventDetail{
			Reason: jsonString(e.Reason), Container: jsonString(e.Container), Message: jsonString(e.Message),
			Count: e.Count, FirstSeen: rfc3339(e.FirstSeen), LastSeen: rfc3339(e.LastSeen),
		})
	}
	return out
}

// workloadRef is "deployment/checkout", "" for bare pods.
func workloadRef(o detect.Owner) string {
	if o.Kind == "" && o.Name == "" {
		return ""
	}
	return jsonString(strings.ToLower(o.Kind) + "/" + o.Name)
}

// rcaFields writes the root-cause analysis fields of an event.
func (e *Encoder) rcaFields(b *kvBuilder, d *detect.Decision) error {
	s := &d.Summary
	b.field(keyExpectedRestarts, int64(d.Stats.ExpectedRestarts))
	b.field(keyDisruptedPods, int64(d.Stats.DisruptedPods))
	if d.Stats.HasBaseline {
		b.field(keyBaselineRatio, d.Stats.Baseline)
	}
	expected := make([]expectedDetail, 0, len(s.Expected))
	for _, x := range s.Expected {
		ed := expectedDetail{Reason: x.Reason.String(), Pods: x.Pods, Restarts: x.Restarts, Nodes: []string{}, Workloads: []string{}}
		for _, n := range x.Nodes {
			ed.Nodes = append(ed.Nodes, jsonString(n.Name))
		}
		for _, w := range x.Workloads {
			ed.Workloads = append(ed.Workloads, workloadRef(w))
		}
		expected = append(expected, ed)
	}
	if err := jsonField(b, keyNotCounted, expected); err != nil {
		return err
	}
	dom := s.Dominant()
	if dom == nil {
		return nil
	}
	summary, err := e.text.Summary(s)
	if err != nil {
		return err
	}
	b.field(keySummary, summary)
	b.field(keyDominantCause, dom.Cause.String())
	b.field(keyDominantShare, s.Share(dom))

	causes := make([]causeDetail, 0, len(s.Causes))
	for i := range s.Causes {
		c := &s.Causes[i]
		cd := causeDetail{Cause: c.Cause.String(), Restarts: c.Restarts, Pods: c.Pods, Share: s.Share(c),
			Workloads: []string{}, Containers: []string{}}
		cd.ExitCode, cd.Signal = causeCode(c.CauseKey)
		for _, w := range c.Workloads {
			cd.Workloads = append(cd.Workloads, workloadRef(w))
		}
		for _, n := range c.Containers {
			cd.Containers = append(cd.Containers, jsonString(n))
		}
		if c.Cause == detect.CauseOOMKilled {
			for _, l := range c.MemoryLimits {
				cd.MemoryLimits = append(cd.MemoryLimits, jsonString(l))
			}
		}
		causes = append(causes, cd)
	}
	if err := jsonField(b, keyCauses, causes); err != nil {
		return err
	}

	workloads := make([]workloadDetail, 0, len(s.Workloads))
	for _, w := range s.Workloads {
		workloads = append(workloads, workloadDetail{Kind: jsonString(w.Owner.Kind), Name: jsonString(w.Owner.Name),
			RestartedPods: w.RestartedPods, Restarts: w.Restarts})
	}
	if err := jsonField(b, keyTopWorkloads, workloads); err != nil {
		return err
	}

	nodes := make([]nodeDetail, 0, len(s.Nodes))
	for _, n := range s.Nodes {
		conds := n.Conditions.Names()
		if conds == nil {
			conds = []string{}
		}
		nodes = append(nodes, nodeDetail{NodeName: jsonString(n.Name), RestartedPods: n.RestartedPods, Restarts: n.Restarts,
			Conditions: conds, Unschedulable: n.Unschedulable})
	}
	if err := jsonField(b, keyTopNodes, nodes); err != nil {
		return err
	}

	if t := s.Trigger; t != nil {
		td := triggerDetail{Kind: jsonString(t.Workload.Kind), Name: jsonString(t.Workload.Name), Revision: t.Revision.Number,
			ReplicaSet: jsonString(t.Revision.Name), Since: rfc3339(t.Since), FirstRestart: rfc3339(t.FirstRestart),
			Images: []imageDetail{}, RestartedPods: t.RestartedPods, WorkloadRestartedPods: t.WorkloadRestartedPods}
		for _, c := range t.Images {
			td.Images = append(td.Images, imageDetail{jsonString(c.Container), jsonString(c.From), jsonString(c.To)})
		}
		if err := jsonField(b, keyTrigger, td); err != nil {
			return err
		}
	}
	return nil
}

// causeCode returns the exit code and the signal's name a cause shows in
// the causes entries.
func causeCode(k detect.CauseKey) (exit *int, signal string) {
	switch k.Cause {
	case detect.CauseError, detect.CauseSignal, detect.CauseInit, detect.CauseOOMKilled, detect.CauseConfig:
		if k.Code != 0 || k.Cause == detect.CauseError {
			code := int(k.Code)
			exit = &code
		}
	}
	if n := k.Signal(); n > 0 {
		signal = detect.SignalName(n)
	}
	return exit, signal
}

func jsonField(b *kvBuilder, key string, v any) error {
	s, err := marshalJSON(v)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	b.field(key, s)
	return nil
}
