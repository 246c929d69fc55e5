package input

import "github.com/k8s-pod-restart/k8s-pod-restart/collect"

// Bounds of the log collection settings.
const (
	maxLogTailLines = 200
	minLogTailBytes = 64
	maxLogTailBytes = 16 << 10
)

// checkLogs validates the settings of log collection. log_redact is checked
// even with collect_logs off, so that turning it on cannot fail.
func (c *Config) checkLogs(add func(key, format string, args ...any)) {
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
