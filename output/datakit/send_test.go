package datakit

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name   string
		status int
		err    error
		want   result
	}{
		{"200", http.StatusOK, nil, resultDone},
		{"204", http.StatusNoContent, nil, resultDone},
		{"400 invalid line point", http.StatusBadRequest, nil, resultDrop},
		{"403 public access disabled", http.StatusForbidden, nil, resultRetry},
		{"404", http.StatusNotFound, nil, resultRetry},
		{"401", http.StatusUnauthorized, nil, resultRetry},
		{"413", http.StatusRequestEntityTooLarge, nil, resultDrop},
		{"408", http.StatusRequestTimeout, nil, resultRetry},
		{"429", http.StatusTooManyRequests, nil, resultRetry},
		{"500", http.StatusInternalServerError, nil, resultRetry},
		{"502", http.StatusBadGateway, nil, resultRetry},
		{"503", http.StatusServiceUnavailable, nil, resultRetry},
		{"504", http.StatusGatewayTimeout, nil, resultRetry},
		{"an unfollowed redirect", http.StatusFound, nil, resultRetry},
		{"connection refused", 0, fmt.Errorf("post: %w", refused), resultRetry},
		{"connection reset", 0, reset, resultRetry},
		{"request timeout", 0, context.DeadlineExceeded, resultRetry},
		{"connection closed", 0, io.ErrUnexpectedEOF, resultRetry},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.status, tc.err); got != tc.want {
				t.Errorf("classify(%d, %v) = %d, want %d", tc.status, tc.err, got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := wtT0
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, false},                               // falls back to the backoff
		{"-3", 0, false},                              // malformed
		{"1.5", 0, false},                             // malformed
		{"soon", 0, false},                            // malformed
		{"3600", maxRetryAfter, true},                 // capped
		{"99999999999999999999", maxRetryAfter, true}, // overflows, capped
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false}, // passed
		{now.Add(24 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
	}
	for _, tc := range tests {
		t.Run(tc.value, func(t *testing.T) {
			got, ok := parseRetryAfter(tc.value, now)
			if diff := cmp.Diff([]any{tc.want, tc.wantOK}, []any{got, ok}); diff != "" {
				t.Errorf("parseRetryAfter(%q) (-want +got):\n%s", tc.value, diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	const maxBackoff = time.Minute
	for failures := 1; failures <= 40; failures++ {
		ceiling := maxBackoff
		if failures <= 7 {
			ceiling = min(time.Second<<(failures-1), maxBackoff)
		}
		for range 50 {
			if d := backoff(failures, maxBackoff); d < ceiling/2 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", failures, d, ceiling/2, ceiling)
			}
		}
	}
	if d := backoff(3, 100*time.Millisecond); d < 50*time.Millisecond || d > 100*time.Millisecond {
		t.Errorf("backoff with a cap below the first wait: %v", d)
	}
}

func TestWriteURL(t *testing.T) {
	tests := []struct{ base, endpoint, input, want string }{
		{"http://datakit-service.datakit.svc:9529", endpointEvents, "k8s_pod_restart",
			"http://datakit-service.datakit.svc:9529/v1/write/keyevent?precision=n&input=k8s_pod_restart&ignore_global_host_tags=true"},
		{"http://10.0.0.1:9529/", endpointMetrics, "k8s_pod_restart",
			"http://10.0.0.1:9529/v1/write/metric?precision=n&input=k8s_pod_restart&ignore_global_host_tags=true"},
		{"https://proxy", endpointMetrics, "a b&c",
			"https://proxy/v1/write/metric?precision=n&input=a+b%26c&ignore_global_host_tags=true"},
	}
	for _, tc := range tests {
		t.Run(tc.base, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, writeURL(tc.base, tc.endpoint, tc.input)); diff != "" {
				t.Errorf("writeURL (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFailureKey(t *testing.T) {
	refused := func(port int) error {
		return &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{Port: port}, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	}
	reset := func(port int) error {
		return &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{Port: port}, Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	}
	tests := []struct {
		name string
		resp response
		err  error
		want string
	}{
		{"refused", response{}, refused(1), "network: connection refused"},
		{"reset, whatever the local port", response{}, reset(51234), "network: connection reset"},
		{"request timeout", response{}, fmt.Errorf("post: %w", context.DeadlineExceeded), "network: timeout"},
		{"socket deadline", response{}, os.ErrDeadlineExceeded, "network: timeout"},
		{"closed", response{}, io.EOF, "network: connection closed"},
		{"DNS", response{}, &net.DNSError{Err: "no such host", Name: "datakit"}, "network: DNS: no such host"},
		{"DataKit's error code, not its message", response{status: 400, body: []byte(`{"error_code":"datakit.invalidLinePoint","message":"line 3"}`)}, nil, "HTTP 400 datakit.invalidLinePoint"},
		{"plain body", response{status: 503, body: []byte("upstream unavailable")}, nil, "HTTP 503 upstream unavailable"},
		{"no body", response{status: 502}, nil, "HTTP 502 "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, failureKey(tc.resp, tc.err)); diff != "" {
				t.Errorf("failureKey (-want +got):\n%s", diff)
			}
		})
	}
	if failureKey(response{}, refused(1)) != failureKey(response{}, refused(2)) {
		t.Errorf("a refused connection changes its key with the port")
	}
}

func TestEncodeBody(t *testing.T) {
	small := bytes.Repeat([]byte("a"), gzipMinBytes-1)
	large := bytes.Repeat([]byte("a"), gzipMinBytes)
	for _, tc := range []struct {
		name    string
		rec     []byte
		wantGzi bool
	}{{"below the threshold: plain", small, false}, {"from the threshold: gzipped", large, true}} {
		t.Run(tc.name, func(t *testing.T) {
			body, gzipped, err := encodeBody(tc.rec)
			if err != nil {
				t.Fatal(err)
			}
			if gzipped != tc.wantGzi {
				t.Fatalf("gzipped = %v, want %v", gzipped, tc.wantGzi)
			}
			if gzipped {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, tc.rec) {
				t.Errorf("body does not round-trip")
			}
		})
	}
}
