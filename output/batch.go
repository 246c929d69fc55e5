package output

import (
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Batch is what one evaluation produces: its decisions become events, its
// stats metrics.
type Batch struct {
	At        time.Time // the evaluation's instant: the metrics' timestamp
	Decisions []detect.Decision
	Stats     []detect.Stats
	// Agent, when set, is written as a point of AgentMeasurement in the
	// same metric batch as Stats.
	Agent *AgentStats
}
