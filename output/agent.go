package output

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/GuanceCloud/cliutils/point"
)

// AgentMeasurement is the measurement of the agent's own resources, written
// to /v1/write/metric beside the namespaces' metrics.
const AgentMeasurement = "k8s_pod_restart_agent"

// AgentStats are the agent process's own resources at one instant; input
// samples them every interval.
type AgentStats struct {
	CPUUsage   float64 // percent of one core since the previous sample
	CPUSeconds float64 // user and system CPU time since the process started
	RSSBytes   int64   // resident memory
	OpenFiles  int64   // open file descriptors
	Goroutines int64
}

// Agent encodes the agent's resources at an evaluation as a point of
// AgentMeasurement for /v1/write/metric, tagged with the cluster and the
// user's tags.
func (e *Encoder) Agent(at time.Time, s *AgentStats) (*point.Point, error) {
	switch {
	case s == nil:
		return nil, errors.New("encode agent metric: nil stats")
	case at.IsZero():
		return nil, errors.New("encode agent metric: zero time")
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{keyCPUUsage, s.CPUUsage}, {keyCPUSeconds, s.CPUSeconds}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return nil, fmt.Errorf("encode agent metric: %s %v", f.name, f.v)
		}
	}
	var b kvBuilder
	b.tag(keyCluster, e.cluster)
	for k, v := range e.tags {
		b.tag(k, v)
	}
	b.field(keyCPUUsage, s.CPUUsage)
	b.field(keyCPUSeconds, s.CPUSeconds)
	b.field(keyMemRSS, s.RSSBytes)
	b.field(keyOpenFiles, s.OpenFiles)
	b.field(keyGoroutines, s.Goroutines)
	if b.err != nil {
		return nil, fmt.Errorf("encode agent metric: %w", b.err)
	}
	opts := append(point.DefaultMetricOptions(), point.WithTime(at), point.WithPrecheck(true))
	pt := point.NewPointV2(AgentMeasurement, b.kvs, opts...)
	if err := warnsError(pt); err != nil {
		return nil, fmt.Errorf("encode agent metric: %w", err)
	}
	return pt, nil
}
