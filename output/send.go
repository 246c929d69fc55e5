package output

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

const (
	// gzipMinBytes is the smallest body sent gzipped; smaller ones gain
	// little and cost DataKit a decompression.
	gzipMinBytes = 1024
	// initialBackoff is the wait after a first failure; it doubles with
	// every further failure up to the configured maximum.
	initialBackoff = time.Second
	// maxRetryAfter caps a Retry-After DataKit (or a proxy) asks for.
	maxRetryAfter = 10 * time.Minute
	// maxResponseBody bounds the part of a response body read and logged.
	maxResponseBody = 4 << 10
	// maxRejectionKeys bounds the memory of rejections already logged.
	maxRejectionKeys = 64
)

// result is what a send attempt means for its batch.
type result uint8

const (
	resultDone  result = iota + 1 // delivered: forget the batch
	resultRetry                   // DataKit or the network failed: send it again later
	resultDrop                    // DataKit refuses the batch itself: drop it
)

// classify decides what a send attempt's outcome means for the batch; it is
// the only place that does. err is a transport error (no response); status
// is the response's status otherwise.
//
// 2xx is done. 408, 429, 5xx and every transport error (timeouts, resets,
// refused connections) are retried: the batch is fine and DataKit will take
// it later. Any other 4xx (400 datakit.invalidLinePoint, emptyBody, ...) says
// the batch itself is wrong and would fail forever: it is dropped, so that
// one bad batch never blocks the queue. Anything else (1xx, 3xx left after
// redirects) is unexpected and retried.
func classify(status int, err error) result {
	switch {
	case err != nil:
		return resultRetry
	case status >= 200 && status < 300:
		return resultDone
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return resultRetry
	case status == http.StatusUnauthorized, status == http.StatusForbidden, status == http.StatusNotFound:
		// Where we send is wrong (DataKit's public access disabled, a wrong
		// URL), not what: keep the data queued until the operator fixes it.
		return resultRetry
	case status >= 400 && status < 500:
		return resultDrop
	default:
		return resultRetry
	}
}

// parseRetryAfter reads a Retry-After header, in seconds or as an HTTP date,
// capped at maxRetryAfter. It reports false for a missing or malformed value,
// and for a wait of zero or a date passed, which fall back to the backoff.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		d = maxRetryAfter
		if secs < uint64(maxRetryAfter/time.Second) {
			d = time.Duration(secs) * time.Second
		}
	} else if errors.Is(err, strconv.ErrRange) {
		d = maxRetryAfter
	} else if t, err := http.ParseTime(v); err == nil {
		d = min(t.Sub(now), maxRetryAfter)
	} else {
		return 0, false
	}
	if d <= 0 {
		return 0, false
	}
	return d, true
}

// backoff returns the wait after the given number of consecutive failures
// (at least 1): initialBackoff doubled per failure, capped at maxBackoff,
// of which a random half ("equal jitter"), so that agents failing together
// do not retry together and no wait collapses to zero.
func backoff(failures int, maxBackoff time.Duration) time.Duration {
	d := maxBackoff
	if n := failures - 1; n < 30 {
		d = min(d, initialBackoff<<max(n, 0))
	}
	return d/2 + rand.N(d/2+1)
}

// senderOptions are the settings of every sender, defaults applied.
type senderOptions struct {
	client      *http.Client
	timeout     time.Duration
	maxBackoff  time.Duration
	observeSend func(category string, latency time.Duration) // nil: none
}

// sender delivers one queue's batches in order. One goroutine at a time uses
// it (Run's, then Close's), which owns every field below the constants.
type sender struct {
	q     *queue
	url   string
	opts  senderOptions
	store *store
	stats *statsRecorder
	log   *slog.Logger
	clock clock.Clock

	rec      []byte              // the batch in flight, also in q's in-flight file; nil without one
	failure  string              // the failure last logged; "" once sending works
	failures int                 // consecutive failed attempts
	rejected map[string]struct{} // the rejections already logged
}

