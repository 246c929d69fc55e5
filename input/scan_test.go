package input

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var updateScanGoldens = flag.Bool("update-scan", false, "rewrite testdata/scan/*.golden")

// scanT0 is when the scans of these tests run.
var scanT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// scanPod returns a running pod of Deployment dep (ReplicaSet dep-5f6b) on
// node whose container app last terminated ago before scanT0 with reason
// and code, restarts times in all; restarts 0 is a pod that never restarted.
func scanPod(ns, name, node, dep string, restarts int32, ago time.Duration, reason string, code int32) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			Labels:            map[string]string{"pod-template-hash": "5f6b"},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: dep + "-5f6b", Controller: ptr.To(true)}},
			CreationTimestamp: metav1.NewTime(scanT0.Add(-2 * time.Hour))},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "reg/" + dep + ":1",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "reg/" + dep + ":1", RestartCount: restarts, Ready: true,
			ContainerID: fmt.Sprintf("containerd://%064d", restarts),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(scanT0.Add(-ago))}},
		}}},
	}
	if restarts > 0 {
		cs := &p.Status.ContainerStatuses[0]
		cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
			Reason: reason, ExitCode: code, ContainerID: fmt.Sprintf("containerd://%064d", restarts-1),
			StartedAt: metav1.NewTime(scanT0.Add(-ago - time.Minute)), FinishedAt: metav1.NewTime(scanT0.Add(-ago)),
		}
		if reason == "OOMKilled" {
			cs.Ready = false
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}
		}
	}
	return p
}

// scanCluster is a storm namespace (4 of 5 pods restarted inside the
// window, 3 OOMKilled), a namespace below the rules (1 of 4), one whose only
// restart left the window, and a quiet one.
func scanCluster() []runtime.Object {
	return []runtime.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue}, {Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue}}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
		scanPod("storm", "api-0", "node-a", "api", 3, 2*time.Minute, "OOMKilled", 137),
		scanPod("storm", "api-1", "node-a", "api", 2, 4*time.Minute, "OOMKilled", 137),
		scanPod("storm", "api-2", "node-b", "api", 1, 6*time.Minute, "OOMKilled", 137),
		scanPod("storm", "worker-0", "node-b", "worker", 1, 10*time.Minute, "Error", 1),
		scanPod("storm", "worker-1", "node-b", "worker", 0, 0, "", 0),
		scanPod("shop", "web-0", "node-b", "web", 1, 5*time.Minute, "Error", 2),
		scanPod("shop", "web-1", "node-b", "web", 0, 0, "", 0),
		scanPod("shop", "web-2", "node-b", "web", 0, 0, "", 0),
		scanPod("shop", "web-3", "node-b", "web", 0, 0, "", 0),
		scanPod("old", "job-0", "node-b", "job", 4, time.Hour, "Error", 1),
		scanPod("old", "job-1", "node-b", "job", 0, 0, "", 0),
		scanPod("quiet", "db-0", "node-b", "db", 0, 0, "", 0),
		&corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "api-0.1", Namespace: "storm"},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "storm", Name: "api-0", UID: "uid-storm-api-0", FieldPath: "spec.containers{app}"},
			Reason:         "BackOff", Message: "Back-off restarting failed container app", Type: corev1.EventTypeWarning, Count: 5,
			FirstTimestamp: metav1.NewTime(scanT0.Add(-9 * time.Minute)), LastTimestamp: metav1.NewTime(scanT0.Add(-time.Minute)),
		},
	}
}

