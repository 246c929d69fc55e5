package output

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// The scenarios below run detect on fixed timelines, as the agent would
// feed it, and render the event users would read. Their df_message is kept
// in testdata/message_*.golden (go test ./output -update rewrites them), so
// that a reviewer reads what users read.

// scT0 is when the scenarios' pods start.
var scT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func scDetector() *detect.Detector {
	n := 0
	return detect.New(detect.Config{
		Window: 30 * time.Minute, RecoverAfter: 30 * time.Second, Silence: 30 * time.Minute,
		MinPods: 3, MinRestartedPods: 2, RatioWarning: 0.1, RatioError: 0.3, RatioCritical: 0.5,
		NewID: func() string { n++; return fmt.Sprintf("event-%032d", n) },
	})
}

// scPod is a running pod of a workload with one app container.
func scPod(name, node string, owner detect.Owner, image, memLimit string) *detect.Pod {
	return &detect.Pod{
		UID: "uid-" + name, Namespace: "shop", Name: name, Node: node, Owner: owner, Phase: "Running", CreatedAt: scT0.Add(-time.Hour),
		Containers: []detect.Container{{
			Name: "app", Type: detect.ContainerApp, Image: image, ContainerID: "containerd://" + name + "-0",
			Ready: true, State: detect.StateRunning, StateSince: scT0.Add(-time.Hour),
			Resources: detect.Resources{CPURequest: "100m", MemoryRequest: "128Mi", MemoryLimit: memLimit},
		}},
	}
}

// scCrash returns p with its app container crashed at at.
func scCrash(p *detect.Pod, at time.Time, reason string, exit int32, message string) *detect.Pod {
	q := *p
	q.Containers = append([]detect.Container(nil), p.Containers...)
	c := &q.Containers[0]
	c.Last = detect.Termination{ContainerID: c.ContainerID, Reason: reason, Message: message, ExitCode: exit,
		StartedAt: c.StateSince, FinishedAt: at}
	c.RestartCount++
	c.ContainerID = fmt.Sprintf("containerd://%s-%d", p.Name, c.RestartCount)
	c.State, c.StateReason, c.Ready = detect.StateWaiting, "CrashLoopBackOff", false
	c.StateMessage = fmt.Sprintf("back-off 10s restarting failed container=app pod=%s_shop(%s)", p.Name, p.UID)
	return &q
}

func scDeployment(name, hash string) detect.Owner {
	return detect.Owner{Kind: "Deployment", Name: name, Revision: hash}
}

type scenario struct {
	name string
	lang string
	run  func(d *detect.Detector) *detect.Decision
}

