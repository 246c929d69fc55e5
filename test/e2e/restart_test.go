package e2e

import (
	"testing"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// TestAPIServerRestart: kube-apiserver restarts twice during a fault (and,
// with --min-request-timeout set for this package, watches expire every few
// seconds all along). The informers recover, restarts made while the watch was
// down are not missed, and no event is false or doubled.
//
// It is not parallel: the parallel tests wait, paused before their first
// step, while it restarts the API server under everyone.
//
// It does not assume the agent's watch is back within a fixed time of the
// restart: a watch that failed while the API server was down retries after
// client-go's reflector backoff, which grows with the outage.
func TestAPIServerRestart(t *testing.T) {
	ns := newNamespace(t, "apirestart")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "inventory", 20, nil)

	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitEvents(ns, 1, waitEvent)

	restart := time.Now()
	if err := cp.RestartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Logf("API server restarted in %v", time.Since(restart).Round(time.Millisecond))
	// At once, before the agent's watch is back: these must not be missed.
	crashAll(t, sim, pods[3:7], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "error" }, reflectorMaxBackoff+waitEvent)

	if err := cp.RestartAPIServer(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The recovery needs no watch: restarts leave the window by the clock.
	evs = h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitRecovery)
	checkFault(t, evs)
	if len(evs) != 3 {
		t.Errorf("want exactly anomaly, escalation, recovery; got %d:%s", len(evs), describe(evs))
	}
}
