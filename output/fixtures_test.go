package output

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// updateGoldens rewrites output/testdata/*.golden: go test ./output -update.
var updateGoldens = flag.Bool("update", false, "rewrite the golden files in testdata")

// encT0 is the fixed instant the fixtures' faults start at.
var encT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	encAnomalyID    = "event-00000000000000000000000000000001"
	encEscalationID = "event-00000000000000000000000000000002"
	encReminderID   = "event-00000000000000000000000000000003"
	encRecoveryID   = "event-00000000000000000000000000000004"
)

// encTestConfig is the encoder configuration of most tests; the user tag
// must never be mistaken for a schema key.
var encTestConfig = EncoderConfig{Cluster: "prod", Tags: map[string]string{"team": "payments"}, Language: "en"}

func encNewEncoder(t testing.TB, cfg EncoderConfig) *Encoder {
	t.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	return e
}

// encShopPods returns the pods of the fixture namespace: an API pod whose
// app container is OOMKilled and crash-looping next to an init container and
// a sidecar, a worker whose container exits with an error, and a pod
// deleted inside the window.
func encShopPods() []detect.PodReport {
	res := detect.Resources{CPURequest: "250m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "256Mi"}
	api := &detect.Pod{
		UID: "uid-api", Namespace: "shop", Name: "shop-api-7d9f8b6c5-x2x4q", Node: "node-a",
		Owner: detect.Owner{Kind: "Deployment", Name: "shop-api"}, Phase: "Running", CreatedAt: encT0.Add(-24 * time.Hour),
		Containers: []detect.Container{
			{
				Name: "migrate", Type: detect.ContainerInit, RestartPolicy: detect.RestartOnFailure, Image: "registry.example.com/shop/migrate:1.4.2",
				ContainerID: "containerd://1111111111111111111111111111111111111111111111111111111111111111", Ready: false,
				State: detect.StateTerminated, StateReason: "Completed", StateSince: encT0.Add(-23 * time.Hour),
			},
			{
				Name: "istio-proxy", Type: detect.ContainerSidecar, Image: "docker.io/istio/proxyv2:1.27.0",
				ContainerID: "containerd://2222222222222222222222222222222222222222222222222222222222222222", Ready: true,
				State: detect.StateRunning, StateSince: encT0.Add(-23 * time.Hour),
				Resources: detect.Resources{CPURequest: "100m", MemoryRequest: "64Mi", MemoryLimit: "128Mi"},
			},
			{
				Name: "api", Type: detect.ContainerApp, Image: "registry.example.com/shop/api:2.3.1",
				RestartCount: 7, State: detect.StateWaiting, StateReason: "CrashLoopBackOff",
				StateMessage: "back-off 5m0s restarting failed container=api pod=shop-api-7d9f8b6c5-x2x4q_shop(uid-api)",
				Last: detect.Termination{
					ContainerID: "containerd://3333333333333333333333333333333333333333333333333333333333333333",
					Reason:      "OOMKilled", ExitCode: 137,
					StartedAt: encT0.Add(-3 * time.Minute), FinishedAt: encT0.Add(-1 * time.Minute),
				},
				Resources: res,
			},
		},
	}
	worker := &detect.Pod{
		UID: "uid-worker", Namespace: "shop", Name: "shop-worker-0", Node: "node-b",
		Owner: detect.Owner{Kind: "StatefulSet", Name: "shop-worker"}, Phase: "Running",
		Containers: []detect.Container{{
			Name: "worker", Type: detect.ContainerApp, Image: "registry.example.com/shop/worker:2.3.1",
			ContainerID:  "containerd://4444444444444444444444444444444444444444444444444444444444444444",
			RestartCount: 2, Ready: true, State: detect.StateRunning, StateSince: encT0.Add(-4 * time.Minute),
			Last: detect.Termination{
				ContainerID: "containerd://5555555555555555555555555555555555555555555555555555555555555555",
				Reason:      "Error", Message: "panic: connect to db: connection refused\ngoroutine 1 [running]:", ExitCode: 1,
				StartedAt: encT0.Add(-10 * time.Minute), FinishedAt: encT0.Add(-5 * time.Minute),
			},
			Resources: res,
		}},
	}
	gone := &detect.Pod{
		UID: "uid-gone", Namespace: "shop", Name: "shop-cron-29000000-abcde", Node: "node-c",
		Owner: detect.Owner{Kind: "CronJob", Name: "shop-cron"}, Phase: "Failed", Reason: "Evicted", Deleting: true,
		Containers: []detect.Container{{
			Name: "cron", Type: detect.ContainerApp, Image: "registry.example.com/shop/cron:2.3.1",
			RestartCount: 1, State: detect.StateTerminated, StateReason: "Error",
			Last: detect.Termination{
				ContainerID: "containerd://6666666666666666666666666666666666666666666666666666666666666666",
				Reason:      "Error", ExitCode: 143, Signal: 15, FinishedAt: encT0.Add(-20 * time.Minute),
			},
		}},
	}
	return []detect.PodReport{
		{Pod: api, Restarts: 4, LastRestart: encT0.Add(-1 * time.Minute), ContainerRestarts: []int{0, 0, 4}},
		{Pod: worker, Restarts: 2, LastRestart: encT0.Add(-5 * time.Minute), ContainerRestarts: []int{2}},
		{Pod: gone, Deleted: true, Restarts: 1, LastRestart: encT0.Add(-20 * time.Minute), ContainerRestarts: []int{1}},
	}
}

// encDecision returns the fixture decision of kind k in namespace shop. The
// fault opens at encT0 at warning, escalates to error 10 minutes later, is
// reminded of after 70 minutes and recovers after two hours.
func encDecision(k detect.Kind) *detect.Decision {
	d := &detect.Decision{
		Kind: k, Window: 30 * time.Minute, Pods: encShopPods(),
		Fault: detect.Fault{ID: encAnomalyID, Namespace: "shop", Start: encT0},
	}
	switch k {
	case detect.KindAnomaly:
		d.EventID, d.Level, d.At = encAnomalyID, detect.LevelWarning, encT0
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 6, Restarts: 14, Ratio: 0.3, Level: detect.LevelWarning, Fault: true}
		d.OmittedPods = 3
	case detect.KindEscalation:
		d.EventID, d.Level, d.Previous, d.At = encEscalationID, detect.LevelError, detect.LevelWarning, encT0.Add(10*time.Minute)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 9, Restarts: 25, Ratio: 0.45, Level: detect.LevelError, Fault: true}
		d.OmittedPods = 6
	case detect.KindReminder:
		d.EventID, d.Level, d.Previous, d.At = encReminderID, detect.LevelError, detect.LevelError, encT0.Add(70*time.Minute)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 8, Restarts: 17, Ratio: 0.4, Level: detect.LevelError, Fault: true}
		d.OmittedPods = 5
	case detect.KindRecovery:
		d.EventID, d.Level, d.Previous, d.At = encRecoveryID, detect.LevelNone, detect.LevelError, encT0.Add(2*time.Hour)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 1, Restarts: 1, Ratio: 0.05, Level: detect.LevelNone}
		d.Fault.ClearSince = encT0.Add(105 * time.Minute)
		d.Pods = d.Pods[1:2]
	}
	d.Fault.Level, d.Fault.MaxLevel, d.Fault.LastEvent = d.Level, max(d.Level, d.Previous), d.At
	d.Fault.History = encHistory(k, d.At)
	encAddAnalysis(d)
	return d
}

