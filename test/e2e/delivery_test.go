package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// checkFault asserts that events form one fault: every event carries the
// first one's fault ID, statuses rise until exactly one recovery closes it,
// and no event ID is delivered for two different events.
func checkFault(t *testing.T, evs []datakit.Point) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	rank := map[string]int{"warning": 1, "error": 2, "critical": 3}
	fault := evs[0].Tags["df_fault_id"]
	seen := map[string]string{}
	prev, recoveries := 0, 0
	for i, e := range evs {
		id, st := e.Tags["df_event_id"], e.Tags["df_status"]
		if e.Tags["df_fault_id"] != fault {
			t.Errorf("event %d (%s) has fault ID %s, want %s:%s", i, id, e.Tags["df_fault_id"], fault, describe(evs))
		}
		if title, ok := seen[id]; ok {
			if title != e.Fields["df_title"] {
				t.Errorf("event ID %s reused for a different event", id)
			}
			continue // an at-least-once duplicate of the same event
		}
		seen[id] = fmt.Sprint(e.Fields["df_title"])
		if st == "ok" {
			recoveries++
			continue
		}
		if recoveries > 0 {
			t.Errorf("event %d (%s, %s) after the recovery:%s", i, id, st, describe(evs))
		}
		if rank[st] < prev {
			t.Logf("level fell to %s at event %d (a reminder)", st, i)
		}
		prev = rank[st]
	}
	if recoveries != 1 {
		t.Errorf("%d recoveries, want exactly 1:%s", recoveries, describe(evs))
	}
}

// eventsInTimeOrder reports whether events arrived in the order they were
// decided.
func eventsInTimeOrder(evs []datakit.Point) bool {
	return slices.IsSortedFunc(evs, func(a, b datakit.Point) int { return a.Time.Compare(b.Time) })
}

// TestDataKitUnavailable: DataKit answers 503 for 60 s during a crash storm;
// once it is back, every anomaly and recovery event arrives, in order.
func TestDataKitUnavailable(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "dk503")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "orders", 10, nil)
	h.dk.FailFor(60*time.Second, http.StatusServiceUnavailable)
	outage := time.Now()
	crashAll(t, sim, pods[:2], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "fault opened"); err != nil {
		t.Fatal(err)
	}
	crashAll(t, sim, pods[2:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	if err := h.agent.WaitLog(ctx, "fault escalated"); err != nil {
		t.Fatal(err)
	}
	// The recovery is decided during or just after the outage; the queue
	// holds everything until DataKit answers again.
	evs := h.waitEvents(ns, 3, 60*time.Second+waitRecovery+time.Minute)
	evs = h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, time.Minute)
	checkFault(t, evs)
	if !eventsInTimeOrder(evs) {
		t.Errorf("events out of order:%s", describe(evs))
	}
	first := evs[0].ReceivedAt.Sub(outage)
	if first < 60*time.Second {
		t.Errorf("first event received %v into a 60 s outage", first)
	}
	st := h.dk.Stats()
	t.Logf("503 outage: %d events received, first %v after the outage began (worst delay), %d requests refused",
		len(evs), first.Round(time.Millisecond), st.Injected)
}

// TestDataKitRetryAfter: a 429 with Retry-After is honoured.
func TestDataKitRetryAfter(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "dk429")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	var refused atomic.Int64 // unix nanoseconds of the refusal
	h.dk.SetResponder(func(category string, _ *http.Request) (datakit.Fault, bool) {
		if category != "keyevent" || !refused.CompareAndSwap(0, time.Now().UnixNano()) {
			return datakit.Fault{}, false
		}
		return datakit.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"4"}},
			Body: `{"error_code":"datakit.reachMaxAPILimit","message":"reach max API rate limit"}`}, true
	})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "search", 10, nil)
	crashAll(t, sim, pods[:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	evs := h.waitEvents(ns, 1, waitEvent+10*time.Second)
	waited := evs[0].ReceivedAt.Sub(time.Unix(0, refused.Load()))
	if waited < 4*time.Second-100*time.Millisecond {
		t.Errorf("event resent %v after a 429 with Retry-After: 4", waited)
	}
	t.Logf("429 Retry-After 4: resent after %v", waited.Round(time.Millisecond))
}

// TestDataKitRejectsBatch: a batch rejected with 400 is dropped and counted;
// later events still arrive.
func TestDataKitRejectsBatch(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "dk400")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	var rejected atomic.Bool
	h.dk.SetResponder(func(category string, _ *http.Request) (datakit.Fault, bool) {
		if category != "keyevent" || !rejected.CompareAndSwap(false, true) {
			return datakit.Fault{}, false
		}
		return datakit.Fault{Status: http.StatusBadRequest,
			Body: `{"error_code":"datakit.invalidLinePoint","message":"invalid line protocol"}`}, true
	})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "payments", 20, nil)
	crashAll(t, sim, pods[:2], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // warning: rejected
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "datakit.invalidLinePoint"); err != nil {
		t.Fatal(err)
	}
	crashAll(t, sim, pods[2:10], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // critical: delivered
	evs := h.waitEvents(ns, 1, waitEvent)
	if evs[0].Tags["df_status"] == "warning" {
		t.Errorf("the rejected anomaly arrived:%s", describe(evs))
	}
	if !strings.Contains(h.agent.Logs(), "datakit.invalidLinePoint") {
		t.Error("the rejection was not logged")
	}
}

