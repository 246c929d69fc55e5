package detect

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestInspect(t *testing.T) {
	type got struct {
		Level         Level
		Pods          int
		RestartedPods int
		Restarts      int
		ReportedPods  int
		Causes        int
		Fault         bool
	}
	for _, tc := range []struct {
		name    string
		pods    int
		crashed []int
		at      time.Time // when Inspect runs; the crashes happen at t0
		want    got
	}{
		// 1 of 20 is below min_restarted_pods: no level, but the analysis is there.
		{"below the rules", 20, []int{3}, t0.Add(time.Minute), got{LevelNone, 20, 1, 1, 1, 1, false}},
		{"over the rules", 4, []int{0, 1, 2}, t0.Add(time.Minute), got{LevelCritical, 4, 3, 3, 3, 1, false}},
		{"restarts left the window", 4, []int{0, 1, 2}, t0.Add(31 * time.Minute), got{LevelNone, 4, 0, 0, 0, 0, false}},
		{"no pods", 0, nil, t0, got{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			pods := populate(d, "shop", tc.pods, t0.Add(-time.Hour))
			crash(d, pods, t0, tc.crashed...)
			dec := d.Inspect("shop", tc.at)
			g := got{dec.Level, dec.Stats.Pods, dec.Stats.RestartedPods, dec.Stats.Restarts, len(dec.Pods), len(dec.Summary.Causes), dec.Stats.Fault}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
			if dec.Kind != 0 || dec.EventID != "" {
				t.Errorf("Inspect made a decision: kind %v, event %q", dec.Kind, dec.EventID)
			}
			// Inspecting opens no fault: the next evaluation still opens it.
			if _, next := d.Evaluate("shop", tc.at); (next != nil) != (tc.want.Level != LevelNone) {
				t.Errorf("Evaluate after Inspect: decision %v, want one: %v", next != nil, tc.want.Level != LevelNone)
			}
		})
	}
}
