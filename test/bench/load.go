package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/types"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// Cluster shape: Deployments of 10 replicas, 10 Deployments per namespace,
// 50 pods per node; one pod in 10 restarted once, two hours ago, so that it
// carries a last termination like long-running pods do.
const (
	podsPerDeployment = 10
	podsPerNamespace  = 100
	podsPerNode       = 50
	restartedEvery    = 10
)

// reactionPods is the number of pods of each namespace the reaction trials
// crash pods in: two of them crashing opens a fault (min_restarted_pods 2,
// ratio 0.5 >= ratio_warning).
const reactionPods = 4

// layout names the pods the benchmark creates.
type layout struct {
	pods      int
	reactions int
}

func (l layout) namespace(i int) string { return fmt.Sprintf("bench-%04d", i/podsPerNamespace) }
func (l layout) node(i int) string      { return fmt.Sprintf("worker-%04d", i%max(1, l.pods/podsPerNode)) }
func (l layout) deployment(i int) string {
	return fmt.Sprintf("svc-%02d", (i%podsPerNamespace)/podsPerDeployment)
}
func reactionNamespace(k int) string { return fmt.Sprintf("react-%03d", k) }

// podOptions describes the i-th pod: one init container and two app
// containers with requests and limits, as in PERF.md.
func podOptions(ns, node, deployment string) kubesim.PodOptions {
	return kubesim.PodOptions{
		Namespace: ns,
		Node:      node,
		Owner:     kubesim.Owner{Kind: kubesim.KindDeployment, Name: deployment},
		InitContainers: []kubesim.Container{{
			Name: "migrate", Image: "registry.example.com/" + ns + "/" + deployment + "-migrate:1.42.0",
			Requests: kubesim.Resources{CPU: "100m", Memory: "64Mi"},
		}},
		Containers: []kubesim.Container{
			{
				Name: "app", Image: "registry.example.com/" + ns + "/" + deployment + ":1.42.0",
				Requests: kubesim.Resources{CPU: "250m", Memory: "256Mi"},
				Limits:   kubesim.Resources{CPU: "1", Memory: "512Mi"},
			},
			{
				Name: "envoy", Image: "envoyproxy/envoy:v1.33.0",
				Requests: kubesim.Resources{CPU: "100m", Memory: "128Mi"},
				Limits:   kubesim.Resources{Memory: "256Mi"},
			},
		},
		Labels:      map[string]string{"app.kubernetes.io/name": deployment, "app.kubernetes.io/part-of": ns},
		Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
	}
}

// load creates the pods through the API, running (and one in ten restarted
// long ago), with workers in parallel, and the reaction namespaces' pods.
// It returns the names of the loaded pods (not the reaction ones).
func load(ctx context.Context, sim *kubesim.Sim, l layout, workers int, progress io.Writer) ([]types.NamespacedName, map[string][]string, error) {
	// Namespaces and nodes first, once each: the pod workers then never race
	// to create them.
	start := time.Now()
	seen := map[string]bool{}
	for i := range l.pods {
		for _, ensure := range []struct {
			key string
			fn  func() error
		}{
			{"ns/" + l.namespace(i), func() error { _, err := sim.EnsureNamespace(ctx, l.namespace(i)); return err }},
			{"node/" + l.node(i), func() error { _, err := sim.EnsureNode(ctx, l.node(i)); return err }},
		} {
			if !seen[ensure.key] {
				seen[ensure.key] = true
				if err := ensure.fn(); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	for k := range l.reactions {
		if _, err := sim.EnsureNamespace(ctx, reactionNamespace(k)); err != nil {
			return nil, nil, err
		}
	}
	fmt.Fprintf(progress, "  %d namespaces and nodes in %v\n", len(seen)+l.reactions, time.Since(start).Round(time.Millisecond))

	names := make([]types.NamespacedName, l.pods)
	reaction := make(map[string][]string, l.reactions)
	var mu sync.Mutex
	var done atomic.Int64
	total := l.pods + l.reactions*reactionPods
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	g.Go(func() error {
		defer close(jobs)
		for i := range total {
			select {
			case jobs <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	longAgo := time.Now().Add(-2 * time.Hour)
	for range workers {
		g.Go(func() error {
			for i := range jobs {
				var o kubesim.PodOptions
				if i < l.pods {
					o = podOptions(l.namespace(i), l.node(i), l.deployment(i))
				} else {
					k := (i - l.pods) / reactionPods
					o = podOptions(reactionNamespace(k), l.node(i), "web")
				}
				p, err := sim.RunPod(gctx, o)
				if err != nil {
					return err
				}
				if i < l.pods && i%restartedEvery == restartedEvery-1 {
					if _, err := sim.CrashContainer(gctx, p.Namespace, p.Name, "app",
						kubesim.Crash{Reason: "OOMKilled", FinishedAt: longAgo}); err != nil {
						return err
					}
				}
				if i < l.pods {
					names[i] = types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
				} else {
					mu.Lock()
					reaction[p.Namespace] = append(reaction[p.Namespace], p.Name)
					mu.Unlock()
				}
				if n := done.Add(1); n%5000 == 0 || int(n) == total {
					el := time.Since(start)
					fmt.Fprintf(progress, "  %d/%d pods running after %v (%.0f pods/s)\n", n, total, el.Round(time.Second), float64(n)/el.Seconds())
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return names, reaction, nil
}
