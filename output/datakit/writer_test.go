package datakit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

func TestStdout(t *testing.T) {
	enc, err := output.NewEncoder(wtEncoderConfig)
	if err != nil {
		t.Fatal(err)
	}
	b1 := output.Batch{At: wtT0, Decisions: wtEvents("shop").Decisions, Stats: wtMetrics("shop", "cart").Stats}
	b2 := wtMetrics("late")
	var want []byte
	for _, b := range []output.Batch{b1, b2} {
		var evs, mts []*point.Point
		for i := range b.Decisions {
			pt, err := enc.Event(&b.Decisions[i])
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, pt)
		}
		for i := range b.Stats {
			pt, err := enc.Metric(b.At, &b.Stats[i])
			if err != nil {
				t.Fatal(err)
			}
			mts = append(mts, pt)
		}
		for _, pts := range [][]*point.Point{evs, mts} {
			if len(pts) == 0 {
				continue
			}
			lines, err := output.EncodeLines(pts)
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, lines...)
		}
	}

	var out bytes.Buffer
	w, err := New(Config{Stdout: &out, Encoder: wtEncoderConfig}, slog.New(wtLogHandler{logs: &wtLogs{}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ran := make(chan error, 1)
	go func() { ran <- w.Run(ctx) }()
	wtWrite(t, w, b1, b2)
	cancel()
	if err := <-ran; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Errorf("Close: %v", err)
	}

	if diff := cmp.Diff(string(want), out.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
		t.Errorf("stdout does not end with a newline")
	}
	// Events and metrics decode alike but for string fields, which only
	// events carry: decode everything as events. (Not line by line: an
	// event's Markdown message holds newlines inside its quotes.)
	ns := wtDecode(t, endpointEvents, out.Bytes())
	if diff := cmp.Diff([]string{"shop", "shop", "cart", "late"}, ns); diff != "" {
		t.Errorf("namespaces written (-want +got):\n%s", diff)
	}
	s := w.Stats()
	if diff := cmp.Diff([]wtCounters{{Sent: 1}, {Sent: 2}}, []wtCounters{wtCountersOf(s.Events), wtCountersOf(s.Metrics)}); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestWriteSkipsWhatFailsToEncode(t *testing.T) {
	h := wtNewHarness(t, nil)
	w := h.open()
	b := wtEvents("ok-1", "bad", "ok-2")
	b.Decisions[1].EventID = "" // the encoder refuses it
	err := w.Write(t.Context(), b)
	if err == nil || !strings.Contains(err.Error(), "1 of 3 skipped") {
		t.Fatalf("Write: %v, want the skipped decision reported", err)
	}
	h.run(w)
	h.until("the rest sent", func() bool { return wtSettled(w) })
	if diff := cmp.Diff(map[string][]string{endpointEvents: {"ok-1", "ok-2"}}, h.dk.delivered()); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if got := w.Stats().Events.Invalid; got != 1 {
		t.Errorf("invalid events counted: %d, want 1", got)
	}
}

// wtCrashEnv names the queue directory and DataKit URL of the crash child.
const wtCrashEnv = "OUTPUT_TEST_CRASH_CHILD"

// TestWriterCrashChild is the process TestRestartAfterSIGKILL kills: it
// queues three metric batches, says so on stdout, and runs until killed.
func TestWriterCrashChild(t *testing.T) {
	env := os.Getenv(wtCrashEnv)
	if env == "" {
		t.Skip("run by TestRestartAfterSIGKILL")
	}
	dir, url, _ := strings.Cut(env, "|")
	w, err := New(Config{URL: url, QueueDir: dir, Input: "k8s_pod_restart", Encoder: wtEncoderConfig}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	wtWrite(t, w, wtMetrics("ns-1"), wtMetrics("ns-2"), wtMetrics("ns-3"))
	go func() { _ = w.Run(t.Context()) }()
	fmt.Println("WT-QUEUED")
	_, _ = io.Copy(io.Discard, os.Stdin) // until killed
}

func TestRestartAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	// The first DataKit takes the first batch and never answers, so the
	// child is killed while sending it.
	sending := make(chan struct{}, 1)
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case sending <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) })

	h := wtNewHarness(t, nil)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestWriterCrashChild$")
	cmd.Env = append(os.Environ(), wtCrashEnv+"="+h.cfg.QueueDir+"|"+hang.URL)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	queued := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if sc.Text() == "WT-QUEUED" && !found {
				found = true
				queued <- true
			}
		}
		if !found {
			queued <- false
		}
	}()
	if !<-queued {
		_ = cmd.Wait()
		t.Fatal("the child did not queue its batches")
	}
	<-sending
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if _, err := os.Stat(filepath.Join(h.cfg.QueueDir, endpointMetrics+".inflight")); err != nil {
		t.Errorf("no in-flight batch left by the killed sender: %v", err)
	}

	w := h.open() // the kernel released the dead process's lock
	h.run(w)
	h.until("the batches of the killed process", func() bool {
		return len(h.dk.delivered()[endpointMetrics]) == 3 && w.Stats().Metrics.QueueBytes == 0
	})
	if diff := cmp.Diff([]string{"ns-1", "ns-2", "ns-3"}, h.dk.delivered()[endpointMetrics]); diff != "" {
		t.Errorf("delivered after the restart (-want +got):\n%s", diff)
	}
}

func TestNewValidates(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		env  map[string]string
		want []string // substrings of the error, all reported at once
	}{{
		name: "stdout required without a URL",
		cfg:  Config{Encoder: wtEncoderConfig},
		want: []string{"stdout is required"},
	}, {
		name: "every problem at once",
		cfg:  Config{URL: "ftp://x", QueueMaxBytes: -1, Timeout: -1, MaxBackoff: -1, Encoder: output.EncoderConfig{Cluster: "c", Language: "xx"}},
		want: []string{"must start with http:// or https://", "queue directory is required", "input name is required",
			"queue max bytes -1", "timeout -1ns", "max backoff -1ns", `language "xx"`},
	}, {
		name: "a URL with a query",
		cfg:  Config{URL: "http://datakit:9529?x=1", QueueDir: dir, Input: "i", Encoder: wtEncoderConfig},
		want: []string{"must not have a query or fragment"},
	}, {
		name: "diskcache environment that breaks the guarantees",
		cfg:  Config{URL: "http://datakit:9529", QueueDir: dir, Input: "i", Encoder: wtEncoderConfig},
		env:  map[string]string{"ENV_DISKCACHE_NO_SYNC": "on", "ENV_DISKCACHE_CAPACITY": "1024"},
		want: []string{"ENV_DISKCACHE_NO_SYNC", "ENV_DISKCACHE_CAPACITY"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			w, err := New(tc.cfg, slog.New(slog.DiscardHandler))
			if err == nil {
				_ = w.Close(t.Context())
				t.Fatal("New succeeded")
			}
			var missing []string
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					missing = append(missing, s)
				}
			}
			if diff := cmp.Diff([]string(nil), missing, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("error %q lacks (-want +got):\n%s", err, diff)
			}
		})
	}
}

func TestQueueDirHasOneWriter(t *testing.T) {
	h := wtNewHarness(t, nil)
	w := h.open()
	if w2, err := New(h.cfg, h.log()); err == nil || !strings.Contains(err.Error(), "in use by another writer") {
		if w2 != nil {
			_ = w2.Close(t.Context())
		}
		t.Fatalf("second New on the same directory: %v", err)
	}
	if err := w.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	h.open() // free again
}
