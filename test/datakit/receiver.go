// Package datakit provides a test receiver that speaks DataKit's write API.
//
// The receiver implements POST /v1/write/:category the way DataKit 1.84 does:
// it accepts the same categories, decodes the body by Content-Encoding, parses
// line protocol with cliutils' point decoder and the category's options, and
// answers with DataKit's status codes and JSON error bodies. On top of that it
// is stricter than DataKit: it records a Violation for everything an agent
// should never send (a key used as tag and field, a missing precision, point
// warnings, ...), so an end-to-end test can assert that Violations is empty.
//
// Points of accepted requests are recorded as plain Point values; a rejected
// request records no points, as DataKit rejects the whole request. Faults can
// be injected to exercise an agent's retry logic (FailNext, FailFor,
// SetResponder).
package datakit

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

// Version is the DataKit version the receiver reports in the X-DataKit header
// and on /v1/ping.
const Version = "1.84.0"

// Categories lists the write categories DataKit accepts, in URL form.
var Categories = []string{
	"metric", "logging", "object", "custom_object", "keyevent",
	"network", "tracing", "security", "rum",
}

// Point is one decoded point of an accepted request.
type Point struct {
	// Category is the write category from the URL, e.g. "keyevent".
	Category string
	// Name is the measurement name (the event source for keyevent).
	Name string
	// Tags holds the point's tags after DataKit's checks.
	Tags map[string]string
	// Fields holds the point's fields after DataKit's checks, as int64,
	// uint64, float64, bool, string or []byte.
	Fields map[string]any
	// Time is the point's timestamp after the request's precision was applied.
	Time time.Time
	// Query is the request's query string (input, precision,
	// ignore_global_host_tags, ...).
	Query url.Values
	// ReceivedAt is when the receiver handled the request, by its clock.
	ReceivedAt time.Time
}

// Request describes one HTTP request the receiver handled, accepted or not.
type Request struct {
	// Category is the write category from the URL.
	Category string
	// Query is the request's query string.
	Query url.Values
	// Header holds a copy of the request headers.
	Header http.Header
	// Status is the HTTP status the receiver answered with.
	Status int
	// ErrorCode is DataKit's error code for a rejected request, e.g.
	// "datakit.pointGotWarning"; empty when accepted or injected without one.
	ErrorCode string
	// Message is the error message sent with a rejection.
	Message string
	// Points is the number of points recorded from this request.
	Points int
	// TLS tells whether the request came over HTTPS (WithTLS), and
	// ClientCert the common name of the client certificate the receiver
	// verified, if the client sent one.
	TLS        bool
	ClientCert string
	// Bytes is the size of the body as received (before decompression).
	Bytes int
	// Injected reports whether the response came from fault injection.
	Injected bool
	// ReceivedAt is when the receiver handled the request, by its clock.
	ReceivedAt time.Time
}

// Stats counts the requests a receiver handled.
type Stats struct {
	// Requests is the number of write requests handled.
	Requests int
	// Accepted is the number of requests answered with 200.
	Accepted int
	// Rejected is the number of requests the receiver rejected on its own
	// (validation failures), not counting injected faults.
	Rejected int
	// Injected is the number of requests answered by fault injection.
	Injected int
	// Points is the number of points recorded.
	Points int
}

// Option configures a Receiver.
type Option func(*config)

type config struct {
	strict   bool
	now      func() time.Time
	hostTags map[string]string
	addr     string
	tls      *tls.Config
}

// WithStrict sets whether every request is handled as if it carried DataKit's
// strict parameter. The default is true: a point warning or a tag/field key
// conflict fails the request with 400 datakit.pointGotWarning. With false the
// receiver behaves like a default DataKit and accepts such requests, but still
// records the Violations.
func WithStrict(strict bool) Option {
	return func(c *config) { c.strict = strict }
}

// WithNow sets the clock used for ReceivedAt and for FailFor windows. The
// default is time.Now.
func WithNow(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithGlobalHostTags makes the receiver add tags to every point of a request
// that lacks ignore_global_host_tags, without overriding the point's own tags,
// as DataKit does with its global host tags (host, cluster_name_k8s, ...).
// By default no tags are added.
func WithGlobalHostTags(tags map[string]string) Option {
	return func(c *config) { c.hostTags = tags }
}

// WithAddr makes the receiver listen on addr (e.g. "127.0.0.1:9529") instead
// of a random local port. It is meant for demos.
func WithAddr(addr string) Option {
	return func(c *config) { c.addr = addr }
}

// WithTLS makes the receiver serve HTTPS with cfg, as DataKit does behind
// its own TLS settings or a TLS-terminating proxy: cfg's certificate, and
// client certificates checked as cfg's ClientAuth and ClientCAs say. URL
// then starts with https://.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) { c.tls = cfg }
}

