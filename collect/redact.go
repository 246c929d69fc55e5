package collect

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// Redacted replaces what a redaction matched.
const Redacted = "[REDACTED]"

// Redactor hides secrets in log text. Redact works in passes, each on what
// the previous one left:
//
//  1. terminal escapes are stripped, so that a coloured key name
//     ("\x1b[36mpassword\x1b[0m=x") is still a key name;
//  2. private key blocks (PEM, OpenSSH, PGP) go by a line state machine:
//     from BEGIN to END, or to the end of the text, and a tail that starts
//     inside a block (base64 lines up to an END line, or a run of long
//     base64 lines) goes too;
//  3. each line: values of secret-named keys (to their closing quote or the
//     end of the line), credentials in URLs and DSNs, authorization
//     schemes, and tokens by their published shapes (tokenShapes);
//  4. the configured expressions, over the whole text.
type Redactor struct{ extra []*regexp.Regexp }

// NewRedactor returns a redactor that also applies extra, Go regular
// expressions: each match, or its first group when the expression has one,
// becomes Redacted. Every expression that does not compile is reported.
func NewRedactor(extra []string) (*Redactor, error) {
	r := &Redactor{}
	var errs []error
	for i, e := range extra {
		re, err := regexp.Compile(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("redaction %d %q: %w", i, e, err))
			continue
		}
		r.extra = append(r.extra, re)
	}
	return r, errors.Join(errs...)
}

// Redact returns s with its secrets replaced by Redacted and its terminal
// escapes removed. Lines of a private key block collapse into one.
func (r *Redactor) Redact(s string) string {
	s = stripEscapes(s)
	lines := redactBlocks(strings.Split(s, "\n"))
	for i, l := range lines {
		lines[i] = redactLine(l)
	}
	s = strings.Join(lines, "\n")
	for _, re := range r.extra {
		s = replaceMatches(re, s)
	}
	return s
}

// replaceMatches replaces every match of re in s, or its first group when
// re has groups.
func replaceMatches(re *regexp.Regexp, s string) string {
	if re.NumSubexp() == 0 {
		return re.ReplaceAllLiteralString(s, Redacted)
	}
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		if m[2] < 0 || m[2] < last {
			continue
		}
		b.WriteString(s[last:m[2]])
		b.WriteString(Redacted)
		last = m[3]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// escapeSeq matches terminal escapes (ECMA-48): CSI sequences (colours,
// cursor moves), OSC sequences (titles, hyperlinks) ended by BEL or ST,
// string sequences (DCS, SOS, PM, APC), charset designations and the other
// two-byte escapes; the 8-bit CSI; and the same escapes as JSON or C
// logging libraries print them ("\u001b[31m", "\x1b[31m", "\033[31m").
var escapeSeq = regexp.MustCompile(
	`(?:\x1b|\x{9b})(?:` +
		`\[[0-?]*[ -/]*[@-~]` + // CSI
		`|\][^\x07\x1b]*(?:\x07|\x1b\\|$)` + // OSC
		`|[PX^_][^\x1b]*(?:\x1b\\|$)` + // DCS, SOS, PM, APC
		`|[()*+][0-9A-Za-z]` + // charset designation
		`|[@-Z\\-_]` + // other Fe escapes
		`)?` +
		`|(?:\\u001[bB]|\\x1[bB]|\\033)\[[0-?]*[ -/]*[@-~]`)

// stripEscapes removes terminal escapes.
func stripEscapes(s string) string {
	if !strings.ContainsAny(s, "\x1b\u009b\\") {
		return s
	}
	return escapeSeq.ReplaceAllLiteralString(s, "")
}

var (
	// blockBegin and blockEnd are the armour lines of private keys: PEM
	// ("RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
	// OpenSSH, PGP ("PGP PRIVATE KEY BLOCK", "PGP SECRET KEY BLOCK") and
	// SSH2 ("---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----").
	blockBegin = regexp.MustCompile(`-{4,5} ?BEGIN [A-Z0-9 ]*(?:PRIVATE|SECRET)[A-Z0-9 ]*?-{4,5}`)
	blockEnd   = regexp.MustCompile(`-{4,5} ?END [A-Z0-9 ]*(?:PRIVATE|SECRET)[A-Z0-9 ]*?-{4,5}`)
	// blockHeader is a header inside an armour (RFC 1421 Proc-Type and
	// DEK-Info, PGP Version and Comment, SSH2 Comment and Subject).
	blockHeader = regexp.MustCompile(`^(?:Proc-Type|DEK-Info|Version|Comment|Subject|Hash|Charset): `)
)

// redactBlocks replaces private key blocks in lines by Redacted, one per
// block. A block runs from its BEGIN line to its END line, or up to the
// first line that cannot be inside a key, or to the last line. A tail may start inside a block: the base64 lines before an END
// line without BEGIN go with it, and so does any run of two or more long
// base64 lines.
func redactBlocks(lines []string) []string {
	out := lines[:0:0]
	inBlock := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if inBlock {
			loc := blockEnd.FindStringIndex(l)
			if loc == nil && isBlockBody(l) {
				continue
			}
			if loc == nil {
				// Not a key's line: the block was only named ("expected
				// -----BEGIN RSA PRIVATE KEY-----") or its text was cut.
				inBlock = false
				i--
				continue
			}
			inBlock = false
			l = l[loc[1]:]
			if strings.TrimSpace(l) == "" {
				continue
			}
			// The text after END joins the line that holds Redacted.
			out[len(out)-1] += l
			l = out[len(out)-1]
			out = out[:len(out)-1]
		} else if loc := blockEnd.FindStringIndex(l); loc != nil && !blockBegin.MatchString(l[:loc[0]]) {
			// The tail began inside the block: drop its body lines.
			for len(out) > 0 && (isBlockBody(out[len(out)-1]) || out[len(out)-1] == Redacted) {
				out = out[:len(out)-1]
			}
			l = Redacted + l[loc[1]:]
		} else if isLongBase64(l) && i+1 < len(lines) && isLongBase64(lines[i+1]) {
			for i+1 < len(lines) && isLongBase64(lines[i+1]) {
				i++
			}
			out = append(out, Redacted)
			continue
		}
		// Whole blocks within the line, as a JSON string carries a key
		// ("-----BEGIN PRIVATE KEY-----\nMII...\n-----END PRIVATE KEY-----\n"),
		// then a block that goes on past the line.
		for {
			b := blockBegin.FindStringIndex(l)
			if b == nil {
				break
			}
			e := blockEnd.FindStringIndex(l[b[1]:])
			if e == nil {
				l = l[:b[0]] + Redacted
				inBlock = true
				break
			}
			l = l[:b[0]] + Redacted + l[b[1]+e[1]:]
		}
		out = append(out, l)
	}
	return out
}

