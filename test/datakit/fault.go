package datakit

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Fault is a canned answer the receiver gives instead of handling a request.
// The body of a faulted request is read and discarded; no points are
// recorded.
type Fault struct {
	// Status is the HTTP status to answer with. It is ignored when CloseConn
	// is set.
	Status int
	// Header holds extra response headers, e.g. Retry-After.
	Header http.Header
	// Body is the response body. When empty, DataKit's body for Status is
	// used: a JSON error for 4xx/5xx, the plain text "timeout" for 408.
	Body string
	// CloseConn drops the connection without an answer, which the client
	// sees as a network error.
	CloseConn bool
	// Block, when not nil, holds the request until Block is closed, the
	// client goes away or the receiver is closed; then the fault is
	// answered. It lets a test exercise client timeouts without sleeping.
	Block <-chan struct{}
}

// Responder decides per request whether to answer with a Fault. It returns
// false to let the receiver handle the request normally. It is called from
// HTTP handler goroutines, without the receiver's lock held; the request body
// can be read.
type Responder func(category string, req *http.Request) (Fault, bool)

// faults holds the armed fault injection; Receiver.mu guards it.
type faults struct {
	responder Responder
	queue     []Fault
	until     time.Time // FailFor window end, by the receiver's clock
	window    Fault
}

// SetResponder installs fn, consulted before FailNext and FailFor faults; nil
// removes it.
func (r *Receiver) SetResponder(fn Responder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults.responder = fn
}

// FailNext answers the next n write requests with status. A positive
// retryAfter is sent as a Retry-After header in whole seconds, rounded up.
func (r *Receiver) FailNext(n int, status int, retryAfter time.Duration) {
	f := Fault{Status: status}
	if retryAfter > 0 {
		f.Header = http.Header{"Retry-After": {retryAfterValue(retryAfter)}}
	}
	r.QueueFaults(repeat(f, n)...)
}

// QueueFaults answers the next write requests with fs, one fault per request,
// after any faults queued before.
func (r *Receiver) QueueFaults(fs ...Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults.queue = append(r.faults.queue, fs...)
}

// FailFor answers every write request with status until d has passed on the
// receiver's clock (see WithNow), e.g. to simulate a DataKit restart.
func (r *Receiver) FailFor(d time.Duration, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults.until = r.cfg.now().Add(d)
	r.faults.window = Fault{Status: status}
}

// ClearFaults removes the responder, the queued faults and the FailFor
// window.
func (r *Receiver) ClearFaults() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.faults = faults{}
}

// nextFault returns the fault to answer req with, if any.
func (r *Receiver) nextFault(category string, req *http.Request, now time.Time) (Fault, bool) {
	r.mu.Lock()
	responder := r.faults.responder
	r.mu.Unlock()
	if responder != nil {
		if f, ok := responder(category, req); ok {
			return f, true
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.faults.queue) > 0 {
		f := r.faults.queue[0]
		r.faults.queue = r.faults.queue[1:]
		return f, true
	}
	if now.Before(r.faults.until) {
		return r.faults.window, true
	}
	return Fault{}, false
}

// serveFault answers w with f and reports the status and error code sent.
// abort asks the caller to abort the handler because the connection could
// not be closed directly.
func (r *Receiver) serveFault(w http.ResponseWriter, req *http.Request, f Fault) (status int, code string, abort bool) {
	if f.Block != nil {
		select {
		case <-f.Block:
		case <-req.Context().Done():
		case <-r.closing:
		}
	}
	if f.CloseConn {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return 0, "", false
			}
		}
		return 0, "", true
	}

	status = f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("X-DataKit", Version)
	if f.Body != "" {
		w.WriteHeader(status)
		fmt.Fprint(w, f.Body)
		return status, "", false
	}
	if status == http.StatusRequestTimeout {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, "timeout")
		return status, "", false
	}
	code, msg := faultError(status)
	if code == "" {
		w.WriteHeader(status)
		return status, "", false
	}
	writeError(w, status, code, msg)
	return status, code, false
}

// faultError returns DataKit's error code and message for an injected status.
func faultError(status int) (code, msg string) {
	switch {
	case status == http.StatusTooManyRequests:
		return "datakit.reachMaxAPILimit", "reach max API rate limit(injected)"
	case status == http.StatusForbidden:
		return "datakit.publicAccessDisabled", "public access disabled(injected)"
	case status == http.StatusBadRequest:
		return "datakit.invalidLinePoint", "invalid line point(injected)"
	case status >= 400:
		return "datakit.internalError", fmt.Sprintf("internal error(injected %d)", status)
	default:
		return "", ""
	}
}

func retryAfterValue(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}

func repeat(f Fault, n int) []Fault {
	out := make([]Fault, 0, max(n, 0))
	for range n {
		out = append(out, f)
	}
	return out
}
