package output

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func TestEncoderConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		want []string // substrings of the error, one per problem; none for a valid config
	}{
		{"valid", encTestConfig, nil},
		{"valid with every escape", encHostileConfig, nil},
		{"english by default", EncoderConfig{Cluster: "prod"}, nil},
		{"empty cluster", EncoderConfig{}, []string{"cluster name: must not be empty"}},
		{"cluster with newline", EncoderConfig{Cluster: "a\nb"}, []string{"cluster name: must not contain control characters"}},
		{"cluster ending in backslash", EncoderConfig{Cluster: `a\`}, []string{"cluster name: must not end with a backslash"}},
		{"cluster too long", EncoderConfig{Cluster: strings.Repeat("x", 1025)}, []string{"must be at most 1024 bytes"}},
		{"cluster not UTF-8", EncoderConfig{Cluster: "\xff"}, []string{"must be valid UTF-8"}},
		{"too many tags", EncoderConfig{Cluster: "prod", Tags: func() map[string]string {
			m := map[string]string{}
			for i := range 201 {
				m[fmt.Sprintf("t%d", i)] = "v"
			}
			return m
		}()}, []string{"201 tags of"}},
		{"tags too large", EncoderConfig{Cluster: "prod", Tags: map[string]string{
			"a": strings.Repeat("v", 1000), "b": strings.Repeat("v", 1000), "c": strings.Repeat("v", 1000), "d": strings.Repeat("v", 1000),
			"e": strings.Repeat("v", 1000), "f": strings.Repeat("v", 1000), "g": strings.Repeat("v", 1000), "h": strings.Repeat("v", 1000),
			"i": strings.Repeat("v", 1000), "j": strings.Repeat("v", 1000), "k": strings.Repeat("v", 1000), "l": strings.Repeat("v", 1000),
			"m": strings.Repeat("v", 1000), "n": strings.Repeat("v", 1000), "o": strings.Repeat("v", 1000), "p": strings.Repeat("v", 1000),
			"q": strings.Repeat("v", 1000),
		}}, []string{"17 tags of 17017 bytes: must be at most 200 tags of 16384 bytes"}},
		{"unsupported language", EncoderConfig{Cluster: "prod", Language: "fr"}, []string{`language "fr" must be one of ["en" "zh"]`}},
		{
			"every problem reported",
			EncoderConfig{Cluster: "", Language: "fr", Tags: map[string]string{
				"":                       "x",
				"a.b":                    "x",
				"source":                 "x",
				"df_title":               "x",
				"namespace":              "x",
				"restart_ratio":          "x",
				"ok":                     "",
				"tab":                    "a\tb",
				`trailing\`:              "x",
				`back\ slash`:            "x",
				`a\,b`:                   "x",
				"fuzz":                   `x\ y]`,
				"eq":                     `a\\\=b`,
				"line\nbreak":            "x",
				strings.Repeat("k", 257): "x",
			}},
			[]string{
				"cluster name: must not be empty",
				`tag key "" must not be empty`,
				`tag key "a.b" must not contain a dot`,
				`tag key "source" is reserved`,
				`tag key "df_title" starts with "df_", which is reserved for DataKit`,
				`tag key "namespace" is written by the agent itself`,
				`tag key "restart_ratio" is written by the agent itself`,
				`tag "ok": value "" must not be empty`,
				`tag "tab": value "a\tb" must not contain control characters`,
				`tag key "trailing\\" must not end with a backslash`,
				`tag key "back\\ slash" must not have a backslash before a space, comma or "="`,
				`tag key "a\\,b" must not have a backslash before a space, comma or "="`,
				`tag "fuzz": value "x\\ y]" must not have a backslash before a space, comma or "="`,
				`tag "eq": value "a\\\\\\=b" must not have a backslash before a space, comma or "="`,
				`tag key "line\nbreak" must not contain control characters`,
				"must be at most 256 bytes",
				`language "fr" must be one of`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			_, newErr := NewEncoder(tc.cfg)
			if (err == nil) != (newErr == nil) {
				t.Errorf("Validate() = %v but NewEncoder() = %v", err, newErr)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v\nwant it to contain %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tc.want) {
				t.Errorf("Validate() reports %d problems, want %d:\n%v", got, len(tc.want), err)
			}
		})
	}
}

func TestEventErrors(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	tests := []struct {
		name   string
		mutate func(d *detect.Decision) *detect.Decision
		want   string
	}{
		{"nil decision", func(*detect.Decision) *detect.Decision { return nil }, "nil decision"},
		{"unknown kind", func(d *detect.Decision) *detect.Decision { d.Kind = 9; return d }, "unknown kind 9"},
		{"anomaly without level", func(d *detect.Decision) *detect.Decision { d.Level = detect.LevelNone; return d }, "anomaly without a level"},
		{"no event ID", func(d *detect.Decision) *detect.Decision { d.EventID = ""; return d }, "missing event or fault ID"},
		{"no fault ID", func(d *detect.Decision) *detect.Decision { d.Fault.ID = ""; return d }, "missing event or fault ID"},
		{"no time", func(d *detect.Decision) *detect.Decision { d.At = time.Time{}; return d }, "missing time"},
		{"no window", func(d *detect.Decision) *detect.Decision { d.Window = 0; return d }, "window 0s not positive"},
		{"NaN ratio", func(d *detect.Decision) *detect.Decision { d.Stats.Ratio = math.NaN(); return d }, "ratio NaN"},
		{"nil pod", func(d *detect.Decision) *detect.Decision { d.Pods[1].Pod = nil; return d }, "pod report 1 without a pod"},
		{"namespace empty", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace, d.Fault.Namespace = "", ""; return d }, "namespace \"\": must not be empty"},
		{"namespace only backslashes", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace = `\\\`; return d }, "namespace \"\": must not be empty"},
		{"namespace too long", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace = strings.Repeat("n", 1025); return d }, "must be at most 1024 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := e.Event(tc.mutate(encDecision(detect.KindAnomaly)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Event() = %v, %v; want error containing %q", pt, err, tc.want)
			}
		})
	}
}

func TestTagValue(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"shop", "shop"},
		{"a b,c=d\"e\"", "a b,c=d\"e\""},
		{"line\nbreak\r\ttab", "line break  tab"},
		{"trailing\\", "trailing"},
		{"trailing\\\\\\", "trailing"},
		{"back\\slash", "back\\slash"},
		{`backslash before a space x\ y]`, "backslash before a space x y]"},
		{`runs before specials a\\\,b\\=c\ d`, "runs before specials a,b=c d"},
		{`kept runs a\\b`, `kept runs a\\b`},
		{"control turned space after a backslash x\\\ty", "control turned space after a backslash x y"},
		{"newline then backslash\n\\", "newline then backslash "},
		{"nul\x00esc\x1bdel\x7fnel\u0085ls\u2028", "nul esc del nel ls "},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"中文 🚀", "中文 🚀"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := tagValue("k", tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tagValue(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestTruncateBytes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdefgh", 6, "abc…"},
		{"cut before a multibyte character", "ab中文", 6, "ab…"},
		{"cut after a multibyte character", "中文字", 7, "中…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := truncateBytes(tc.in, tc.n)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("%q: %d bytes, valid UTF-8 %v", got, len(got), utf8.ValidString(got))
			}
		})
	}
}

func TestEncodeLines(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	m1, err := e.Metric(encT0, &detect.Stats{Namespace: "a", Pods: 1})
	if err != nil {
		t.Fatal(err)
	}
	warned := point.NewPointV2(Measurement, point.NewTags(map[string]string{"namespace": "a\nb"}).AddV2("f", int64(1), false), point.WithTime(encT0))
	tests := []struct {
		name    string
		pts     []*point.Point
		want    string
		wantErr string
	}{
		{"none", nil, "", ""},
		{"one", []*point.Point{m1}, "k8s_pod_restart,cluster_name_k8s=prod,namespace=a,team=payments disrupted_pods=0i,expected_restarts=0i,fault=0i,restart_pods=0i,restart_ratio=0,restarts=0i,total_pods=1i 1772359200000000000\n", ""},
		{"nil point", []*point.Point{m1, nil}, "", "encode point 1: nil point"},
		{"point with warnings", []*point.Point{warned}, "", "encode point 0: point k8s_pod_restart would be changed by DataKit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := EncodeLines(tc.pts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("EncodeLines() = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzEventEncoding puts random names, messages and tags into a decision:
// every event the encoder accepts must decode strictly, without warnings,
// with both decoders and hold what was encoded. The seed corpus is in
// testdata/fuzz/FuzzEventEncoding.
func FuzzEventEncoding(f *testing.F) {
	f.Add("shop", "pod-1", "OOMKilled", "exit", "prod", "team", "payments")
	f.Fuzz(func(t *testing.T, namespace, podName, reason, message, cluster, tagKey, tagVal string) {
		cfg := EncoderConfig{Cluster: cluster, Tags: map[string]string{tagKey: tagVal}}
		if cfg.Validate() != nil {
			cfg = encTestConfig // still fuzz the decision's data
		}
		e := encNewEncoder(t, cfg)
		d := encDecision(detect.KindAnomaly)
		d.Stats.Namespace = namespace
		d.Fault.ID, d.EventID = "event-"+podName, "event-"+reason
		p := *d.Pods[0].Pod
		p.Name, p.Node, p.Reason, p.Phase = podName, message, reason, message
		p.Owner = detect.Owner{Kind: reason, Name: podName}
		p.Containers = append([]detect.Container(nil), p.Containers...)
		c := &p.Containers[2]
		c.Name, c.Image, c.ContainerID = podName, message, reason
		c.StateReason, c.StateMessage = reason, message
		c.Last.Reason, c.Last.Message = reason, message
		c.Resources.CPULimit = message
		d.Pods[0].Pod = &p
		pt, err := e.Event(d)
		if err != nil {
			// Only tag values with nothing left after sanitizing, or too
			// long, are refused.
			_, nsErr := tagValue(keyNamespace, namespace)
			_, faultErr := tagValue(keyFaultID, d.Fault.ID)
			_, eventErr := tagValue(keyEventID, d.EventID)
			if nsErr == nil && faultErr == nil && eventErr == nil {
				t.Fatalf("Event: %v", err)
			}
			return
		}
		encRoundTrip(t, []*point.Point{pt}, point.CommonLoggingOptions())
		for _, key := range []string{keyAbnormalPods, keyContainerStatuses, keyDimensionTags} {
			if s, _ := pt.Get(key).(string); !json.Valid([]byte(s)) {
				t.Errorf("%s is not valid JSON: %q", key, s)
			}
		}
		if title, _ := pt.Get(keyTitle).(string); strings.ContainsFunc(title, isControl) {
			t.Errorf("df_title has control characters: %q", title)
		}
	})
}
