package datakit

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
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
	failure  logonce.Failure     // tells which failures to log
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
				readFailures = 0
				s.failure.Recovered()
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
			if s.failure.Recovered() {
				s.log.InfoContext(ctx, "sending to DataKit works again",
					"category", s.q.endpoint, "failed_attempts", s.failures)
			}
			s.failures = 0
			s.log.DebugContext(ctx, "batch sent", "category", s.q.endpoint, "bytes", len(s.rec), "status", resp.status)
			return true
		case resultDrop:
			// DataKit answers: a failure after this one starts afresh.
			s.failure.Recovered()
			s.failures = 0
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
	if !s.failure.Failed(key) {
		s.log.DebugContext(ctx, msg, args...)
		return
	}
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
