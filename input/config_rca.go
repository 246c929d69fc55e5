package input

import (
	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// Bounds of the root-cause analysis settings.
const (
	maxLogTailLines = 200
	minLogTailBytes = 64
	maxLogTailBytes = 16 << 10
)

// checkAnalysis validates the settings of baseline mode, the event
// language and log collection.
func (c *Config) checkAnalysis(add func(key, format string, args ...any)) {
	if c.BaselineWindows < 1 {
		add("baseline_windows", "%d must be >= 1", c.BaselineWindows)
	}
	if !(c.BaselineMargin >= 0 && c.BaselineMargin < 1) {
		add("baseline_margin", "%v must be in [0, 1)", c.BaselineMargin)
	}
	if err := output.CheckLanguage(c.Language); err != nil {
		add("language", "%w", err)
	}
	if c.LogTailLines < 1 || c.LogTailLines > maxLogTailLines {
		add("log_tail_lines", "%d must be in [1, %d]", c.LogTailLines, maxLogTailLines)
	}
	if c.LogTailBytes < minLogTailBytes || c.LogTailBytes > maxLogTailBytes {
		add("log_tail_bytes", "%d must be in [%d, %d]", c.LogTailBytes, minLogTailBytes, maxLogTailBytes)
	}
	if _, err := collect.NewRedactor(c.LogRedact); err != nil {
		add("log_redact", "%w", err)
	}
}
