package input

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

var srvT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// srvSources returns sources of a synced, single, healthy agent writing to
// DataKit with a 1000-byte queue; tests change what they need.
func srvSources() *sources {
	return &sources{
		watcher:       func() collect.Stats { return collect.Stats{} },
		synced:        func() bool { return true },
		detector:      func() detect.Counts { return detect.Counts{} },
		output:        func() datakit.Stats { return datakit.Stats{} },
		queueMaxBytes: 1000,
	}
}

// failing returns output stats of sends failing since since, with queued
// bytes on the queue.
func failing(since time.Time, queued int64) func() datakit.Stats {
	return func() datakit.Stats {
		return datakit.Stats{
			Events:  datakit.CategoryStats{QueueBytes: queued / 2, FailingSince: since, LastError: "connection refused"},
			Metrics: datakit.CategoryStats{QueueBytes: queued - queued/2},
		}
	}
}

func TestReadiness(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *sources)
		want   []string // one "+name: detail" or "-name: detail" per check
	}{
		{
			name:   "ready",
			change: func(*sources) {},
			want:   []string{"+caches: pod caches synced", "+election: election off", "+output: DataKit answers; queue 0 of 1000 bytes (0%)"},
		},
		{
			name:   "caches not synced",
			change: func(s *sources) { s.synced = func() bool { return false } },
			want:   []string{"-caches: pod caches not synced yet", "+election: election off", "+output: DataKit answers; queue 0 of 1000 bytes (0%)"},
		},
		{
			name:   "leader",
			change: func(s *sources) { s.election = func() string { return roleLeader } },
			want:   []string{"+caches: pod caches synced", "+election: leader", "+output: DataKit answers; queue 0 of 1000 bytes (0%)"},
		},
		{
			name:   "standby",
			change: func(s *sources) { s.election = func() string { return roleStandby } },
			want:   []string{"+caches: pod caches synced", "+election: standby", "+output: DataKit answers; queue 0 of 1000 bytes (0%)"},
		},
		{
			name:   "election not joined yet",
			change: func(s *sources) { s.election = func() string { return "" } },
			want:   []string{"+caches: pod caches synced", `-election: not in the election yet (role "")`, "+output: DataKit answers; queue 0 of 1000 bytes (0%)"},
		},
		{
			name:   "standard output",
			change: func(s *sources) { s.queueMaxBytes = 0 },
			want:   []string{"+caches: pod caches synced", "+election: election off", "+output: writing to standard output"},
		},
		{
			name:   "queue full but DataKit answers: catching up",
			change: func(s *sources) { s.output = failing(time.Time{}, 950) },
			want:   []string{"+caches: pod caches synced", "+election: election off", "+output: DataKit answers; queue 950 of 1000 bytes (95%)"},
		},
		{
			name:   "DataKit failing long, queue has room",
			change: func(s *sources) { s.output = failing(srvT0.Add(-10*time.Minute), 500) },
			want: []string{"+caches: pod caches synced", "+election: election off",
				"+output: DataKit failing for 10m0s (connection refused); queue 500 of 1000 bytes (50%)"},
		},
		{
			name:   "DataKit failing briefly, queue full",
			change: func(s *sources) { s.output = failing(srvT0.Add(-59*time.Second), 900) },
			want: []string{"+caches: pod caches synced", "+election: election off",
				"+output: DataKit failing for 59s (connection refused); queue 900 of 1000 bytes (90%)"},
		},
		{
			name:   "DataKit failing a minute and queue at 90%: not ready",
			change: func(s *sources) { s.output = failing(srvT0.Add(-time.Minute), 900) },
			want: []string{"+caches: pod caches synced", "+election: election off",
				"-output: DataKit failing for 1m0s (connection refused) and queue 900 of 1000 bytes (90%)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := srvSources()
			tc.change(src)
			var got []string
			for _, c := range src.readiness(srvT0) {
				mark := "+"
				if !c.ok {
					mark = "-"
				}
				got = append(got, mark+c.name+": "+c.detail)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("checks (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	ready := srvSources()
	notReady := srvSources()
	notReady.synced = func() bool { return false }
	tests := []struct {
		name     string
		src      *sources
		method   string
		path     string
		wantCode int
		wantBody string // a substring; "" checks nothing
	}{
		{"healthz", ready, http.MethodGet, "/healthz", http.StatusOK, "ok\n"},
		{"healthz while not ready", notReady, http.MethodGet, "/healthz", http.StatusOK, "ok\n"},
		{"readyz ready", ready, http.MethodGet, "/readyz", http.StatusOK, "[+]caches ok: pod caches synced\n[+]election ok: election off\n"},
		{"readyz not ready", notReady, http.MethodGet, "/readyz", http.StatusServiceUnavailable, "[-]caches failed: pod caches not synced yet\n"},
		{"metrics", ready, http.MethodGet, "/metrics", http.StatusOK, "k8s_pod_restart_build_info{go_version="},
		{"POST refused", ready, http.MethodPost, "/healthz", http.StatusMethodNotAllowed, ""},
		{"unknown path", ready, http.MethodGet, "/debug/pprof/", http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := &server{reg: newProcessRegistry("v-test")}
			newAgentMetrics(srv.registerer("prod"))
			srv.add("prod", tc.src, func() time.Time { return srvT0 })
			h := newHandler(srv.readiness, srv.reg, func() time.Time { return srvT0 })
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.wantCode {
				t.Errorf("status %d, want %d; body:\n%s", rec.Code, tc.wantCode, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body lacks %q:\n%s", tc.wantBody, rec.Body)
			}
		})
	}
}

// TestServer runs the server on a free port, talks to it and stops it.
func TestServer(t *testing.T) {
	t.Run("no address, no server", func(t *testing.T) {
		s, err := listenHTTP("", "v-test", slog.New(slog.DiscardHandler))
		if s != nil || err != nil {
			t.Errorf("listenHTTP(\"\") = %v, %v; want nil, nil", s, err)
		}
		s.close() // nil-safe
	})
	t.Run("address in use", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if s, err := listenHTTP(ln.Addr().String(), "v-test", slog.New(slog.DiscardHandler)); err == nil {
			s.close()
			t.Errorf("listenHTTP on a port in use succeeded")
		}
	})
	t.Run("serves until the context ends", func(t *testing.T) {
		s, err := listenHTTP("127.0.0.1:0", "v-test", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		s.add("prod", srvSources(), func() time.Time { return srvT0 })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.run(ctx, func() time.Time { return srvT0 }) }()

		resp, err := http.Get("http://" + s.Addr() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
			t.Errorf("GET /healthz: %d %q", resp.StatusCode, body)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if _, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
			t.Errorf("the server still answers after run returned")
		}
	})
}
