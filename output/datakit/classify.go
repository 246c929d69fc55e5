package datakit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
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
