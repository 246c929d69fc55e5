// Package e2e runs the real agent binary against a real kube-apiserver and a
// DataKit-compatible receiver, and checks what a user would see in Guance.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/agentproc"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

var (
	cp       *controlplane.ControlPlane
	agentBin string
)

func TestMain(m *testing.M) {
	// Watches expire every 15-30 s, so every test also survives re-watches.
	opts := controlplane.Options{APIServerFlags: []string{"--min-request-timeout=15"}}
	os.Exit(controlplane.RunMain(m, opts, func(c *controlplane.ControlPlane) {
		cp = c
		dir, err := os.MkdirTemp("", "k8s-pod-restart-e2e-bin-")
		if err != nil {
			panic(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if agentBin, err = agentproc.Build(ctx, dir); err != nil {
			panic(err)
		}
	}))
}

// Short timings so that a fault opens and recovers within a test.
const (
	window   = 40 * time.Second
	interval = 2 * time.Second
	// leaseDuration is input's election lease (input/election.go, the
	// timings of kube-controller-manager): a standby takes over at most
	// this long after the leader stopped renewing.
	leaseDuration = 15 * time.Second
	// retryPeriod is how often a standby tries the lease (input/election.go).
	retryPeriod = 2 * time.Second
)

// Every wait below is what the agent's configuration allows plus busyMargin.
// No assertion depends on how fast anything is; the margin only bounds how
// long a test waits for what must happen. On a machine whose 2 cores are
// busy with other builds, `make test-busy`, a watch delivery, an evaluation
// and a send together took at most a few seconds; the margin is several
// times that, and costs nothing when the tests pass.
const (
	busyMargin = 30 * time.Second
	// waitEvent bounds the wait for an event after the pod changes it
	// reports were written: the evaluation a change triggers, or at the
	// latest the next interval's.
	waitEvent = interval + busyMargin
	// waitRecovery bounds the wait for a recovery after the last restart:
	// the restart leaves the window, the namespace stays below the rules for
	// a whole interval, and the next interval's evaluation decides.
	waitRecovery = window + 2*interval + busyMargin
	// waitFailover bounds the wait for a recovery written by a standby after
	// the leader was killed: the lease expires and the standby takes it, then
	// as waitRecovery.
	waitFailover = leaseDuration + retryPeriod + waitRecovery
	// reflectorMaxBackoff is the longest an informer waits before it lists
	// and watches again after the API server failed it: client-go's
	// defaultBackoffMax (30 s) with its jitter of 1.0 (tools/cache/reflector.go).
	reflectorMaxBackoff = 60 * time.Second
)

var nsCounter atomic.Int64

// newNamespace returns a fresh namespace name for one test.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d-%d", prefix, os.Getpid()%10000, nsCounter.Add(1))
	if _, err := kubesim.New(cp.Client()).EnsureNamespace(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	return name
}

// agentConfig is the part of the TOML a test varies.
type agentConfig struct {
	Namespaces        []string
	ExcludeNamespaces []string
	LabelSelector     string
	Kubeconfig        string
	Extra             string
	// Listen is the listen key: "" (no HTTP server) unless set; with
	// "127.0.0.1:0" the agent logs the port it got (see harness.httpAddr).
	Listen string
	// Env is added to the agent's environment.
	Env []string
	// Window replaces the window when set (see lateWindow).
	Window time.Duration
}

// lateWindow is the window of agents started after the restarts they must
// report: longer than any test runs, so that those restarts stay inside it
// however long a busy machine takes to start the agent, rather than only if
// it starts within window.
const lateWindow = 10 * time.Minute

// harness is one agent with its own DataKit receiver.
type harness struct {
	t     *testing.T
	dk    *datakit.Receiver
	agent *agentproc.Process
	dir   string
	cfg   agentConfig
}

// restart starts the agent again with the same configuration, queue and
// receiver, after it was killed or stopped.
func (h *harness) restart() {
	h.t.Helper()
	h.start(h.cfg)
}

// waitFor waits until the events of namespace ns satisfy ok.
func (h *harness) waitFor(ns string, ok func([]datakit.Point) bool, timeout time.Duration) []datakit.Point {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), timeout)
	defer cancel()
	err := h.dk.WaitFor(ctx, func([]datakit.Point) bool {
		evs := h.events(ns)
		return len(evs) > 0 && ok(evs)
	})
	got := h.events(ns)
	if err != nil {
		h.t.Fatalf("waiting for the events of %s: %v; got %d:%s", ns, err, len(got), describe(got))
	}
	return got
}

