package kubesim

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ChurnOptions paces Churn.
type ChurnOptions struct {
	// PerSecond is the rate of status updates across all pods; it must be
	// positive.
	PerSecond float64
	// Max stops Churn after this many updates; 0 runs until ctx ends.
	Max int
	// FlipReady toggles the first app container's readiness, and the pod's
	// Ready and ContainersReady conditions with it, instead of only moving
	// the Ready condition's lastProbeTime.
	FlipReady bool
}

// Churn writes pod status updates that are not restarts, round-robin over
// pods at o.PerSecond, until ctx ends or o.Max updates were made. It blocks;
// run it in a goroutine the caller waits for. Pods that no longer exist are
// skipped. It returns the number of updates made; the end of ctx is not an
// error.
func (s *Sim) Churn(ctx context.Context, pods []types.NamespacedName, o ChurnOptions) (int, error) {
	if len(pods) == 0 {
		return 0, errors.New("churn: no pods")
	}
	if o.PerSecond <= 0 {
		return 0, fmt.Errorf("churn: rate %v is not positive", o.PerSecond)
	}
	limiter := rate.NewLimiter(rate.Limit(o.PerSecond), 1)
	n := 0
	for i := 0; o.Max == 0 || n < o.Max; i++ {
		if err := limiter.Wait(ctx); err != nil {
			return n, nil // ctx ended or would end before the next slot
		}
		pod := pods[i%len(pods)]
		_, err := s.updatePodStatus(ctx, pod.Namespace, pod.Name, func(p *corev1.Pod) error {
			return s.churnOnce(p, o.FlipReady)
		})
		switch {
		case err == nil:
			n++
		case apierrors.IsNotFound(err):
		case ctx.Err() != nil || endsWithin(ctx, time.Second):
			// ctx ended, or ends too soon for client-go's rate limiter,
			// which then refuses to wait although ctx is not done yet.
			return n, nil
		default:
			return n, fmt.Errorf("churn: %w", err)
		}
	}
	return n, nil
}

// churnOnce changes p's status without restarting anything.
func (s *Sim) churnOnce(p *corev1.Pod, flipReady bool) error {
	now := s.metaNow()
	if flipReady && len(p.Status.ContainerStatuses) > 0 {
		cs := &p.Status.ContainerStatuses[0]
		cs.Ready = !cs.Ready
		syncConditions(p, now)
		return nil
	}
	c := lookupCondition(p, corev1.PodReady)
	if c == nil {
		syncConditions(p, now)
		c = lookupCondition(p, corev1.PodReady)
	}
	// Move the probe time forward even with a frozen clock, so every update
	// changes the object and reaches watchers.
	probe := now
	if !c.LastProbeTime.Before(&now) {
		probe = metav1.NewTime(c.LastProbeTime.Add(time.Second))
	}
	c.LastProbeTime = probe
	return nil
}

// endsWithin reports whether ctx's deadline is less than d away.
func endsWithin(ctx context.Context, d time.Duration) bool {
	deadline, ok := ctx.Deadline()
	return ok && time.Until(deadline) < d
}
