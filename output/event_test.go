package output

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func TestEventGolden(t *testing.T) {
	tests := []struct {
		name     string
		cfg      EncoderConfig
		decision func() *detect.Decision
	}{
		{"event_anomaly", encTestConfig, func() *detect.Decision { return encDecision(detect.KindAnomaly) }},
		{"event_escalation", encTestConfig, func() *detect.Decision { return encDecision(detect.KindEscalation) }},
		{"event_reminder", encTestConfig, func() *detect.Decision { return encDecision(detect.KindReminder) }},
		{"event_recovery", encTestConfig, func() *detect.Decision { return encDecision(detect.KindRecovery) }},
		{"event_hostile", encHostileConfig, encHostileDecision},
		{"event_hostile_large", encTestConfig, encLargeDecision},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := encNewEncoder(t, tc.cfg).Event(tc.decision())
			if err != nil {
				t.Fatalf("Event: %v", err)
			}
			body := encRoundTrip(t, []*point.Point{pt}, point.CommonLoggingOptions())
			encGolden(t, tc.name+".golden", body)
		})
	}
}

// TestGoldenFilesDecode decodes the stored golden files themselves, so a
// golden rewritten by hand or by a broken encoder is caught too.
func TestGoldenFilesDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "event_") && !strings.HasPrefix(filepath.Base(f), "metric") {
			continue
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			opts := point.CommonLoggingOptions()
			if strings.HasPrefix(filepath.Base(f), "metric") {
				opts = point.DefaultMetricOptions()
			}
			if diff := cmp.Diff(encDecodeDataKit(t, body, opts), encDecodeInflux(t, body)); diff != "" {
				t.Errorf("the decoders disagree (-DataKit +line-protocol/v2):\n%s", diff)
			}
		})
	}
	if n < 7 && !*updateGoldens {
		t.Errorf("found %d golden line-protocol files, want at least 7", n)
	}
}

// TestEventSemantics checks the keys Guance groups and links events by.
func TestEventSemantics(t *testing.T) {
	e := encNewEncoder(t, encTestConfig)
	anomaly, err := e.Event(encDecision(detect.KindAnomaly))
	if err != nil {
		t.Fatal(err)
	}
	a := encPointOf(anomaly)
	tests := []struct {
		kind       detect.Kind
		wantTags   map[string]string
		wantFields map[string]any
	}{
		{
			detect.KindAnomaly,
			map[string]string{"df_status": "warning", "df_sub_status": "warning", "df_event_id": encAnomalyID, "df_fault_id": encAnomalyID, "df_fault_status": "fault"},
			map[string]any{
				"df_fault_start_time": encT0.Unix(), "df_fault_duration": int64(0), "df_issue_start_time": encT0.Unix(), "df_issue_duration": int64(0),
				"df_date_range": int64(1800), "df_check_range_start": encT0.Add(-30 * time.Minute).Unix(), "df_check_range_end": encT0.Unix(),
				"df_monitor_checker_value": 0.3, "restart_ratio": 0.3, "restart_pods": int64(6), "total_pods": int64(20), "restarts": int64(14),
				"omitted_pods": int64(3), "omitted_containers": int64(0),
				"df_title": "6 of 20 pods (30%) in prod/shop restarted in the last 30m; 8 of 14 restarts were OOMKilled",
			},
		},
		{
			detect.KindEscalation,
			map[string]string{"df_status": "error", "df_sub_status": "error", "df_event_id": encEscalationID, "df_fault_id": encAnomalyID, "df_fault_status": "fault"},
			map[string]any{
				"df_fault_start_time": encT0.Unix(), "df_fault_duration": int64(600), "df_issue_duration": int64(600),
				"df_title": "9 of 20 pods (45%) in prod/shop restarted in the last 30m, up from warning to error; 8 of 14 restarts were OOMKilled",
			},
		},
		{
			detect.KindReminder,
			map[string]string{"df_status": "error", "df_event_id": encReminderID, "df_fault_id": encAnomalyID, "df_fault_status": "fault"},
			map[string]any{
				"df_fault_duration": int64(4200),
				"df_title":          "8 of 20 pods (40%) in prod/shop restarted in the last 30m, still error after 1h10m; 8 of 14 restarts were OOMKilled",
			},
		},
		{
			detect.KindRecovery,
			map[string]string{"df_status": "ok", "df_sub_status": "ok", "df_event_id": encRecoveryID, "df_fault_id": encAnomalyID, "df_fault_status": "ok"},
			map[string]any{
				"df_fault_start_time": encT0.Unix(), "df_fault_duration": int64(7200), "df_issue_duration": int64(7200),
				"df_check_range_end": encT0.Add(2 * time.Hour).Unix(), "omitted_pods": int64(0),
				"df_title": "Pod restarts in prod/shop recovered after 2h: 1 of 20 pods (5%) restarted in the last 30m",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			d := encDecision(tc.kind)
			pt, err := e.Event(d)
			if err != nil {
				t.Fatal(err)
			}
			got := encPointOf(pt)
			if got.Time != d.At.UnixNano() {
				t.Errorf("time = %d, want %d", got.Time, d.At.UnixNano())
			}
			gotTags := map[string]string{}
			for k := range tc.wantTags {
				gotTags[k] = got.Tags[k]
			}
			if diff := cmp.Diff(tc.wantTags, gotTags); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
			gotFields := map[string]any{}
			for k := range tc.wantFields {
				gotFields[k] = got.Fields[k]
			}
			if diff := cmp.Diff(tc.wantFields, gotFields); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
			// Every event of the fault shares the dimension and checker keys.
			for _, k := range []string{"df_source", "df_monitor_type", "df_monitor_checker", "df_monitor_checker_id", "df_monitor_checker_event_ref", "cluster_name_k8s", "namespace", "team"} {
				if got.Tags[k] != a.Tags[k] || got.Tags[k] == "" {
					t.Errorf("tag %s = %q, anomaly's %q", k, got.Tags[k], a.Tags[k])
				}
			}
			if got.Fields["df_dimension_tags"] != `{"cluster_name_k8s":"prod","namespace":"shop"}` {
				t.Errorf("df_dimension_tags = %v", got.Fields["df_dimension_tags"])
			}
			if _, ok := got.Tags["source"]; ok {
				t.Errorf("source sent")
			}
			if _, ok := got.Fields["source"]; ok {
				t.Errorf("source sent")
			}
		})
	}
}

