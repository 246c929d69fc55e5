package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	dkoutput "github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// checkFault asserts what holds for the events of one fault whatever the
// timing of the storm, kills, failovers and outages around it: every event
// carries the first one's fault ID, which is the first one's own event ID;
// the level never goes down (tests end long before the 30 min silence, so
// there are no reminders) until exactly one recovery closes the fault; and
// an event ID repeats only as an at-least-once re-send of the same event:
// the same status and fault. A re-send after a crash or failover is rebuilt
// from pod status (detect.Replay), so its counts and title are those at the
// replay, not those of the copy the old run may have sent.
// How many escalations there are, and which run of the agent wrote them,
// depends on timing and is not checked here.
func checkFault(t *testing.T, evs []datakit.Point) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	rank := map[string]int{"warning": 1, "error": 2, "critical": 3}
	fault := evs[0].Tags["df_fault_id"]
	if id := evs[0].Tags["df_event_id"]; fault != id {
		t.Errorf("the first event %s has fault ID %s, want its own ID:%s", id, fault, describe(evs))
	}
	seen := map[string]string{}
	prev, recoveries := 0, 0
	for i, e := range evs {
		id, st := e.Tags["df_event_id"], e.Tags["df_status"]
		if e.Tags["df_fault_id"] != fault {
			t.Errorf("event %d (%s) has fault ID %s, want %s:%s", i, id, e.Tags["df_fault_id"], fault, describe(evs))
		}
		if status, ok := seen[id]; ok {
			if status != st {
				t.Errorf("event ID %s reused for a different event:%s", id, describe(evs))
			}
			continue // an at-least-once duplicate of the same event
		}
		seen[id] = st
		if st == "ok" {
			recoveries++
			continue
		}
		if recoveries > 0 {
			t.Errorf("event %d (%s, %s) after the recovery:%s", i, id, st, describe(evs))
		}
		if rank[st] < prev {
			t.Errorf("event %d (%s) went down to %s:%s", i, id, st, describe(evs))
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
//
// It does not assume the escalation is decided in one step (the second wave
// may be seen as error, then critical), nor that the recovery is decided
// after the outage: only that everything queued arrives, in order, after it.
func TestDataKitUnavailable(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "dk503")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "orders", 10, nil)
	const outage = 60 * time.Second
	// Taken before the outage begins, so that no request can be received
	// less than outage after it.
	outageStart := time.Now()
	h.dk.FailFor(outage, http.StatusServiceUnavailable)
	crashAll(t, sim, pods[:2], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	waitLog(t, h, "fault opened", waitEvent)
	crashAll(t, sim, pods[2:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	waitLog(t, h, "fault escalated", waitEvent)
	// The recovery is decided during or after the outage; the queue holds
	// everything until DataKit answers again, and the sender may then be
	// waiting out its longest backoff.
	deadline := max(outage+dkoutput.DefaultMaxBackoff, waitRecovery) + busyMargin
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, deadline)
	checkFault(t, evs)
	// 2 of 10 opens at warning; 5 of 10, decided by the running agent, is
	// critical, whether or not error came in between.
	requireStatuses(t, evs, "warning", "critical", "ok")
	if !eventsInTimeOrder(evs) {
		t.Errorf("events out of order:%s", describe(evs))
	}
	first := evs[0].ReceivedAt.Sub(outageStart)
	if first < outage {
		t.Errorf("first event received %v into a %v outage", first, outage)
	}
	st := h.dk.Stats()
	t.Logf("503 outage: %d events received, first %v after the outage began (worst delay), %d requests refused",
		len(evs), first.Round(time.Millisecond), st.Injected)
}

// requireStatuses checks that each of want is the df_status of one of evs.
func requireStatuses(t *testing.T, evs []datakit.Point, want ...string) {
	t.Helper()
	var got []string
	for _, e := range evs {
		got = append(got, e.Tags["df_status"])
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("no %s event among %v:%s", w, got, describe(evs))
		}
	}
}

// waitLog waits up to timeout for s in the logs of h's current agent.
func waitLog(t *testing.T, h *harness, s string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	if err := h.agent.WaitLog(ctx, s); err != nil {
		t.Fatal(err)
	}
}

// TestDataKitRetryAfter: a 429 with Retry-After is honoured. Only a lower
// bound on the wait is checked: a busy machine may make it longer.
func TestDataKitRetryAfter(t *testing.T) {
	t.Parallel()
	const retryAfter = 4 * time.Second
	ns := newNamespace(t, "dk429")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	var refused atomic.Int64 // unix nanoseconds of the refusal
	h.dk.SetResponder(func(category string, _ *http.Request) (datakit.Fault, bool) {
		if category != "keyevent" || !refused.CompareAndSwap(0, time.Now().UnixNano()) {
			return datakit.Fault{}, false
		}
		return datakit.Fault{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {strconv.Itoa(int(retryAfter / time.Second))}},
			Body: `{"error_code":"datakit.reachMaxAPILimit","message":"reach max API rate limit"}`}, true
	})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "search", 10, nil)
	crashAll(t, sim, pods[:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	evs := h.waitEvents(ns, 1, waitEvent+retryAfter)
	waited := evs[0].ReceivedAt.Sub(time.Unix(0, refused.Load()))
	if waited < retryAfter {
		t.Errorf("event resent %v after a 429 with Retry-After: %v", waited, retryAfter)
	}
	t.Logf("429 Retry-After %v: resent after %v", retryAfter, waited.Round(time.Millisecond))
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
//
// It no longer assumes that an event is queued by the time its decision is
// logged: the second kill waits until the escalation's batch is queued
// (fsynced) after the "fault escalated" line, since a kill in between
// rightly loses a decision that the next run then makes at a higher level.
// Each restart waits for its own run's caches, not a line an earlier run
// logged. The third kill lands wherever that run is; which run writes the
// critical escalation, and whether a batch is re-sent, is not checked.
func TestAgentKilled(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "sigkill")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "ledger", 20, nil)

	// Killed right after the anomaly was delivered.
	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1}) // 3/20: warning
	h.waitEvents(ns, 1, waitEvent)
	h.agent.Kill()
	h.restart()
	// Killed while DataKit refuses: the escalation waits in the queue.
	h.dk.FailFor(time.Hour, http.StatusServiceUnavailable)
	crashAll(t, sim, pods[3:7], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}) // 6 or 7/20: error
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	if err := h.agent.WaitLogSequence(ctx, "fault escalated", `msg="batch queued" cluster=e2e category=keyevent`); err != nil {
		t.Fatal(err)
	}
	h.agent.Kill()
	// Restarts it has not seen yet, then killed as soon as its caches
	// synced, wherever it is in deciding and queueing them.
	crashAll(t, sim, pods[7:10], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}) // 10/20: critical
	h.dk.ClearFaults()
	h.restart()
	h.agent.Kill()
	h.restart()
	// The restarts above came before this wait; the last run's sender
	// starts without a backoff.
	evs := h.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitRecovery)
	checkFault(t, evs)
	// The error escalation was queued before the kill, and some run decides
	// critical: both must arrive.
	requireStatuses(t, evs, "warning", "error", "critical", "ok")
	t.Logf("SIGKILL x3: %d events received:%s", len(evs), describe(evs))
}