func runScanForTest(t *testing.T, cfg *Config, objs ...runtime.Object) *ScanReport {
	t.Helper()
	n := 0
	r, err := scan(t.Context(), fake.NewClientset(objs...), nil, cfg, slog.New(slog.DiscardHandler), ScanOptions{
		Clock: clocktesting.NewFakePassiveClock(scanT0),
		NewID: func() string { n++; return fmt.Sprintf("event-%032d", n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScan(t *testing.T) {
	type row struct {
		Namespace           string
		Level               string
		RestartedPods, Pods int
		Restarts            int
		Over                bool
		DominantCause       string
		ReportedPods        int
	}
	strict := DefaultConfig()
	strict.MinRestartedPods = 5
	for _, tc := range []struct {
		name string
		cfg  *Config
		want []row
		over int
	}{
		{
			name: "defaults: worst first",
			cfg:  DefaultConfig(),
			want: []row{
				{"storm", "critical", 4, 5, 4, true, "oom_killed", 4},
				{"shop", "ok", 1, 4, 1, false, "error", 1},
				{"old", "ok", 0, 2, 0, false, "", 0},
				{"quiet", "ok", 0, 1, 0, false, "", 0},
			},
			over: 1,
		},
		{
			name: "stricter rules: nothing over",
			cfg:  strict,
			want: []row{
				{"storm", "ok", 4, 5, 4, false, "oom_killed", 4},
				{"shop", "ok", 1, 4, 1, false, "error", 1},
				{"old", "ok", 0, 2, 0, false, "", 0},
				{"quiet", "ok", 0, 1, 0, false, "", 0},
			},
		},
		{
			name: "one namespace",
			cfg:  func() *Config { c := DefaultConfig(); c.Namespaces = []string{"shop"}; return c }(),
			want: []row{{"shop", "ok", 1, 4, 1, false, "error", 1}},
		},
		{
			name: "a window that holds the old restarts",
			cfg: func() *Config {
				c := DefaultConfig()
				c.Window = Duration{2 * time.Hour}
				c.MinPods, c.MinRestartedPods = 1, 1
				c.Namespaces = []string{"old"}
				return c
			}(),
			want: []row{{"old", "critical", 1, 2, 1, true, "error", 1}},
			over: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runScanForTest(t, tc.cfg, scanCluster()...)
			var got []row
			for _, n := range r.Namespaces {
				d := n.Decision
				cause := ""
				if c := d.Summary.Dominant(); c != nil {
					cause = c.Cause.String()
				}
				got = append(got, row{d.Stats.Namespace, d.Level.String(), d.Stats.RestartedPods, d.Stats.Pods, d.Stats.Restarts,
					n.Over(), cause, len(d.Pods)})
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("namespaces (-want +got):\n%s", diff)
			}
			if r.Over() != tc.over {
				t.Errorf("Over() = %d, want %d", r.Over(), tc.over)
			}
		})
	}
}

func TestScanGoldens(t *testing.T) {
	r := runScanForTest(t, DefaultConfig(), scanCluster()...)
	for _, tc := range []struct {
		file  string
		write func(*bytes.Buffer) error
	}{
		{"table.golden", func(b *bytes.Buffer) error { return r.WriteText(b, TextOptions{}) }},
		{"table_color.golden", func(b *bytes.Buffer) error { return r.WriteText(b, TextOptions{Color: true}) }},
		{"details.golden", func(b *bytes.Buffer) error { return r.WriteText(b, TextOptions{Details: true}) }},
		{"all.golden", func(b *bytes.Buffer) error { return r.WriteText(b, TextOptions{All: true}) }},
		{"json.golden", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			var b bytes.Buffer
			if err := tc.write(&b); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "scan", tc.file)
			if *updateScanGoldens {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

func TestScanJSON(t *testing.T) {
	r := runScanForTest(t, DefaultConfig(), scanCluster()...)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Over       int              `json:"over_rules"`
		Namespaces []map[string]any `json:"namespaces"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Namespace, Status string
		Pods, Restarted   float64
		Causes            int  // entries of causes; -1 without the key
		Message           bool // has df_message
		FaultTag          bool // has df_fault_id, which a scan does not open
	}
	var got []entry
	for _, n := range doc.Namespaces {
		e := entry{Namespace: n["namespace"].(string), Status: n["df_status"].(string), Pods: n["total_pods"].(float64),
			Restarted: n["restart_pods"].(float64), Causes: -1}
		if c, ok := n["causes"].([]any); ok {
			e.Causes = len(c)
		}
		for k, v := range n {
			// A JSON field of the event missing from jsonStringKeys would
			// come out as a string.
			if s, ok := v.(string); ok && (strings.HasPrefix(s, "[") || strings.HasPrefix(s, "{")) && json.Valid([]byte(s)) {
				t.Errorf("%s: %s holds JSON as a string", e.Namespace, k)
			}
		}
		_, e.Message = n["df_message"]
		_, e.FaultTag = n["df_fault_id"]
		got = append(got, e)
	}
	want := []entry{
		{"storm", "critical", 5, 4, 2, true, false},
		{"shop", "ok", 4, 1, 1, false, false}, // the analysis, without an event
		{"old", "ok", 2, 0, -1, false, false},
		{"quiet", "ok", 1, 0, -1, false, false},
	}
	if diff := cmp.Diff(want, got); diff != "" || doc.Over != 1 {
		t.Errorf("over_rules %d, want 1; namespaces (-want +got):\n%s", doc.Over, diff)
	}
}

// TestScanWarnings: a context the scan may not read (nodes, under a
// namespaced Role) is reported, and the scan goes on without it.
func TestScanWarnings(t *testing.T) {
	client := fake.NewClientset(scanCluster()...)
	client.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("RBAC"))
	})
	r, err := scan(t.Context(), client, nil, DefaultConfig(), slog.New(slog.DiscardHandler),
		ScanOptions{Clock: clocktesting.NewFakePassiveClock(scanT0)})
	if err != nil {
		t.Fatal(err)
	}
	var text, js bytes.Buffer
	if err := r.WriteText(&text, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := "list nodes: nodes is forbidden: RBAC"
	if diff := cmp.Diff([]string{want}, doc.Warnings); diff != "" {
		t.Errorf("JSON warnings (-want +got):\n%s", diff)
	}
	if !bytes.Contains(text.Bytes(), []byte("Without part of the context: "+want+"\n")) {
		t.Errorf("the text does not show the warning:\n%s", text.String())
	}
	if len(r.Namespaces) != 4 || r.Over() != 1 {
		t.Errorf("%d namespaces, %d over the rules; want 4 and 1", len(r.Namespaces), r.Over())
	}
}
