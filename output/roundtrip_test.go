package output

import (
	"strings"
	"testing"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// rtAlphabet holds what line protocol and its parsers treat specially: the
// escape character, the separators of tags and fields, quotes, the brackets
// DataKit's line splitter reads as array syntax, a newline, a multibyte
// character and a plain one.
var rtAlphabet = []string{`\`, " ", ",", "=", `"`, "[", "]", "\n", "é", "x"}

// rtStrings returns every string of 1 to n symbols of rtAlphabet.
func rtStrings(n int) []string {
	out := []string{""}
	var all []string
	for range n {
		var next []string
		for _, s := range out {
			for _, a := range rtAlphabet {
				next = append(next, s+a)
			}
		}
		all = append(all, next...)
		out = next
	}
	return all
}

// TestEveryAcceptedTagDecodes encodes every tag key and value of up to four
// symbols that CheckTagKey and CheckTagValue accept and checks that DataKit's
// decoder, strict (no point warning), and line-protocol/v2 read back the
// same point, holding the tag as configured. The value `x\ y]` a fuzz run
// found (issue 15) is one of them, refused.
func TestEveryAcceptedTagDecodes(t *testing.T) {
	accepted, refused := 0, 0
	for _, s := range rtStrings(4) {
		for _, tag := range [][2]string{{"team", "v" + s}, {"k" + s, "v"}} {
			if CheckTagKey(tag[0]) != nil || CheckTagValue(tag[1]) != nil {
				refused++
				continue
			}
			accepted++
			e, err := NewEncoder(EncoderConfig{Cluster: "prod", Tags: map[string]string{tag[0]: tag[1]}})
			if err != nil {
				t.Fatalf("tag %q=%q passes the checks but NewEncoder: %v", tag[0], tag[1], err)
			}
			pt, err := e.Metric(encT0, &detect.Stats{Namespace: "shop", Pods: 1})
			if err != nil {
				t.Fatalf("tag %q=%q: Metric: %v", tag[0], tag[1], err)
			}
			body := encRoundTrip(t, []*point.Point{pt}, point.DefaultMetricOptions())
			got := encDecodeDataKit(t, body, point.DefaultMetricOptions())
			if len(got) != 1 || got[0].Tags[tag[0]] != tag[1] {
				t.Fatalf("tag %q=%q: DataKit decodes %+v", tag[0], tag[1], got)
			}
		}
	}
	// Pinned so that a change of the rules shows here: of the 2 x 11,110
	// tags, those with a newline, a dot, a trailing backslash or a
	// backslash before a space, comma or "=" are refused.
	if accepted != 11680 || refused != 10540 {
		t.Errorf("%d accepted, %d refused", accepted, refused)
	}
	if CheckTagValue(`x\ y]`) == nil {
		t.Errorf("CheckTagValue(`x\\ y]`) = nil, want the value refused")
	}
}

// TestEveryValueInFieldsAndMessageDecodes puts every string of up to three
// symbols into the namespace (a sanitized tag) and into the names and
// messages that reach the event's string fields and Markdown message, and
// checks that both decoders read back the point that was encoded.
func TestEveryValueInFieldsAndMessageDecodes(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	for _, s := range rtStrings(3) {
		d := encDecision(detect.KindAnomaly)
		d.Stats.Namespace = "ns" + s
		p := *d.Pods[0].Pod
		p.Name, p.Node, p.Reason = "pod"+s, s, s
		p.Owner = detect.Owner{Kind: s, Name: s}
		p.Containers = append([]detect.Container(nil), p.Containers...)
		c := &p.Containers[2]
		c.Name, c.Image, c.StateMessage, c.Last.Message, c.Last.Reason = s, s, s, s, s
		d.Pods[0].Pod = &p
		d.Pods[0].LogTails = []string{"", "", s}
		pt, err := e.Event(d)
		if err != nil {
			t.Fatalf("%q: Event: %v", s, err)
		}
		encRoundTrip(t, []*point.Point{pt}, point.CommonLoggingOptions())
		if t.Failed() {
			t.Fatalf("%q does not decode as encoded", s)
		}
		if msg, _ := pt.Get(keyMessage).(string); !strings.HasPrefix(msg, "### ") {
			t.Fatalf("%q: df_message %q", s, msg)
		}
	}
}
