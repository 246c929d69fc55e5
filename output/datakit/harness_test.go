package datakit

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// wtT0 is the fixed instant of the fake clock and of the batches.
var wtT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

var wtEncoderConfig = output.EncoderConfig{Cluster: "prod", Language: "en"}

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
func wtMetrics(namespaces ...string) output.Batch {
	b := output.Batch{At: wtT0}
	for _, ns := range namespaces {
		b.Stats = append(b.Stats, detect.Stats{Namespace: ns, Pods: 10, RestartedPods: 1, Restarts: 2, Ratio: 0.1})
	}
	return b
}

// wtEvents returns a batch holding one anomaly event per namespace.
func wtEvents(namespaces ...string) output.Batch {
	b := output.Batch{At: wtT0}
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

func wtWrite(t *testing.T, w *Writer, batches ...output.Batch) {
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
