package datakit

import (
	"strings"
	"testing"
)

// TestCheckURL checks the rules input's configuration check shares with
// New, and that no reason repeats a password.
func TestCheckURL(t *testing.T) {
	tests := []struct {
		name, url, want string // want "" for a valid URL
	}{
		{"service", "http://datakit-service.datakit.svc:9529", ""},
		{"https with a slash", "https://10.0.0.1:9529/", ""},
		{"credentials", "http://u:secret@datakit:9529", ""},
		{"ftp", "ftp://datakit:9529", "must start with http:// or https://"},
		{"no scheme", "datakit:9529", "must start with http:// or https://"},
		{"no host", "http:///", "has no host"},
		{"API path", "http://datakit:9529/v1/write/logging", `must not have a path ("/v1/write/logging"): the agent adds the API path itself`},
		{"query", "http://datakit:9529?token=x", "must not have a query or fragment"},
		{"fragment", "http://datakit:9529#x", "must not have a query or fragment"},
		// net/url quotes pieces of the URL in its reasons; any may be part
		// of a password, so they are masked.
		{"unparsable with a password", "http://u:secret@datakit:95x29", `is not a URL: invalid port "xxxxx" after host`},
		{"password with a slash", "http://u:sec/ret@datakit:9529", `is not a URL: invalid port "xxxxx" after host`},
		{"password with a bad escape", "http://u:sec%zzret@datakit:9529", `is not a URL: invalid URL escape "xxxxx"`},
		{"control character with a password", "http://u:secret@datakit\n:9529", "is not a URL: net/url: invalid control character in URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckURL(tc.url)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("CheckURL(%q) = %q, want %q", tc.url, got, tc.want)
			}
			if strings.Contains(got, "sec") || strings.Contains(got, "ret") || strings.Contains(got, "zz") {
				t.Errorf("CheckURL(%q) repeats the password: %q", tc.url, got)
			}
		})
	}
}