// TestAgentKilled: the agent is SIGKILLed several times during an open
// fault; no event is lost, the fault keeps one ID, the recovery arrives once.
func TestAgentKilled(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "sigkill")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "ledger", 20, nil)

	// Killed right after the anomaly was delivered.
	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	h.waitEvents(ns, 1, waitEvent)
	h.agent.Kill()
	h.restart()
	// Killed while DataKit refuses: the escalation waits in the queue.
	h.dk.FailFor(time.Hour, http.StatusServiceUnavailable)
	crashAll(t, sim, pods[3:7], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "fault escalated"); err != nil {
		t.Fatal(err)
	}
	h.agent.Kill()
	// Killed at once after restarts it has not seen yet.
	crashAll(t, sim, pods[7:10], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	h.dk.ClearFaults()
	h.restart()
	h.agent.Kill()
	h.restart()
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitRecovery+time.Minute)
	checkFault(t, evs)
	var statuses []string
	for _, e := range evs {
		statuses = append(statuses, e.Tags["df_status"])
	}
	for _, want := range []string{"warning", "error", "critical", "ok"} {
		if !slices.Contains(statuses, want) {
			t.Errorf("no %s event among %v:%s", want, statuses, describe(evs))
		}
	}
	t.Logf("SIGKILL x3: %d events received (%v)", len(evs), statuses)
}

// TestQueueBound: with DataKit down, the queue fills to queue_max_bytes;
// metrics are dropped first, the agent keeps running, and the events arrive
// once DataKit is back.
func TestQueueBound(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "qfull")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: "  queue_max_bytes = 12000"})
	h.dk.FailFor(time.Hour, http.StatusServiceUnavailable)
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "cache", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "dropping"); err != nil {
		t.Fatalf("no metric drop logged: %v", err)
	}
	select {
	case <-h.agent.Done():
		t.Fatalf("agent exited with a full queue: %d", h.agent.ExitCode())
	default:
	}
	h.dk.ClearFaults()
	evs := h.waitEvents(ns, 1, 2*time.Minute)
	if evs[0].Tags["df_fault_id"] == "" {
		t.Errorf("event without fault ID:%s", describe(evs))
	}
}

// TestElection: two agents elect a leader; exactly one writes. The leader is
// killed; the other takes over within the lease and writes the fault's
// recovery with the same fault ID.
func TestElection(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "elect")
	extra := fmt.Sprintf("  election = true\n  election_lease_namespace = %q\n  election_lease_name = %q", ns, "k8s-pod-restart-"+ns)
	a := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: extra})
	b := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: extra})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "gateway", 10, nil)
	crashAll(t, sim, pods[:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})

	ctx, cancel := context.WithTimeout(t.Context(), waitEvent+20*time.Second)
	defer cancel()
	var leader, standby *harness
	err := a.dk.WaitFor(ctx, func([]datakit.Point) bool { return len(a.events(ns)) > 0 || len(b.events(ns)) > 0 })
	if err != nil {
		t.Fatalf("no anomaly from either agent: %v", err)
	}
	leader, standby = a, b
	if len(b.events(ns)) > 0 {
		leader, standby = b, a
	}
	anomaly := leader.events(ns)[0]
	if n := len(standby.events(ns)); n != 0 {
		t.Fatalf("the standby wrote %d events too", n)
	}
	leader.agent.Kill()
	killed := time.Now()
	delivered := map[string]bool{}
	for _, e := range leader.events(ns) {
		delivered[e.Tags["df_event_id"]] = true
	}
	evs := standby.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitRecovery+time.Minute)
	for _, e := range evs {
		if e.Tags["df_fault_id"] != anomaly.Tags["df_fault_id"] {
			t.Errorf("after failover, event %s has fault ID %s, want %s", e.Tags["df_event_id"], e.Tags["df_fault_id"], anomaly.Tags["df_fault_id"])
		}
		// The old leader may have been killed after DataKit took its event
		// but before it marked it queued: the new leader then writes it
		// again under the same ID (at least once). Any other open-fault
		// event would be a second fault.
		if e.Tags["df_status"] != "ok" && !delivered[e.Tags["df_event_id"]] {
			t.Errorf("after failover, a new %s event:%s", e.Tags["df_status"], describe(evs))
		}
	}
	if !strings.Contains(standby.agent.Logs(), "fault restored") {
		t.Error("the new leader did not restore the fault")
	}
	t.Logf("failover: recovery written by the new leader %v after the old one was killed", evs[len(evs)-1].ReceivedAt.Sub(killed).Round(time.Millisecond))
}
