package output

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// updateGoldens rewrites output/testdata/*.golden: go test ./output -update.
var updateGoldens = flag.Bool("update", false, "rewrite the golden files in testdata")

// encT0 is the fixed instant the fixtures' faults start at.
var encT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	encAnomalyID    = "event-00000000000000000000000000000001"
	encEscalationID = "event-00000000000000000000000000000002"
	encReminderID   = "event-00000000000000000000000000000003"
	encRecoveryID   = "event-00000000000000000000000000000004"
)

// encTestConfig is the encoder configuration of most tests; the user tag
// must never be mistaken for a schema key.
var encTestConfig = EncoderConfig{Cluster: "prod", Tags: map[string]string{"team": "payments"}, Language: "en"}

func encNewEncoder(t testing.TB, cfg EncoderConfig) *Encoder {
	t.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		t.Fatalf("NewEncoder: %v", err)
	}
	return e
}

// encShopPods returns the pods of the fixture namespace: an API pod whose
// app container is OOMKilled and crash-looping next to an init container and
// a sidecar, a worker whose container exits with an error, and a pod
// deleted inside the window.
func encShopPods() []detect.PodReport {
	res := detect.Resources{CPURequest: "250m", CPULimit: "1", MemoryRequest: "128Mi", MemoryLimit: "256Mi"}
	api := &detect.Pod{
		UID: "uid-api", Namespace: "shop", Name: "shop-api-7d9f8b6c5-x2x4q", Node: "node-a",
		Owner: detect.Owner{Kind: "Deployment", Name: "shop-api"}, Phase: "Running", CreatedAt: encT0.Add(-24 * time.Hour),
		Containers: []detect.Container{
			{
				Name: "migrate", Type: detect.ContainerInit, Image: "registry.example.com/shop/migrate:1.4.2",
				ContainerID: "containerd://1111111111111111111111111111111111111111111111111111111111111111", Ready: false,
				State: detect.StateTerminated, StateReason: "Completed", StateSince: encT0.Add(-23 * time.Hour),
			},
			{
				Name: "istio-proxy", Type: detect.ContainerSidecar, Image: "docker.io/istio/proxyv2:1.27.0",
				ContainerID: "containerd://2222222222222222222222222222222222222222222222222222222222222222", Ready: true,
				State: detect.StateRunning, StateSince: encT0.Add(-23 * time.Hour),
				Resources: detect.Resources{CPURequest: "100m", MemoryRequest: "64Mi", MemoryLimit: "128Mi"},
			},
			{
				Name: "api", Type: detect.ContainerApp, Image: "registry.example.com/shop/api:2.3.1",
				RestartCount: 7, State: detect.StateWaiting, StateReason: "CrashLoopBackOff",
				StateMessage: "back-off 5m0s restarting failed container=api pod=shop-api-7d9f8b6c5-x2x4q_shop(uid-api)",
				Last: detect.Termination{
					ContainerID: "containerd://3333333333333333333333333333333333333333333333333333333333333333",
					Reason:      "OOMKilled", ExitCode: 137,
					StartedAt: encT0.Add(-3 * time.Minute), FinishedAt: encT0.Add(-1 * time.Minute),
				},
				Resources: res,
			},
		},
	}
	worker := &detect.Pod{
		UID: "uid-worker", Namespace: "shop", Name: "shop-worker-0", Node: "node-b",
		Owner: detect.Owner{Kind: "StatefulSet", Name: "shop-worker"}, Phase: "Running",
		Containers: []detect.Container{{
			Name: "worker", Type: detect.ContainerApp, Image: "registry.example.com/shop/worker:2.3.1",
			ContainerID:  "containerd://4444444444444444444444444444444444444444444444444444444444444444",
			RestartCount: 2, Ready: true, State: detect.StateRunning, StateSince: encT0.Add(-4 * time.Minute),
			Last: detect.Termination{
				ContainerID: "containerd://5555555555555555555555555555555555555555555555555555555555555555",
				Reason:      "Error", Message: "panic: connect to db: connection refused\ngoroutine 1 [running]:", ExitCode: 1,
				StartedAt: encT0.Add(-10 * time.Minute), FinishedAt: encT0.Add(-5 * time.Minute),
			},
			Resources: res,
		}},
	}
	gone := &detect.Pod{
		UID: "uid-gone", Namespace: "shop", Name: "shop-cron-29000000-abcde", Node: "node-c",
		Owner: detect.Owner{Kind: "CronJob", Name: "shop-cron"}, Phase: "Failed", Reason: "Evicted", Deleting: true,
		Containers: []detect.Container{{
			Name: "cron", Type: detect.ContainerApp, Image: "registry.example.com/shop/cron:2.3.1",
			RestartCount: 1, State: detect.StateTerminated, StateReason: "Error",
			Last: detect.Termination{
				ContainerID: "containerd://6666666666666666666666666666666666666666666666666666666666666666",
				Reason:      "Error", ExitCode: 143, Signal: 15, FinishedAt: encT0.Add(-20 * time.Minute),
			},
		}},
	}
	return []detect.PodReport{
		{Pod: api, Restarts: 4, LastRestart: encT0.Add(-1 * time.Minute), ContainerRestarts: []int{0, 0, 4}},
		{Pod: worker, Restarts: 2, LastRestart: encT0.Add(-5 * time.Minute), ContainerRestarts: []int{2}},
		{Pod: gone, Deleted: true, Restarts: 1, LastRestart: encT0.Add(-20 * time.Minute), ContainerRestarts: []int{1}},
	}
}

