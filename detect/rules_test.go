package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestOverrides(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Overrides
		pods      int
		restarted int
		want      Level
		wantRules []string
	}{
		{"none: 2 of 20 is a warning", Overrides{}, 20, 2, LevelWarning, nil},
		{"a higher warning ratio keeps it quiet", Overrides{RatioWarning: 0.3}, 20, 2, LevelNone, []string{"ratio-warning"}},
		{"the other levels rise with it", Overrides{RatioWarning: 0.6}, 10, 5, LevelNone, []string{"ratio-warning"}},
		{"and keep their order above it", Overrides{RatioWarning: 0.6}, 10, 6, LevelCritical, []string{"ratio-warning"}},
		{"a lower critical ratio", Overrides{RatioCritical: 0.2}, 10, 2, LevelCritical, []string{"ratio-critical"}},
		{"min-restarted-pods 1 reports a single pod", Overrides{MinRestartedPods: 1}, 5, 1, LevelWarning, []string{"min-restarted-pods"}},
		{"a lower error ratio lowers nothing else", Overrides{RatioError: 0.05}, 20, 1, LevelNone, []string{"ratio-error"}},
		{"min-pods 30 keeps a small namespace quiet", Overrides{MinPods: 30}, 20, 10, LevelNone, []string{"min-pods"}},
		{"disabled", Overrides{Disabled: true}, 10, 10, LevelNone, []string{"disabled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTestDetector(testConfig())
			d.SetOverrides("shop", tc.o)
			d.SetOverrides("other", Overrides{Disabled: true}) // never applies to shop
			pods := populate(d, "shop", tc.pods, t0.Add(-time.Hour))
			for i := range tc.restarted {
				crash(d, pods, t0, i)
			}
			st, dec := d.Evaluate("shop", t0)
			if st.Level != tc.want {
				t.Errorf("level %v, want %v", st.Level, tc.want)
			}
			if dec != nil {
				if diff := cmp.Diff(tc.wantRules, dec.Thresholds.Overridden); diff != "" {
					t.Errorf("overridden rules (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestOverridesApplyWithoutRestart: annotations change while a fault is
// open; disabling the namespace recovers the fault, removing the override
// reopens one.
func TestOverridesApplyWithoutRestart(t *testing.T) {
	d := newTestDetector(testConfig())
	pods := populate(d, "shop", 10, t0.Add(-time.Hour))
	steps := []struct {
		at   time.Duration
		o    *Overrides
		want string
	}{
		{at: 0, want: "anomaly warning event-1 event-1"},
		// Disabled: the fault recovers at once, not after RecoverAfter.
		{at: time.Second, o: &Overrides{Disabled: true}, want: "recovery ok event-2 event-1"},
		{at: 31 * time.Second},
		{at: time.Minute, o: &Overrides{}, want: "anomaly warning event-3 event-3"},
		{at: 2 * time.Minute, o: &Overrides{RatioError: 0.2}, want: "escalation error event-4 event-3"},
	}
	crash(d, pods, t0, 0, 1)
	for _, s := range steps {
		if s.o != nil && !d.SetOverrides("shop", *s.o) {
			t.Errorf("at %v: SetOverrides reported no change", s.at)
		}
		_, dec := d.Evaluate("shop", t0.Add(s.at))
		got := ""
		if dec != nil {
			got = fmt.Sprintf("%v %v %s %s", dec.Kind, dec.Level, dec.EventID, dec.Fault.ID)
		}
		if got != s.want {
			t.Errorf("at %v: decision %q, want %q", s.at, got, s.want)
		}
	}
	if d.SetOverrides("shop", Overrides{RatioError: 0.2}) {
		t.Error("setting the same overrides reported a change")
	}
}

func TestOverridesValidate(t *testing.T) {
	if err := (Overrides{RatioWarning: 0.2, MinPods: 3}).Validate(); err != nil {
		t.Errorf("valid overrides: %v", err)
	}
	for _, o := range []Overrides{{RatioWarning: 1.5}, {RatioError: -1}, {MinPods: -1}, {RatioWarning: 0.5, RatioCritical: 0.4}} {
		if err := o.Validate(); err == nil {
			t.Errorf("invalid overrides %+v accepted", o)
		}
	}
}

// TestBaseline: a namespace that always has 2 of 10 pods restarting fires
// without baseline mode; with it, it fires once (the baseline is learnt one
// window after start), recovers when the baseline catches up, and fires
// again only when its ratio rises the margin above its baseline.
func TestBaseline(t *testing.T) {
	cfg := testConfig()
	cfg.Window = 10 * time.Minute
	cfg.Silence = 0
	// steady keeps pods 0 and 1 restarting every 5 minutes; a storm adds
	// pods 2..k.
	run := func(cfg Config, storm map[time.Duration]int) []string {
		d := newTestDetector(cfg)
		pods := populate(d, "shop", 10, t0.Add(-time.Hour))
		var got []string
		for at := time.Duration(0); at <= 2*time.Hour; at += 30 * time.Second {
			now := t0.Add(at)
			if at%(5*time.Minute) == 0 {
				crash(d, pods, now, 0, 1)
			}
			if k, ok := storm[at]; ok {
				for i := 2; i < k; i++ {
					crash(d, pods, now, i)
				}
			}
			_, decs := d.EvaluateAll(now)
			for _, dec := range decs {
				got = append(got, fmt.Sprintf("%v %v at %v baseline %s", dec.Kind, dec.Level, at, percentOf(dec.Stats)))
			}
		}
		return got
	}

	t.Run("off: the steady 20% is an endless warning", func(t *testing.T) {
		got := run(cfg, nil)
		if len(got) != 1 || got[0] != "anomaly warning at 0s baseline -" {
			t.Errorf("decisions %q, want one anomaly that never recovers", got)
		}
	})

	on := cfg
	on.Baseline = BaselineConfig{Enabled: true, Windows: 3, Margin: 0.1}
	t.Run("on: learnt after a window, then quiet", func(t *testing.T) {
		got := run(on, nil)
		want := []string{
			"anomaly warning at 0s baseline -",
			// The first sample (after the evaluation at 10m) sets the
			// baseline to 20%: warning now needs 30%, and the fault
			// recovers after the interval.
			"recovery ok at 11m0s baseline 20%",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decisions (-want +got):\n%s", diff)
		}
	})
	t.Run("on: a rise above the baseline fires", func(t *testing.T) {
		got := run(on, map[time.Duration]int{time.Hour: 6}) // 6 of 10 at 1h
		want := []string{
			"anomaly warning at 0s baseline -",
			"recovery ok at 11m0s baseline 20%",
			"anomaly critical at 1h0m0s baseline 20%",
		}
		if len(got) < 3 {
			t.Fatalf("decisions %q, want at least %q", got, want)
		}
		if diff := cmp.Diff(want, got[:3]); diff != "" {
			t.Errorf("decisions (-want +got):\n%s", diff)
		}
	})
	t.Run("on: a rise smaller than the margin stays quiet", func(t *testing.T) {
		// 3 of 10: 30%, the margin exactly reached, which is also the
		// configured error ratio. The sample at 1h moves the baseline to
		// 23%: 30% is below the margin again.
		got := run(on, map[time.Duration]int{time.Hour: 3})
		want := []string{
			"anomaly warning at 0s baseline -",
			"recovery ok at 11m0s baseline 20%",
			"anomaly error at 1h0m0s baseline 20%",
			"recovery ok at 1h1m0s baseline 23%",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("at the margin (-want +got):\n%s", diff)
		}
		cfg := on
		cfg.Baseline.Margin = 0.15
		if got := run(cfg, map[time.Duration]int{time.Hour: 3}); len(got) != 2 {
			t.Errorf("below the margin: %q, want only the start's anomaly and recovery", got)
		}
	})
}

func percentOf(st Stats) string {
	if !st.HasBaseline {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", st.Baseline*100)
}

func TestBaselineConfigValidate(t *testing.T) {
	cfg := testConfig()
	cfg.Baseline = BaselineConfig{Enabled: true, Windows: 0, Margin: 1}
	if err := cfg.Validate(); err == nil {
		t.Error("invalid baseline accepted")
	}
	cfg.Baseline = BaselineConfig{Windows: 0} // off: not checked
	if err := cfg.Validate(); err != nil {
		t.Errorf("baseline off: %v", err)
	}
}
