package output

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
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

func TestMD(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "shop-api-7d9f8", "shop-api-7d9f8"},
		{"empty", "", "-"},
		{"only white space", " \n\t", "-"},
		{"pipe", "a|b", `a\|b`},
		{"backticks", "`code`", "\\`code\\`"},
		{"html", "<script>&", "&lt;script&gt;&amp;"},
		{"emphasis and links", "*a* _b_ [c](d) ~e~ #f", `\*a\* \_b\_ \[c\](d) \~e\~ \#f`},
		{"backslashes", `a\b\`, `a\\b\\`},
		{"newlines and tabs", "a\nb\r\n\tc", "a b c"},
		{"control characters", "a\x00b\x1bc\x7fd\u0085e\u2028f", "a b c d e f"},
		{"bidi override", "abc\u202edef\u2066", "abc def"},
		{"invalid UTF-8", "a\xffb", "a\uFFFDb"},
		{"unicode", "中文 🚀 é", "中文 🚀 é"},
		{"truncated", strings.Repeat("x", 200), strings.Repeat("x", maxMessageText-1) + "…"},
		{"truncated before escaping", strings.Repeat("|", 200), strings.Repeat(`\|`, maxMessageText-1) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := md(tc.in, maxMessageText)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("md(%q) (-want +got):\n%s", tc.in, diff)
			}
			if encCells("|"+got+"|") != 1 {
				t.Errorf("md(%q) = %q splits a table cell", tc.in, got)
			}
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		mark string
		want string
	}{
		{"short", "abc", 3, "…", "abc"},
		{"cut", "abcdef", 4, "…", "abc…"},
		{"cut multibyte", "中文字符串", 3, "…", "中文…"},
		{"no mark", "0123456789abcdef", 12, "", "0123456789ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncateRunes(tc.in, tc.n, tc.mark)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if utf8.RuneCountInString(got) > tc.n {
				t.Errorf("%q is longer than %d characters", got, tc.n)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{400 * time.Millisecond, "0s"},
		{45 * time.Second, "45s"},
		{30 * time.Minute, "30m"},
		{65 * time.Minute, "1h5m"},
		{2*time.Hour + 5*time.Second, "2h5s"},
		{49 * time.Hour, "49h"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := shortDuration(tc.in); got != tc.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPercent(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0%"}, {0.3, "30%"}, {1.0 / 3, "33.3%"}, {2.0 / 3, "66.7%"}, {0.05, "5%"}, {1, "100%"}, {0.0004, "0%"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := percent(tc.in); got != tc.want {
				t.Errorf("percent(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
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
		{"5000 pods", encTestConfig, encLargeDecision(), maxMessagePods, 3 * maxMessagePods, []string{"Showing the 20 of 5000 pods with the most restarts."}},
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
			if strings.ContainsFunc(strings.ReplaceAll(msg, "\n", ""), func(r rune) bool { return isControl(r) || isBidiControl(r) }) {
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

// TestCatalogsComplete checks every language has a text for every kind and
// level and as many column names per table.
func TestCatalogsComplete(t *testing.T) {
	kinds := []detect.Kind{detect.KindAnomaly, detect.KindEscalation, detect.KindReminder, detect.KindRecovery}
	levels := []detect.Level{detect.LevelNone, detect.LevelWarning, detect.LevelError, detect.LevelCritical}
	for lang, m := range catalogs {
		t.Run(lang, func(t *testing.T) {
			for _, k := range kinds {
				if m.titles[k] == "" || m.headings[k] == "" || m.kinds[k] == "" {
					t.Errorf("no title, heading or name for %s", k)
				}
			}
			for _, l := range levels {
				if m.levels[l] == "" {
					t.Errorf("no name for level %s", l)
				}
			}
			for _, e := range []detect.EndReason{detect.EndNoPods, detect.EndNamespaceDeleted, detect.EndExcluded, detect.EndDisabled} {
				if m.ends[e] == "" {
					t.Errorf("no text for the end reason %s", e)
				}
			}
			if got, want := len(m.podColumns("30m")), len(english.podColumns("30m")); got != want {
				t.Errorf("%d pod columns, want %d", got, want)
			}
			if got, want := len(m.containerColumns("30m")), len(english.containerColumns("30m")); got != want {
				t.Errorf("%d container columns, want %d", got, want)
			}
		})
	}
}