// encHistory returns the fixture fault's history at a decision of kind k
// at at: it peaked with the escalation; the recovery counts three more
// restarts than the reminder.
func encHistory(k detect.Kind, at time.Time) detect.History {
	api := detect.Owner{Kind: "Deployment", Name: "shop-api"}
	worker := detect.Owner{Kind: "StatefulSet", Name: "shop-worker"}
	cron := detect.Owner{Kind: "CronJob", Name: "shop-cron"}
	h := detect.History{Peak: detect.Peak{At: encT0.Add(10 * time.Minute), Level: detect.LevelError, Ratio: 0.45, RestartedPods: 9, Pods: 20}, Through: at}
	switch k {
	case detect.KindAnomaly:
		h.Peak = detect.Peak{At: encT0, Level: detect.LevelWarning, Ratio: 0.3, RestartedPods: 6, Pods: 20}
		h.Restarts = 14
	case detect.KindEscalation:
		h.Restarts = 25
	case detect.KindReminder:
		h.Restarts = 31
		h.Causes = []detect.HistoryCause{
			{CauseKey: detect.CauseKey{Cause: detect.CauseOOMKilled, Code: 137}, Restarts: 22, Workloads: []detect.WorkloadRestarts{{Owner: api, Restarts: 22}}},
			{CauseKey: detect.CauseKey{Cause: detect.CauseError, Code: 1}, Restarts: 7, Workloads: []detect.WorkloadRestarts{{Owner: worker, Restarts: 7}}},
			{CauseKey: detect.CauseKey{Cause: detect.CauseSignal, Code: 143}, Restarts: 2, Workloads: []detect.WorkloadRestarts{{Owner: cron, Restarts: 2}}},
		}
	case detect.KindRecovery:
		h.Restarts = 34
		h.Causes = []detect.HistoryCause{
			{CauseKey: detect.CauseKey{Cause: detect.CauseOOMKilled, Code: 137}, Restarts: 22, Workloads: []detect.WorkloadRestarts{{Owner: api, Restarts: 22}}},
			{CauseKey: detect.CauseKey{Cause: detect.CauseError, Code: 1}, Restarts: 10, Workloads: []detect.WorkloadRestarts{{Owner: worker, Restarts: 9}, {Owner: detect.Owner{}, Restarts: 1}}},
			{CauseKey: detect.CauseKey{Cause: detect.CauseSignal, Code: 143}, Restarts: 2, Workloads: []detect.WorkloadRestarts{{Owner: cron, Restarts: 2}}},
		}
	}
	return h
}