// TestQueueBound: with DataKit down, the queue fills to queue_max_bytes;
// metrics are dropped first, the agent keeps running, and the events arrive
// once DataKit is back.
//
// It does not assume the queue fills within a fixed minute: the bound is
// the intervals that the smallest metric batch takes to fill it, and the
// sender may be waiting out its longest backoff when DataKit is back.
func TestQueueBound(t *testing.T) {
	t.Parallel()
	const queueMax = 12000
	ns := newNamespace(t, "qfull")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: fmt.Sprintf("  queue_max_bytes = %d", queueMax)})
	h.dk.FailFor(time.Hour, http.StatusServiceUnavailable)
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "cache", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	// Every interval queues at least one such batch; the events only fill
	// the queue sooner.
	minBatch := minMetricBatch(t, ns)
	fill := time.Duration(queueMax/minBatch+1) * interval
	t.Logf("metric batches of at least %d bytes fill %d bytes within %v", minBatch, queueMax, fill)
	ctx, cancel := context.WithTimeout(t.Context(), fill+busyMargin)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "dropping"); err != nil {
		t.Fatalf("no metric drop logged within %v: %v", fill+busyMargin, err)
	}
	select {
	case <-h.agent.Done():
		t.Fatalf("agent exited with a full queue: %d", h.agent.ExitCode())
	default:
	}
	h.dk.ClearFaults()
	evs := h.waitEvents(ns, 1, dkoutput.DefaultMaxBackoff+busyMargin)
	if evs[0].Tags["df_fault_id"] == "" {
		t.Errorf("event without fault ID:%s", describe(evs))
	}
}

