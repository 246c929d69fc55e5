package collect

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// fakeKubelet is an API server that serves only pods' logs, as the API
// server proxies them from the kubelet: no kubelet runs in tests.
type fakeKubelet struct {
	t *testing.T
	// serve answers one request; nil serves "log of <pod>/<container>".
	serve func(w http.ResponseWriter, r *http.Request)

	mu       sync.Mutex
	requests []string // "pod container previous=true tailLines=20 limitBytes=8192"

	inflight, maxInflight atomic.Int32
}

func (k *fakeKubelet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := k.inflight.Add(1)
	defer k.inflight.Add(-1)
	for {
		m := k.maxInflight.Load()
		if n <= m || k.maxInflight.CompareAndSwap(m, n) {
			break
		}
	}
	// /api/v1/namespaces/{ns}/pods/{pod}/log
	parts := strings.Split(r.URL.Path, "/")
	if len(parts) != 8 || parts[7] != "log" || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	k.mu.Lock()
	k.requests = append(k.requests, fmt.Sprintf("%s %s previous=%s tailLines=%s limitBytes=%s",
		parts[6], q.Get("container"), q.Get("previous"), q.Get("tailLines"), q.Get("limitBytes")))
	k.mu.Unlock()
	if k.serve != nil {
		k.serve(w, r)
		return
	}
	fmt.Fprintf(w, "log of %s/%s\n", parts[6], q.Get("container"))
}

func (k *fakeKubelet) sorted() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := append([]string(nil), k.requests...)
	// Requests run concurrently: compare them as a set.
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

// newFetcher returns a fetcher reading logs from k through a real client,
// retrying at once.
func newFetcher(t *testing.T, k *fakeKubelet, opts LogOptions) *LogFetcher {
	t.Helper()
	srv := httptest.NewServer(k)
	t.Cleanup(srv.Close)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if opts.TailLines == 0 {
		opts.TailLines, opts.TailBytes = 20, 2048
	}
	f := NewLogFetcher(ClientLogSource{Client: client}, opts)
	f.sleep = func(ctx context.Context, _ time.Duration) bool { return ctx.Err() == nil }
	return f
}

// logDecision is a decision with pods of the given workloads, each with a
// restarted app container, and a sidecar that did not restart.
func logDecision(workloads ...string) *detect.Decision {
	d := &detect.Decision{Kind: detect.KindAnomaly}
	for i, w := range workloads {
		p := &detect.Pod{Namespace: "shop", Name: fmt.Sprintf("%s-%d", w, i), Owner: detect.Owner{Kind: "Deployment", Name: w, Revision: "h"},
			Containers: []detect.Container{
				{Name: "proxy", Type: detect.ContainerSidecar, State: detect.StateRunning},
				{Name: "app", State: detect.StateWaiting, StateReason: "CrashLoopBackOff"},
			}}
		d.Pods = append(d.Pods, detect.PodReport{Pod: p, Restarts: 1, ContainerRestarts: []int{0, 1}})
	}
	return d
}

func TestLogFetcherBudget(t *testing.T) {
	k := &fakeKubelet{t: t}
	f := newFetcher(t, k, LogOptions{TailLines: 20, TailBytes: 2048})
	dec := logDecision("api", "api", "api", "web", "web", "db", "db", "cache", "cache")
	if errs := f.Fill(t.Context(), dec); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []string{
		"api-0 app previous=true tailLines=20 limitBytes=8192",
		"api-1 app previous=true tailLines=20 limitBytes=8192",
		"db-5 app previous=true tailLines=20 limitBytes=8192",
		"db-6 app previous=true tailLines=20 limitBytes=8192",
		"web-3 app previous=true tailLines=20 limitBytes=8192",
		"web-4 app previous=true tailLines=20 limitBytes=8192",
	}
	if diff := cmp.Diff(want, k.sorted()); diff != "" {
		t.Errorf("requests (-want +got): 2 per workload, 6 per event\n%s", diff)
	}
	if got := dec.Pods[0].LogTails; len(got) != 2 || got[0] != "" || got[1] != "log of api-0/app" {
		t.Errorf("first pod's tails %q", got)
	}
	if dec.Pods[2].LogTails != nil || dec.Pods[7].LogTails != nil {
		t.Error("logs fetched beyond the budgets")
	}
	if m := k.maxInflight.Load(); m > logConcurrency {
		t.Errorf("%d requests in flight, want at most %d", m, logConcurrency)
	}
}

