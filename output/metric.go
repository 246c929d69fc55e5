package output

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Metric encodes one namespace's stats at an evaluation as a point for
// /v1/write/metric. Metrics carry no strings: DataKit drops string fields of
// metrics.
func (e *Encoder) Metric(at time.Time, s *detect.Stats) (*point.Point, error) {
	switch {
	case s == nil:
		return nil, errors.New("encode metric: nil stats")
	case at.IsZero():
		return nil, fmt.Errorf("encode metric of namespace %q: zero time", s.Namespace)
	case math.IsNaN(s.Ratio) || math.IsInf(s.Ratio, 0):
		return nil, fmt.Errorf("encode metric of namespace %q: ratio %v", s.Namespace, s.Ratio)
	}
	ns, err := tagValue(keyNamespace, s.Namespace)
	if err != nil {
		return nil, fmt.Errorf("encode metric: %w", err)
	}
	fault := int64(0)
	if s.Fault {
		fault = 1
	}
	var b kvBuilder
	e.commonTags(&b, ns)
	b.field(keyRestartRatio, s.Ratio)
	b.field(keyRestartPods, int64(s.RestartedPods))
	b.field(keyTotalPods, int64(s.Pods))
	b.field(keyRestarts, int64(s.Restarts))
	b.field(keyFault, fault)
	b.field(keyExpectedRestarts, int64(s.ExpectedRestarts))
	b.field(keyDisruptedPods, int64(s.DisruptedPods))
	if s.HasBaseline {
		b.field(keyBaselineRatio, s.Baseline)
	}
	pt, err := newPoint(&b, at, point.DefaultMetricOptions())
	if err != nil {
		return nil, fmt.Errorf("encode metric of namespace %q: %w", ns, err)
	}
	return pt, nil
}
