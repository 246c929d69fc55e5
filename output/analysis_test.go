package output

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// encAddAnalysis gives a fixture decision the root-cause analysis detect
// would attach to it: the shop's pods crash with OOM kills (the API),
// errors (the worker) and SIGTERM (the cron job), right after a new
// revision of the API rolled out; two pods were evicted meanwhile.
func encAddAnalysis(d *detect.Decision) {
	oom := detect.CauseKey{Cause: detect.CauseOOMKilled, Code: 137}
	errExit := detect.CauseKey{Cause: detect.CauseError, Code: 1}
	term := detect.CauseKey{Cause: detect.CauseSignal, Code: 143}
	api := detect.Owner{Kind: "Deployment", Name: "shop-api"}
	worker := detect.Owner{Kind: "StatefulSet", Name: "shop-worker"}
	cron := detect.Owner{Kind: "CronJob", Name: "shop-cron"}
	for i := range d.Pods {
		r := &d.Pods[i]
		r.Causes = make([]detect.CauseKey, len(r.Pod.Containers))
		for j, n := range r.ContainerRestarts {
			if n == 0 {
				continue
			}
			switch r.Pod.Owner.Name {
			case "shop-api":
				r.Causes[j] = oom
			case "shop-worker":
				r.Causes[j] = errExit
			default:
				r.Causes[j] = term
			}
		}
		if r.Pod.Owner.Name == "shop-api" {
			r.Events = []detect.Event{
				{Name: "e1", Reason: "BackOff", Container: "api", Count: 12,
					Message:   "Back-off restarting failed container api in pod shop-api-7d9f8b6c5-x2x4q_shop(uid-api)",
					FirstSeen: encT0.Add(-20 * time.Minute), LastSeen: encT0.Add(-time.Minute)},
				{Name: "e2", Reason: "Unhealthy", Container: "api", Count: 3,
					Message:   "Readiness probe failed: HTTP probe failed with statuscode: 503",
					FirstSeen: encT0.Add(-5 * time.Minute), LastSeen: encT0.Add(-2 * time.Minute)},
			}
		}
	}
	d.Thresholds = detect.Thresholds{MinPods: 3, MinRestartedPods: 2, RatioWarning: 0.1, RatioError: 0.3, RatioCritical: 0.5}
	if d.Kind == detect.KindRecovery {
		d.Summary = detect.Summary{
			Restarts: 1,
			Causes: []detect.CauseStat{{CauseKey: errExit, Restarts: 1, Pods: 1, Workloads: []detect.Owner{worker},
				Containers: []string{"worker"}, MemoryLimits: []string{"256Mi"}}},
			Workloads: []detect.WorkloadStat{{Owner: worker, RestartedPods: 1, Restarts: 1}},
			Nodes:     []detect.NodeStat{{Node: detect.Node{Name: "node-b"}, RestartedPods: 1, Restarts: 1}},
		}
		return
	}
	d.Stats.ExpectedRestarts, d.Stats.DisruptedPods = 5, 2
	if d.Kind == detect.KindReminder {
		d.Stats.Baseline, d.Stats.HasBaseline = 0.05, true
		d.Thresholds.Baseline, d.Thresholds.HasBaseline = 0.05, true
		d.Thresholds.Overridden = []string{"ratio-warning"}
	}
	prev := detect.Revision{Namespace: "shop", Deployment: "shop-api", Name: "shop-api-6c8b7d9f4", Hash: "6c8b7d9f4", Number: 6,
		Images: []detect.ContainerImage{{Container: "migrate", Image: "registry.example.com/shop/migrate:1.4.2"}, {Container: "api", Image: "registry.example.com/shop/api:2.3.0"}}}
	d.Summary = detect.Summary{
		Restarts: 14,
		Causes: []detect.CauseStat{
			{CauseKey: oom, Restarts: 8, Pods: 3, Workloads: []detect.Owner{api}, Containers: []string{"api"}, MemoryLimits: []string{"256Mi"}},
			{CauseKey: errExit, Restarts: 4, Pods: 2, Workloads: []detect.Owner{worker}, Containers: []string{"worker"}, MemoryLimits: []string{"256Mi"}},
			{CauseKey: term, Restarts: 2, Pods: 1, Workloads: []detect.Owner{cron}, Containers: []string{"cron"}, MemoryLimits: []string{""}},
		},
		Workloads: []detect.WorkloadStat{{Owner: api, RestartedPods: 3, Restarts: 8}, {Owner: worker, RestartedPods: 2, Restarts: 4}, {Owner: cron, RestartedPods: 1, Restarts: 2}},
		Nodes: []detect.NodeStat{
			{Node: detect.Node{Name: "node-a", Conditions: detect.NodeMemoryPressure}, RestartedPods: 4, Restarts: 11},
			{Node: detect.Node{Name: "node-b"}, RestartedPods: 1, Restarts: 2},
			{Node: detect.Node{Name: "node-c", Unschedulable: true}, RestartedPods: 1, Restarts: 1},
		},
		NodeConcentration: true,
		Trigger: &detect.Change{
			Workload: detect.Owner{Kind: "Deployment", Name: "shop-api", Revision: "7d9f8b6c5"},
			Revision: detect.Revision{Namespace: "shop", Deployment: "shop-api", Name: "shop-api-7d9f8b6c5", Hash: "7d9f8b6c5", Number: 7,
				Images: []detect.ContainerImage{{Container: "migrate", Image: "registry.example.com/shop/migrate:1.4.2"}, {Container: "api", Image: "registry.example.com/shop/api:2.3.1"}}},
			Previous: &prev, Since: encT0.Add(-6 * time.Minute), FirstRestart: encT0.Add(-4 * time.Minute),
			Images:        []detect.ImageChange{{Container: "api", From: "registry.example.com/shop/api:2.3.0", To: "registry.example.com/shop/api:2.3.1"}},
			RestartedPods: 3, WorkloadRestartedPods: 3,
		},
		Expected: []detect.ExpectedStat{
			{Reason: detect.ExpectedRollout, Pods: 3, Restarts: 5, Workloads: []detect.Owner{api}},
			{Reason: detect.ExpectedEvicted, Pods: 2, Nodes: []detect.Node{{Name: "node-c", Unschedulable: true, Conditions: detect.NodeDiskPressure}}, Workloads: []detect.Owner{worker}},
		},
	}
}

