package detect

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCounts(t *testing.T) {
	tests := []struct {
		name string
		run  func(d *Detector)
		want Counts
	}{
		{
			name: "empty",
			run:  func(*Detector) {},
			want: Counts{},
		},
		{
			name: "pods without faults",
			run: func(d *Detector) {
				populate(d, "shop", 3, t0)
				populate(d, "cart", 2, t0)
			},
			want: Counts{Namespaces: 2, Pods: 5},
		},
		{
			name: "one fault at error, another namespace quiet",
			run: func(d *Detector) {
				pods := populate(d, "shop", 5, t0)
				populate(d, "cart", 4, t0)
				crash(d, pods, t0.Add(time.Minute), 0, 1) // 2 of 5: error
				d.EvaluateAll(t0.Add(time.Minute))
			},
			want: Counts{Namespaces: 2, Pods: 9, Faults: [LevelCritical + 1]int{LevelError: 1}},
		},
		{
			name: "a deleted pod with restarts in the window still counts",
			run: func(d *Detector) {
				pods := populate(d, "shop", 3, t0)
				crash(d, pods, t0.Add(time.Minute), 0)
				d.Delete("shop", pods[0].UID, t0.Add(2*time.Minute))
				d.Delete("shop", pods[1].UID, t0.Add(2*time.Minute))
			},
			want: Counts{Namespaces: 1, Pods: 2},
		},
		{
			name: "faults at several levels",
			run: func(d *Detector) {
				a := populate(d, "a", 10, t0)
				b := populate(d, "b", 4, t0)
				crash(d, a, t0.Add(time.Minute), 0, 1) // 2 of 10: warning
				crash(d, b, t0.Add(time.Minute), 0, 1) // 2 of 4: critical
				d.EvaluateAll(t0.Add(time.Minute))
			},
			want: Counts{Namespaces: 2, Pods: 14, Faults: [LevelCritical + 1]int{LevelWarning: 1, LevelCritical: 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			tc.run(d)
			got := d.Counts()
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Counts() (-want +got):\n%s", diff)
			}
			if n := got.OpenFaults(); n != len(d.Faults()) {
				t.Errorf("OpenFaults() = %d, want len(Faults()) = %d", n, len(d.Faults()))
			}
		})
	}
}
