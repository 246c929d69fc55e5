package output

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// wtT0 is the fixed instant of the fake clock and of the batches.
var wtT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var wtEncoderConfig = EncoderConfig{Cluster: "prod", Language: "en"}

// wtRequest is what the fake DataKit received in one request.
type wtRequest struct {
	Path       string
	Query      string
	Type       string // Content-Type
	Encoding   string // Content-Encoding
	Namespaces []string
}

// wtReply is how the fake DataKit answers a request.
type wtReply struct {
	Status     int
	RetryAfter string
	Body       string
}

// wtDataKit is an httptest DataKit: it decodes every body as DataKit does in
// strict mode, records it, and answers as respond says (200 when nil). n
// counts the requests from 0.
type wtDataKit struct {
	t       *testing.T
	srv     *httptest.Server
	respond func(n int, r wtRequest) wtReply

	mu       sync.Mutex
	requests []wtRequest
	accepted []wtRequest // answered 2xx
}

func wtNewDataKit(t *testing.T, respond func(n int, r wtRequest) wtReply) *wtDataKit {
	dk := &wtDataKit{t: t, respond: respond}
	dk.srv = httptest.NewServer(http.HandlerFunc(dk.serve))
	t.Cleanup(dk.srv.Close)
	return dk
}

func (dk *wtDataKit) serve(w http.ResponseWriter, r *http.Request) {
	req := wtRequest{
		Path:     r.URL.Path,
		Query:    r.URL.RawQuery,
		Type:     r.Header.Get("Content-Type"),
		Encoding: r.Header.Get("Content-Encoding"),
	}
	var body io.Reader = r.Body
	if req.Encoding == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			dk.t.Errorf("gzip body: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		dk.t.Errorf("read body: %v", err)
	}
	req.Namespaces = wtDecode(dk.t, path.Base(req.Path), b)

	dk.mu.Lock()
	n := len(dk.requests)
	dk.requests = append(dk.requests, req)
	dk.mu.Unlock()

	reply := wtReply{Status: http.StatusOK}
	if dk.respond != nil {
		reply = dk.respond(n, req)
	}
	if reply.Status/100 == 2 {
		dk.mu.Lock()
		dk.accepted = append(dk.accepted, req)
		dk.mu.Unlock()
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}

// wtDecode decodes a body the way DataKit's write API does for endpoint,
// reports any error or point warning (strict mode), and returns the points'
// namespaces in order.
func wtDecode(t testing.TB, endpoint string, body []byte) []string {
	t.Helper()
	opts := []point.Option{point.WithPrecision(point.PrecNS)}
	if endpoint == endpointMetrics {
		opts = append(opts, point.DefaultMetricOptions()...)
	} else {
		opts = append(opts, point.CommonLoggingOptions()...)
	}
	dec := point.GetDecoder(point.WithDecEncoding(point.LineProtocol))
	defer point.PutDecoder(dec)
	pts, err := dec.Decode(body, opts...)
	if err != nil {
		t.Errorf("decode %s body: %v\n%s", endpoint, err, body)
		return nil
	}
	var ns []string
	for _, pt := range pts {
		if ws := pt.Warns(); len(ws) > 0 {
			t.Errorf("decode %s body: warnings: %s", endpoint, pt.WarnsPretty())
		}
		ns = append(ns, pt.GetTag("namespace"))
	}
	return ns
}

func (dk *wtDataKit) count() int {
	dk.mu.Lock()
	defer dk.mu.Unlock()
	return len(dk.requests)
}

// delivered returns the namespaces of the accepted points per endpoint, in
// the order DataKit accepted them.
func (dk *wtDataKit) delivered() map[string][]string {
	dk.mu.Lock()
	defer dk.mu.Unlock()
	got := map[string][]string{}
	for _, r := range dk.accepted {
		e := path.Base(r.Path)
		got[e] = append(got[e], r.Namespaces...)
	}
	return got
}

// wtLogs records a logger's records.
type wtLogs struct {
	mu   sync.Mutex
	recs []wtLog
}

type wtLog struct {
	Level slog.Level
	Msg   string
	Attrs map[string]string
}

type wtLogHandler struct {
	logs  *wtLogs
	attrs []slog.Attr
}

func (h wtLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h wtLogHandler) Handle(_ context.Context, r slog.Record) error {
	rec := wtLog{Level: r.Level, Msg: r.Message, Attrs: map[string]string{}}
	for _, a := range h.attrs {
		rec.Attrs[a.Key] = a.Value.String()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.String()
		return true
	})
	h.logs.mu.Lock()
	h.logs.recs = append(h.logs.recs, rec)
	h.logs.mu.Unlock()
	return nil
}

