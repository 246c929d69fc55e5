package input

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

// unreachableKubeconfig writes a kubeconfig whose API server refuses
// connections (port 1), for runs that must start but never sync.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	const kc = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:1
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
users:
- name: u
  user: {token: not-a-secret}
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestValidateCoversStartup proves, for each way a configuration can make
// the start fail, that Validate (what --check-config and Load run) reports
// it first, naming the key. Each case must also fail newCluster, the start
// itself, without Validate: a case the start accepts would prove nothing.
func TestValidateCoversStartup(t *testing.T) {
	badKubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(badKubeconfig, []byte("clusters: [not: a: kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(c *Config)
		key    string // the key Validate's message starts with
	}{
		// collect.Connect
		{"kubeconfig that does not parse", func(c *Config) { c.Kubeconfig = badKubeconfig }, "kubeconfig: "},
		{"unknown context", func(c *Config) { c.Context = "nope" }, "context: "},
		// collect's watchers
		{"every namespace excluded", func(c *Config) { c.Namespaces, c.ExcludeNamespaces = []string{"a"}, []string{"a"} }, "namespaces[0]: "},
		// detect.Config.Validate
		{"zero window", func(c *Config) { c.Window = Duration{} }, "window: "},
		{"zero interval", func(c *Config) { c.Interval = Duration{} }, "interval: "},
		{"negative silence", func(c *Config) { c.Silence = Duration{-time.Second} }, "silence: "},
		{"zero min_pods", func(c *Config) { c.MinPods = 0 }, "min_pods: "},
		{"zero min_restarted_pods", func(c *Config) { c.MinRestartedPods = 0 }, "min_restarted_pods: "},
		{"ratios out of order", func(c *Config) { c.RatioWarning, c.RatioError = 0.5, 0.3 }, "ratio_error: "},
		{"ratio over 1", func(c *Config) { c.RatioCritical = 1.5 }, "ratio_critical: "},
		{"zero baseline_windows", func(c *Config) { c.Baseline, c.BaselineWindows = true, 0 }, "baseline_windows: "},
		{"baseline_margin 1", func(c *Config) { c.Baseline, c.BaselineMargin = true, 1 }, "baseline_margin: "},
		// output.New
		{"tag key with a dot", func(c *Config) { c.ExtraTags = map[string]string{"team.name": "x"} }, "tags: "},
		{"tag key source", func(c *Config) { c.ExtraTags = map[string]string{"source": "x"} }, "tags: "},
		{"tag key df_", func(c *Config) { c.ExtraTags = map[string]string{"df_status": "x"} }, "tags: "},
		{"tag key of the schema", func(c *Config) { c.ExtraTags = map[string]string{"restart_ratio": "x"} }, "tags: "},
		{"tag key over 256 bytes", func(c *Config) { c.ExtraTags = map[string]string{strings.Repeat("k", 257): "x"} }, "tags: "},
		{"tag value over 1 KiB", func(c *Config) { c.ExtraTags = map[string]string{"team": strings.Repeat("x", 1025)} }, "tags.team: "},
		{"tag value not UTF-8", func(c *Config) { c.ExtraTags = map[string]string{"team": "\xff"} }, "tags.team: "},
		{"tag value with a newline", func(c *Config) { c.ExtraTags = map[string]string{"team": "a\nb"} }, "tags.team: "},
		{"too many tags", func(c *Config) {
			for i := range 201 {
				c.ExtraTags[fmt.Sprintf("t%03d", i)] = "x"
			}
		}, "tags: "},
		{"cluster name over 1 KiB", func(c *Config) { c.ClusterName = strings.Repeat("c", 1025) }, "cluster_name: "},
		{"empty cluster name", func(c *Config) { c.ClusterName = "" }, "cluster_name: "},
		{"unknown language", func(c *Config) { c.Language = "fr" }, "language: "},
		{"datakit_url not http", func(c *Config) { c.DatakitURL = "ftp://datakit:9529" }, "datakit_url: "},
		{"datakit_url with a query", func(c *Config) { c.DatakitURL = "http://datakit:9529?x=1" }, "datakit_url: "},
		{"tls_ca_file that does not exist", func(c *Config) {
			c.DatakitURL, c.TLSCAFile = "https://datakit:9529", "testdata/no-such-ca.pem"
		}, "tls_ca_file: "},
		// newAnalysis
		{"log_redact that does not compile", func(c *Config) { c.CollectLogs, c.LogRedact = true, []string{"(unclosed"} }, "log_redact: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Kubeconfig = "testdata/kubeconfig"
			c.QueueDir = t.TempDir()
			c.Listen = ""
			tc.change(c)

			err := c.Validate()
			var matched bool
			for _, line := range errLines(err) {
				matched = matched || strings.HasPrefix(line, tc.key)
			}
			if !matched {
				t.Errorf("Validate() = %v; want a problem of %q", err, strings.TrimSuffix(tc.key, ": "))
			}

			log := slog.New(slog.DiscardHandler)
			opts := RunOptions{Clock: clocktesting.NewFakeClock(srvT0), Stdout: io.Discard, Version: "v-test"}
			cl, err := newCluster(t.Context(), c, log, opts, nil)
			if err == nil {
				cl.close(t.Context())
				t.Fatal("newCluster accepted the configuration: the case does not test what the start rejects")
			}
		})
	}
}

