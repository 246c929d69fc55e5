package input

import "time"

// checkDetection validates the rules of detection: window, interval,
// silence, the minimums, the ratio thresholds and baseline mode, then
// detect's own validation of the rules they map to.
func (c *Config) checkDetection(add func(key, format string, args ...any)) {
	problems := 0
	addp := func(key, format string, args ...any) {
		problems++
		add(key, format, args...)
	}

	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"window", c.Window.Duration}, {"interval", c.Interval.Duration}} {
		if d.v <= 0 {
			addp(d.key, "%v must be > 0", d.v)
		}
	}
	if c.Interval.Duration > 0 && c.Window.Duration > 0 && c.Window.Duration < c.Interval.Duration {
		addp("window", "%v must be >= interval %v", c.Window.Duration, c.Interval.Duration)
	}
	if c.Silence.Duration < 0 {
		addp("silence", "%v must be >= 0", c.Silence.Duration)
	}

	if c.MinPods < 1 {
		addp("min_pods", "%d must be >= 1", c.MinPods)
	}
	if c.MinRestartedPods < 1 {
		addp("min_restarted_pods", "%d must be >= 1", c.MinRestartedPods)
	}

	ratios := []struct {
		key string
		v   float64
	}{{"ratio_warning", c.RatioWarning}, {"ratio_error", c.RatioError}, {"ratio_critical", c.RatioCritical}}
	prev := -1 // the last ratio in range, to compare the next one with
	for i, r := range ratios {
		if !(r.v > 0 && r.v <= 1) { // also rejects NaN
			addp(r.key, "%v must be in (0, 1]", r.v)
			continue
		}
		if prev >= 0 && r.v < ratios[prev].v {
			addp(r.key, "%v must be >= %s %v", r.v, ratios[prev].key, ratios[prev].v)
		}
		prev = i
	}

	if c.BaselineWindows < 1 {
		addp("baseline_windows", "%d must be >= 1", c.BaselineWindows)
	}
	if !(c.BaselineMargin >= 0 && c.BaselineMargin < 1) {
		addp("baseline_margin", "%v must be in [0, 1)", c.BaselineMargin)
	}

	// detect's rules are what the detector runs on; the checks above name
	// the keys. Should detect ever demand more than they check, its
	// complaint still stops the start here rather than later.
	if problems == 0 {
		dc := detectConfig(c)
		if err := dc.Validate(); err != nil {
			add("detection rules", "%w", err)
		}
	}
}
