package output

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/render"
)

// encCells counts the cells of a Markdown table row: the pipes not escaped
// by a backslash, less one.
func encCells(line string) int {
	n, escaped := 0, false
	for _, r := range line {
		switch {
		case escaped:
			escaped = false
		case r == '\\':
			escaped = true
		case r == '|':
			n++
		}
	}
	return n - 1
}

// encIsBidi reports the bidirectional marks and overrides, which could
// reorder what a reader sees.
func encIsBidi(r rune) bool {
	return r == '\u200e' || r == '\u200f' || ('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// TestMessageRenders checks that df_message and df_title render cleanly
// whatever the pods hold: one-line title, tables whose rows keep their
// column count, no raw HTML, no control characters, and the bounds.
func TestMessageRenders(t *testing.T) {
	tests := []struct {
		name           string
		cfg            EncoderConfig
		decision       *detect.Decision
		wantPodRows    int
		wantContainers int
		wantNotes      []string
	}{
		{"anomaly", encTestConfig, encDecision(detect.KindAnomaly), 3, 5, []string{"Showing the 3 of 6 pods with the most restarts."}},
		{"recovery", encTestConfig, encDecision(detect.KindRecovery), 1, 1, []string{"- **Below the thresholds since**: 2026-03-01T11:45:00Z", "- **Previous status**: error"}},
		{"hostile", encHostileConfig, encHostileDecision(), 3, 5, nil},
		{"5000 pods", encTestConfig, encLargeDecision(), render.MaxPods, 3 * render.MaxPods, []string{"Showing the 20 of 5000 pods with the most restarts."}},
		{"recovery of a deleted namespace", encTestConfig, func() *detect.Decision {
			d := encDecision(detect.KindRecovery)
			d.End = detect.EndNamespaceDeleted
			return d
		}(), 1, 1, []string{"- **Ended because**: the namespace was deleted"}},
		{"no pods", encTestConfig, func() *detect.Decision {
			d := encDecision(detect.KindRecovery)
			d.Pods, d.Summary = nil, detect.Summary{}
			return d
		}(), 0, 0, []string{"No pod restarted inside the window."}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := encNewEncoder(t, tc.cfg).Event(tc.decision)
			if err != nil {
				t.Fatal(err)
			}
			title := pt.Get(keyTitle).(string)
			if strings.ContainsFunc(title, isControl) || utf8.RuneCountInString(title) > 300 {
				t.Errorf("title %q: want one line of at most 300 characters", title)
			}
			msg := pt.Get(keyMessage).(string)
			if strings.ContainsFunc(strings.ReplaceAll(msg, "\n", ""), func(r rune) bool {
				return isControl(r) || encIsBidi(r)
			}) {
				t.Errorf("message has control characters other than newlines")
			}
			if strings.ContainsAny(msg, "<>") {
				t.Errorf("message has raw < or >")
			}
			tables, cols, rows := 0, 0, 0
			var rowCounts []int
			for i, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, "|") {
					if cols > 0 {
						rowCounts = append(rowCounts, rows)
					}
					cols, rows = 0, 0
					continue
				}
				n := encCells(line)
				switch {
				case cols == 0:
					tables++
					cols = n
					rows = -1 // the delimiter row follows
				case n != cols:
					t.Errorf("line %d has %d cells, its table %d: %s", i+1, n, cols, line)
				default:
					rows++
				}
			}
			want := []int{tc.wantPodRows, tc.wantContainers}
			if tc.wantPodRows == 0 {
				want = nil
			}
			// The analysis' tables come first; the pods' and containers' last.
			if len(rowCounts) > 2 {
				rowCounts = rowCounts[len(rowCounts)-2:]
			}
			if diff := cmp.Diff(want, rowCounts); diff != "" {
				t.Errorf("rows per table (-want +got):\n%s", diff)
			}
			for _, note := range tc.wantNotes {
				if !strings.Contains(msg, note) {
					t.Errorf("message lacks %q", note)
				}
			}
		})
	}
}
