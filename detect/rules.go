package detect

import (
	"errors"
	"fmt"
	"time"
)

// Overrides are one namespace's own rules, from its annotations; a zero
// field keeps the configured rule.
type Overrides struct {
	RatioWarning     float64
	RatioError       float64
	RatioCritical    float64
	MinPods          int
	MinRestartedPods int
	// Disabled keeps the namespace out of faults: it is measured, never
	// reported, and an open fault recovers.
	Disabled bool
}

// IsZero reports whether o overrides nothing.
func (o Overrides) IsZero() bool { return o == Overrides{} }

// Validate reports the values that cannot be rules.
func (o Overrides) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"ratio-warning", o.RatioWarning}, {"ratio-error", o.RatioError}, {"ratio-critical", o.RatioCritical}} {
		if r.v != 0 && !(r.v > 0 && r.v <= 1) {
			errs = append(errs, fmt.Errorf("%s %v must be in (0, 1]", r.name, r.v))
		}
	}
	if o.MinPods < 0 || o.MinRestartedPods < 0 {
		errs = append(errs, errors.New("min-pods and min-restarted-pods must be at least 1"))
	}
	ratios := []float64{o.RatioWarning, o.RatioError, o.RatioCritical}
	for i := range ratios {
		for j := i + 1; j < len(ratios); j++ {
			if ratios[i] != 0 && ratios[j] != 0 && ratios[i] > ratios[j] {
				errs = append(errs, fmt.Errorf("ratios set must satisfy warning <= error <= critical, got %v", ratios))
				return errors.Join(errs...)
			}
		}
	}
	return errors.Join(errs...)
}

// Thresholds are the rules one namespace is judged by at one instant: the
// configuration, its namespace's overrides, and in baseline mode its
// baseline.
type Thresholds struct {
	MinPods          int
	MinRestartedPods int
	RatioWarning     float64
	RatioError       float64
	RatioCritical    float64
	Disabled         bool
	// Overridden names the rules the namespace's annotations set, in the
	// annotations' spelling (ratio-warning, min-pods, disabled, ...).
	Overridden []string
	// Baseline is the namespace's baseline ratio; HasBaseline is false
	// outside baseline mode and until the first sample.
	Baseline    float64
	HasBaseline bool
}

// SetOverrides sets the namespace's overrides, the zero Overrides removing
// them, and reports whether they changed. Invalid values must have been
// dropped by the caller (Validate).
func (d *Detector) SetOverrides(namespace string, o Overrides) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.overrides[namespace] == o {
		return false
	}
	if o.IsZero() {
		delete(d.overrides, namespace)
	} else {
		d.overrides[namespace] = o
	}
	return true
}

// thresholds returns the rules of namespace name. The caller holds d.mu.
func (d *Detector) thresholds(name string, ns *namespaceState) Thresholds {
	c := &d.cfg
	t := Thresholds{
		MinPods: c.MinPods, MinRestartedPods: c.MinRestartedPods,
		RatioWarning: c.RatioWarning, RatioError: c.RatioError, RatioCritical: c.RatioCritical,
	}
	if o, ok := d.overrides[name]; ok {
		set := func(name string, dst *float64, v float64) {
			if v != 0 {
				*dst = v
				t.Overridden = append(t.Overridden, name)
			}
		}
		set("ratio-warning", &t.RatioWarning, o.RatioWarning)
		set("ratio-error", &t.RatioError, o.RatioError)
		set("ratio-critical", &t.RatioCritical, o.RatioCritical)
		if o.MinPods > 0 {
			t.MinPods = o.MinPods
			t.Overridden = append(t.Overridden, "min-pods")
		}
		if o.MinRestartedPods > 0 {
			t.MinRestartedPods = o.MinRestartedPods
			t.Overridden = append(t.Overridden, "min-restarted-pods")
		}
		if o.Disabled {
			t.Disabled = true
			t.Overridden = append(t.Overridden, "disabled")
		}
		// An override may break warning <= error <= critical (warning 0.6
		// under the configured error 0.3): the ratios the namespace does not
		// set move to keep the order, the ones it sets stay (their own
		// order is the caller's to check).
		if o.RatioError == 0 {
			if o.RatioWarning != 0 {
				t.RatioError = max(t.RatioError, t.RatioWarning)
			}
			if o.RatioCritical != 0 {
				t.RatioError = min(t.RatioError, t.RatioCritical)
			}
		}
		if o.RatioWarning == 0 {
			t.RatioWarning = min(t.RatioWarning, t.RatioError)
		}
		if o.RatioCritical == 0 {
			t.RatioCritical = max(t.RatioCritical, t.RatioError)
		}
	}
	if c.Baseline.Enabled && ns != nil && ns.baseline.samples > 0 {
		t.Baseline, t.HasBaseline = ns.baseline.value, true
		floor := t.Baseline + c.Baseline.Margin
		t.RatioWarning = max(t.RatioWarning, floor)
		t.RatioError = max(t.RatioError, floor)
		t.RatioCritical = max(t.RatioCritical, floor)
	}
	return t
}

// Level maps counts to a level under the thresholds.
func (t *Thresholds) Level(pods, restarted int, ratio float64) Level {
	if t.Disabled || pods < t.MinPods || restarted < t.MinRestartedPods {
		return LevelNone
	}
	// The ratio is a quotient of small integers; the tolerance keeps a ratio
	// exactly at a threshold (3 of 10 at 0.3) on the threshold's side.
	const eps = 1e-9
	switch {
	case ratio+eps >= t.RatioCritical:
		return LevelCritical
	case ratio+eps >= t.RatioError:
		return LevelError
	case ratio+eps >= t.RatioWarning:
		return LevelWarning
	}
	return LevelNone
}

// BaselineConfig configures baseline mode: each namespace is compared with
// its own recent level as well as with the thresholds.
type BaselineConfig struct {
	// Enabled turns baseline mode on.
	Enabled bool
	// Windows is the number of windows the baseline averages over: each
	// window's ratio moves it by 1/Windows of the difference (an
	// exponentially weighted moving average).
	Windows int
	// Margin is how far above its baseline a namespace's ratio must rise
	// for each level: a level's threshold becomes the larger of the
	// configured one and baseline + Margin.
	Margin float64
}

func (b *BaselineConfig) validate() error {
	if !b.Enabled {
		return nil
	}
	var errs []error
	if b.Windows < 1 {
		errs = append(errs, fmt.Errorf("baseline windows %d must be at least 1", b.Windows))
	}
	if !(b.Margin >= 0 && b.Margin < 1) {
		errs = append(errs, fmt.Errorf("baseline margin %v must be in [0, 1)", b.Margin))
	}
	return errors.Join(errs...)
}

// baseline is a namespace's EWMA of its ratio, sampled once per window.
type baseline struct {
	value   float64
	samples int
	// next is when the next sample is due, unix nanoseconds; 0 before the
	// namespace's first periodic evaluation.
	next int64
}

// sample updates the baseline with the ratio at now, when a sample is due.
// The first sample is taken one window after the namespace is first
// evaluated, so that it is the ratio of a window the agent saw whole; it
// seeds the average.
func (b *baseline) sample(ratio float64, now time.Time, cfg *Config) {
	n := now.UnixNano()
	switch {
	case b.next == 0:
		b.next = n + int64(cfg.Window)
	case n >= b.next:
		if b.samples == 0 {
			b.value = ratio
		} else {
			b.value += (ratio - b.value) / float64(cfg.Baseline.Windows)
		}
		b.samples++
		b.next = n + int64(cfg.Window)
	}
}