func newSender(w *Writer, q *queue, url string, opts senderOptions) (*sender, error) {
	s := &sender{
		q:        q,
		url:      url,
		opts:     opts,
		store:    w.store,
		stats:    w.stats,
		log:      w.log,
		clock:    w.clock,
		rejected: make(map[string]struct{}),
	}
	// A batch an earlier run was sending goes first.
	rec, err := s.store.loadInflight(q)
	if err != nil {
		return nil, err
	}
	s.rec = rec
	return s, nil
}

// run sends the queue's batches in order until ctx ends; with drain, it also
// returns once the queue is empty. A batch not delivered when run returns
// stays in flight, on disk and in s.rec, and is the first one sent next.
func (s *sender) run(ctx context.Context, drain bool) {
	readFailures := 0
	for ctx.Err() == nil {
		if s.rec == nil {
			rec, err := s.store.take(s.q)
			switch {
			case errors.Is(err, errQueueEmpty):
				if drain {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-s.q.wake:
				}
				continue
			case errors.Is(err, ErrClosed):
				return
			case err != nil:
				// A torn record left by a crash fails once and is skipped
				// by diskcache; anything lasting is a disk problem.
				readFailures++
				wait := backoff(readFailures, s.opts.maxBackoff)
				s.failed(ctx, "reading the queue failed; retrying", "queue: "+err.Error(), err, 0, nil, wait)
				if !s.sleep(ctx, wait) {
					return
				}
				continue
			}
			if readFailures > 0 {
				s.log.InfoContext(ctx, "reading the queue works again", "category", s.q.endpoint, "failed_attempts", readFailures)
				readFailures, s.failure = 0, ""
			}
			s.rec = rec
		}
		if !s.deliver(ctx) {
			return
		}
		if err := s.store.done(s.q); err != nil {
			s.log.WarnContext(ctx, "batch delivered, but it may be sent again after a restart", "category", s.q.endpoint, "err", err)
		}
		s.rec = nil
	}
}

// deliver sends s.rec until it is delivered or dropped, and reports so;
// false means ctx ended first.
func (s *sender) deliver(ctx context.Context) bool {
	body, gzipped, err := encodeBody(s.rec)
	if err != nil {
		// Cannot happen writing to memory; send it plain.
		body, gzipped = s.rec, false
	}
	for {
		start := s.clock.Now()
		resp, err := s.post(ctx, body, gzipped)
		if ctx.Err() != nil {
			return false
		}
		switch classify(resp.status, err) {
		case resultDone:
			latency := s.clock.Since(start)
			s.stats.update(s.q.endpoint, func(c *CategoryStats) {
				c.Sent++
				c.SendLatency, c.FailingSince = latency, time.Time{}
			})
			if s.opts.observeSend != nil {
				s.opts.observeSend(s.q.endpoint, latency)
			}
			if s.failure != "" {
				s.log.InfoContext(ctx, "sending to DataKit works again",
					"category", s.q.endpoint, "failed_attempts", s.failures)
			}
			s.failure, s.failures = "", 0
			s.log.DebugContext(ctx, "batch sent", "category", s.q.endpoint, "bytes", len(s.rec), "status", resp.status)
			return true
		case resultDrop:
			// DataKit answers: a failure after this one starts afresh.
			s.failure, s.failures = "", 0
			s.rejectedBatch(ctx, resp)
			return true
		}
		s.failures++
		wait, ok := parseRetryAfter(resp.retryAfter, s.clock.Now())
		if !ok {
			wait = backoff(s.failures, s.opts.maxBackoff)
		}
		s.failed(ctx, "sending to DataKit failed; retrying the batch until it is accepted",
			failureKey(resp, err), err, resp.status, resp.body, wait)
		if !s.sleep(ctx, wait) {
			return false
		}
	}
}