// Receiver is a DataKit-compatible write endpoint backed by an
// httptest.Server. All methods are safe for concurrent use.
type Receiver struct {
	cfg     config
	srv     *httptest.Server
	closing chan struct{} // closed by Close to release blocked faults
	once    sync.Once

	// mu guards every field below; HTTP handler goroutines write them,
	// test goroutines read them.
	mu         sync.Mutex
	points     []Point
	requests   []Request
	violations []Violation
	stats      Stats
	faults     faults
	changed    chan struct{} // closed and replaced on every recorded request
}

// New starts a strict receiver on a random local port and closes it when the
// test ends.
func New(tb testing.TB, opts ...Option) *Receiver {
	tb.Helper()
	r, err := Start(opts...)
	if err != nil {
		tb.Fatalf("start datakit receiver: %v", err)
	}
	tb.Cleanup(r.Close)
	return r
}

// Start starts a receiver outside of a test; the caller must Close it.
func Start(opts ...Option) (*Receiver, error) {
	cfg := config{strict: true, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	r := &Receiver{
		cfg:     cfg,
		closing: make(chan struct{}),
		changed: make(chan struct{}),
	}
	srv := httptest.NewUnstartedServer(r.Handler())
	if cfg.addr != "" {
		l, err := net.Listen("tcp", cfg.addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.addr, err)
		}
		srv.Listener.Close()
		srv.Listener = l
	}
	if cfg.tls != nil {
		srv.TLS = cfg.tls.Clone()
		srv.StartTLS()
	} else {
		srv.Start()
	}
	r.srv = srv
	return r, nil
}

// URL returns the receiver's base URL, e.g. "http://127.0.0.1:41234"; write
// requests go to URL()+"/v1/write/<category>".
func (r *Receiver) URL() string { return r.srv.URL }

// Close shuts the server down, releasing requests held by a Fault's Block.
// It is safe to call more than once.
func (r *Receiver) Close() {
	r.once.Do(func() {
		close(r.closing)
		r.srv.Close()
	})
}

// Handler returns the receiver's HTTP handler, for mounting it on another
// server.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/write/{category}", r.handleWrite)
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-DataKit", Version)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"content":{"version":%q,"uptime":"0s"}}`, Version)
	})
	return mux
}

// Points returns the points recorded for category, in arrival order. The
// slice is a copy; the points' maps are shared and must not be modified.
func (r *Receiver) Points(category string) []Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Point
	for _, p := range r.points {
		if p.Category == category {
			out = append(out, p)
		}
	}
	return out
}

// AllPoints returns all recorded points, in arrival order, under the same
// terms as Points.
func (r *Receiver) AllPoints() []Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.points)
}

// Requests returns a copy of all handled write requests, in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.requests)
}

// Stats returns the request counters.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Violations returns a copy of the recorded violations; an agent that talks
// to DataKit correctly produces none.
func (r *Receiver) Violations() []Violation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.violations)
}

// Reset forgets all recorded points, requests, violations and counters.
// Injected faults stay armed.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.points, r.requests, r.violations, r.stats = nil, nil, nil, Stats{}
	r.notifyLocked()
}

// WaitFor blocks until cond, called with a copy of all recorded points,
// returns true, or until ctx ends. cond is called once at the start and again
// after every handled request, never concurrently and without the receiver's
// lock held.
func (r *Receiver) WaitFor(ctx context.Context, cond func([]Point) bool) error {
	return r.wait(ctx, func() bool { return cond(r.AllPoints()) })
}

// WaitForRequests is WaitFor over the handled requests, for waiting on
// rejected or injected requests that record no points.
func (r *Receiver) WaitForRequests(ctx context.Context, cond func([]Request) bool) error {
	return r.wait(ctx, func() bool { return cond(r.Requests()) })
}

func (r *Receiver) wait(ctx context.Context, check func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		// Taking ch before checking means a request recorded after the
		// check closes ch and wakes us.
		if check() {
			return nil
		}
		select {
		case <-ctx.Done():
			st := r.Stats()
			return fmt.Errorf("wait for datakit receiver (%d requests, %d points so far): %w",
				st.Requests, st.Points, context.Cause(ctx))
		case <-ch:
		}
	}
}

// notifyLocked wakes every waiter; r.mu must be held.
func (r *Receiver) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}
