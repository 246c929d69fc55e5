package datakit

import (
	"errors"
	"net/url"
	"regexp"
	"strings"
)

// quoted is a quoted part of an error message of net/url, which echoes
// pieces of the URL: an escape, a port, a character of the host. Any of them
// may be part of a password ("http://u:pa/ss@h" fails on the port ":pa").
var quoted = regexp.MustCompile(`"[^"]*"`)

// urlParseError returns why url.Parse rejected a URL without echoing any of
// it: the *url.Error's cause (url.Error quotes the whole URL), with its
// quoted parts masked.
func urlParseError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return errors.New(quoted.ReplaceAllLiteralString(err.Error(), `"xxxxx"`))
}

// maskUserinfo hides what may be a URL's userinfo in a string url.Parse did
// not read as one: from after the scheme to the last "@".
func maskUserinfo(s string) string {
	at := strings.LastIndex(s, "@")
	if at < 0 {
		return s
	}
	start := 0
	if i := strings.Index(s, "://"); i >= 0 && i < at {
		start = i + len("://")
	} else if i := strings.IndexByte(s, ':'); i >= 0 && i < at {
		start = i + 1
	}
	return s[:start] + "xxxxx" + s[at:]
}
