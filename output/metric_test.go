package output

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func TestMetricGolden(t *testing.T) {
	tests := []struct {
		name  string
		cfg   EncoderConfig
		at    time.Time
		stats []detect.Stats
	}{
		{"metric", encTestConfig, encT0, []detect.Stats{
			{Namespace: "shop", Pods: 20, RestartedPods: 6, Restarts: 14, Ratio: 0.3, Level: detect.LevelWarning, Fault: true},
			{Namespace: "cart", Pods: 3, RestartedPods: 1, Restarts: 1, Ratio: 1.0 / 3},
			{Namespace: "idle", Pods: 0, Fault: true},
		}},
		{"metric_hostile", encHostileConfig, encT0.Add(time.Nanosecond), []detect.Stats{
			{Namespace: "shop ns,=\"q\"\\ \n\tx\x00é中🚀\\\\", Pods: 2, RestartedPods: 2, Restarts: 5, Ratio: 1, Fault: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := encNewEncoder(t, tc.cfg)
			var pts []*point.Point
			for i := range tc.stats {
				pt, err := e.Metric(tc.at, &tc.stats[i])
				if err != nil {
					t.Fatalf("Metric: %v", err)
				}
				pts = append(pts, pt)
			}
			body := encRoundTrip(t, pts, point.DefaultMetricOptions())
			encGolden(t, tc.name+".golden", body)
		})
	}
}

func TestMetricValues(t *testing.T) {
	tests := []struct {
		name  string
		stats detect.Stats
		want  encPoint
	}{
		{
			"open fault",
			detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 6, Restarts: 14, Ratio: 0.3, Level: detect.LevelWarning, Fault: true,
				ExpectedRestarts: 4, DisruptedPods: 2, Baseline: 0.05, HasBaseline: true},
			encPoint{
				Name: "k8s_pod_restart",
				Tags: map[string]string{"cluster_name_k8s": "prod", "namespace": "shop", "team": "payments"},
				Fields: map[string]any{
					"restart_ratio": 0.3, "restart_pods": int64(6), "total_pods": int64(20), "restarts": int64(14), "fault": int64(1),
					"expected_restarts": int64(4), "disrupted_pods": int64(2), "baseline_ratio": 0.05,
				},
				Time: encT0.UnixNano(),
			},
		},
		{
			"no fault, sanitized namespace",
			detect.Stats{Namespace: "a\nb\\", Pods: 3},
			encPoint{
				Name: "k8s_pod_restart",
				Tags: map[string]string{"cluster_name_k8s": "prod", "namespace": "a b", "team": "payments"},
				Fields: map[string]any{
					"restart_ratio": 0.0, "restart_pods": int64(0), "total_pods": int64(3), "restarts": int64(0), "fault": int64(0),
					"expected_restarts": int64(0), "disrupted_pods": int64(0),
				},
				Time: encT0.UnixNano(),
			},
		},
	}
	e := encNewEncoder(t, encTestConfig)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := e.Metric(encT0, &tc.stats)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, encPointOf(pt)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMetricErrors(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	tests := []struct {
		name  string
		at    time.Time
		stats *detect.Stats
		want  string
	}{
		{"nil stats", encT0, nil, "nil stats"},
		{"zero time", time.Time{}, &detect.Stats{Namespace: "a"}, "zero time"},
		{"NaN ratio", encT0, &detect.Stats{Namespace: "a", Ratio: math.NaN()}, "ratio NaN"},
		{"infinite ratio", encT0, &detect.Stats{Namespace: "a", Ratio: math.Inf(1)}, "ratio +Inf"},
		{"empty namespace", encT0, &detect.Stats{}, `namespace "": must not be empty`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := e.Metric(tc.at, tc.stats)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Metric() = %v, %v; want error containing %q", pt, err, tc.want)
			}
		})
	}
}