// isBlockBody reports whether l may be a line inside a key block: base64
// (the whole line, or a long last field after a prefix such as a
// timestamp), a header, or blank.
func isBlockBody(l string) bool {
	t := strings.TrimSpace(l)
	if t == "" || blockHeader.MatchString(t) {
		return true
	}
	// A short word of letters is text, not the last line of a body.
	f := strings.Trim(t, `"',\`)
	if f != "" && strings.Trim(f, base64Chars) == "" && (len(f) >= 16 || strings.ContainsAny(f, "0123456789+/=")) {
		return true
	}
	return isLongBase64(t)
}

const base64Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="

// isLongBase64 reports whether l ends in a long run of standard base64, as
// the lines of a PEM or PGP body (64 characters) do: at least 40
// characters with upper and lower case letters and digits.
func isLongBase64(l string) bool {
	f := strings.TrimRight(lastField(strings.TrimSpace(l)), "=")
	if len(f) < 40 || strings.Trim(f, base64Chars) != "" {
		return false
	}
	var upper, lower, digit bool
	for _, c := range f {
		upper = upper || unicode.IsUpper(c)
		lower = lower || unicode.IsLower(c)
		digit = digit || unicode.IsDigit(c)
	}
	return upper && lower && digit
}

// lastField is the last space-separated field of l without the quotes and
// commas a string literal puts around it.
func lastField(l string) string {
	if i := strings.LastIndexAny(l, " \t"); i >= 0 {
		l = l[i+1:]
	}
	return strings.Trim(l, `"',\`)
}

// redactLine applies the line rules to one line.
func redactLine(l string) string {
	if l == "" {
		return l
	}
	l = redactKeyValues(l)
	l = redactFlags(l)
	for _, r := range lineRules {
		l = r.apply(l)
	}
	l = redactURLUserinfo(l)
	l = redactBasic(l)
	return l
}

// keyValue finds a key, possibly quoted (also as escaped JSON inside JSON:
// \"key\"), and its separator: "=", ":", ":=" or Ruby's "=>".
var keyValue = regexp.MustCompile(`([A-Za-z][A-Za-z0-9_.-]*)(\\*["']?)[ \t]*(=>|:=|=|:)[ \t]*`)

// redactKeyValues replaces the values of keys that name secrets. A quoted
// value runs to its closing quote (the same quote, escaped the same way),
// else to the end of the line. An unquoted value runs to the end of the
// line, except in these places, where the syntax ends it: a query string or
// cookie (a key after "?", "&" or ";") ends it at "&", ";" or a space; JSON
// (a quoted key) at ",", "}" or "]"; logfmt at a space followed by the next
// key=. Values that only say whether there is a secret (YES, NO, true,
// null, ...) stay, as MySQL's "(using password: YES)" does.
func redactKeyValues(l string) string {
	var b strings.Builder
	pos, done := 0, 0
	for pos < len(l) {
		m := keyValue.FindStringSubmatchIndex(l[pos:])
		if m == nil {
			break
		}
		for i := range m {
			m[i] += pos
		}
		key, closeQuote, sep := l[m[2]:m[3]], l[m[4]:m[5]], l[m[6]:m[7]]
		pos = m[1]
		if !secretKey(key) || (sep == ":" && closeQuote == "" && weakKey(key)) {
			continue
		}
		start := m[1]
		end := valueEnd(l, m[2], start, closeQuote != "")
		if end <= start {
			continue
		}
		v := l[start:end]
		if q := openingQuote(v); q != "" {
			start += len(q)
			end = start + closingQuote(l[start:], q)
			v = l[start:end]
		}
		if harmlessValue(v) {
			pos = end
			continue
		}
		b.WriteString(l[done:start])
		b.WriteString(Redacted)
		done, pos = end, end
	}
	if done == 0 {
		return l
	}
	b.WriteString(l[done:])
	return b.String()
}

// closingQuote returns the index in s of the quote q that closes a value,
// skipping quotes escaped by a backslash, or len(s) when none does. A quote
// after an escaped backslash ("a\\") is skipped too: the value then runs
// further, which only hides more.
func closingQuote(s, q string) int {
	for i := 0; ; {
		j := strings.Index(s[i:], q)
		if j < 0 {
			return len(s)
		}
		if i+j == 0 || s[i+j-1] != '\\' {
			return i + j
		}
		i += j + len(q)
	}
}

// logfmtNext is the start of the next logfmt pair after a value.
var logfmtNext = regexp.MustCompile(`[ \t]+[A-Za-z_][A-Za-z0-9_.-]*=`)

// valueEnd returns where an unquoted value starting at start ends (a quoted
// one is measured by the caller); keyStart is where its key begins.
func valueEnd(l string, keyStart, start int, quotedKey bool) int {
	rest := l[start:]
	if openingQuote(rest) != "" {
		return len(l)
	}
	if strings.HasPrefix(rest, "[") {
		// A list (JSON, Go's http.Header): to its end.
		if i := strings.IndexByte(rest, ']'); i >= 0 {
			return start + i + 1
		}
		return len(l)
	}
	stops := ""
	switch {
	case keyStart > 0 && strings.ContainsRune("?&;", rune(l[keyStart-1])):
		stops = "&; \t\"'"
	case quotedKey:
		stops = ",}] \t"
	}
	end := len(rest)
	if stops != "" {
		if i := strings.IndexAny(rest, stops); i >= 0 {
			end = i
		}
	} else if loc := logfmtNext.FindStringIndex(rest); loc != nil {
		end = loc[0]
	}
	for end > 0 && (rest[end-1] == ' ' || rest[end-1] == '\t') {
		end--
	}
	return start + end
}

// openingQuote returns the quote a value starts with: ", ' or an escaped
// quote (\" in JSON inside JSON), or "".
func openingQuote(v string) string {
	i := 0
	for i < len(v) && v[i] == '\\' {
		i++
	}
	if i < len(v) && (v[i] == '"' || v[i] == '\'') {
		return v[:i+1]
	}
	return ""
}

// harmlessValue reports values that tell only whether a secret is set.
func harmlessValue(v string) bool {
	v = strings.ToLower(strings.TrimRight(strings.TrimSpace(v), ")]},.;"))
	switch v {
	case "", "yes", "no", "true", "false", "null", "nil", "<nil>", "none", "empty", "set", "unset",
		"redacted", "[redacted]", "***", "******", "<redacted>", "<hidden>", "hidden", "masked":
		return true
	}
	return false
}

// secretWords are the last words of key names that hold secrets; a key's
// words come from splitting it at "_", "-", ".", and lower-to-upper case
// changes (DB_PASS, accessToken, x-api-key).
var secretWords = map[string]bool{
	"password": true, "passwd": true, "pass": true, "pwd": true, "passphrase": true, "passcode": true,
	"secret": true, "secrets": true, "token": true, "apikey": true, "auth": true, "authorization": true,
	"credential": true, "credentials": true, "cookie": true, "sessionid": true, "sig": true, "signature": true,
	"privatekey": true, "secretkey": true, "accesskey": true, "accountkey": true, "clientsecret": true,
	"dsn": true, "connectionstring": true,
}

// weakKey reports keys that name a secret only as key=value or quoted:
// "auth: ..." and "PASS: ..." are more often a log's component or a test
// result than a credential.
func weakKey(key string) bool {
	k := strings.ToLower(key)
	return k == "auth" || k == "pass"
}

// secretPairs are the last two words of key names that hold secrets.
var secretPairs = map[[2]string]bool{
	{"api", "key"}: true, {"access", "key"}: true, {"secret", "key"}: true, {"private", "key"}: true,
	{"account", "key"}: true, {"client", "secret"}: true, {"session", "id"}: true, {"signing", "key"}: true,
	{"encryption", "key"}: true, {"master", "key"}: true, {"connection", "string"}: true, {"app", "key"}: true,
}

// secretKey reports whether a key names a secret: its last word, or its
// last two, or a last word ending in one (dbpassword, csrftoken). A key
// ending in another word (secret_name, password_file, max_tokens,
// pass_rate, TokenService.java) names something about a secret.
func secretKey(key string) bool {
	words := splitKey(key)
	if len(words) == 0 {
		return false
	}
	last := words[len(words)-1]
	if secretWords[last] {
		return true
	}
	if len(words) > 1 && secretPairs[[2]string{words[len(words)-2], last}] {
		return true
	}
	for _, suffix := range []string{"password", "passwd", "secret", "token", "apikey"} {
		if strings.HasSuffix(last, suffix) {
			return true
		}
	}
	return false
}

// splitKey splits a key name into lower-case words.
func splitKey(key string) []string {
	var words []string
	var w []rune
	prevLower := false
	for _, c := range key {
		switch {
		case c == '_' || c == '-' || c == '.':
			if len(w) > 0 {
				words = append(words, string(w))
			}
			w, prevLower = w[:0], false
			continue
		case unicode.IsUpper(c) && prevLower:
			words = append(words, string(w))
			w = w[:0]
		}
		prevLower = unicode.IsLower(c) || unicode.IsDigit(c)
		w = append(w, unicode.ToLower(c))
	}
	if len(w) > 0 {
		words = append(words, string(w))
	}
	return words
}

// flagValue is a command-line flag and its value after a space
// ("--password x"; "--password=x" is a key=value).
var flagValue = regexp.MustCompile(`(?:^|[\s"'])--?([A-Za-z][A-Za-z0-9_.-]*)[ \t]+("[^"]*"|'[^']*'|[^\s"'-]\S*)`)

// redactFlags replaces the values of secret-named flags.
func redactFlags(l string) string {
	var b strings.Builder
	done := 0
	for _, m := range flagValue.FindAllStringSubmatchIndex(l, -1) {
		if !secretKey(l[m[2]:m[3]]) || harmlessValue(l[m[4]:m[5]]) || l[m[4]:m[5]] == Redacted {
			continue
		}
		b.WriteString(l[done:m[4]])
		b.WriteString(Redacted)
		done = m[5]
	}
	if done == 0 {
		return l
	}
	b.WriteString(l[done:])
	return b.String()
}

// urlUserinfo is a URL's userinfo: up to the last "@" before the path, so
// that a password holding "@" goes whole (pg://u:p@ss@h).
var urlUserinfo = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://([^\s/?#"'<>]*)@`)

// plainUser is a user name that is no token: a short lower-case word (git,
// postgres, anonymous).
var plainUser = regexp.MustCompile(`^[a-z]{1,15}$`)

// redactURLUserinfo replaces the password of a URL's userinfo, and a user
// name alone unless it is a plain word: a token is often sent as the user
// (https://TOKEN@github.com, a Sentry DSN's key).
func redactURLUserinfo(l string) string {
	var b strings.Builder
	done := 0
	for _, m := range urlUserinfo.FindAllStringSubmatchIndex(l, -1) {
		start, end := m[2], m[3]
		if i := strings.IndexByte(l[start:end], ':'); i >= 0 {
			start += i + 1
		} else if plainUser.MatchString(l[start:end]) {
			continue
		}
		if start == end || l[start:end] == Redacted {
			continue
		}
		b.WriteString(l[done:start])
		b.WriteString(Redacted)
		done = end
	}
	if done == 0 {
		return l
	}
	b.WriteString(l[done:])
	return b.String()
}

// basicCredentials is HTTP Basic authentication's credentials.
var basicCredentials = regexp.MustCompile(`(?i)\bbasic[ \t]+([A-Za-z0-9+/]{4,}={0,2})`)

// redactBasic replaces Basic credentials: base64 of "user:password", which
// tells them from words ("basic auth failed").
func redactBasic(l string) string {
	var b strings.Builder
	done := 0
	for _, m := range basicCredentials.FindAllStringSubmatchIndex(l, -1) {
		dec, err := base64.StdEncoding.DecodeString(l[m[2]:m[3]])
		if err != nil || !strings.Contains(string(dec), ":") {
			continue
		}
		b.WriteString(l[done:m[2]])
		b.WriteString(Redacted)
		done = m[3]
	}
	if done == 0 {
		return l
	}
	b.WriteString(l[done:])
	return b.String()
}

// lineRule is a line rule: an expression and the literals that a line
// must hold one of for it to match (case-insensitively when the expression
// is), "|"-separated. Checking them first spares running most expressions:
// the backtracking matcher on every line costs more than the literals.
type lineRule struct{ expr, hints string }

// compiledRule is a compiled lineRule.
type compiledRule struct {
	re    *regexp.Regexp
	hints []string
	fold  bool
}

// lineRules are the other line rules. A match, or its first group when the
// rule has one, is replaced.
var lineRules = func() []compiledRule {
	var rules []compiledRule
	for _, r := range append(append([]lineRule(nil), credentialRules...), tokenShapes...) {
		fold := strings.HasPrefix(r.expr, "(?i)")
		hints := strings.Split(r.hints, "|")
		if fold {
			for i := range hints {
				hints[i] = strings.ToLower(hints[i])
			}
		}
		rules = append(rules, compiledRule{re: regexp.MustCompile(r.expr), hints: hints, fold: fold})
	}
	return rules
}()

// apply replaces what r matches in l.
func (r compiledRule) apply(l string) string {
	text := l
	if r.fold {
		text = strings.ToLower(l)
	}
	for _, h := range r.hints {
		if strings.Contains(text, h) {
			return replaceMatches(r.re, l)
		}
	}
	return l
}

// credentialRules find credentials by their context.
var credentialRules = []lineRule{
	// Bearer tokens (RFC 6750 b64token), long enough not to be a word.
	{`(?i)\bbearer[ \t]+([A-Za-z0-9\-._~+/]{12,}=*)`, "bearer"},
	// Go MySQL driver DSNs: user:password@tcp(host)/db; the password runs
	// to the last "@" before the protocol.
	{`[A-Za-z0-9_.-]*:(\S*)@(?:tcp6?|udp|unix)\(`, "@tcp|@udp|@unix"},
	// Azure storage connection strings and SAS tokens.
	{`(?i)\b(?:AccountKey|SharedAccessKey)=([^;\s"']+)`, "accountkey|accesskey"},
	// AWS secret access keys next to a name mentioning aws.
	{`(?i)aws[A-Za-z0-9_.-]{0,20}["']?[ \t]*[:=][ \t]*["']?([A-Za-z0-9/+=]{40})\b`, "aws"},
}

// tokenShapes are secrets recognised by their own shape, from the formats
// their issuers document and the public rule sets of secret scanners
// (gitleaks' config/gitleaks.toml, GitHub's secret scanning patterns).
var tokenShapes = []lineRule{
	// GitHub: personal, OAuth, user-to-server, server-to-server, refresh
	// tokens, fine-grained personal tokens.
	{`\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}\b`, "ghp_|gho_|ghu_|ghs_|ghr_"},
	{`\bgithub_pat_[A-Za-z0-9_]{22,255}\b`, "github_pat_"},
	// GitLab: personal, pipeline trigger, deploy, runner, OAuth, feed,
	// incoming mail, SCIM tokens; runner registration tokens.
	{`\bgl(?:pat|ptt|dt|rt|oas|ft|imt|soat|cbt|agent|sat)-[A-Za-z0-9_-]{20,}`, "gl"},
	{`\bGR1348941[A-Za-z0-9_-]{20,}`, "GR1348941"},
	// Slack: bot, user, app-level, configuration tokens; webhooks.
	{`\bxox[abposre]-[A-Za-z0-9-]{10,}`, "xox"},
	{`\bxapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+`, "xapp-"},
	{`https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_+-]+`, "hooks.slack.com"},
	// Discord and Microsoft Teams webhooks.
	{`https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+`, "discord"},
	{`https://[a-z0-9-]+\.webhook\.office\.com/webhookb2/[^\s"']+`, "webhook.office.com"},
	// Stripe secret, restricted and publishable keys; webhook secrets.
	{`\b(?:sk|rk|pk)_(?:test|live|prod)_[A-Za-z0-9]{10,99}\b`, "_test_|_live_|_prod_"},
	{`\bwhsec_[A-Za-z0-9]{24,}`, "whsec_"},
	// AWS access key IDs (and other IAM unique IDs with their prefixes).
	{`\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA)[A-Z0-9]{16}\b`, "A3T|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA"},
	// Google: API keys, OAuth client secrets, OAuth access tokens.
	{`\bAIza[A-Za-z0-9_-]{35}`, "AIza"},
	{`\bGOCSPX-[A-Za-z0-9_-]{28}`, "GOCSPX-"},
	{`\bya29\.[A-Za-z0-9_-]{20,}`, "ya29."},
	// Alibaba Cloud and Tencent Cloud access key IDs.
	{`\bLTAI[A-Za-z0-9]{12,20}\b`, "LTAI"},
	{`\bAKID[A-Za-z0-9]{13,40}\b`, "AKID"},
	// OpenAI, Anthropic and other "sk-" API keys.
	{`\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}`, "sk-"},
	// Hugging Face, npm, PyPI, Docker Hub, RubyGems, NuGet tokens.
	{`\bhf_[A-Za-z]{34,}`, "hf_"},
	{`\bnpm_[A-Za-z0-9]{36}\b`, "npm_"},
	{`\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}`, "pypi-"},
	{`\bdckr_pat_[A-Za-z0-9_-]{27,}`, "dckr_pat_"},
	{`\brubygems_[a-f0-9]{48}\b`, "rubygems_"},
	{`\boy2[a-z0-9]{43}\b`, "oy2"},
	// SendGrid, Mailgun, Mailchimp, Twilio API keys.
	{`\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b`, "SG."},
	{`\bkey-[a-f0-9]{32}\b`, "key-"},
	{`\b[a-f0-9]{32}-us[0-9]{1,2}\b`, "-us"},
	{`\bSK[0-9a-fA-F]{32}\b`, "SK"},
	// Shopify, Square, Linear, Postman, Pulumi, Doppler, Databricks,
	// DigitalOcean, New Relic, Grafana, Atlassian, Hashicorp Vault and
	// Terraform Cloud tokens.
	{`\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b`, "shp"},
	{`\bsq0(?:atp|csp)-[A-Za-z0-9_-]{22,43}`, "sq0"},
	{`\blin_(?:api|oauth)_[A-Za-z0-9]{40}\b`, "lin_"},
	{`\bPMAK-[a-f0-9]{24}-[a-f0-9]{34}\b`, "PMAK-"},
	{`\bpul-[a-f0-9]{40}\b`, "pul-"},
	{`\bdp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}\b`, "dp."},
	{`\bdapi[a-f0-9]{32}(?:-\d)?\b`, "dapi"},
	{`\bdo[por]_v1_[a-f0-9]{64}\b`, "_v1_"},
	{`\bNRAK-[A-Z0-9]{27}\b`, "NRAK-"},
	{`\bglc_[A-Za-z0-9+/]{32,}={0,2}`, "glc_"},
	{`\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b`, "glsa_"},
	{`\bATATT3[A-Za-z0-9_=-]{100,}`, "ATATT3"},
	{`\bhv[sbr]\.[A-Za-z0-9_-]{24,}`, "hvs.|hvb.|hvr."},
	{`\b[a-zA-Z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}`, ".atlasv1."},
	// Telegram bot tokens, also in the Bot API's URLs (/bot<token>/).
	{`(?:\b|bot)[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b`, ":AA"},
	// Azure AD client secrets.
	{`\b[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}`, "Q~"},
	// age secret keys.
	{`\bAGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}\b`, "AGE-SECRET-KEY-1"},
	// JSON web tokens, also cut to their header and payload, and JWE.
	{`\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,3}`, "eyJ"},
}
