package output

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
)

// encAgentStats are the agent stats of the tests.
var encAgentStats = AgentStats{CPUUsage: 1.25, CPUSeconds: 12.5, RSSBytes: 48 << 20, OpenFiles: 17, Goroutines: 93}

func TestAgentGolden(t *testing.T) {
	e := encNewEncoder(t, encHostileConfig)
	pt, err := e.Agent(encT0, &encAgentStats)
	if err != nil {
		t.Fatal(err)
	}
	encGolden(t, "agent.golden", encRoundTrip(t, []*point.Point{pt}, point.DefaultMetricOptions()))
}

func TestAgentValues(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	pt, err := e.Agent(encT0, &encAgentStats)
	if err != nil {
		t.Fatal(err)
	}
	want := encPoint{
		Name: AgentMeasurement,
		Tags: map[string]string{"cluster_name_k8s": "prod", "team": "payments"},
		Fields: map[string]any{
			"cpu_usage": 1.25, "cpu_seconds": 12.5, "mem_rss": int64(48 << 20), "open_files": int64(17), "goroutines": int64(93),
		},
		Time: encT0.UnixNano(),
	}
	if diff := cmp.Diff(want, encPointOf(pt)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAgentErrors(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	tests := []struct {
		name  string
		at    time.Time
		stats *AgentStats
		want  string
	}{
		{"nil stats", encT0, nil, "nil stats"},
		{"zero time", time.Time{}, &AgentStats{}, "zero time"},
		{"NaN CPU usage", encT0, &AgentStats{CPUUsage: math.NaN()}, "cpu_usage NaN"},
		{"negative CPU usage", encT0, &AgentStats{CPUUsage: -1}, "cpu_usage -1"},
		{"infinite CPU seconds", encT0, &AgentStats{CPUSeconds: math.Inf(1)}, "cpu_seconds +Inf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := e.Agent(tc.at, tc.stats)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Agent() = %v, %v; want error containing %q", pt, err, tc.want)
			}
		})
	}
}
