package main

import (
	"runtime/debug"
	"testing"
)

// TestCarriesFallbackRoots checks that the agent links the fallback root
// certificates: the image has no CA bundle, and without them an https://
// datakit_url with a public certificate would fail to verify.
func TestCarriesFallbackRoots(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information")
	}
	const fallback = "golang.org/x/crypto/x509roots/fallback"
	for _, m := range info.Deps {
		if m.Path == fallback {
			return
		}
	}
	t.Errorf("the agent does not link %s", fallback)
}
