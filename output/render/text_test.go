package render

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// cells counts the cells of a Markdown table row: the pipes not escaped
// by a backslash, less one.
func cells(line string) int {
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
		{"truncated", strings.Repeat("x", 200), strings.Repeat("x", MaxText-1) + "…"},
		{"truncated before escaping", strings.Repeat("|", 200), strings.Repeat(`\|`, MaxText-1) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := md(tc.in, MaxText)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("md(%q) (-want +got):\n%s", tc.in, diff)
			}
			if cells("|"+got+"|") != 1 {
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

func TestCodeFence(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "```"},
		{"a ``` b", "````"},
		{"`````", "``````"},
	} {
		if got := codeFence(tc.in); got != tc.want {
			t.Errorf("codeFence(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCapMessage(t *testing.T) {
	short := "### x\n\nshort\n"
	if got := capMessage(short, "cut"); got != short {
		t.Errorf("a short message changed: %q", got)
	}
	long := "### x\n\n```text\n" + strings.Repeat("a line of a log\n", MaxBytes/8)
	got := capMessage(long, "cut")
	if len(got) > MaxBytes {
		t.Errorf("capped message is %d bytes, want at most %d", len(got), MaxBytes)
	}
	if !strings.HasSuffix(got, "\n```\n\ncut\n") {
		t.Errorf("capped message does not close its code block and end with the note: %q", got[len(got)-40:])
	}
}
