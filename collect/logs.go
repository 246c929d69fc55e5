package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// LogSource streams a container's log as the API server serves it from the
// kubelet (GET .../pods/NAME/log). It needs the pods/log get permission.
type LogSource interface {
	Log(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error)
}

// ClientLogSource reads logs through a Kubernetes client.
type ClientLogSource struct{ Client kubernetes.Interface }

var _ LogSource = ClientLogSource{}

// Log streams the log of the container opts names.
func (s ClientLogSource) Log(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return s.Client.CoreV1().Pods(namespace).GetLogs(pod, opts).Stream(ctx)
}

// Bounds of log collection: each holds whatever the configuration asks.
const (
	// logConcurrency bounds the log requests in flight.
	logConcurrency = 4
	// logsPerWorkload bounds the containers whose log is fetched per
	// workload and event: the pods of one workload usually log the same.
	logsPerWorkload = 2
	// logsPerEvent bounds the containers whose log is fetched per event.
	logsPerEvent = 6
	// logAttempts and logRetryWait: a container that just died may not be
	// the "previous" one yet (its state is still terminated, the restart
	// to come), so a failed request is retried, asking the other way.
	logAttempts  = 3
	logRetryWait = 500 * time.Millisecond
	// logFetchTimeout bounds one request.
	logFetchTimeout = 5 * time.Second
	// logReadFactor: the server cuts at limitBytes from the start of the
	// requested tail lines, so more is read than kept, from the end.
	logReadFactor = 4
)

// LogOptions configure a LogFetcher.
type LogOptions struct {
	// TailLines and TailBytes bound each container's tail.
	TailLines int
	TailBytes int
	Redactor  *Redactor
}

// LogFetcher fetches the tails of the previous runs' logs of a decision's
// restarted containers: bounded in lines and bytes, a few per workload and
// event, a few requests at a time, redacted.
type LogFetcher struct {
	src  LogSource
	opts LogOptions
	// sleep waits between attempts; it returns false if ctx ended first.
	sleep func(ctx context.Context, d time.Duration) bool
}

// NewLogFetcher returns a fetcher reading from src.
func NewLogFetcher(src LogSource, opts LogOptions) *LogFetcher {
	if opts.Redactor == nil {
		opts.Redactor, _ = NewRedactor(nil)
	}
	return &LogFetcher{src: src, opts: opts, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// logTarget is one container whose log to fetch.
type logTarget struct {
	pod, container int // indexes into the decision's pods and the pod's containers
}

// Fill fetches the log tails of the decision's restarted containers into
// its pods' LogTails and returns the errors met, one per container that
// failed (the others are filled). Pods come most restarts first; each pod's
// restarted containers, at most logsPerWorkload per workload and
// logsPerEvent in all.
func (f *LogFetcher) Fill(ctx context.Context, dec *detect.Decision) []error {
	var targets []logTarget
	perWorkload := map[detect.Owner]int{}
	for i := range dec.Pods {
		r := &dec.Pods[i]
		wl := r.Pod.Owner
		wl.Revision = ""
		if wl == (detect.Owner{}) {
			wl.Name = r.Pod.Name // bare pods are their own workload
		}
		for j := range r.Pod.Containers {
			if j >= len(r.ContainerRestarts) || r.ContainerRestarts[j] == 0 {
				continue
			}
			if perWorkload[wl] >= logsPerWorkload || len(targets) >= logsPerEvent {
				continue
			}
			perWorkload[wl]++
			targets = append(targets, logTarget{i, j})
		}
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, logConcurrency)
	)
	for _, t := range targets {
		r := &dec.Pods[t.pod]
		if r.LogTails == nil {
			r.LogTails = make([]string, len(r.Pod.Containers))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			c := &r.Pod.Containers[t.container]
			tail, err := f.fetch(ctx, r.Pod.Namespace, r.Pod.Name, c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("log of %s/%s container %s: %w", r.Pod.Namespace, r.Pod.Name, c.Name, err))
				return
			}
			r.LogTails[t.container] = tail
		}()
	}
	wg.Wait()
	return errs
}

// fetch returns the redacted tail of the container's last terminated run.
// While the container waits to restart (CrashLoopBackOff) or runs again,
// that run is the "previous" one; while it is still terminated, before the
// kubelet restarted it, it is the current one. The kubelet answers 400
// "previous terminated container ... not found" when asked the wrong way,
// and the state may change between the observation and the request: a
// failure is retried, asking the other way.
func (f *LogFetcher) fetch(ctx context.Context, namespace, pod string, c *detect.Container) (string, error) {
	previous := c.State != detect.StateTerminated
	var err error
	for attempt := range logAttempts {
		if attempt > 0 && !f.sleep(ctx, logRetryWait) {
			return "", errors.Join(err, ctx.Err())
		}
		var text []byte
		text, err = f.read(ctx, namespace, pod, c.Name, previous)
		if err == nil {
			return f.tail(text), nil
		}
		if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) || apierrors.IsUnauthorized(err) || ctx.Err() != nil {
			return "", err // asking again will not help
		}
		if apierrors.IsBadRequest(err) {
			previous = !previous
		}
	}
	return "", err
}

func (f *LogFetcher) read(ctx context.Context, namespace, pod, container string, previous bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, logFetchTimeout)
	defer cancel()
	lines, limit := int64(f.opts.TailLines), int64(f.opts.TailBytes*logReadFactor)
	rc, err := f.src.Log(ctx, namespace, pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &lines, LimitBytes: &limit,
	})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// tail keeps the last TailLines lines of text, redacts them (a
// redaction may span lines, and strips terminal escapes first), makes them
// printable and keeps at most TailBytes bytes from the end, cut at a line
// or at least a character boundary.
func (f *LogFetcher) tail(text []byte) string {
	text = bytes.TrimRight(text, "\n")
	lines := strings.Split(strings.ToValidUTF8(string(text), "\uFFFD"), "\n")
	if len(lines) > f.opts.TailLines {
		lines = lines[len(lines)-f.opts.TailLines:]
	}
	out := f.opts.Redactor.Redact(strings.Join(lines, "\n"))
	lines = strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = printable(strings.TrimSuffix(l, "\r"))
	}
	out = strings.Join(lines, "\n")
	if len(out) <= f.opts.TailBytes {
		return out
	}
	out = out[len(out)-f.opts.TailBytes:]
	if i := strings.IndexByte(out, '\n'); i >= 0 && i < len(out)-1 {
		return out[i+1:]
	}
	for len(out) > 0 && !utf8.RuneStart(out[0]) {
		out = out[1:]
	}
	return out
}

// printable replaces control characters but tabs with spaces: terminal
// escapes in logs must not reach a Markdown reader.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (unicode.IsControl(r) || r == '\u2028' || r == '\u2029') {
			return ' '
		}
		return r
	}, s)
}