// TestNewClusterAcceptsTheDefaults keeps TestValidateCoversStartup honest:
// the configuration its cases start from does start.
func TestNewClusterAcceptsTheDefaults(t *testing.T) {
	for _, url := range []string{"", "http://127.0.0.1:1"} {
		t.Run("datakit_url="+url, func(t *testing.T) {
			c := DefaultConfig()
			c.Kubeconfig = "testdata/kubeconfig"
			c.QueueDir = t.TempDir()
			c.DatakitURL = url
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			opts := RunOptions{Clock: clocktesting.NewFakeClock(srvT0), Stdout: io.Discard, Version: "v-test"}
			cl, err := newCluster(t.Context(), c, slog.New(slog.DiscardHandler), opts, nil)
			if err != nil {
				t.Fatalf("newCluster: %v", err)
			}
			cl.close(t.Context())
		})
	}
}

func TestRunRejectsBadConfigBeforeListening(t *testing.T) {
	c := DefaultConfig()
	c.ExtraTags = map[string]string{"team.name": "x"}
	c.Listen = "127.0.0.1:0"
	var logs bytes.Buffer
	err := Run(t.Context(), []*Config{c}, slog.New(slog.NewTextHandler(&logs, nil)), RunOptions{Stdout: io.Discard})
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("Run() = %v, want %v", err, ErrBadConfig)
	}
	if want := `cluster default: tags: key "team.name" must not contain a dot`; !strings.Contains(err.Error(), want) {
		t.Errorf("Run() = %v, want it to contain %q", err, want)
	}
	if logs.Len() > 0 {
		t.Errorf("Run logged before refusing the configuration:\n%s", &logs)
	}
}

func TestRunRejectsDuplicateClusters(t *testing.T) {
	a, b := DefaultConfig(), DefaultConfig()
	a.Listen, b.Listen = "127.0.0.1:0", "127.0.0.1:0"
	err := Run(t.Context(), []*Config{a, b}, slog.New(slog.DiscardHandler), RunOptions{Stdout: io.Discard})
	if !errors.Is(err, ErrBadConfig) || !strings.Contains(err.Error(), "cluster default: cluster_name: used by another block") {
		t.Errorf("Run() = %v, want %v naming the duplicate", err, ErrBadConfig)
	}
}

// syncWriter is a buffer safe for the logs of several goroutines that
// signals each write.
type syncWriter struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // capacity 1
}

func newSyncWriter() *syncWriter { return &syncWriter{written: make(chan struct{}, 1)} }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	select {
	case w.written <- struct{}{}:
	default:
	}
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// wait returns the submatches of re in the logs once it matches, or nil
// when ctx ends first.
func (w *syncWriter) wait(ctx context.Context, re *regexp.Regexp) []string {
	for {
		if m := re.FindStringSubmatch(w.String()); m != nil {
			return m
		}
		select {
		case <-w.written:
		case <-ctx.Done():
			return nil
		}
	}
}

var servingAddr = regexp.MustCompile(`msg="serving /healthz, /readyz and /metrics" addr=(\S+) clusters="\[(.*)\]"`)

// TestRunSharesListen runs two blocks with the same listen address: one
// server serves both clusters, each series labelled with its cluster, and
// /readyz reports every cluster's checks.
func TestRunSharesListen(t *testing.T) {
	kubeconfig := unreachableKubeconfig(t)
	var cfgs []*Config
	for _, name := range []string{"prod", "staging"} {
		c := DefaultConfig()
		c.ClusterName = name
		c.Kubeconfig = kubeconfig
		c.Listen = "127.0.0.1:0"
		cfgs = append(cfgs, c)
	}
	logs := newSyncWriter()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfgs, slog.New(slog.NewTextHandler(logs, nil)), RunOptions{Stdout: io.Discard, Version: "v-test"})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	m := logs.wait(wctx, servingAddr)
	if m == nil {
		t.Fatalf("no serving log line:\n%s", logs)
	}
	if got := strings.Count(logs.String(), "serving /healthz"); got != 1 {
		t.Errorf("%d servers started, want 1", got)
	}
	if diff := cmp.Diff("prod staging", m[2]); diff != "" {
		t.Errorf("clusters served (-want +got):\n%s", diff)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	for _, want := range []string{
		`k8s_pod_restart_caches_synced{cluster_name_k8s="prod"} 0`,
		`k8s_pod_restart_caches_synced{cluster_name_k8s="staging"} 0`,
		`k8s_pod_restart_build_info{go_version=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := strings.Count(body, "# TYPE k8s_pod_restart_build_info gauge"); got != 1 {
		t.Errorf("build_info declared %d times, want 1", got)
	}

	code, body = get("/readyz")
	want := "[-]prod/caches failed: pod caches not synced yet\n" +
		"[+]prod/election ok: election off\n" +
		"[+]prod/output ok: writing to standard output\n" +
		"[-]staging/caches failed: pod caches not synced yet\n" +
		"[+]staging/election ok: election off\n" +
		"[+]staging/output ok: writing to standard output\n" +
		"not ready\n"
	if code != http.StatusServiceUnavailable {
		t.Errorf("/readyz: %d, want %d", code, http.StatusServiceUnavailable)
	}
	if diff := cmp.Diff(want, body); diff != "" {
		t.Errorf("/readyz (-want +got):\n%s", diff)
	}
}