// encDecision returns the fixture decision of kind k in namespace shop. The
// fault opens at encT0 at warning, escalates to error 10 minutes later, is
// reminded of after 70 minutes and recovers after two hours.
func encDecision(k detect.Kind) *detect.Decision {
	d := &detect.Decision{
		Kind: k, Window: 30 * time.Minute, Pods: encShopPods(),
		Fault: detect.Fault{ID: encAnomalyID, Namespace: "shop", Start: encT0},
	}
	switch k {
	case detect.KindAnomaly:
		d.EventID, d.Level, d.At = encAnomalyID, detect.LevelWarning, encT0
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 6, Restarts: 14, Ratio: 0.3, Level: detect.LevelWarning, Fault: true}
		d.OmittedPods = 3
	case detect.KindEscalation:
		d.EventID, d.Level, d.Previous, d.At = encEscalationID, detect.LevelError, detect.LevelWarning, encT0.Add(10*time.Minute)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 9, Restarts: 25, Ratio: 0.45, Level: detect.LevelError, Fault: true}
		d.OmittedPods = 6
	case detect.KindReminder:
		d.EventID, d.Level, d.Previous, d.At = encReminderID, detect.LevelError, detect.LevelError, encT0.Add(70*time.Minute)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 8, Restarts: 17, Ratio: 0.4, Level: detect.LevelError, Fault: true}
		d.OmittedPods = 5
	case detect.KindRecovery:
		d.EventID, d.Level, d.Previous, d.At = encRecoveryID, detect.LevelNone, detect.LevelError, encT0.Add(2*time.Hour)
		d.Stats = detect.Stats{Namespace: "shop", Pods: 20, RestartedPods: 1, Restarts: 1, Ratio: 0.05, Level: detect.LevelNone}
		d.Fault.ClearSince = encT0.Add(105 * time.Minute)
		d.Pods = d.Pods[1:2]
	}
	d.Fault.Level, d.Fault.MaxLevel, d.Fault.LastEvent = d.Level, max(d.Level, d.Previous), d.At
	encAddAnalysis(d)
	return d
}

// encHostileTermination is a termination message as hostile as a container
// can write: every character line protocol and Markdown treat specially.
const encHostileTermination = "line one \"quoted\", a=b c\\d\n\ttab\r\nnull\x00 esc\x1b del\x7f nel\u0085 ls\u2028 rlo\u202e" +
	" | pipe `tick` <b>bold</b> *star* _u_ [l](http://x) ~s~ # & é 中文 🚀 \xff\xfe trailing\\"

