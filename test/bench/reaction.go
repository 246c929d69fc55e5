package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// reaction is one trial: a namespace whose second pod crashed.
type reaction struct {
	Namespace string
	Accepted  time.Time     // when the API server answered the status update of the second crash
	Received  time.Time     // when the receiver got the namespace's first event; zero if none
	Latency   time.Duration // Received - Accepted
}

// reactions runs one trial per namespace, spaced by every: it crashes one
// pod, then after gap a second one, which opens a fault, and records when the
// API server accepted that update. It then waits up to wait for every
// namespace's event at the receiver.
func reactions(ctx context.Context, sim *kubesim.Sim, dk *datakit.Receiver, pods map[string][]string,
	every, gap, wait time.Duration, progress io.Writer) ([]reaction, error) {
	namespaces := make([]string, 0, len(pods))
	for ns := range pods {
		namespaces = append(namespaces, ns)
	}
	slices.Sort(namespaces)
	crash := kubesim.Crash{Reason: "Error", ExitCode: 1, Waiting: kubesim.CrashLoopBackOff}
	trials := make([]reaction, 0, len(namespaces))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for _, ns := range namespaces {
		names := pods[ns]
		if _, err := sim.CrashContainer(ctx, ns, names[0], "app", crash); err != nil {
			return trials, err
		}
		select {
		case <-ctx.Done():
			return trials, ctx.Err()
		case <-time.After(gap):
		}
		if _, err := sim.CrashContainer(ctx, ns, names[1], "app", crash); err != nil {
			return trials, err
		}
		trials = append(trials, reaction{Namespace: ns, Accepted: time.Now()})
		select {
		case <-ctx.Done():
			return trials, ctx.Err()
		case <-tick.C:
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	_ = dk.WaitFor(wctx, func([]datakit.Point) bool { return len(firstEvents(dk)) >= len(trials) })
	first := firstEvents(dk)
	missing := 0
	for i := range trials {
		t := &trials[i]
		if at, ok := first[t.Namespace]; ok {
			t.Received, t.Latency = at, at.Sub(t.Accepted)
		} else {
			missing++
		}
	}
	if missing > 0 {
		fmt.Fprintf(progress, "  %d of %d trials got no event within %v\n", missing, len(trials), wait)
	}
	return trials, nil
}

// firstEvents returns when the receiver got each namespace's first event.
func firstEvents(dk *datakit.Receiver) map[string]time.Time {
	out := map[string]time.Time{}
	for _, p := range dk.Points("keyevent") {
		ns := p.Tags["namespace"]
		if at, ok := out[ns]; !ok || p.ReceivedAt.Before(at) {
			out[ns] = p.ReceivedAt
		}
	}
	return out
}

// percentile returns the p-th percentile (nearest rank) of the latencies of
// the trials that got an event.
func percentile(trials []reaction, p float64) time.Duration {
	var ls []time.Duration
	for _, t := range trials {
		if !t.Received.IsZero() {
			ls = append(ls, t.Latency)
		}
	}
	if len(ls) == 0 {
		return 0
	}
	slices.Sort(ls)
	rank := int(p/100*float64(len(ls))+0.999999) - 1
	return ls[min(max(rank, 0), len(ls)-1)]
}