// minMetricBatch returns the size of the smallest metric batch the agent of
// startAgent queues every interval for namespace ns: its metric and the
// agent's own point with every number 0, plus the queue's 8 bytes of framing
// (output/doc.go).
func minMetricBatch(t *testing.T, ns string) int {
	t.Helper()
	enc, err := output.NewEncoder(output.EncoderConfig{Cluster: "e2e", Tags: map[string]string{"suite": "e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1, 0)
	metric, err := enc.Metric(at, &detect.Stats{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := enc.Agent(at, &output.AgentStats{})
	if err != nil {
		t.Fatal(err)
	}
	body, err := output.EncodeLines([]*point.Point{metric, agent})
	if err != nil {
		t.Fatal(err)
	}
	return len(body) + 8
}

// TestElection: two agents elect a leader; exactly one writes. The leader is
// killed; the other takes over within the lease and writes the fault's
// recovery with the same fault ID.
//
// It no longer assumes that the kill lands after the storm settled: the
// leader is killed as soon as its first event arrives, while later restarts
// of the storm may still be deciding. Whatever the old leader wrote and the
// new one restored, the two receivers together must show one fault (one
// fault ID, levels never going down, exactly one recovery, an ID repeated
// only as a re-send of the same event); an escalation written by the new
// leader is fine, a second fault is not.
func TestElection(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "elect")
	extra := fmt.Sprintf("  election = true\n  election_lease_namespace = %q\n  election_lease_name = %q", ns, "k8s-pod-restart-"+ns)
	a := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: extra})
	b := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: extra})
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "gateway", 10, nil)
	crashAll(t, sim, pods[:5], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})

	// The leader was elected when the agents started, most often a; either
	// may win, so both receivers are watched.
	if !waitAny(t, waitEvent+retryPeriod, func() bool { return len(a.events(ns)) > 0 || len(b.events(ns)) > 0 }, a.dk, b.dk) {
		t.Fatal("no anomaly from either agent")
	}
	leader, standby := a, b
	if len(b.events(ns)) > 0 {
		leader, standby = b, a
	}
	if n := len(standby.events(ns)); n != 0 {
		t.Fatalf("the standby wrote %d events too:%s", n, describe(standby.events(ns)))
	}
	leader.agent.Kill()
	killed := time.Now()
	after := standby.waitFor(ns, func(evs []datakit.Point) bool { return evs[len(evs)-1].Tags["df_status"] == "ok" }, waitFailover)
	for _, e := range after {
		if e.ReceivedAt.Before(killed) {
			t.Errorf("the standby wrote %s %s while the leader lived:%s", e.Tags["df_status"], e.Tags["df_event_id"], describe(after))
		}
	}
	// Read only now: a request in flight when the leader was killed may be
	// recorded after Kill returned. The new leader writes only once the
	// lease expired, after all of them.
	before := leader.events(ns)
	checkFault(t, append(slices.Clip(before), after...))
	if !strings.Contains(standby.agent.Logs(), "fault restored") {
		t.Error("the new leader did not restore the fault")
	}
	t.Logf("failover: old leader wrote %d events, new leader %d; recovery %v after the kill:%s", len(before), len(after),
		after[len(after)-1].ReceivedAt.Sub(killed).Round(time.Millisecond), describe(append(slices.Clip(before), after...)))
}

