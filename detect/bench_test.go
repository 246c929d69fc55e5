package detect

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkObserve measures pod-status observations absorbed per second: the
// target is 200,000 per core, with no allocation when nothing changed.
func BenchmarkObserve(b *testing.B) {
	const n = 10000
	pods := make([]*Pod, n)
	for i := range pods {
		p := pod(fmt.Sprintf("ns-%d", i%100), fmt.Sprintf("p-%d", i))
		p.Containers = append(p.Containers,
			Container{Name: "init", Type: ContainerInit, State: StateTerminated},
			Container{Name: "sidecar", Type: ContainerSidecar, State: StateRunning})
		pods[i] = p
	}
	b.Run("unchanged", func(b *testing.B) {
		d := New(testConfig())
		for _, p := range pods {
			d.Observe(p, t0)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			d.Observe(pods[i%n], t0)
		}
	})
	b.Run("restarting", func(b *testing.B) {
		d := New(testConfig())
		crashedPods := make([]*Pod, n)
		for i, p := range pods {
			d.Observe(p, t0)
			crashedPods[i] = crashed(p, "app", t0, "Error")
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			// Alternate between the two observations: every other one restarts.
			if i/n%2 == 0 {
				d.Observe(crashedPods[i%n], t0)
			} else {
				d.Observe(pods[i%n], t0)
			}
		}
	})
}

// BenchmarkEvaluate measures evaluating a namespace of 1,000 pods, 10% restarting.
func BenchmarkEvaluate(b *testing.B) {
	d := New(testConfig())
	pods := populate(d, "shop", 1000, t0)
	for i := 0; i < len(pods); i += 10 {
		crash(d, pods, t0, i)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		d.Evaluate("shop", t0.Add(time.Duration(i)*time.Millisecond))
	}
}