func (h wtLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return wtLogHandler{logs: h.logs, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h wtLogHandler) WithGroup(string) slog.Handler { return h }

// messages returns the messages logged at level or above.
func (l *wtLogs) messages(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []string
	for _, r := range l.recs {
		if r.Level >= level {
			msgs = append(msgs, r.Msg)
		}
	}
	return msgs
}

// wtHarness runs Writers against a fake DataKit with a fake clock.
type wtHarness struct {
	t    *testing.T
	dk   *wtDataKit
	fc   *clocktesting.FakeClock
	logs *wtLogs
	cfg  Config
}

func wtNewHarness(t *testing.T, respond func(n int, r wtRequest) wtReply) *wtHarness {
	dk := wtNewDataKit(t, respond)
	fc := clocktesting.NewFakeClock(wtT0)
	return &wtHarness{
		t:    t,
		dk:   dk,
		fc:   fc,
		logs: &wtLogs{},
		cfg: Config{
			URL:        dk.srv.URL,
			QueueDir:   t.TempDir(),
			Input:      "k8s_pod_restart",
			Encoder:    wtEncoderConfig,
			Clock:      fc,
			MaxBackoff: time.Minute,
		},
	}
}

func (h *wtHarness) log() *slog.Logger { return slog.New(wtLogHandler{logs: h.logs}) }

// open returns a new Writer, closed at the end of the test if still open.
func (h *wtHarness) open() *Writer {
	h.t.Helper()
	w, err := New(h.cfg, h.log())
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.WithoutCancel(h.t.Context()))
		cancel() // no grace: leave whatever is left
		_ = w.Close(ctx)
	})
	return w
}

// run runs w.Run until the returned stop is called (or the test ends).
func (h *wtHarness) run(w *Writer) (stop func()) {
	ctx, cancel := context.WithCancel(h.t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("Run: %v", err)
			}
		})
	}
	h.t.Cleanup(stop)
	h.waitFor("Run to start", func() bool {
		w.mu.RLock()
		defer w.mu.RUnlock()
		return w.running
	})
	return stop
}

// until waits for cond, stepping the fake clock past any backoff a sender
// waits for. It never sleeps: it yields until the condition holds.
func (h *wtHarness) until(what string, cond func() bool) {
	h.t.Helper()
	h.wait(what, true, cond)
}

// waitFor waits for cond without touching the clock.
func (h *wtHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	h.wait(what, false, cond)
}

func (h *wtHarness) wait(what string, step bool, cond func() bool) {
	h.t.Helper()
	failsafe := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-failsafe:
			h.t.Fatalf("timed out waiting for %s", what)
		default:
		}
		if step && h.fc.HasWaiters() {
			h.fc.Step(h.cfg.MaxBackoff)
		}
		runtime.Gosched()
	}
}

// wtMetrics returns a batch holding one metric per namespace.
func wtMetrics(namespaces ...string) Batch {
	b := Batch{At: wtT0}
	for _, ns := range namespaces {
		b.Stats = append(b.Stats, detect.Stats{Namespace: ns, Pods: 10, RestartedPods: 1, Restarts: 2, Ratio: 0.1})
	}
	return b
}