// encHostileTermination is a termination message as hostile as a container
// can write: every character line protocol and Markdown treat specially.
const encHostileTermination = "line one \"quoted\", a=b c\\d\n\ttab\r\nnull\x00 esc\x1b del\x7f nel\u0085 ls\u2028 rlo\u202e" +
	" | pipe `tick` <b>bold</b> *star* _u_ [l](http://x) ~s~ # & é 中文 🚀 \xff\xfe trailing\\"

// encHostileDecision is the anomaly with hostile names and messages
// everywhere a pod's data reaches.
func encHostileDecision() *detect.Decision {
	d := encDecision(detect.KindAnomaly)
	ns := "shop ns,=\"q\"\\ \n\tx\x00é中🚀\\\\"
	d.Stats.Namespace, d.Fault.Namespace = ns, ns
	p := *d.Pods[0].Pod
	p.Name = "pod name,with=\"all\" \\ | ` < > \n\t\x01 é中🚀\\"
	p.Node = "node\\"
	p.Owner = detect.Owner{Kind: "Deploy|ment", Name: "a`b<c>d\ne"}
	p.Reason = encHostileTermination
	p.Containers = append([]detect.Container(nil), p.Containers...)
	c := &p.Containers[2]
	c.Name = "c|1 `x`\\"
	c.Image = "img:\"latest\" <none>\\"
	c.StateMessage = encHostileTermination
	c.Last.Message = encHostileTermination
	c.Last.Reason = "OOM|Killed\n"
	c.Resources.MemoryLimit = "256Mi|\\"
	d.Pods[0].Pod = &p
	return d
}

// encLargeDecision is the anomaly of a namespace with 5,000 restarting pods
// whose first container writes a 1 MiB termination message.
func encLargeDecision() *detect.Decision {
	d := encDecision(detect.KindAnomaly)
	base := encShopPods()[0]
	huge := strings.Repeat("0123456789abcdef\"\\\n", (1<<20)/19+1)[:1<<20]
	d.Pods = make([]detect.PodReport, 5000)
	for i := range d.Pods {
		p := *base.Pod
		p.UID, p.Name = fmt.Sprintf("uid-%04d", i), fmt.Sprintf("shop-api-7d9f8b6c5-%04d", i)
		if i == 0 {
			p.Containers = append([]detect.Container(nil), p.Containers...)
			p.Containers[2].Last.Message = huge
			p.Containers[2].StateMessage = huge
		}
		d.Pods[i] = detect.PodReport{Pod: &p, Restarts: 5000 - i, LastRestart: encT0.Add(-time.Minute), ContainerRestarts: []int{0, 0, 5000 - i}}
	}
	d.OmittedPods = 0
	d.Stats = detect.Stats{Namespace: "shop", Pods: 6000, RestartedPods: 5000, Restarts: 12502500, Ratio: 5000.0 / 6000, Level: detect.LevelCritical, Fault: true}
	d.Level, d.Fault.Level, d.Fault.MaxLevel = detect.LevelCritical, detect.LevelCritical, detect.LevelCritical
	return d
}

// encHostileConfig has a cluster name and user tags that need every escape;
// their backslashes are hostile but valid: none right before a space, comma
// or equals sign.
var encHostileConfig = EncoderConfig{
	Cluster: "prod east,\"eu\"=1 \\x ☃",
	Tags: map[string]string{
		"team name,x=\"y\"": "a,b=c \"d\" \\e",
		"env":               "生产 🚀",
		"back\\slash":       "x\\y \\\\z",
	},
}

// encGolden compares got with testdata/name, rewriting it under -update.
func encGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGoldens {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}
