package render

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The Markdown-safety helpers: every value from the cluster reaches the
// title through plain, a Markdown line or table cell through md, and a code
// block through codeFence and codeText; capMessage bounds the whole.

// IsControl reports the characters that must not reach a tag value or a
// one-line text: C0 and C1 controls (newline, tab, ...) and the Unicode line
// and paragraph separators.
func IsControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// plain makes s one line of plain text of at most limit characters: invalid
// UTF-8 becomes U+FFFD, control and bidirectional-override characters and
// runs of white space become one space.
func plain(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if IsControl(r) || isBidiControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncateRunes(s, limit, "…")
}

// md makes s Markdown text that renders as s itself, on one line and inside
// a table cell: plain, then Markdown's punctuation backslash-escaped and
// HTML's special characters as entities. Empty text becomes "-".
func md(s string, limit int) string {
	s = plain(s, limit)
	if s == "" {
		return "-"
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		case '\\', '`', '*', '_', '[', ']', '|', '~', '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isBidiControl(r rune) bool {
	return r == '\u200e' || r == '\u200f' || ('\u202a' <= r && r <= '\u202e') || ('\u2066' <= r && r <= '\u2069')
}

// truncateRunes cuts s to at most n characters, ending a cut string with
// mark (counted in n).
func truncateRunes(s string, n int, mark string) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	keep, end := n-utf8.RuneCountInString(mark), 0
	for i := range s {
		if keep < 0 {
			break
		}
		end = i
		keep--
	}
	return s[:end] + mark
}

// codeFence returns a backtick fence longer than any run of backticks in
// text, so that text cannot close it.
func codeFence(text string) string {
	longest, run := 0, 0
	for _, r := range text {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

// codeText makes log text safe inside a code block: valid UTF-8, no
// control characters but newlines and tabs, no bidirectional overrides.
func codeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if IsControl(r) || isBidiControl(r) {
			return ' '
		}
		return r
	}, s)
}

// capMessage cuts a message longer than MaxBytes at a line
// boundary, closes a code block left open, and says so.
func capMessage(s, note string) string {
	if len(s) <= MaxBytes {
		return s
	}
	limit := MaxBytes - len(note) - 16
	cut := strings.LastIndexByte(s[:limit], '\n')
	if cut < 0 {
		cut = limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	out := s[:cut]
	// A fence opened and not closed: count the fence lines.
	open := ""
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "```") {
			f := line[:len(line)-len(strings.TrimLeft(line, "`"))]
			switch {
			case open == "":
				open = f
			case f == open && strings.TrimLeft(line, "`") == "":
				open = ""
			}
		}
	}
	if open != "" {
		out += "\n" + open
	}
	return out + "\n\n" + note + "\n"
}
