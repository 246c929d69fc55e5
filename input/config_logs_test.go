package input

import (
	"strings"
	"testing"
)

func TestValidateAnalysis(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(c *Config)
		want []string // problems, by key
	}{
		{"defaults", func(*Config) {}, nil},
		{"chinese, baseline, logs", func(c *Config) {
			c.Language, c.Baseline, c.CollectLogs, c.LogRedact = "zh", true, true, []string{`session=(\w+)`}
		}, nil},
		{"every problem", func(c *Config) {
			c.Language, c.BaselineWindows, c.BaselineMargin = "fr", 0, 1
			c.LogTailLines, c.LogTailBytes, c.LogRedact = 0, 1<<20, []string{"ok", "(bad"}
		}, []string{"baseline_windows: ", "baseline_margin: ", "language: ", "log_tail_lines: ", "log_tail_bytes: ", "log_redact: "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(c)
			err := c.Validate()
			lines := errLines(err)
			if len(lines) != len(tc.want) {
				t.Fatalf("Validate() = %v, want %d problems", err, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(lines[i], w) {
					t.Errorf("problem %d = %q, want it about %s", i, lines[i], w)
				}
			}
		})
	}
}