// encHostileDecision is the anomaly with hostile names and messages
// everywhere a pod's data reaches.
func encHostileDecision() *detect.Decision {
	d := encDecision(detect.KindAnomaly)
	ns := "shop ns,=\"q\"\\ \n\tx\x00é中🚀\\\\"
	d.Stats.Namespace, d.Fault.Namespace = ns, ns
	p := *d.Pods[0].Pod
	p.Name = "pod name,with=\"all\" \\ | ` < > \n\t\x01 é中🚀\\"
	p.Node = "node\\"
	p.Owner = detect.Owner{Kind: "Deploy|ment", Name: "a`b<c>d\ne"}
	p.Reason = encHostileTermination
	p.Containers = append([]detect.Container(nil), p.Containers...)
	c := &p.Containers[2]
	c.Name = "c|1 `x`\\"
	c.Image = "img:\"latest\" <none>\\"
	c.StateMessage = encHostileTermination
	c.Last.Message = encHostileTermination
	c.Last.Reason = "OOM|Killed\n"
	c.Resources.MemoryLimit = "256Mi|\\"
	d.Pods[0].Pod = &p
	return d
}

// encLargeDecision is the anomaly of a namespace with 5,000 restarting pods
// whose first container writes a 1 MiB termination message.
func encLargeDecision() *detect.Decision {
	d := encDecision(detect.KindAnomaly)
	base := encShopPods()[0]
	huge := strings.Repeat("0123456789abcdef\"\\\n", (1<<20)/19+1)[:1<<20]
	d.Pods = make([]detect.PodReport, 5000)
	for i := range d.Pods {
		p := *base.Pod
		p.UID, p.Name = fmt.Sprintf("uid-%04d", i), fmt.Sprintf("shop-api-7d9f8b6c5-%04d", i)
		if i == 0 {
			p.Containers = append([]detect.Container(nil), p.Containers...)
			p.Containers[2].Last.Message = huge
			p.Containers[2].StateMessage = huge
		}
		d.Pods[i] = detect.PodReport{Pod: &p, Restarts: 5000 - i, LastRestart: encT0.Add(-time.Minute), ContainerRestarts: []int{0, 0, 5000 - i}}
	}
	d.OmittedPods = 0
	d.Stats = detect.Stats{Namespace: "shop", Pods: 6000, RestartedPods: 5000, Restarts: 12502500, Ratio: 5000.0 / 6000, Level: detect.LevelCritical, Fault: true}
	d.Level, d.Fault.Level, d.Fault.MaxLevel = detect.LevelCritical, detect.LevelCritical, detect.LevelCritical
	return d
}

// encHostileConfig has a cluster name and user tags that need every escape.
var encHostileConfig = EncoderConfig{
	Cluster: "prod east,\"eu\"=1 \\x ☃",
	Tags: map[string]string{
		"team name,x=\"y\"": "a,b=c \"d\" \\e",
		"env":               "生产 🚀",
		"back\\slash":       "x\\ y",
	},
}

// encGolden compares got with testdata/name, rewriting it under -update.
func encGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGoldens {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./output -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// encPoint is a point as a decoder returns it, for comparisons.
type encPoint struct {
	Name   string
	Tags   map[string]string
	Fields map[string]any
	Time   int64 // unix nanoseconds
}

// encPointOf returns what pt holds.
func encPointOf(pt *point.Point) encPoint {
	p := encPoint{Name: pt.Name(), Tags: map[string]string{}, Fields: map[string]any{}, Time: pt.Time().UnixNano()}
	for _, kv := range pt.KVs() {
		if kv.IsTag {
			p.Tags[kv.Key] = kv.GetS()
		} else {
			p.Fields[kv.Key] = kv.Raw()
		}
	}
	return p
}

// encDecodeDataKit decodes body the way DataKit's write API does for a
// category (precision=n) and fails on any point warning, as strict mode
// would.
func encDecodeDataKit(t testing.TB, body []byte, categoryOpts []point.Option) []encPoint {
	t.Helper()
	dec := point.GetDecoder(point.WithDecEncoding(point.LineProtocol))
	defer point.PutDecoder(dec)
	opts := append([]point.Option{point.WithPrecision(point.PrecNS)}, categoryOpts...)
	pts, err := dec.Decode(body, opts...)
	if err != nil {
		t.Fatalf("cliutils decode: %v", err)
	}
	out := make([]encPoint, 0, len(pts))
	for i, pt := range pts {
		if len(pt.Warns()) > 0 {
			t.Errorf("cliutils decode: point %d has warnings: %s", i, pt.WarnsPretty())
		}
		out = append(out, encPointOf(pt))
	}
	return out
}

// encDecodeInflux decodes body with influxdata's line-protocol/v2, a parser
// independent of DataKit's.
func encDecodeInflux(t testing.TB, body []byte) []encPoint {
	t.Helper()
	var out []encPoint
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			t.Fatalf("line-protocol/v2 decode measurement: %v", err)
		}
		p := encPoint{Name: string(m), Tags: map[string]string{}, Fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("line-protocol/v2 decode tag: %v", err)
			}
			if k == nil {
				break
			}
			p.Tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("line-protocol/v2 decode field: %v", err)
			}
			if k == nil {
				break
			}
			p.Fields[string(k)] = v.Interface()
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			t.Fatalf("line-protocol/v2 decode time: %v", err)
		}
		p.Time = ts.UnixNano()
		out = append(out, p)
	}
	return out
}