var scenarios = []scenario{
	{name: "oom_storm", run: scOOMStorm},
	{name: "oom_storm_zh", lang: "zh", run: scOOMStorm},
	{name: "oom_storm_reminder", run: scOOMStormStory(detect.KindReminder)},
	{name: "oom_storm_recovery", run: scOOMStormStory(detect.KindRecovery)},
	{name: "oom_storm_recovery_zh", lang: "zh", run: scOOMStormStory(detect.KindRecovery)},
	{name: "probe_failures", run: func(d *detect.Detector) *detect.Decision {
		d.SetNode(detect.Node{Name: "node-a"})
		d.SetNode(detect.Node{Name: "node-b"})
		var pods []*detect.Pod
		for i := range 6 {
			p := scPod(fmt.Sprintf("web-6b8d9c7f5-%d", i), []string{"node-a", "node-b"}[i%2], scDeployment("web", "6b8d9c7f5"), "registry.example.com/web:3.2.0", "512Mi")
			d.Observe(p, scT0)
			pods = append(pods, p)
		}
		for i, p := range pods[:4] {
			killed := scT0.Add(time.Duration(5+i) * time.Minute)
			d.PodEvent("shop", p.UID, detect.Event{Name: p.Name + ".1", Reason: "Unhealthy", Container: "app",
				Message: "Liveness probe failed: Get \"http://10.244.1.7:8080/healthz\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
				Count:   3, FirstSeen: killed.Add(-40 * time.Second), LastSeen: killed.Add(-20 * time.Second)})
			d.Observe(scCrash(p, killed, "Error", 137, ""), killed)
		}
		_, dec := d.Evaluate("shop", scT0.Add(9*time.Minute))
		return dec
	}},
	{name: "bad_rollout", run: func(d *detect.Detector) *detect.Decision {
		for _, n := range []string{"node-a", "node-b", "node-c"} {
			d.SetNode(detect.Node{Name: n})
		}
		old := detect.Revision{Namespace: "shop", Deployment: "api", Name: "api-7c9d8b6f4", Hash: "7c9d8b6f4", Number: 4,
			Created: scT0.Add(-72 * time.Hour), Images: []detect.ContainerImage{{Container: "app", Image: "registry.example.com/api:1.4.2"}}}
		d.SetRevision(old, scT0)
		for i := range 6 {
			d.Observe(scPod(fmt.Sprintf("api-7c9d8b6f4-%d", i), fmt.Sprintf("node-%c", 'a'+i%3), scDeployment("api", "7c9d8b6f4"), "registry.example.com/api:1.4.2", "256Mi"), scT0)
		}
		rollout := scT0.Add(2 * time.Minute)
		d.SetRevision(detect.Revision{Namespace: "shop", Deployment: "api", Name: "api-5f6b7c8d9", Hash: "5f6b7c8d9", Number: 5,
			Created: rollout, Images: []detect.ContainerImage{{Container: "app", Image: "registry.example.com/api:1.5.0"}}}, rollout)
		for i := range 3 {
			p := scPod(fmt.Sprintf("api-5f6b7c8d9-%d", i), fmt.Sprintf("node-%c", 'a'+i), scDeployment("api", "5f6b7c8d9"), "registry.example.com/api:1.5.0", "256Mi")
			d.Observe(p, rollout)
			at := rollout.Add(time.Duration(20+i) * time.Second)
			d.Observe(scCrash(p, at, "Error", 1, "config: required key FEATURE_FLAGS_URL missing value"), at)
		}
		_, dec := d.Evaluate("shop", rollout.Add(time.Minute))
		return dec
	}},
	{name: "eviction_context", run: func(d *detect.Detector) *detect.Decision {
		d.SetNode(detect.Node{Name: "node-a", Conditions: detect.NodeMemoryPressure})
		d.SetNode(detect.Node{Name: "node-b"})
		for i := range 6 {
			p := scPod(fmt.Sprintf("cache-0%d", i), "node-a", detect.Owner{Kind: "StatefulSet", Name: "cache"}, "registry.example.com/cache:7.2", "1Gi")
			d.Observe(p, scT0)
			ev := *scCrash(p, scT0.Add(time.Minute), "Error", 137, "")
			ev.Phase, ev.Reason, ev.Disruption = "Failed", "Evicted", "TerminationByKubelet"
			d.Observe(&ev, scT0.Add(time.Minute))
		}
		var web []*detect.Pod
		for i := range 4 {
			p := scPod(fmt.Sprintf("web-6b8d9c7f5-%d", i), "node-b", scDeployment("web", "6b8d9c7f5"), "registry.example.com/web:3.2.0", "512Mi")
			d.Observe(p, scT0)
			web = append(web, p)
		}
		for i, p := range web[:2] {
			at := scT0.Add(time.Duration(3+i) * time.Minute)
			d.Observe(scCrash(p, at, "OOMKilled", 137, ""), at)
		}
		_, dec := d.Evaluate("shop", scT0.Add(5*time.Minute))
		return dec
	}},
	{name: "rollout_context", run: func(d *detect.Detector) *detect.Decision {
		d.SetNode(detect.Node{Name: "node-a"})
		d.SetNode(detect.Node{Name: "node-b"})
		d.SetRevision(detect.Revision{Namespace: "shop", Deployment: "api", Name: "api-7c9d8b6f4", Hash: "7c9d8b6f4", Number: 4, Created: scT0.Add(-72 * time.Hour)}, scT0)
		var old []*detect.Pod
		for i := range 4 {
			p := scPod(fmt.Sprintf("api-7c9d8b6f4-%d", i), "node-a", scDeployment("api", "7c9d8b6f4"), "registry.example.com/api:1.4.2", "256Mi")
			d.Observe(p, scT0)
			old = append(old, p)
		}
		var workers []*detect.Pod
		for i := range 4 {
			p := scPod(fmt.Sprintf("worker-%d", i), "node-b", detect.Owner{Kind: "StatefulSet", Name: "worker"}, "registry.example.com/worker:2.0", "256Mi")
			d.Observe(p, scT0)
			workers = append(workers, p)
		}
		rollout := scT0.Add(time.Minute)
		d.SetRevision(detect.Revision{Namespace: "shop", Deployment: "api", Name: "api-5f6b7c8d9", Hash: "5f6b7c8d9", Number: 5, Created: rollout}, rollout)
		for i, p := range old {
			d.Observe(scPod(fmt.Sprintf("api-5f6b7c8d9-%d", i), "node-b", scDeployment("api", "5f6b7c8d9"), "registry.example.com/api:1.5.0", "256Mi"), rollout)
			gone := *p
			gone.Deleting = true
			d.Observe(&gone, rollout.Add(10*time.Second))
			// The kubelet reports the container it stops as restarted.
			d.Observe(scCrash(&gone, rollout.Add(12*time.Second), "Error", 143, ""), rollout.Add(12*time.Second))
		}
		for i, p := range workers[:2] {
			at := scT0.Add(time.Duration(2+i) * time.Minute)
			d.Observe(scCrash(p, at, "Error", 2, "panic: runtime error: invalid memory address or nil pointer dereference"), at)
		}
		_, dec := d.Evaluate("shop", scT0.Add(4*time.Minute))
		return dec
	}},
	{name: "annotations", run: func(d *detect.Detector) *detect.Decision {
		d.SetOverrides("shop", detect.Overrides{RatioWarning: 0.05, MinRestartedPods: 1})
		var pods []*detect.Pod
		for i := range 15 {
			p := scPod(fmt.Sprintf("payments-%d", i), "node-a", detect.Owner{Kind: "StatefulSet", Name: "payments"}, "registry.example.com/payments:9.1", "2Gi")
			d.Observe(p, scT0)
			pods = append(pods, p)
		}
		d.Observe(scCrash(pods[0], scT0.Add(time.Minute), "Error", 139, ""), scT0.Add(time.Minute))
		_, dec := d.Evaluate("shop", scT0.Add(2*time.Minute))
		return dec
	}},
	{name: "logs", run: func(d *detect.Detector) *detect.Decision {
		dec := scOOMStorm(d)
		for i := range dec.Pods[:2] {
			dec.Pods[i].LogTails = []string{"2026-03-01T10:00:01Z INFO loading catalog, 120000 items\n" +
				"2026-03-01T10:00:02Z INFO cache warm-up: ```inline``` | table-looking <b>text</b>\n" +
				"2026-03-01T10:00:03Z INFO connecting with password=[REDACTED]\n" +
				"fatal error: runtime: out of memory"}
		}
		return dec
	}},
}

