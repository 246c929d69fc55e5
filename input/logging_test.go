package input

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// TestDecisionLogLines checks that every decision is logged as one line at
// info with the fixed keys, whatever else the batch holds.
func TestDecisionLogLines(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("cluster", "prod")
	w, err := datakit.New(datakit.Config{Stdout: io.Discard, Encoder: output.EncoderConfig{Cluster: "prod"}}, log)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{cfg: DefaultConfig(), log: log, clock: clocktesting.NewFakeClock(srvT0), writer: w, metrics: newAgentMetrics(prometheus.NewRegistry())}
	id := func(n int) string { return "event-" + strings.Repeat("0", 31) + string(rune('0'+n)) }
	decision := func(k detect.Kind, ns string, level detect.Level, n int) detect.Decision {
		return detect.Decision{
			Kind: k, EventID: id(n), Level: level, At: srvT0, Window: DefaultConfig().Window.Duration,
			Fault: detect.Fault{ID: id(1), Namespace: ns, Start: srvT0, Level: level, LastEvent: srvT0},
			Stats: detect.Stats{Namespace: ns, Pods: 10, RestartedPods: 4, Restarts: 5, Ratio: 0.4, Level: level, Fault: k != detect.KindRecovery},
		}
	}
	b := output.Batch{At: srvT0, Decisions: []detect.Decision{
		decision(detect.KindAnomaly, "shop", detect.LevelError, 1),
		decision(detect.KindEscalation, "cart", detect.LevelCritical, 2),
		decision(detect.KindReminder, "pay", detect.LevelWarning, 3),
		decision(detect.KindRecovery, "idle", detect.LevelNone, 4),
	}, Stats: []detect.Stats{{Namespace: "shop", Pods: 10}}}
	c.write(t.Context(), b, nil)

	type line struct {
		Level, Msg, Cluster, Namespace, FaultLevel, EventID string
	}
	var got []line
	for _, raw := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		got = append(got, line{s("level"), s("msg"), s("cluster"), s("namespace"), s("fault_level"), s("event_id")})
	}
	want := []line{
		{"INFO", "fault opened", "prod", "shop", "error", id(1)},
		{"INFO", "fault escalated", "prod", "cart", "critical", id(2)},
		{"INFO", "fault still open", "prod", "pay", "warning", id(3)},
		{"INFO", "fault recovered", "prod", "idle", "ok", id(4)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"http://datakit:9529", "http://datakit:9529"},
		{"http://agent:s3cret@datakit:9529", "http://agent:xxxxx@datakit:9529"},
		{"http://agent@datakit:9529", "http://agent@datakit:9529"},
		{"http://agent:s3 cret@data kit:9529/%zz", "http://xxxxx@data kit:9529/%zz"},
		{"http://agent:s3/cret@datakit:9529", "http://xxxxx@datakit:9529"},
		{"agent:s3cret@datakit:9529", "agent:xxxxx@datakit:9529"},
		{"http:/agent:s3cret@datakit", "http:xxxxx@datakit"},
		{"http://datakit:9529/@x", "http://datakit:9529/@x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := datakit.RedactURL(tc.in); got != tc.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestValidateHidesThePassword checks that a bad datakit_url is reported
// without the password it carries, however it fails to parse: net/url's
// errors echo the URL, or pieces of it (an escape, a port).
func TestValidateHidesThePassword(t *testing.T) {
	for _, u := range []string{
		"ftp://agent:s3cret@datakit:9529",
		"http://agent:s3cret@data kit:9529",
		"http://agent:s3%zzcret@datakit:9529",
		"http://agent:s3/cret@datakit:9529",
		"http://agent:s3cret@datakit:95x29",
		"agent:s3cret@datakit:9529",
		"http:/agent:s3cret@datakit",
		"http://agent:s3cret@datakit\x7f",
	} {
		t.Run(u, func(t *testing.T) {
			c := DefaultConfig()
			c.DatakitURL = u
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), "datakit_url") {
				t.Fatalf("Validate: %v; want a datakit_url error", err)
			}
			for _, piece := range []string{"s3", "cret", "%zz", "zzc"} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("Validate: %v; holds %q of the password", err, piece)
				}
			}
		})
	}
}
