package collect

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// Secrets in this file are built from these alphabets at run time, in the
// shapes their issuers document, so that the file itself holds no string a
// secret scanner would flag and no real secret.
const (
	alnum  = "aB3dE5fG7hJ9kL2mN4pQ6rS8tU0vW1xYz"
	hexLow = "0123456789abcdef"
	upperD = "ABCDEFGHJKLMNPQRSTUVWXYZ234567"
	b64    = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7+/"
)

// fakeSecret returns n characters cycled from alphabet, starting at an offset so
// that two fakes of one alphabet differ.
func fakeSecret(alphabet string, n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteByte(alphabet[(i*7+n)%len(alphabet)])
	}
	return b.String()
}

// pemBody returns n lines of 64 base64 characters, as a PEM body has.
func pemBody(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fakeSecret(b64[i%5:], 64)
	}
	return lines
}

func pemKey(kind string, bodyLines int) string {
	return "-----BEGIN " + kind + "-----\n" + strings.Join(pemBody(bodyLines), "\n") + "\n-----END " + kind + "-----"
}

// TestRedactSecretCorpus feeds real-world secret formats through the
// default redactor and checks that none of each case's secrets is left.
func TestRedactSecretCorpus(t *testing.T) {
	r, err := NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	pw := "S3cr3t-" + fakeSecret(alnum, 10)
	body := pemBody(25)
	keyJSONValue := strings.ReplaceAll(pemKey("PRIVATE KEY", 3), "\n", `\n`) + `\n`
	tests := []struct {
		name    string
		text    string
		secrets []string // each must be gone
	}{
		// key = value, in the syntaxes logs use.
		{"logfmt", "level=error msg=connect password=" + pw + " user=app", []string{pw}},
		{"value with a comma", "password=Sup3r," + pw, []string{"Sup3r", pw}},
		{"value with a quote inside", `password="Sup3r'` + pw + `"`, []string{"Sup3r", pw}},
		{"single-quoted value", `password='correct horse ` + pw + `'`, []string{"horse", pw}},
		{"JSON value with spaces", `{"user":"app","password": "correct horse battery staple"}`, []string{"correct", "horse", "battery", "staple"}},
		{"escaped quote in a JSON value", `{"password":"Sup3r\"` + pw + `","user":"app"}`, []string{pw}},
		{"escaped quote in escaped JSON", `{"log":"{\"password\":\"a\\\"` + pw + `\"}"}`, []string{pw}},
		{"escaped JSON in JSON", `{"log":"{\"user\":\"app\",\"password\":\"` + pw + `\"}"}`, []string{pw}},
		{"Ruby hash", `{"password" => "` + pw + `", "user" => "app"}`, []string{pw}},
		{"auth in JSON", `{"auths":{"registry.example":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("u:"+pw)) + `"}}}`, []string{base64.StdEncoding.EncodeToString([]byte("u:" + pw))}},
		{"auth=", "auth=" + pw, []string{pw}},
		{"Go struct", "config: {User:app Password:" + pw + "}", []string{pw}},
		{"YAML", "  password: correct horse battery staple", []string{"horse", "staple"}},
		{"env var DB_PASS", "DB_PASS=" + pw, []string{pw}},
		{"env var MYSQL_ROOT_PASSWORD", "export MYSQL_ROOT_PASSWORD=" + pw, []string{pw}},
		{"env var PGPASSWORD", "PGPASSWORD=" + pw + " psql -h db", []string{pw}},
		{"camelCase accessToken", `{"accessToken":"` + fakeSecret(alnum, 40) + `"}`, []string{fakeSecret(alnum, 40)}},
		{"refresh_token", "refresh_token=" + fakeSecret(alnum, 30), []string{fakeSecret(alnum, 30)}},
		{"client_secret", "client_secret: " + fakeSecret(alnum, 32), []string{fakeSecret(alnum, 32)}},
		{"x-api-key header", "X-Api-Key: " + fakeSecret(hexLow, 32), []string{fakeSecret(hexLow, 32)}},
		{"apikey", "apikey=" + fakeSecret(alnum, 24), []string{fakeSecret(alnum, 24)}},
		{"passphrase", "passphrase := " + pw, []string{pw}},
		{"secret with spaces to the end of the line", "secret: it is " + pw, []string{pw}},
		{"query string token", "GET /callback?code=1&token=" + fakeSecret(alnum, 20) + "&state=x HTTP/1.1", []string{fakeSecret(alnum, 20)}},
		{"CLI flag with a space", "exec: mysqldump --user app --password " + pw + " shop", []string{pw}},
		{"CLI flag with =", "args: [--db-password=" + pw + "]", []string{pw}},
		{"CLI flag quoted", `run --token "` + fakeSecret(alnum, 28) + `" --verbose`, []string{fakeSecret(alnum, 28)}},
		{"Cookie header", "Cookie: sessionid=" + fakeSecret(alnum, 32) + "; csrftoken=" + fakeSecret(alnum, 31), []string{fakeSecret(alnum, 32), fakeSecret(alnum, 31)}},
		{"Set-Cookie", "Set-Cookie: session=" + fakeSecret(alnum, 33) + "; Path=/; HttpOnly", []string{fakeSecret(alnum, 33)}},
		{"coloured key name", "\x1b[36mpassword\x1b[0m=" + pw, []string{pw}},
		{"coloured key in JSON-escaped form", `{"msg":"\u001b[36mpassword\u001b[0m=` + pw + `"}`, []string{pw}},
		// Authorization schemes.
		{"Authorization Bearer", "Authorization: Bearer " + fakeSecret(alnum, 40), []string{fakeSecret(alnum, 40)}},
		{"Authorization token", "Authorization: token " + fakeSecret(hexLow, 40), []string{fakeSecret(hexLow, 40)}},
		{"Authorization Basic", "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+pw)), []string{base64.StdEncoding.EncodeToString([]byte("app:" + pw))}},
		{"header list in JSON", `{"headers":{"Authorization":["Bearer ` + fakeSecret(alnum, 20) + `"],"Accept":["*/*"]}}`, []string{fakeSecret(alnum, 20)}},
		{"Go http.Header", "header map[Authorization:[Token " + fakeSecret(alnum, 21) + "] Cookie:[sid=" + fakeSecret(alnum, 22) + "]]", []string{fakeSecret(alnum, 21), fakeSecret(alnum, 22)}},
		{"bearer alone", "retrying with bearer " + fakeSecret(alnum, 36), []string{fakeSecret(alnum, 36)}},
		{"basic alone", "sent basic " + base64.StdEncoding.EncodeToString([]byte("u:"+pw)) + " to proxy", []string{base64.StdEncoding.EncodeToString([]byte("u:" + pw))}},
		// Credentials in URLs and DSNs.
		{"URL password", "dial postgres://app:" + pw + "@db:5432/shop", []string{pw}},
		{"URL empty user", "redis://:" + pw + "@cache:6379/0", []string{pw}},
		{"URL password with @", "pg://u:p@ss" + pw + "@db/x", []string{"p@ss", pw}},
		{"URL token as user", "git clone https://" + fakeSecret(alnum, 40) + "@github.com/org/repo", []string{fakeSecret(alnum, 40)}},
		{"short token as URL user", "remote https://ghp_x@github.com/org/repo", []string{"ghp_x"}},
		{"GitHub token in a URL", "https://ghp_" + fakeSecret(alnum, 36) + "@github.com/org/repo.git", []string{fakeSecret(alnum, 36)}},
		{"Sentry DSN", "SENTRY_URL=https://" + fakeSecret(hexLow, 32) + "@o123.ingest.sentry.io/456", []string{fakeSecret(hexLow, 32)}},
		{"Go MySQL DSN", "open app:" + pw + "@tcp(db:3306)/shop?parseTime=true: connection refused", []string{pw}},
		{"Azure storage connection string", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=" + fakeSecret(b64, 86) + "==;EndpointSuffix=core.windows.net", []string{fakeSecret(b64, 86)}},
		{"Azure SAS signature", "GET https://acct.blob.core.windows.net/c/b?sv=2022-11-02&se=2026-12-07&sig=" + fakeSecret(alnum, 43) + "%3D", []string{fakeSecret(alnum, 43)}},
		{"Azure Service Bus", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=" + fakeSecret(b64, 44), []string{fakeSecret(b64, 44)}},
		// Tokens by their shape, anywhere.
		{"GitHub personal token", "using ghp_" + fakeSecret(alnum, 36), []string{fakeSecret(alnum, 36)}},
		{"GitHub OAuth token", "gho_" + fakeSecret(alnum, 36), []string{fakeSecret(alnum, 36)}},
		{"GitHub app token", "ghs_" + fakeSecret(alnum, 36) + " expired", []string{fakeSecret(alnum, 36)}},
		{"GitHub fine-grained token", "github_pat_11" + fakeSecret(alnum, 20) + "_" + fakeSecret(alnum, 59), []string{fakeSecret(alnum, 59)}},
		{"GitLab personal token", "glpat-" + fakeSecret(alnum, 20), []string{fakeSecret(alnum, 20)}},
		{"GitLab runner registration", "GR1348941" + fakeSecret(alnum, 20), []string{fakeSecret(alnum, 20)}},
		{"Slack bot token", "xoxb-" + fakeSecret("0123456789", 12) + "-" + fakeSecret("0123456789", 13) + "-" + fakeSecret(alnum, 24), []string{fakeSecret(alnum, 24)}},
		{"Slack user token", "xoxp-" + fakeSecret("0123456789", 12) + "-" + fakeSecret(alnum, 32), []string{fakeSecret(alnum, 32)}},
		{"Slack app token", "xapp-1-A" + fakeSecret(upperD, 10) + "-" + fakeSecret("0123456789", 13) + "-" + fakeSecret(hexLow, 64), []string{fakeSecret(hexLow, 64)}},
		{"Slack webhook", "POST https://hooks.slack.com/services/T" + fakeSecret(upperD, 8) + "/B" + fakeSecret(upperD, 8) + "/" + fakeSecret(alnum, 24) + " failed", []string{fakeSecret(alnum, 24)}},
		{"Discord webhook", "https://discord.com/api/webhooks/123456789012345678/" + fakeSecret(alnum, 68), []string{fakeSecret(alnum, 68)}},
		{"Teams webhook", "https://contoso.webhook.office.com/webhookb2/" + fakeSecret(hexLow, 36) + "@" + fakeSecret(hexLow, 36), []string{fakeSecret(hexLow, 36)}},
		{"Stripe secret key", "stripe: sk_live_" + fakeSecret(alnum, 24), []string{fakeSecret(alnum, 24)}},
		{"Stripe restricted key", "rk_live_" + fakeSecret(alnum, 24), []string{fakeSecret(alnum, 24)}},
		{"Stripe webhook secret", "whsec_" + fakeSecret(alnum, 32), []string{fakeSecret(alnum, 32)}},
		{"AWS access key ID", "using AKIA" + fakeSecret(upperD, 16), []string{fakeSecret(upperD, 16)}},
		{"AWS temporary key ID", "ASIA" + fakeSecret(upperD, 16) + " assumed", []string{fakeSecret(upperD, 16)}},
		{"AWS secret access key", "aws_secret_access_key = " + fakeSecret(b64, 40), []string{fakeSecret(b64, 40)}},
		{"Google API key", "key AIza" + fakeSecret(alnum, 35), []string{fakeSecret(alnum, 35)}},
		{"Google OAuth client secret", "GOCSPX-" + fakeSecret(alnum, 28), []string{fakeSecret(alnum, 28)}},
		{"Google OAuth access token", "ya29." + fakeSecret(alnum, 60), []string{fakeSecret(alnum, 60)}},
		{"Alibaba Cloud AccessKey ID", "LTAI" + fakeSecret(alnum, 20), []string{fakeSecret(alnum, 20)}},
		{"Tencent Cloud SecretId", "AKID" + fakeSecret(alnum, 32), []string{fakeSecret(alnum, 32)}},
		{"OpenAI key", "sk-proj-" + fakeSecret(alnum, 48), []string{fakeSecret(alnum, 48)}},
		{"Anthropic key", "sk-ant-api03-" + fakeSecret(alnum, 93) + "AA", []string{fakeSecret(alnum, 93)}},
		{"Hugging Face token", "hf_" + fakeSecret("abcdefghijkLMNOPQRSTuvwxyz", 34), []string{fakeSecret("abcdefghijkLMNOPQRSTuvwxyz", 34)}},
		{"npm token", "//registry.npmjs.org/:_authToken=npm_" + fakeSecret(alnum, 36), []string{fakeSecret(alnum, 36)}},
		{"npm token alone", "npm_" + fakeSecret(alnum, 36), []string{fakeSecret(alnum, 36)}},
		{"PyPI token", "pypi-AgEIcHlwaS5vcmc" + fakeSecret(alnum, 60), []string{fakeSecret(alnum, 60)}},
		{"Docker Hub token", "dckr_pat_" + fakeSecret(alnum, 27), []string{fakeSecret(alnum, 27)}},
		{"SendGrid key", "SG." + fakeSecret(alnum, 22) + "." + fakeSecret(alnum, 43), []string{fakeSecret(alnum, 22), fakeSecret(alnum, 43)}},
		{"Mailgun key", "key-" + fakeSecret(hexLow, 32), []string{fakeSecret(hexLow, 32)}},
		{"Twilio API key", "SK" + fakeSecret(hexLow, 32), []string{fakeSecret(hexLow, 32)}},
		{"Shopify access token", "shpat_" + fakeSecret(hexLow, 32), []string{fakeSecret(hexLow, 32)}},
		{"Square access token", "sq0atp-" + fakeSecret(alnum, 22), []string{fakeSecret(alnum, 22)}},
		{"Linear API key", "lin_api_" + fakeSecret(alnum, 40), []string{fakeSecret(alnum, 40)}},
		{"Postman API key", "PMAK-" + fakeSecret(hexLow, 24) + "-" + fakeSecret(hexLow, 34), []string{fakeSecret(hexLow, 24), fakeSecret(hexLow, 34)}},
		{"Databricks token", "dapi" + fakeSecret(hexLow, 32), []string{fakeSecret(hexLow, 32)}},
		{"DigitalOcean token", "dop_v1_" + fakeSecret(hexLow, 64), []string{fakeSecret(hexLow, 64)}},
		{"New Relic user key", "NRAK-" + fakeSecret(upperD, 27), []string{fakeSecret(upperD, 27)}},
		{"Grafana service account token", "glsa_" + fakeSecret(alnum, 32) + "_" + fakeSecret(hexLow, 8), []string{fakeSecret(alnum, 32)}},
		{"Vault service token", "X-Vault-Token hvs." + fakeSecret(alnum, 90), []string{fakeSecret(alnum, 90)}},
		{"Terraform Cloud token", fakeSecret(alnum, 14) + ".atlasv1." + fakeSecret(alnum, 67), []string{fakeSecret(alnum, 67)}},
		{"Telegram bot token", "bot" + "1234567890:AA" + fakeSecret(alnum, 33), []string{fakeSecret(alnum, 33)}},
		{"Azure AD client secret", "abc8Q~" + fakeSecret(alnum, 34), []string{fakeSecret(alnum, 34)}},
		{"age secret key", "AGE-SECRET-KEY-1" + fakeSecret("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58), []string{fakeSecret("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)}},
		{"JSON web token", "jwt eyJhbGciOiJIUzI1NiJ9." + fakeSecret(alnum, 40) + "." + fakeSecret(alnum, 43) + " here", []string{fakeSecret(alnum, 40), fakeSecret(alnum, 43)}},
		{"JSON web token cut to two segments", "claims eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6", []string{"eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6"}},
		// Private keys.
		{"PEM key", "loading\n" + pemKey("RSA PRIVATE KEY", 5) + "\ndone", body[:0]},
		{"PEM key behind a JSON key", `{"type":"service_account","private_key":"` + keyJSONValue + `","client_email":"x@y"}`, []string{pemBody(3)[1]}},
		{"PEM key in JSON cut inside", `{"private_key":"-----BEGIN PRIVATE KEY-----\n` + pemBody(1)[0] + `\n` + pemBody(2)[1][:30], []string{pemBody(1)[0], pemBody(2)[1][:30]}},
		{"PEM key behind a YAML key", "private_key: -----BEGIN PRIVATE KEY-----\n" + strings.Join(pemBody(4), "\n") + "\n-----END PRIVATE KEY-----", pemBody(4)},
		{"YAML block scalar", "tls:\n  key: |\n    -----BEGIN EC PRIVATE KEY-----\n    " + strings.Join(pemBody(3), "\n    ") + "\n    -----END EC PRIVATE KEY-----\n  other: 1", pemBody(3)},
		{"encrypted PEM with headers", "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC," + fakeSecret(hexLow, 32) + "\n\n" + strings.Join(pemBody(3), "\n") + "\n-----END RSA PRIVATE KEY-----", append(pemBody(3), fakeSecret(hexLow, 32))},
		{"OpenSSH key", pemKey("OPENSSH PRIVATE KEY", 4), pemBody(4)},
		{"PGP private key block", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nVersion: GnuPG v2\n\n" + strings.Join(pemBody(4), "\n") + "\n=" + fakeSecret(alnum, 4) + "\n-----END PGP PRIVATE KEY BLOCK-----", pemBody(4)},
		{"key never closed in the tail", "boot\n-----BEGIN PRIVATE KEY-----\n" + strings.Join(pemBody(6), "\n"), pemBody(6)},
		{"tail starting inside a key", strings.Join(body[7:], "\n") + "\n-----END PRIVATE KEY-----\nserver started", body[7:]},
		{"tail starting inside a key, short last line", strings.Join(body[20:], "\n") + "\n" + body[0][:12] + "\n-----END PRIVATE KEY-----", append(body[20:], body[0][:12])},
		{"tail inside a key, no END", "fatal: bad key\n" + strings.Join(body[:6], "\n"), body[:6]},
		{"SSH2 key", "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nComment: \"rsa-key\"\n" + strings.Join(pemBody(3), "\n") + "\n---- END SSH2 ENCRYPTED PRIVATE KEY ----", pemBody(3)},
	}
	if n := len(tests); n < 60 {
		t.Fatalf("the corpus has %d cases; the issue asks for at least 60", n)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := r.Redact(tc.text)
			for _, s := range tc.secrets {
				if strings.Contains(got, s) {
					t.Errorf("Redact(%q)\n= %q\nstill holds %q", tc.text, got, s)
				}
			}
			if strings.Contains(tc.text, "PRIVATE KEY") || strings.Contains(tc.text, "BEGIN SSH2") {
				for _, l := range pemBody(25) {
					if strings.Contains(got, l) {
						t.Errorf("Redact(%q)\n= %q\nstill holds a key line", tc.text, got)
					}
				}
			}
			if !strings.Contains(got, Redacted) {
				t.Errorf("Redact(%q) = %q, without %s", tc.text, got, Redacted)
			}
		})
	}
}

// TestRedactKeepsEvidence feeds ordinary log lines, what a root-cause
// analysis needs, through the default redactor: none may change.
func TestRedactKeepsEvidence(t *testing.T) {
	r, err := NewRedactor(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, text string }{
		{"Go panic", "panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a5b6c]\n\ngoroutine 1 [running]:\nmain.(*Server).handle(0xc000123456, {0x7ffd, 0xc0001a2b3c})\n\t/app/internal/auth/token.go:123 +0x1d\nmain.main()\n\t/app/main.go:42 +0x2b\nexit status 2"},
		{"Go fatal error", "fatal error: concurrent map writes\n\ngoroutine 18 [running]:\ninternal/runtime/maps.fatal({0x1b2c3d, 0x15})"},
		{"Go OOM", "fatal error: runtime: out of memory\nruntime.throw({0x9f8e7d?, 0x0?})"},
		{"Java stack trace", "Exception in thread \"main\" java.lang.IllegalStateException: token cache not initialised\n\tat com.example.auth.TokenService.validate(TokenService.java:42)\n\tat com.example.auth.PasswordEncoder.matches(PasswordEncoder.java:17)\nCaused by: java.net.ConnectException: Connection refused (Connection refused)\n\t... 12 more"},
		{"Python traceback", "Traceback (most recent call last):\n  File \"/app/auth.py\", line 12, in login\n    check_password(user, pw)\nKeyError: 'password'"},
		{"Node error", "Error: connect ECONNREFUSED 10.0.0.12:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)"},
		{"JSON access log", `{"time":"2026-12-06T20:41:02Z","remote_addr":"10.1.2.3","method":"POST","path":"/api/v1/token","status":401,"bytes":123,"duration_ms":4.2,"user_agent":"curl/8.5.0"}`},
		{"JSON access log with auth path", `{"level":"info","msg":"request","uri":"/oauth/authorize?client_id=shop&response_type=code","status":302}`},
		{"nginx combined log", `10.0.0.1 - - [06/Dec/2026:20:41:02 +0000] "GET /login HTTP/1.1" 200 612 "-" "Mozilla/5.0 (X11; Linux x86_64)"`},
		{"logfmt", `level=warn ts=2026-12-06T20:41:02Z caller=auth.go:88 msg="token expired" user=alice max_tokens=4096 pass_rate=0.97`},
		{"MySQL access denied", "ERROR 1045 (28000): Access denied for user 'app'@'10.0.0.7' (using password: YES)"},
		{"MySQL without password", "Access denied for user 'root'@'localhost' (using password: NO)"},
		{"Postgres auth failure", `FATAL:  password authentication failed for user "app"`},
		{"Postgres duplicate key", `ERROR:  duplicate key value violates unique constraint "users_email_key"` + "\nDETAIL:  Key (email)=(a@example.com) already exists."},
		{"SQL syntax error", "pq: syntax error at or near \"FROM\" (SQLSTATE 42601)\nquery: SELECT id, name FROM users WHERE id = $1"},
		{"Kubernetes field names", `secretName: db-credentials secretKeyRef.name=db tokenExpirationSeconds: 3600 password_file=/run/secrets/db`},
		{"words that are not credentials", "basic auth failed; bearer token missing; the secret santa list; pass rate 99%"},
		{"OOM killer", "Out of memory: Killed process 1234 (java) total-vm:4194304kB, anon-rss:262144kB, file-rss:0kB, shmem-rss:0kB"},
		{"hashes and IDs", "image sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 pulled, request id 123e4567-e89b-12d3-a456-426614174000"},
		{"container ID", "containerd://8c2f1b9e4a7d6c5b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"},
		{"URL without credentials", "GET https://api.example.com:8443/v1/users?page=2 -> 503 Service Unavailable"},
		{"URL with a user only", "cloning ssh://git@github.com/org/repo.git"},
		{"Windows path", `open C:\etc\app\config.yaml: The system cannot find the file specified.`},
		{"tabs and unicode", "处理失败\t重试 3 次\tretry=3"},
		{"blank lines kept", "first\n\n\nlast"},
		{"probe failure", `Liveness probe failed: Get "http://10.0.0.5:8080/healthz": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`},
		{"component and test result prefixes", "auth: user bob logged in\n--- PASS: TestLogin (0.01s)\nPASS"},
		{"a certificate is no secret", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.text, r.Redact(tc.text)); diff != "" {
				t.Errorf("Redact changed an ordinary log (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRedactOutput pins what redaction leaves, where the corpus tests only
// check what it removes.
func TestRedactOutput(t *testing.T) {
	r, err := NewRedactor([]string{`session=(\w+)`, `internal-host-\d+`})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"logfmt keeps the next pair", "msg=login password=hunter2 user=bob", "msg=login password=[REDACTED] user=bob"},
		{"unquoted value to the end of the line", "password=correct horse battery", "password=[REDACTED]"},
		{"JSON keeps the other keys", `{"api_key": "abc 123", "user": "bob"}`, `{"api_key": "[REDACTED]", "user": "bob"}`},
		{"JSON value with an escaped quote", `{"password":"a\"b","user":"bob"}`, `{"password":"[REDACTED]","user":"bob"}`},
		{"JSON number value", `{"pin":1,"password":12345,"user":"bob"}`, `{"pin":1,"password":[REDACTED],"user":"bob"}`},
		{"query string", "GET /cb?token=abc123&state=ok", "GET /cb?token=[REDACTED]&state=ok"},
		{"URL keeps user and host", "dial postgres://app:s3cret@db:5432/shop", "dial postgres://app:[REDACTED]@db:5432/shop"},
		{"DSN keeps user and host", "app:pw@tcp(db:3306)/shop", "app:[REDACTED]@tcp(db:3306)/shop"},
		{"header", "Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED]"},
		{"PEM block collapses to one line", "a\n" + pemKey("PRIVATE KEY", 3) + "\nb", "a\n[REDACTED]\nb"},
		{"text after END stays", "k=" + pemKey("PRIVATE KEY", 2) + " loaded", "k=[REDACTED] loaded"},
		{"tail inside a key", strings.Join(pemBody(3), "\n") + "\n-----END PRIVATE KEY-----\nnext", "[REDACTED]\nnext"},
		{"a block only named keeps the next lines", "error: expected -----BEGIN RSA PRIVATE KEY----- header\nretrying in 5s\nfailed", "error: expected [REDACTED]\nretrying in 5s\nfailed"},
		{"a cut JSON key ends at its line", `{"private_key":"-----BEGIN PRIVATE KEY-----\nMIIE` + "\n" + `{"level":"info","msg":"started"}`, `{"private_key":"[REDACTED]` + "\n" + `{"level":"info","msg":"started"}`},
		{"Go http.Header keeps the other headers", "map[Accept:[*/*] Authorization:[Bearer abc] User-Agent:[curl]]", "map[Accept:[*/*] Authorization:[REDACTED] User-Agent:[curl]]"},
		{"terminal escapes stripped", "\x1b[1;31mERROR\x1b[0m disk \x1b]0;title\x07full", "ERROR disk full"},
		{"configured expression with a group", "session=abc123 ok", "session=[REDACTED] ok"},
		{"configured expression without a group", "reach internal-host-42 now", "reach [REDACTED] now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, r.Redact(tc.in)); diff != "" {
				t.Errorf("Redact(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
	if _, err := NewRedactor([]string{"ok", "(unclosed"}); err == nil || !strings.Contains(err.Error(), "redaction 1") {
		t.Errorf("NewRedactor with a bad expression: %v", err)
	}
}

// FuzzRedact checks that redaction never panics, keeps valid UTF-8 valid,
// and that a password behind a key never survives, whatever surrounds it.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{
		"", "password=x", `{"password":"a\"b"}`, "\x1b[31mtoken\x1b[0m: y", pemKey("PRIVATE KEY", 2),
		"-----END PRIVATE KEY-----", "http://u:p@ss@h", "a:b@tcp(", "--password", `\"password\":\"`,
	} {
		f.Add(s)
	}
	r, err := NewRedactor(nil)
	if err != nil {
		f.Fatal(err)
	}
	const secret = "Zq8xWv3Kp7"
	f.Fuzz(func(t *testing.T, s string) {
		got := r.Redact(s)
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Errorf("Redact(%q) = %q, not valid UTF-8", s, got)
		}
		// The fuzzed text goes before the key, on a line of its own.
		line := strings.ReplaceAll(s, "\n", " ") + "\npassword=" + secret
		if got := r.Redact(line); strings.Contains(got, secret) {
			t.Errorf("Redact(%q) = %q, holds the password", line, got)
		}
	})
}

// BenchmarkRedactTail redacts a tail of 20 JSON log lines of 200 bytes, each
// with a password and a URL with credentials.
func BenchmarkRedactTail(b *testing.B) {
	r, err := NewRedactor(nil)
	if err != nil {
		b.Fatal(err)
	}
	line := `{"time":"2026-12-06T20:41:02Z","level":"error","msg":"connect failed","user":"app","password":"x1","url":"postgres://app:pw@db:5432/shop","err":"dial tcp 10.0.0.1:5432: connection refused"}`
	s := strings.Repeat(line+"\n", 20)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		r.Redact(s)
	}
}