// wtEvents returns a batch holding one anomaly event per namespace.
func wtEvents(namespaces ...string) Batch {
	b := Batch{At: wtT0}
	for i, ns := range namespaces {
		id := fmt.Sprintf("event-%032x", i+1)
		st := detect.Stats{Namespace: ns, Pods: 10, RestartedPods: 5, Restarts: 9, Ratio: 0.5, Level: detect.LevelCritical, Fault: true}
		b.Decisions = append(b.Decisions, detect.Decision{
			Kind: detect.KindAnomaly, EventID: id, Level: detect.LevelCritical, At: wtT0, Window: 30 * time.Minute,
			Fault: detect.Fault{ID: id, Namespace: ns, Start: wtT0, Level: detect.LevelCritical, MaxLevel: detect.LevelCritical, LastEvent: wtT0},
			Stats: st,
		})
	}
	return b
}

func wtWrite(t *testing.T, w *Writer, batches ...Batch) {
	t.Helper()
	for _, b := range batches {
		if err := w.Write(t.Context(), b); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
}

// wtCounters are the Stats fields tests compare.
type wtCounters struct {
	Queued, Sent, Retried, Rejected, Overflow uint64
	QueueBytes                                int64
}

func wtCountersOf(c CategoryStats) wtCounters {
	return wtCounters{Queued: c.Queued, Sent: c.Sent, Retried: c.Retried, Rejected: c.Rejected, Overflow: c.Overflow, QueueBytes: c.QueueBytes}
}

// wtSettled reports whether w holds nothing more to send: every queued
// batch was sent, rejected or dropped.
func wtSettled(w *Writer) bool {
	s := w.Stats()
	return s.Events.QueueBytes == 0 && s.Metrics.QueueBytes == 0
}

func TestDeliveryResults(t *testing.T) {
	invalid := wtReply{Status: http.StatusBadRequest, Body: `{"error_code":"datakit.invalidLinePoint","message":"invalid line"}`}
	tests := []struct {
		name      string
		respond   func(n int, r wtRequest) wtReply
		batches   []string // one metric batch per namespace, written before Run
		want      []string // namespaces delivered, in order
		wantStats wtCounters
		wantLogs  []string // warnings and errors, in order
	}{{
		name:      "200 delivers every batch in order",
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-1", "ns-2", "ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 3},
	}, {
		name: "400 drops the batch and later batches still arrive; the error is logged once",
		respond: func(_ int, r wtRequest) wtReply {
			if r.Namespaces[0] == "ns-2" || r.Namespaces[0] == "ns-4" {
				return invalid
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3", "ns-4", "ns-5"},
		want:      []string{"ns-1", "ns-3", "ns-5"},
		wantStats: wtCounters{Queued: 5, Sent: 3, Rejected: 2},
		wantLogs:  []string{"DataKit rejected a batch; dropped it (each distinct error is logged once)"},
	}, {
		name: "another 4xx drops too, and a distinct error is logged again",
		respond: func(_ int, r wtRequest) wtReply {
			switch r.Namespaces[0] {
			case "ns-1":
				return invalid
			case "ns-2":
				return wtReply{Status: http.StatusRequestEntityTooLarge, Body: `{"error_code":"datakit.requestEntityTooLarge"}`}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 1, Rejected: 2},
		wantLogs: []string{
			"DataKit rejected a batch; dropped it (each distinct error is logged once)",
			"DataKit rejected a batch; dropped it (each distinct error is logged once)",
		},
	}, {
		name: "503 for a while: retried, logged once, all arrive in order",
		respond: func(n int, _ wtRequest) wtReply {
			if n < 4 {
				return wtReply{Status: http.StatusServiceUnavailable}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2", "ns-3"},
		want:      []string{"ns-1", "ns-2", "ns-3"},
		wantStats: wtCounters{Queued: 3, Sent: 3, Retried: 4},
		wantLogs:  []string{"sending to DataKit failed; retrying the batch until it is accepted"},
	}, {
		name: "408 and 429 are retried; a changed failure is logged again",
		respond: func(n int, _ wtRequest) wtReply {
			switch n {
			case 0:
				return wtReply{Status: http.StatusRequestTimeout}
			case 1:
				return wtReply{Status: http.StatusTooManyRequests, Body: `{"error_code":"datakit.reachMaxAPILimit"}`}
			}
			return wtReply{Status: http.StatusOK}
		},
		batches:   []string{"ns-1", "ns-2"},
		want:      []string{"ns-1", "ns-2"},
		wantStats: wtCounters{Queued: 2, Sent: 2, Retried: 2},
		wantLogs: []string{
			"sending to DataKit failed; retrying the batch until it is accepted",
			"sending to DataKit failed; retrying the batch until it is accepted",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, tc.respond)
			w := h.open()
			for _, ns := range tc.batches {
				wtWrite(t, w, wtMetrics(ns))
			}
			h.run(w)
			h.until("every batch settled", func() bool { return wtSettled(w) })

			if diff := cmp.Diff(tc.want, h.dk.delivered()[endpointMetrics]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStats, wtCountersOf(w.Stats().Metrics)); diff != "" {
				t.Errorf("metric stats (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLogs, h.logs.messages(slog.LevelWarn)); diff != "" {
				t.Errorf("warnings and errors logged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	h := wtNewHarness(t, nil)
	h.cfg.URL += "/prefix/" // a base URL with a path keeps it
	w := h.open()
	wtWrite(t, w, Batch{At: wtT0, Decisions: wtEvents("shop").Decisions, Stats: wtMetrics("shop", "cart").Stats})
	h.run(w)
	h.until("both batches sent", func() bool { return wtSettled(w) && h.dk.count() == 2 })

	got := map[string]wtRequest{}
	h.dk.mu.Lock()
	reqs := slices.Clone(h.dk.requests)
	h.dk.mu.Unlock()
	for _, r := range reqs {
		got[path.Base(r.Path)] = r
	}
	const query = "precision=n&input=k8s_pod_restart&ignore_global_host_tags=true"
	want := map[string]wtRequest{
		// An event carries its Markdown message: more than gzipMinBytes.
		endpointEvents:  {Path: "/prefix/v1/write/keyevent", Query: query, Type: "text/plain", Encoding: "gzip", Namespaces: []string{"shop"}},
		endpointMetrics: {Path: "/prefix/v1/write/metric", Query: query, Type: "text/plain", Namespaces: []string{"shop", "cart"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	s := w.Stats()
	if diff := cmp.Diff([]wtCounters{{Queued: 1, Sent: 1}, {Queued: 1, Sent: 1}},
		[]wtCounters{wtCountersOf(s.Events), wtCountersOf(s.Metrics)}); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestRetryAfterWaitsAsTold(t *testing.T) {
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"HTTP date", wtT0.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"beyond the backoff cap", "300", 5 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, func(n int, _ wtRequest) wtReply {
				if n == 0 {
					return wtReply{Status: http.StatusTooManyRequests, RetryAfter: tc.retryAfter}
				}
				return wtReply{Status: http.StatusOK}
			})
			w := h.open()
			wtWrite(t, w, wtMetrics("ns-1"))
			h.run(w)
			h.waitFor("the first attempt and its wait", func() bool { return h.dk.count() == 1 && h.fc.HasWaiters() })

			h.fc.Step(tc.want - time.Millisecond)
			if !h.fc.HasWaiters() || h.dk.count() != 1 {
				t.Fatalf("retried before the %v DataKit asked for", tc.want)
			}
			h.fc.Step(time.Millisecond)
			h.waitFor("the retry", func() bool { return wtSettled(w) })
			if diff := cmp.Diff([]string{"ns-1"}, h.dk.delivered()[endpointMetrics]); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnectionRefusedIsRetried(t *testing.T) {
	h := wtNewHarness(t, nil)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := closed.Addr().String()
	closed.Close()
	var refuse atomic.Bool
	refuse.Store(true)
	h.cfg.HTTPClient = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if refuse.Load() {
				addr = refusing
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}}
	w := h.open()
	wtWrite(t, w, wtMetrics("ns-1"), wtMetrics("ns-2"))
	h.run(w)

	// Two refused attempts: both counted, logged once.
	h.waitFor("a first refused attempt", func() bool { return h.fc.HasWaiters() })
	h.fc.Step(h.cfg.MaxBackoff)
	h.waitFor("a second refused attempt", func() bool { return h.fc.HasWaiters() && w.Stats().Metrics.Retried == 2 })
	s := w.Stats().Metrics
	if !strings.Contains(s.LastError, "connection refused") || !s.LastErrorAt.Equal(h.fc.Now()) {
		t.Errorf("last error %q at %v, want a refused connection at %v", s.LastError, s.LastErrorAt, h.fc.Now())
	}

	refuse.Store(false)
	h.until("both batches sent", func() bool { return wtSettled(w) })
	if diff := cmp.Diff([]string{"ns-1", "ns-2"}, h.dk.delivered()[endpointMetrics]); diff != "" {
		t.Errorf("delivered (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wtCounters{Queued: 2, Sent: 2, Retried: 2}, wtCountersOf(w.Stats().Metrics)); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sending to DataKit failed; retrying the batch until it is accepted"},
		h.logs.messages(slog.LevelWarn)); diff != "" {
		t.Errorf("warnings logged (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"sending to DataKit works again"}, wtInfoOnly(h.logs)); diff != "" {
		t.Errorf("info logged (-want +got):\n%s", diff)
	}
}

func wtInfoOnly(l *wtLogs) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var msgs []string
	for _, r := range l.recs {
		if r.Level == slog.LevelInfo {
			msgs = append(msgs, r.Msg)
		}
	}
	return msgs
}

func TestCloseFlushesAndLeavesTheRest(t *testing.T) {
	t.Run("DataKit up: Close sends everything before it returns", func(t *testing.T) {
		h := wtNewHarness(t, nil)
		w := h.open()
		wtWrite(t, w, wtMetrics("ns-1"), wtEvents("ev-1"), wtMetrics("ns-2"))
		h.run(w)
		if err := w.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		want := map[string][]string{endpointEvents: {"ev-1"}, endpointMetrics: {"ns-1", "ns-2"}}
		if diff := cmp.Diff(want, h.dk.delivered()); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
		if err := w.Write(t.Context(), wtMetrics("late")); !errors.Is(err, ErrClosed) {
			t.Errorf("Write after Close: %v, want ErrClosed", err)
		}
		if err := w.Run(t.Context()); !errors.Is(err, ErrClosed) {
			t.Errorf("Run after Close: %v, want ErrClosed", err)
		}

		// Nothing is left for the next start.
		n := h.dk.count()
		w2 := h.open()
		if s := w2.Stats(); s.Events.QueueBytes != 0 || s.Metrics.QueueBytes != 0 {
			t.Errorf("queue bytes after a full flush: %+v", s)
		}
		if err := w2.Close(t.Context()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if got := h.dk.count(); got != n {
			t.Errorf("%d requests after reopening an empty queue", got-n)
		}
	})

	t.Run("DataKit down: Close gives up when its context ends and the next Writer sends the rest", func(t *testing.T) {
		var down atomic.Bool
		down.Store(true)
		h := wtNewHarness(t, func(int, wtRequest) wtReply {
			if down.Load() {
				return wtReply{Status: http.StatusServiceUnavailable}
			}
			return wtReply{Status: http.StatusOK}
		})
		w := h.open()
		wtWrite(t, w, wtMetrics("ns-1"), wtMetrics("ns-2"))
		h.run(w)
		h.waitFor("Run's sender backing off", func() bool { return h.fc.HasWaiters() })

		ctx, cancel := context.WithCancel(t.Context())
		closed := make(chan error, 1)
		go func() { closed <- w.Close(ctx) }()
		// Close stops Run and tries again itself.
		h.waitFor("Close's own attempt", func() bool { return h.dk.count() == 2 && h.fc.HasWaiters() })
		cancel()
		err := <-closed
		if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "left queued on disk") {
			t.Fatalf("Close: %v, want the bytes left queued", err)
		}

		down.Store(false)
		w2 := h.open()
		if s := w2.Stats(); s.Metrics.QueueBytes == 0 {
			t.Errorf("no queue bytes reported for what was left: %+v", s.Metrics)
		}
		h.run(w2)
		h.until("the rest sent", func() bool { return len(h.dk.delivered()[endpointMetrics]) == 2 && w2.Stats().Metrics.QueueBytes == 0 })
		if diff := cmp.Diff([]string{"ns-1", "ns-2"}, h.dk.delivered()[endpointMetrics]); diff != "" {
			t.Errorf("delivered (-want +got):\n%s", diff)
		}
	})
}

func TestOverflowPolicy(t *testing.T) {
	// Sizes on disk of one event and one metric batch of a single namespace
	// of three letters.
	enc, err := NewEncoder(wtEncoderConfig)
	if err != nil {
		t.Fatal(err)
	}
	size := func(b Batch) int64 {
		var pts []*point.Point
		for i := range b.Decisions {
			pt, err := enc.Event(&b.Decisions[i])
			if err != nil {
				t.Fatal(err)
			}
			pts = append(pts, pt)
		}
		for i := range b.Stats {
			pt, err := enc.Metric(b.At, &b.Stats[i])
			if err != nil {
				t.Fatal(err)
			}
			pts = append(pts, pt)
		}
		lines, err := EncodeLines(pts)
		if err != nil {
			t.Fatal(err)
		}
		return int64(len(lines)) + recordOverhead
	}
	ev, me := size(wtEvents("e-1")), size(wtMetrics("m-1"))
	if ev <= me {
		t.Fatalf("an event batch (%d bytes) should be larger than a metric batch (%d)", ev, me)
	}

	type write struct {
		batch   Batch
		wantErr error
	}
	tests := []struct {
		name string
		max  int64
		// phases are written one after another, each into the queues
		// before Run sends them all.
		phases                [][]write
		want                  map[string][]string
		wantEvents, wantMetrs wtCounters
		wantLogs              []string // info and above
	}{{
		name: "metrics beyond the bound drop the oldest metrics, logged once",
		max:  3 * me,
		phases: [][]write{{
			{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtMetrics("m-3")},
			{batch: wtMetrics("m-4")}, {batch: wtMetrics("m-5")},
		}},
		want:      map[string][]string{endpointMetrics: {"m-3", "m-4", "m-5"}},
		wantMetrs: wtCounters{Queued: 5, Sent: 3, Overflow: 2},
		wantLogs:  []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name:       "an event makes room by dropping the oldest metrics",
		max:        ev + me,
		phases:     [][]write{{{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtEvents("e-1")}}},
		want:       map[string][]string{endpointEvents: {"e-1"}, endpointMetrics: {"m-2"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1},
		wantMetrs:  wtCounters{Queued: 2, Sent: 1, Overflow: 1},
		wantLogs:   []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name: "events alone beyond the bound are refused loudly, after the metrics went",
		max:  ev + me,
		phases: [][]write{{
			{batch: wtEvents("e-1")}, {batch: wtMetrics("m-1")},
			{batch: wtEvents("e-2"), wantErr: ErrQueueFull},
		}},
		want:       map[string][]string{endpointEvents: {"e-1"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1, Overflow: 1},
		wantMetrs:  wtCounters{Queued: 1, Overflow: 1},
		wantLogs: []string{
			"queue full: dropping the oldest metrics until DataKit catches up",
			"queue full of events: refused new events; DataKit has not accepted events for long",
		},
	}, {
		name:       "a new metric finding only events is dropped without an error",
		max:        ev + me - 1,
		phases:     [][]write{{{batch: wtEvents("e-1")}, {batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}}},
		want:       map[string][]string{endpointEvents: {"e-1"}},
		wantEvents: wtCounters{Queued: 1, Sent: 1},
		wantMetrs:  wtCounters{Overflow: 2},
		wantLogs:   []string{"queue full: dropping the oldest metrics until DataKit catches up"},
	}, {
		name: "the end of the drops is logged, and a new episode again",
		max:  2 * me,
		phases: [][]write{
			{{batch: wtMetrics("m-1")}, {batch: wtMetrics("m-2")}, {batch: wtMetrics("m-3")}}, // drops m-1
			{{batch: wtMetrics("m-4")}, {batch: wtMetrics("m-5")}, {batch: wtMetrics("m-6")}}, // room, then drops m-4
		},
		want:      map[string][]string{endpointMetrics: {"m-2", "m-3", "m-5", "m-6"}},
		wantMetrs: wtCounters{Queued: 6, Sent: 4, Overflow: 2},
		wantLogs: []string{
			"queue full: dropping the oldest metrics until DataKit catches up",
			"queue below its bound again",
			"queue full: dropping the oldest metrics until DataKit catches up",
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := wtNewHarness(t, nil)
			h.cfg.QueueMaxBytes = tc.max
			w := h.open()
			for p, phase := range tc.phases {
				for i, wr := range phase {
					if err := w.Write(t.Context(), wr.batch); !errors.Is(err, wr.wantErr) {
						t.Fatalf("phase %d, write %d: %v, want %v", p, i, err, wr.wantErr)
					}
					if s := w.Stats(); s.Events.QueueBytes+s.Metrics.QueueBytes > tc.max {
						t.Fatalf("phase %d, write %d: %d bytes queued, beyond the bound of %d",
							p, i, s.Events.QueueBytes+s.Metrics.QueueBytes, tc.max)
					}
				}
				stop := h.run(w)
				h.until("the queues drained", func() bool { return wtSettled(w) })
				stop()
			}
			if diff := cmp.Diff(tc.want, h.dk.delivered()); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			s := w.Stats()
			if diff := cmp.Diff([]wtCounters{tc.wantEvents, tc.wantMetrs},
				[]wtCounters{wtCountersOf(s.Events), wtCountersOf(s.Metrics)}); diff != "" {
				t.Errorf("stats of events and metrics (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantLogs, h.logs.messages(slog.LevelInfo)); diff != "" {
				t.Errorf("logged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStdout(t *testing.T) {
	enc, err := NewEncoder(wtEncoderConfig)
	if err != nil {
		t.Fatal(err)
	}
	b1 := Batch{At: wtT0, Decisions: wtEvents("shop").Decisions, Stats: wtMetrics("shop", "cart").Stats}
	b2 := wtMetrics("late")
	var want []byte
	for _, b := range []Batch{b1, b2} {
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
			lines, err := EncodeLines(pts)
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
		cfg:  Config{URL: "ftp://x", QueueMaxBytes: -1, Timeout: -1, MaxBackoff: -1, Encoder: EncoderConfig{Cluster: "c", Language: "xx"}},
		want: []string{"scheme must be http or https", "queue directory is required", "input name is required",
			"queue max bytes -1", "timeout -1ns", "max backoff -1ns", `language "xx"`},
	}, {
		name: "a URL with a query",
		cfg:  Config{URL: "http://datakit:9529?x=1", QueueDir: dir, Input: "i", Encoder: wtEncoderConfig},
		want: []string{"must not carry a query"},
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