// TestRCAFields checks the analysis' fields of the fixture anomaly.
func TestRCAFields(t *testing.T) {
	pt, err := encNewEncoder(t, encTestConfig).Event(encDecision(detect.KindAnomaly))
	if err != nil {
		t.Fatal(err)
	}
	got := encPointOf(pt)
	want := map[string]any{
		"summary":              "8 of 14 restarts were OOMKilled, all in deployment/shop-api, container api, memory limit 256Mi. Others: 4 errors with exit code 1, 2 kills by SIGTERM (exit code 143).",
		"dominant_cause":       "oom_killed",
		"dominant_cause_share": 8.0 / 14,
		"expected_restarts":    int64(5),
		"disrupted_pods":       int64(2),
		"df_title":             "6 of 20 pods (30%) in prod/shop restarted in the last 30m; 8 of 14 restarts were OOMKilled",
	}
	for k, v := range want {
		if diff := cmp.Diff(v, got.Fields[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	var causes []map[string]any
	if err := json.Unmarshal([]byte(got.Fields["causes"].(string)), &causes); err != nil {
		t.Fatal(err)
	}
	if len(causes) != 3 || causes[2]["signal"] != "SIGTERM" || causes[0]["memory_limits"].([]any)[0] != "256Mi" {
		t.Errorf("causes = %v", causes)
	}
	var trigger map[string]any
	if err := json.Unmarshal([]byte(got.Fields["trigger"].(string)), &trigger); err != nil {
		t.Fatal(err)
	}
	if trigger["replicaset"] != "shop-api-7d9f8b6c5" || trigger["revision"] != 7.0 {
		t.Errorf("trigger = %v", trigger)
	}
	for _, k := range []string{"top_workloads", "top_nodes", "not_counted"} {
		if s, _ := got.Fields[k].(string); !json.Valid([]byte(s)) || !strings.HasPrefix(s, "[{") {
			t.Errorf("%s = %q, want a JSON array of objects", k, s)
		}
	}
}

// TestRCAMessage checks the summary lines at the top of df_message in both
// languages.
func TestRCAMessage(t *testing.T) {
	for _, tc := range []struct {
		lang string
		want []string
	}{
		{"en", []string{
			"**Summary**: 8 of 14 restarts were OOMKilled, all in deployment/shop-api, container api, memory limit 256Mi. Others: 4 errors with exit code 1, 2 kills by SIGTERM (exit code 143).\n",
			"**Likely trigger**: deployment/shop-api rolled out revision 7 (ReplicaSet shop-api-7d9f8b6c5) at 2026-03-01T09:54:00Z, 2m before its first restart; image of container api changed from registry.example.com/shop/api:2.3.0 to registry.example.com/shop/api:2.3.1. 3 of its 3 restarted pods run this revision.\n",
			"**Node**: 4 of 6 restarted pods run on node-a, which reports MemoryPressure.\n",
			"**Not counted**: 3 pods of older revisions replaced or restarting during a rollout (5 restarts not counted): deployment/shop-api; 2 pods evicted by the kubelet: node-c (DiskPressure, cordoned).\n",
			"**Rules**: warning from 10%, error from 30%, critical from 50%, with at least 3 pods and 2 restarted pods.\n",
			"| OOMKilled | 8 | 57.1% | 3 | deployment/shop-api | api | 256Mi |",
			"| shop-api-7d9f8b6c5-x2x4q | api | BackOff | 12 | 2026-03-01T09:59:00Z |",
		}},
		{"zh", []string{
			"**概要**: 14 次重启中有 8 次为 OOMKilled（内存超限被杀），全部在 deployment/shop-api，容器 api，内存限制 256Mi。其他：4 次 错误退出（退出码 1），2 次 被 SIGTERM 信号终止（退出码 143）。",
			"**可能的诱因**: deployment/shop-api 于 2026-03-01T09:54:00Z 发布了第 7 版（ReplicaSet shop-api-7d9f8b6c5），早于首次重启 2分钟",
			"**节点**: 6 个重启的 Pod 中有 4 个运行在 node-a 上，该节点报告 MemoryPressure。",
		}},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			cfg := encTestConfig
			cfg.Language = tc.lang
			pt, err := encNewEncoder(t, cfg).Event(encDecision(detect.KindAnomaly))
			if err != nil {
				t.Fatal(err)
			}
			msg := pt.Get(keyMessage).(string)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("df_message lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestRCAMessageHostile puts hostile names everywhere the analysis shows
// cluster data: the tables keep their columns and no markup gets through.
func TestRCAMessageHostile(t *testing.T) {
	d := encDecision(detect.KindAnomaly)
	h := "x|y `z` <b>w</b>\n*s* [l](u) \u202e"
	s := &d.Summary
	s.Causes[0].Workloads = []detect.Owner{{Kind: "Deploy|ment", Name: h}}
	s.Causes[0].Containers = []string{h}
	s.Causes[0].MemoryLimits = []string{h, ""}
	s.Workloads[0].Owner = detect.Owner{Kind: h, Name: h}
	s.Nodes[0].Name = h
	s.Trigger.Revision.Name = h
	s.Trigger.Images[0] = detect.ImageChange{Container: h, From: h, To: h}
	s.Expected[1].Nodes[0].Name = h
	s.Expected[0].Workloads[0] = detect.Owner{Kind: h, Name: h}
	d.Pods[0].Events[0].Message, d.Pods[0].Events[0].Container, d.Pods[0].Events[0].Reason = h, h, h
	d.Pods[0].LogTails = []string{"", "", h + "\n```\n" + h}
	pt, err := encNewEncoder(t, encTestConfig).Event(d)
	if err != nil {
		t.Fatal(err)
	}
	msg := pt.Get(keyMessage).(string)
	checkTables(t, msg)
	outside := msg[:strings.Index(msg, "#### Last log lines")]
	if strings.ContainsAny(outside, "<>\u202e") {
		t.Errorf("raw markup or bidi override outside the code blocks:\n%s", outside)
	}
	logs := msg[strings.Index(msg, "#### Last log lines"):]
	if !strings.Contains(logs, "````text\n") || strings.Count(logs, "````") != 2 {
		t.Errorf("the log's backticks can close its code block:\n%s", logs)
	}
	for _, k := range []string{keyTitle, keySummary} {
		if v := pt.Get(k).(string); strings.ContainsFunc(v, isControl) {
			t.Errorf("%s has control characters: %q", k, v)
		}
	}
	var causes []map[string]any
	if err := json.Unmarshal([]byte(pt.Get(keyCauses).(string)), &causes); err != nil {
		t.Errorf("causes: %v", err)
	}
}