// failed counts a failed attempt that is retried and logs it, as msg, when
// the failure (named by key) differs from the one last logged.
func (s *sender) failed(ctx context.Context, msg, key string, err error, status int, body []byte, wait time.Duration) {
	desc := errorMessage(err, status, body)
	now := s.clock.Now()
	s.stats.update(s.q.endpoint, func(c *CategoryStats) {
		c.Retried++
		c.LastError, c.LastErrorAt = desc, now
		if c.FailingSince.IsZero() {
			c.FailingSince = now
		}
	})
	args := []any{"category", s.q.endpoint, "err", desc, "retry_in", wait}
	if status != 0 {
		args = append(args, "status", status)
	}
	if key == s.failure {
		s.log.DebugContext(ctx, msg, args...)
		return
	}
	s.failure = key
	s.log.WarnContext(ctx, msg, args...)
}

// rejectedBatch counts a batch DataKit refused and logs DataKit's error,
// once per distinct error.
func (s *sender) rejectedBatch(ctx context.Context, resp response) {
	msg := errorMessage(nil, resp.status, resp.body)
	now := s.clock.Now()
	s.stats.update(s.q.endpoint, func(c *CategoryStats) {
		c.Rejected++
		c.LastError, c.LastErrorAt = msg, now
		c.FailingSince = time.Time{} // DataKit answered
	})
	key := failureKey(resp, nil)
	if _, seen := s.rejected[key]; seen {
		s.log.DebugContext(ctx, "DataKit rejected a batch; dropped it", "category", s.q.endpoint, "status", resp.status, "err", msg)
		return
	}
	if len(s.rejected) >= maxRejectionKeys {
		clear(s.rejected)
	}
	s.rejected[key] = struct{}{}
	s.log.ErrorContext(ctx, "DataKit rejected a batch; dropped it (each distinct error is logged once)",
		"category", s.q.endpoint, "status", resp.status, "err", msg, "bytes", len(s.rec))
}

func (s *sender) sleep(ctx context.Context, d time.Duration) bool {
	t := s.clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// response is what the sender keeps of an HTTP response.
type response struct {
	status     int
	body       []byte // at most maxResponseBody bytes
	retryAfter string
}

// post sends one body to DataKit, bounded by the configured timeout.
func (s *sender) post(ctx context.Context, body []byte, gzipped bool) (response, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "text/plain")
	if gzipped {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.opts.client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	return response{status: resp.StatusCode, body: msg, retryAfter: resp.Header.Get("Retry-After")}, nil
}

// encodeBody gzips rec if it is large enough to gain from it.
func encodeBody(rec []byte) ([]byte, bool, error) {
	if len(rec) < gzipMinBytes {
		return rec, false, nil
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(rec); err != nil {
		return nil, false, err
	}
	if err := zw.Close(); err != nil {
		return nil, false, err
	}
	return buf.Bytes(), true, nil
}

// failureKey names a failure coarsely enough that a repeating one keeps its
// name: DataKit's error code rather than its message, a network error's kind
// rather than its text (which holds ephemeral ports).
func failureKey(resp response, err error) string {
	if err != nil {
		return "network: " + networkErrorKind(err)
	}
	if code := dataKitErrorCode(resp.body); code != "" {
		return fmt.Sprintf("HTTP %d %s", resp.status, code)
	}
	b := resp.body
	if len(b) > 128 {
		b = b[:128]
	}
	return fmt.Sprintf("HTTP %d %s", resp.status, b)
}

func networkErrorKind(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "DNS: " + dnsErr.Err
	}
	return err.Error()
}

// dataKitErrorCode returns the error_code of DataKit's JSON error body, or "".
func dataKitErrorCode(body []byte) string {
	var e struct {
		Code string `json:"error_code"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Code
}

// errorMessage describes a failed attempt for logs and Stats.
func errorMessage(err error, status int, body []byte) string {
	if err != nil {
		return err.Error()
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Sprintf("HTTP %d", status)
	}
	return fmt.Sprintf("HTTP %d: %s", status, bytes.TrimSpace(body))
}