// encRoundTrip encodes pts, decodes the body with both decoders and
// compares each with what was encoded. It returns the body.
func encRoundTrip(t testing.TB, pts []*point.Point, categoryOpts []point.Option) []byte {
	t.Helper()
	body, err := EncodeLines(pts)
	if err != nil {
		t.Fatalf("EncodeLines: %v", err)
	}
	want := make([]encPoint, 0, len(pts))
	for _, pt := range pts {
		want = append(want, encPointOf(pt))
	}
	if diff := cmp.Diff(want, encDecodeDataKit(t, body, categoryOpts)); diff != "" {
		t.Errorf("decoded by DataKit's decoder (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, encDecodeInflux(t, body)); diff != "" {
		t.Errorf("decoded by line-protocol/v2 (-want +got):\n%s", diff)
	}
	return body
}

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

func TestEncoderConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  EncoderConfig
		want []string // substrings of the error, one per problem; none for a valid config
	}{
		{"valid", encTestConfig, nil},
		{"valid with every escape", encHostileConfig, nil},
		{"english by default", EncoderConfig{Cluster: "prod"}, nil},
		{"empty cluster", EncoderConfig{}, []string{"cluster name: empty"}},
		{"cluster with newline", EncoderConfig{Cluster: "a\nb"}, []string{"cluster name: contains control characters"}},
		{"cluster ending in backslash", EncoderConfig{Cluster: `a\`}, []string{`cluster name: ends with \`}},
		{"cluster too long", EncoderConfig{Cluster: strings.Repeat("x", 1025)}, []string{"longer than 1024 bytes"}},
		{"cluster not UTF-8", EncoderConfig{Cluster: "\xff"}, []string{"not valid UTF-8"}},
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
		}}, []string{"17 tags of 17017 bytes, at most 200 tags of 16384 bytes allowed"}},
		{"unsupported language", EncoderConfig{Cluster: "prod", Language: "fr"}, []string{`language "fr" is not supported (supported: en, zh)`}},
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
				"line\nbreak":            "x",
				strings.Repeat("k", 257): "x",
			}},
			[]string{
				"cluster name: empty",
				`tag key "": empty`,
				`tag key "a.b": contains a dot`,
				`tag key "source": reserved`,
				`tag key "df_title": reserved: df_ keys`,
				`tag key "namespace": reserved: written by the agent`,
				`tag key "restart_ratio": reserved: written by the agent`,
				`tag "ok": value "": empty`,
				`tag "tab": value "a\tb": contains control characters`,
				`tag key "trailing\\": ends with \`,
				`tag key "line\nbreak": contains control characters`,
				"longer than 256 bytes",
				`language "fr" is not supported`,
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
		{"namespace empty", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace, d.Fault.Namespace = "", ""; return d }, "namespace \"\": empty"},
		{"namespace only backslashes", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace = `\\\`; return d }, "namespace \"\": empty"},
		{"namespace too long", func(d *detect.Decision) *detect.Decision { d.Stats.Namespace = strings.Repeat("n", 1025); return d }, "longer than 1024 bytes"},
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