// startAgent runs the agent binary with a real config file against the
// control plane, writing to a fresh receiver; it waits for the caches to sync.
func startAgent(t *testing.T, c agentConfig) *harness {
	t.Helper()
	dk := datakit.New(t)
	h := &harness{t: t, dk: dk, dir: t.TempDir()}
	h.start(c)
	return h
}

func (h *harness) start(c agentConfig) {
	t := h.t
	t.Helper()
	h.cfg = c
	kubeconfig := c.Kubeconfig
	if kubeconfig == "" {
		kubeconfig = cp.Kubeconfig()
	}
	w := c.Window
	if w == 0 {
		w = window
	}
	quote := func(ss []string) string {
		b, _ := json.Marshal(ss)
		if ss == nil {
			return "[]"
		}
		return string(b)
	}
	conf := fmt.Sprintf(`[[inputs.k8s_pod_restart]]
  cluster_name = "e2e"
  kubeconfig = %q
  namespaces = %s
  exclude_namespaces = %s
  pod_label_selector = %q
  window = %q
  interval = %q
  datakit_url = %q
  queue_dir = %q
  listen = %q
%s
  [inputs.k8s_pod_restart.tags]
    suite = "e2e"
`, kubeconfig, quote(c.Namespaces), quote(c.ExcludeNamespaces), c.LabelSelector, w, interval,
		h.dk.URL(), filepath.Join(h.dir, "queue"), c.Listen, c.Extra)
	p, err := agentproc.Start(agentproc.Options{Binary: agentBin, Config: conf, Dir: h.dir, Env: c.Env})
	if err != nil {
		t.Fatal(err)
	}
	h.agent = p
	t.Cleanup(func() {
		select {
		case <-p.Done(): // killed or exited on purpose by the test
		default:
			if err := p.Stop(15 * time.Second); err != nil {
				t.Errorf("stopping the agent: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("agent logs (%s):\n%s", p.LogPath(), tail(p.Logs(), 60))
		}
		if v := h.dk.Violations(); len(v) > 0 {
			t.Errorf("DataKit strict-mode violations: %v", v)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := p.WaitLog(ctx, "pod caches synced"); err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, p.Logs())
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// events returns the keyevents of namespace ns, in arrival order.
func (h *harness) events(ns string) []datakit.Point {
	var out []datakit.Point
	for _, p := range h.dk.Points("keyevent") {
		if p.Tags["namespace"] == ns {
			out = append(out, p)
		}
	}
	return out
}

// waitEvents waits until namespace ns has n events and returns them.
func (h *harness) waitEvents(ns string, n int, timeout time.Duration) []datakit.Point {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), timeout)
	defer cancel()
	err := h.dk.WaitFor(ctx, func([]datakit.Point) bool { return len(h.events(ns)) >= n })
	got := h.events(ns)
	if err != nil {
		h.t.Fatalf("waiting for %d events in %s: %v; got %d: %s", n, ns, err, len(got), describe(got))
	}
	return got
}

// waitMetric waits for a metric point of ns that satisfies ok.
func (h *harness) waitMetric(ns string, timeout time.Duration, ok func(datakit.Point) bool) datakit.Point {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), timeout)
	defer cancel()
	var found datakit.Point
	err := h.dk.WaitFor(ctx, func([]datakit.Point) bool {
		for _, p := range h.dk.Points("metric") {
			if p.Tags["namespace"] == ns && ok(p) {
				found = p
				return true
			}
		}
		return false
	})
	if err != nil {
		h.t.Fatalf("waiting for a metric of %s: %v", ns, err)
	}
	return found
}

func describe(pts []datakit.Point) string {
	var b strings.Builder
	for _, p := range pts {
		fmt.Fprintf(&b, "\n  %s %s %s: %v", p.Tags["df_status"], p.Tags["df_event_id"], p.Tags["df_fault_id"], p.Fields["df_title"])
	}
	return b.String()
}

// workload creates n running pods of Deployment name in ns, each with an init
// container "migrate" and an app container "app" with resources.
func workload(t *testing.T, sim *kubesim.Sim, ns, name string, n int, labels map[string]string) []*corev1.Pod {
	t.Helper()
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		p, err := sim.RunPod(t.Context(), kubesim.PodOptions{
			Namespace:      ns,
			Owner:          kubesim.Owner{Kind: kubesim.KindDeployment, Name: name},
			InitContainers: []kubesim.Container{{Name: "migrate"}},
			Containers: []kubesim.Container{{
				Name: "app", Image: "registry.example/shop/" + name + ":1.4.2",
				Requests: kubesim.Resources{CPU: "100m", Memory: "128Mi"},
				Limits:   kubesim.Resources{CPU: "500m", Memory: "256Mi"},
			}},
			Labels: labels,
		})
		if err != nil {
			t.Fatal(err)
		}
		pods[i] = p
	}
	return pods
}

