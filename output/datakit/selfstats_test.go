package datakit

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// wtAgentStats are the agent stats of the tests.
var wtAgentStats = output.AgentStats{CPUUsage: 1.25, CPUSeconds: 12.5, RSSBytes: 48 << 20, OpenFiles: 17, Goroutines: 93}

// wtPointNames decodes a metric body as DataKit does in strict mode and
// returns measurement/namespace of each point.
func wtPointNames(t *testing.T, body []byte) []string {
	t.Helper()
	dec := point.GetDecoder(point.WithDecEncoding(point.LineProtocol))
	defer point.PutDecoder(dec)
	pts, err := dec.Decode(body, append([]point.Option{point.WithPrecision(point.PrecNS)}, point.DefaultMetricOptions()...)...)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	var names []string
	for _, pt := range pts {
		if len(pt.Warns()) > 0 {
			t.Errorf("decode: warnings: %s", pt.WarnsPretty())
		}
		names = append(names, pt.Name()+"/"+pt.GetTag("namespace"))
	}
	return names
}

// TestWriteAgent checks that output.Batch.Agent is written as a point of
// output.AgentMeasurement in the batch of the namespaces' metrics.
func TestWriteAgent(t *testing.T) {
	bad := output.AgentStats{CPUUsage: math.NaN()}
	tests := []struct {
		name    string
		batch   output.Batch
		want    []string // measurement/namespace of the points written
		wantErr string
		invalid uint64
	}{
		{
			name:  "agent only",
			batch: output.Batch{At: wtT0, Agent: &wtAgentStats},
			want:  []string{output.AgentMeasurement + "/"},
		},
		{
			name:  "metrics then agent",
			batch: output.Batch{At: wtT0, Stats: wtMetrics("shop", "cart").Stats, Agent: &wtAgentStats},
			want:  []string{output.Measurement + "/shop", output.Measurement + "/cart", output.AgentMeasurement + "/"},
		},
		{
			name:    "agent stats that fail to encode are skipped",
			batch:   output.Batch{At: wtT0, Stats: wtMetrics("shop").Stats, Agent: &bad},
			want:    []string{output.Measurement + "/shop"},
			wantErr: "1 of 2 skipped",
			invalid: 1,
		},
		{
			name:  "no agent",
			batch: wtMetrics("shop"),
			want:  []string{output.Measurement + "/shop"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w, err := New(Config{Stdout: &out, Encoder: wtEncoderConfig}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			err = w.Write(t.Context(), tc.batch)
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Write: %v, want error containing %q", err, tc.wantErr)
			}
			got := wtPointNames(t, out.Bytes())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("points written (-want +got):\n%s", diff)
			}
			s := w.Stats().Metrics
			if diff := cmp.Diff([2]uint64{1, tc.invalid}, [2]uint64{s.Sent, s.Invalid}); diff != "" {
				t.Errorf("metric batches sent and points invalid (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFailingSinceAndObserveSend checks what the agent's readiness and
// latency histogram read: FailingSince is set by the first failed attempt,
// kept by the next, and cleared by DataKit's answer; ObserveSend sees every
// accepted request.
func TestFailingSinceAndObserveSend(t *testing.T) {
	tests := []struct {
		name    string
		replies []int // DataKit's status per request; 200 after them
	}{
		{"accepted at once", nil},
		{"two failures then accepted", []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}},
		{"one failure then rejected", []int{http.StatusServiceUnavailable, http.StatusBadRequest}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, func(n int, _ wtRequest) wtReply {
				if n < len(tc.replies) {
					return wtReply{Status: tc.replies[n]}
				}
				return wtReply{Status: http.StatusOK}
			})
			var mu sync.Mutex
			var observed []string
			h.cfg.ObserveSend = func(category string, latency time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				observed = append(observed, category)
				if latency < 0 {
					t.Errorf("negative latency %v", latency)
				}
			}
			w := h.open()
			wtWrite(t, w, wtMetrics("ns-1"))
			h.run(w)

			failures := 0
			for _, s := range tc.replies {
				if s/100 == 5 || s == http.StatusTooManyRequests {
					failures++
				}
			}
			if failures > 0 {
				h.waitFor("the first failure", func() bool { return h.fc.HasWaiters() })
				first := h.fc.Now()
				if got := w.Stats().Metrics.FailingSince; !got.Equal(first) {
					t.Errorf("FailingSince after the first failure = %v, want %v", got, first)
				}
				h.fc.Step(h.cfg.MaxBackoff)
				if failures > 1 {
					h.waitFor("the second failure", func() bool { return h.fc.HasWaiters() && w.Stats().Metrics.Retried == 2 })
					if got := w.Stats().Metrics.FailingSince; !got.Equal(first) {
						t.Errorf("FailingSince after the second failure = %v, want the first's %v", got, first)
					}
				}
			}
			h.until("the batch settled", func() bool { return wtSettled(w) })
			s := w.Stats().Metrics
			if !s.FailingSince.IsZero() {
				t.Errorf("FailingSince = %v after DataKit answered, want zero", s.FailingSince)
			}
			want := []string{endpointMetrics}
			if s.Rejected > 0 {
				want = nil
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff(want, observed); diff != "" {
				t.Errorf("ObserveSend calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNoCredentialsInLogsOrErrors checks that a password in the DataKit URL
// never reaches the logs, the stats or New's errors.
func TestNoCredentialsInLogsOrErrors(t *testing.T) {
	const secret = "s3cret-pa55"
	t.Run("failing sends", func(t *testing.T) {
		h := wtNewHarness(t, nil)
		closed, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := closed.Addr().String()
		closed.Close()
		h.cfg.URL = "http://agent:" + secret + "@" + addr
		w := h.open()
		wtWrite(t, w, wtMetrics("ns-1"))
		h.run(w)
		h.waitFor("a failed attempt", func() bool { return !w.Stats().Metrics.FailingSince.IsZero() })
		if s := w.Stats().Metrics.LastError; s == "" || strings.Contains(s, secret) {
			t.Errorf("last error %q: want one without the password", s)
		}
		h.logs.mu.Lock()
		defer h.logs.mu.Unlock()
		if len(h.logs.recs) == 0 {
			t.Fatal("nothing logged")
		}
		for _, r := range h.logs.recs {
			if strings.Contains(r.Msg, secret) || strings.Contains(fmt.Sprint(r.Attrs), secret) {
				t.Errorf("logged the password: %s %v", r.Msg, r.Attrs)
			}
		}
	})
	t.Run("invalid URL", func(t *testing.T) {
		_, err := New(Config{URL: "ftp://agent:" + secret + "@host:9529", QueueDir: t.TempDir(), Input: "x", Encoder: wtEncoderConfig},
			slog.New(slog.DiscardHandler))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("New: %v; want an error without the password", err)
		}
	})
}