func scOOMStorm(d *detect.Detector) *detect.Decision {
	d.SetNode(detect.Node{Name: "node-a", Conditions: detect.NodeMemoryPressure})
	d.SetNode(detect.Node{Name: "node-b"})
	for i := range 10 {
		node := "node-a"
		if i >= 6 {
			node = "node-b"
		}
		p := scPod(fmt.Sprintf("checkout-5d8f7b9c6-%d", i), node, scDeployment("checkout", "5d8f7b9c6"), "registry.example.com/checkout:2.8.1", "256Mi")
		d.Observe(p, scT0)
		at := scT0.Add(time.Duration(60+10*i) * time.Second)
		switch {
		case i < 7:
			d.Observe(scCrash(p, at, "OOMKilled", 137, ""), at)
		case i < 9:
			d.Observe(scCrash(p, at, "Error", 1, "java.lang.OutOfMemoryError: Java heap space"), at)
		}
	}
	_, dec := d.Evaluate("shop", scT0.Add(3*time.Minute))
	return dec
}

// scOOMStormStory continues the OOM storm: three of its pods are
// OOM-killed again at 20m, the fault is reminded of at 35m (3 of 10 pods
// left in the window) and recovers at 51m30s; it returns the decision of
// kind want.
func scOOMStormStory(want detect.Kind) func(d *detect.Detector) *detect.Decision {
	return func(d *detect.Detector) *detect.Decision {
		scOOMStorm(d)
		for i := range 3 {
			p := scPod(fmt.Sprintf("checkout-5d8f7b9c6-%d", i), "node-a", scDeployment("checkout", "5d8f7b9c6"), "registry.example.com/checkout:2.8.1", "256Mi")
			first := scCrash(p, scT0.Add(time.Duration(60+10*i)*time.Second), "OOMKilled", 137, "")
			at := scT0.Add(20*time.Minute + time.Duration(10*i)*time.Second)
			d.Observe(scCrash(first, at, "OOMKilled", 137, ""), at)
		}
		for _, at := range []time.Duration{21 * time.Minute, 35 * time.Minute, 51 * time.Minute, 51*time.Minute + 30*time.Second} {
			if _, dec := d.Evaluate("shop", scT0.Add(at)); dec != nil && dec.Kind == want {
				return dec
			}
		}
		return nil
	}
}

func TestMessageGolden(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			dec := sc.run(scDetector())
			if dec == nil {
				t.Fatal("the scenario opens no fault")
			}
			cfg := EncoderConfig{Cluster: "prod", Language: sc.lang}
			pt, err := encNewEncoder(t, cfg).Event(dec)
			if err != nil {
				t.Fatal(err)
			}
			msg := pt.Get(keyMessage).(string)
			title := pt.Get(keyTitle).(string)
			encGolden(t, "message_"+sc.name+".golden", []byte("df_title: "+title+"\n\n"+msg))
			checkTables(t, msg)
		})
	}
}

// checkTables checks that every row of every table of msg outside code
// blocks has as many cells as its header.
func checkTables(t *testing.T, msg string) {
	t.Helper()
	cols, inCode := 0, false
	for i, line := range strings.Split(msg, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
			continue
		}
		if inCode || !strings.HasPrefix(line, "|") {
			cols = 0
			continue
		}
		n := encCells(line)
		if cols == 0 {
			cols = n
		} else if n != cols {
			t.Errorf("line %d has %d cells, its table %d: %s", i+1, n, cols, line)
		}
	}
}