func TestCheckerIDs(t *testing.T) {
	tests := []struct {
		name           string
		cluster1, ns1  string
		cluster2, ns2  string
		sameChecker    bool
		sameEventRef   bool
		wantCheckerFmt string
	}{
		{"same cluster and namespace", "prod", "shop", "prod", "shop", true, true, "rul_"},
		{"same cluster, other namespace", "prod", "shop", "prod", "cart", true, false, "rul_"},
		{"other cluster, same namespace", "prod", "shop", "staging", "shop", false, false, "rul_"},
	}
	ids := func(t *testing.T, cluster, ns string) (string, string) {
		d := encDecision(detect.KindAnomaly)
		d.Stats.Namespace = ns
		pt, err := encNewEncoder(t, EncoderConfig{Cluster: cluster}).Event(d)
		if err != nil {
			t.Fatal(err)
		}
		return pt.GetTag("df_monitor_checker_id"), pt.GetTag("df_monitor_checker_event_ref")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c1, r1 := ids(t, tc.cluster1, tc.ns1)
			c2, r2 := ids(t, tc.cluster2, tc.ns2)
			if (c1 == c2) != tc.sameChecker || (r1 == r2) != tc.sameEventRef {
				t.Errorf("checker ids %q %q, event refs %q %q", c1, c2, r1, r2)
			}
			if !strings.HasPrefix(c1, tc.wantCheckerFmt) || len(c1) != len("rul_")+32 || len(r1) != 32 {
				t.Errorf("checker id %q, event ref %q: want rul_ and 32 hex digits, 32 hex digits", c1, r1)
			}
		})
	}
}

// TestEventBounds checks the size bounds on a namespace with 5,000
// restarting pods and a 1 MiB termination message.
func TestEventBounds(t *testing.T) {
	pt, err := encNewEncoder(t, encTestConfig).Event(encLargeDecision())
	if err != nil {
		t.Fatal(err)
	}
	got := encPointOf(pt)
	var pods []map[string]any
	var containers []map[string]any
	for _, f := range []struct {
		key string
		v   any
	}{{"abnormal_pods", &pods}, {"container_statuses", &containers}} {
		s := got.Fields[f.key].(string)
		if len(s) > maxJSONBytes {
			t.Errorf("%s is %d bytes, want at most %d", f.key, len(s), maxJSONBytes)
		}
		if err := json.Unmarshal([]byte(s), f.v); err != nil {
			t.Fatalf("%s: %v", f.key, err)
		}
	}
	if len(pods) == 0 || len(pods) > maxJSONPods {
		t.Errorf("abnormal_pods holds %d pods, want 1..%d", len(pods), maxJSONPods)
	}
	if got, want := got.Fields["omitted_pods"], int64(5000-len(pods)); got != want {
		t.Errorf("omitted_pods = %v, want %v", got, want)
	}
	if got, want := got.Fields["omitted_containers"], int64(3*len(pods)-len(containers)); got != want {
		t.Errorf("omitted_containers = %v, want %v", got, want)
	}
	if pods[0]["pod_name"] != "shop-api-7d9f8b6c5-0000" {
		t.Errorf("first pod %v, want the one with the most restarts", pods[0]["pod_name"])
	}
	for _, c := range containers {
		for k, v := range c {
			if s, ok := v.(string); ok && len(s) > maxJSONString {
				t.Errorf("container %v: %s is %d bytes", c["container_name"], k, len(s))
			}
		}
	}
	msg := got.Fields["df_message"].(string)
	if len(msg) > 64<<10 {
		t.Errorf("df_message is %d bytes", len(msg))
	}
	for _, want := range []string{
		"Showing the 20 of 5000 pods with the most restarts.",
		fmt.Sprintf("The field `abnormal_pods` holds %d of the 5000 pods, `container_statuses` %d of their %d containers.", len(pods), len(containers), 3*len(pods)),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("df_message lacks %q", want)
		}
	}
}