// waitAny waits up to timeout until cond holds, checking it whenever one of
// the receivers records a request, and reports whether it did.
func waitAny(t *testing.T, timeout time.Duration, cond func() bool, rs ...*datakit.Receiver) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	held := make(chan struct{}, len(rs))
	for _, r := range rs {
		wg.Go(func() {
			if r.WaitFor(ctx, func([]datakit.Point) bool { return cond() }) == nil {
				held <- struct{}{}
			}
		})
	}
	ok := false
	select {
	case <-held:
		ok = true
	case <-ctx.Done():
	}
	cancel() // stops the waits still going
	wg.Wait()
	return ok
}

// decidedIDs are the event IDs in the agent's "fault opened/escalated" lines.
var decidedIDs = regexp.MustCompile(`msg="fault (?:opened|escalated|still open|recovered)".* event_id=(event-[0-9a-f]+)`)

// TestReplayAfterSIGKILL: DataKit is down and the queue is smaller than an
// event: the anomaly goes into the empty queue (a lone batch is never
// refused), the escalation behind it cannot be queued and stays pending;
// SIGKILLed and restarted with room and DataKit back, the agent delivers
// every one, the anomaly from the disk queue and the escalation from the
// replay: each event ID it logged arrives, and an ID that arrives more than
// once is the same event (status and fault) written again.
func TestReplayAfterSIGKILL(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "replay")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Extra: "  queue_max_bytes = 1024"})
	h.dk.FailFor(time.Hour, http.StatusServiceUnavailable)
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "ledger", 20, nil)

	crashAll(t, sim, pods[:3], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "fault opened"); err != nil {
		t.Fatal(err)
	}
	crashAll(t, sim, pods[3:7], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	if err := h.agent.WaitLog(ctx, "fault escalated"); err != nil {
		t.Fatal(err)
	}
	// The escalation stays pending: the next batch writes it again.
	if err := h.agent.WaitLog(ctx, `msg="writing again the events output did not take" cluster=e2e events=1`); err != nil {
		t.Fatal(err)
	}
	if evs := h.events(ns); len(evs) != 0 {
		t.Fatalf("events arrived while DataKit was down:%s", describe(evs))
	}
	var want []string
	for _, m := range decidedIDs.FindAllStringSubmatch(h.agent.Logs(), -1) {
		if !slices.Contains(want, m[1]) {
			want = append(want, m[1])
		}
	}
	if len(want) != 2 {
		t.Fatalf("decided %d events before the kill, want 2 (anomaly, escalation): %v", len(want), want)
	}
	h.agent.Kill()

	h.cfg.Extra = "" // the default queue: room for them
	h.dk.ClearFaults()
	h.restart()
	evs := h.waitFor(ns, func(evs []datakit.Point) bool {
		for _, id := range want {
			if !slices.ContainsFunc(evs, func(p datakit.Point) bool { return p.Tags["df_event_id"] == id }) {
				return false
			}
		}
		return true
	}, waitEvent)
	first := map[string]datakit.Point{}
	for _, e := range evs {
		id := e.Tags["df_event_id"]
		p, seen := first[id]
		if !seen {
			first[id] = e
			continue
		}
		if p.Tags["df_status"] != e.Tags["df_status"] || p.Tags["df_fault_id"] != e.Tags["df_fault_id"] {
			t.Errorf("event ID %s delivered for two different events:%s", id, describe([]datakit.Point{p, e}))
		}
	}
	for _, e := range evs {
		if e.Tags["df_fault_id"] != evs[0].Tags["df_fault_id"] {
			t.Errorf("the replayed events belong to different faults:%s", describe(evs))
			break
		}
	}
	t.Logf("after SIGKILL with a full queue: %d events received for %d decided", len(evs), len(want))
}