// crashAll makes container c of each pod crash into CrashLoopBackOff, and
// returns the earliest finishedAt the crashes were given: the agent dates
// each restart by it, so no decision that waits for them to leave the window
// can come before window after it.
func crashAll(t *testing.T, sim *kubesim.Sim, pods []*corev1.Pod, c string, crash kubesim.Crash) time.Time {
	t.Helper()
	if crash.Waiting == "" {
		crash.Waiting = "CrashLoopBackOff"
	}
	var earliest time.Time
	for _, p := range pods {
		got, err := sim.CrashContainer(t.Context(), p.Namespace, p.Name, c, crash)
		if err != nil {
			t.Fatal(err)
		}
		for _, cs := range slices.Concat(got.Status.InitContainerStatuses, got.Status.ContainerStatuses) {
			if term := cs.LastTerminationState.Terminated; cs.Name == c && term != nil &&
				(earliest.IsZero() || term.FinishedAt.Time.Before(earliest)) {
				earliest = term.FinishedAt.Time
			}
		}
	}
	return earliest
}

// jsonField decodes a JSON string field of an event.
func jsonField[T any](t *testing.T, p datakit.Point, key string) T {
	t.Helper()
	var v T
	s, _ := p.Fields[key].(string)
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("field %s is not the expected JSON: %v\n%s", key, err, s)
	}
	return v
}

// containerStatus is the part of container_statuses the tests check.
type containerStatus struct {
	PodName               string `json:"pod_name"`
	ContainerName         string `json:"container_name"`
	ContainerType         string `json:"container_type"`
	ContainerID           string `json:"container_id"`
	State                 string `json:"state"`
	StateReason           string `json:"state_reason"`
	LastTerminationReason string `json:"last_termination_reason"`
	ExitCode              *int32 `json:"exit_code"`
	ErrorTime             string `json:"error_time"`
	Restarts              int    `json:"restarts"`
	Resources             struct {
		Requests struct{ CPU, Memory string } `json:"requests"`
		Limits   struct{ CPU, Memory string } `json:"limits"`
	} `json:"resources"`
}

type abnormalPod struct {
	PodName   string `json:"pod_name"`
	NodeName  string `json:"node_name"`
	OwnerKind string `json:"owner_kind"`
	OwnerName string `json:"owner_name"`
	Restarts  int    `json:"restarts"`
}