// TestLogFetcherRace: the container has just died; the kubelet has not
// restarted it, so it is no "previous" container yet, and the status the
// agent saw may be either side of the restart.
func TestLogFetcherRace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state detect.StateKind
		// notFound is the previous value the kubelet answers 400 to.
		notFound string
		want     []string
	}{
		{"waiting, and the previous run exists", detect.StateWaiting, "", []string{"api-0 app previous=true tailLines=20 limitBytes=8192"}},
		{"still terminated: the current run is the dead one", detect.StateTerminated, "", []string{"api-0 app previous=false tailLines=20 limitBytes=8192"}},
		{"seen waiting, but the kubelet has no previous run yet", detect.StateWaiting, "true", []string{
			"api-0 app previous=true tailLines=20 limitBytes=8192", "api-0 app previous=false tailLines=20 limitBytes=8192"}},
		{"seen terminated, restarted since", detect.StateTerminated, "false", []string{
			"api-0 app previous=false tailLines=20 limitBytes=8192", "api-0 app previous=true tailLines=20 limitBytes=8192"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKubelet{t: t, serve: func(w http.ResponseWriter, r *http.Request) {
				prev := r.URL.Query().Get("previous")
				if prev == "" {
					prev = "false"
				}
				if prev == tc.notFound {
					status(w, http.StatusBadRequest, "BadRequest", `previous terminated container "app" in pod "api-0" not found`)
					return
				}
				fmt.Fprint(w, "panic: boom\n")
			}}
			f := newFetcher(t, k, LogOptions{})
			dec := logDecision("api")
			dec.Pods[0].Pod.Containers[1].State = tc.state
			if errs := f.Fill(t.Context(), dec); len(errs) > 0 {
				t.Fatal(errs)
			}
			k.mu.Lock()
			got := k.requests
			k.mu.Unlock()
			for i := range got {
				got[i] = strings.Replace(got[i], "previous= ", "previous=false ", 1)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if dec.Pods[0].LogTails[1] != "panic: boom" {
				t.Errorf("tail %q", dec.Pods[0].LogTails[1])
			}
		})
	}
}

func TestLogFetcherErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		reason   string
		requests int
		check    func(error) bool
	}{
		{"forbidden: no retry", http.StatusForbidden, "Forbidden", 1, apierrors.IsForbidden},
		{"pod gone: no retry", http.StatusNotFound, "NotFound", 1, apierrors.IsNotFound},
		{"kubelet unreachable: retried, then given up", http.StatusInternalServerError, "InternalError", logAttempts, apierrors.IsInternalError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &fakeKubelet{t: t, serve: func(w http.ResponseWriter, r *http.Request) { status(w, tc.code, tc.reason, "no") }}
			f := newFetcher(t, k, LogOptions{})
			dec := logDecision("api")
			errs := f.Fill(t.Context(), dec)
			if len(errs) != 1 || !tc.check(errs[0]) {
				t.Errorf("errors %v", errs)
			}
			if got := len(k.sorted()); got != tc.requests {
				t.Errorf("%d requests, want %d", got, tc.requests)
			}
			if dec.Pods[0].LogTails[1] != "" {
				t.Errorf("a tail despite the error: %q", dec.Pods[0].LogTails[1])
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	var long strings.Builder
	for i := range 100 {
		fmt.Fprintf(&long, "line %03d\n", i)
	}
	for _, tc := range []struct {
		name       string
		in         string
		lines, max int
		want       string
	}{
		{"last lines", long.String(), 3, 2048, "line 097\nline 098\nline 099"},
		{"bytes, cut at a line", long.String(), 50, 20, "line 098\nline 099"},
		{"one long line, cut at a character", strings.Repeat("日", 100), 5, 10, "日日日"},
		{"terminal escapes, control characters and CRLF", "a\x1b[31mred\x1b[0m\r\nb\tc\u2028d\x07\n", 5, 100, "ared\nb\tc d "},
		{"invalid UTF-8", "a\xffb", 5, 100, "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := NewRedactor(nil)
			f := &LogFetcher{opts: LogOptions{TailLines: tc.lines, TailBytes: tc.max, Redactor: r}}
			if got := f.tail([]byte(tc.in)); got != tc.want {
				t.Errorf("tail = %q, want %q", got, tc.want)
			}
		})
	}
}
