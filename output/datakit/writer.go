package datakit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/GuanceCloud/cliutils/point"
	"golang.org/x/sync/errgroup"
	"k8s.io/utils/clock"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// ErrClosed reports a Write or Run on a closed Writer.
var ErrClosed = errors.New("output writer closed")

// Run owns the sender goroutines and waits for them before it returns; Close
// stops a running Run, waits for it, and then sends what it can itself.
type Writer struct {
	log   *slog.Logger
	enc   *output.Encoder
	clock clock.Clock

	// Without a URL: stdout, guarded by outMu.
	outMu sync.Mutex
	out   io.Writer

	// With a URL: the queues and one sender per queue. Each sender is used
	// by one goroutine at a time: Run's, then Close's.
	store   *store
	senders []*sender

	stats *statsRecorder

	// mu guards closed and the running Run's stop function. Write holds it
	// for reading, so Close, holding it for writing, waits for the Writes
	// in progress and no Write queues after Close began.
	mu      sync.RWMutex
	closed  bool
	running bool
	stopRun context.CancelFunc
	runDone chan struct{}
}

// New returns a Writer for cfg, after validating cfg and opening the queues.
// It reports every problem of cfg at once. The log carries the caller's
// attributes (such as the cluster).
func New(cfg Config, log *slog.Logger) (*Writer, error) {
	cfgErr := cfg.validate()
	enc, encErr := output.NewEncoder(cfg.Encoder)
	if err := errors.Join(cfgErr, encErr); err != nil {
		return nil, err
	}
	w := &Writer{
		log:   log,
		enc:   enc,
		clock: cfg.Clock,
		stats: &statsRecorder{},
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if cfg.URL == "" {
		w.out = cfg.Stdout
		return w, nil
	}

	client := cfg.HTTPClient
	if client == nil {
		var err error
		if client, err = newHTTPClient(cfg.TLS, log); err != nil {
			return nil, err
		}
	}
	maxBytes := cfg.QueueMaxBytes
	if maxBytes == 0 {
		maxBytes = DefaultQueueMaxBytes
	}
	st, err := openStore(cfg.QueueDir, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("queue directory %s: %w", cfg.QueueDir, err)
	}
	w.store = st
	opts := senderOptions{
		client:      client,
		timeout:     cfg.Timeout,
		maxBackoff:  cfg.MaxBackoff,
		observeSend: cfg.ObserveSend,
	}
	if opts.timeout == 0 {
		opts.timeout = DefaultTimeout
	}
	if opts.maxBackoff == 0 {
		opts.maxBackoff = DefaultMaxBackoff
	}
	for _, q := range []*queue{st.events, st.metrics} {
		s, err := newSender(w, q, writeURL(cfg.URL, q.endpoint, cfg.Input), opts)
		if err != nil {
			return nil, errors.Join(err, st.close())
		}
		w.senders = append(w.senders, s)
		if n := st.queueBytes(q); n > 0 {
			log.Info("resuming delivery of data queued by an earlier run", "category", q.endpoint, "bytes", n)
		}
	}
	return w, nil
}

// Write encodes b and queues its events and metrics, fsynced, for the
// senders; without a URL it writes them to Stdout, events first. Write never
// waits for the network. It does not give up when ctx has ended: the batch
// holds decisions the detector has already taken, and queuing is local.
//
// A decision or stats that fails to encode is skipped, counted and reported
// in the returned error; the rest is still written. Events the full queue
// cannot take are refused with an error wrapping ErrQueueFull; metrics are
// dropped under the overflow policy without an error (they are counted and
// logged).
func (w *Writer) Write(ctx context.Context, b output.Batch) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	events, evErr := w.encode(endpointEvents, len(b.Decisions), func(i int) (*point.Point, error) {
		return w.enc.Event(&b.Decisions[i])
	})
	nMetrics := len(b.Stats)
	if b.Agent != nil {
		nMetrics++
	}
	metrics, mtErr := w.encode(endpointMetrics, nMetrics, func(i int) (*point.Point, error) {
		if i == len(b.Stats) {
			return w.enc.Agent(b.At, b.Agent)
		}
		return w.enc.Metric(b.At, &b.Stats[i])
	})
	errs := []error{evErr, mtErr}
	if w.store == nil {
		errs = append(errs, w.writeStdout(endpointEvents, events), w.writeStdout(endpointMetrics, metrics))
		return errors.Join(errs...)
	}
	if len(events) > 0 {
		errs = append(errs, w.enqueue(ctx, w.store.events, events))
	}
	if len(metrics) > 0 {
		errs = append(errs, w.enqueue(ctx, w.store.metrics, metrics))
	}
	return errors.Join(errs...)
}

// encode encodes n points into one line-protocol body, skipping those that
// fail to encode and counting them.
func (w *Writer) encode(endpoint string, n int, encode1 func(i int) (*point.Point, error)) ([]byte, error) {
	var errs []error
	pts := make([]*point.Point, 0, n)
	for i := range n {
		pt, err := encode1(i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pts = append(pts, pt)
	}
	invalid := n - len(pts)
	var body []byte
	if len(pts) > 0 {
		var err error
		if body, err = output.EncodeLines(pts); err != nil {
			errs = append(errs, err)
			body, invalid = nil, n
		}
	}
	if invalid > 0 {
		w.stats.update(endpoint, func(c *CategoryStats) { c.Invalid += uint64(invalid) })
	}
	if len(errs) > 0 {
		return body, fmt.Errorf("encode %s: %d of %d skipped: %w", endpoint, invalid, n, errors.Join(errs...))
	}
	return body, nil
}

// writeStdout writes one encoded batch, newline-terminated like every line
// EncodeLines renders.
func (w *Writer) writeStdout(endpoint string, body []byte) error {
	if len(body) == 0 {
		return nil
	}
	w.outMu.Lock()
	defer w.outMu.Unlock()
	if _, err := w.out.Write(body); err != nil {
		return fmt.Errorf("write %s to stdout: %w", endpoint, err)
	}
	w.stats.update(endpoint, func(c *CategoryStats) { c.Sent++ })
	return nil
}

// enqueue queues one encoded batch under the overflow policy, counting and
// logging what the policy drops.
func (w *Writer) enqueue(ctx context.Context, q *queue, rec []byte) error {
	res, err := w.store.put(q, rec)
	full := errors.Is(err, ErrQueueFull)
	if res.queued {
		w.stats.update(q.endpoint, func(c *CategoryStats) { c.Queued++ })
		w.log.DebugContext(ctx, "batch queued", "category", q.endpoint, "bytes", len(rec))
	}
	if full {
		w.stats.update(q.endpoint, func(c *CategoryStats) { c.Overflow++ })
	}
	w.logOverflow(ctx, q, res, full)

	switch {
	case err == nil:
		return nil
	case full && q == w.store.metrics:
		return nil // counted and logged: the policy at work
	case full:
		w.log.ErrorContext(ctx, "queue full of events: refused new events; DataKit has not accepted events for long",
			"category", q.endpoint, "err", err)
		return fmt.Errorf("queue events: %w", err)
	case res.queued:
		w.log.WarnContext(ctx, "batch queued with a problem", "category", q.endpoint, "err", err)
		return nil
	default:
		return err
	}
}

// logOverflow logs metric drops when they start and when they stop.
func (w *Writer) logOverflow(ctx context.Context, q *queue, res putResult, full bool) {
	dropped := uint64(res.droppedMetrics)
	if full && q == w.store.metrics {
		dropped++ // the new batch itself
	}
	w.stats.mu.Lock()
	w.stats.metrics.Overflow += uint64(res.droppedMetrics)
	was := w.stats.overflowing
	switch {
	case dropped > 0:
		w.stats.overflowing = true
		w.stats.overflowed += dropped
	case res.queued:
		w.stats.overflowing = false
	}
	episode := w.stats.overflowed
	if !w.stats.overflowing {
		w.stats.overflowed = 0
	}
	now := w.stats.overflowing
	w.stats.mu.Unlock()

	switch {
	case now && !was:
		w.log.WarnContext(ctx, "queue full: dropping the oldest metrics until DataKit catches up",
			"category", endpointMetrics, "batches", dropped, "bytes", res.droppedBytes)
	case was && !now:
		w.log.InfoContext(ctx, "queue below its bound again",
			"category", endpointMetrics, "dropped_batches", episode)
	}
}

// Run delivers the queued batches until ctx ends or Close stops it, one
// sender per queue, each in queue order; it waits for them and returns nil.
// Without a URL it only waits. A batch being sent when Run stops stays on
// disk and is sent first next time.
func (w *Writer) Run(ctx context.Context) error {
	w.mu.Lock()
	switch {
	case w.closed:
		w.mu.Unlock()
		return ErrClosed
	case w.running:
		w.mu.Unlock()
		return errors.New("output writer already running")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	w.running, w.stopRun, w.runDone = true, cancel, done
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running, w.stopRun = false, nil
		w.mu.Unlock()
		close(done)
	}()

	if len(w.senders) == 0 {
		<-ctx.Done()
		return nil
	}
	var g errgroup.Group
	for _, s := range w.senders {
		g.Go(func() error { s.run(ctx, false); return nil })
	}
	return g.Wait()
}

// Close stops taking batches, stops Run if it is running and waits for it,
// and sends what is queued until the queues are empty or ctx ends: its
// deadline is the grace of shutdown. What is left stays on disk for the next
// Writer on QueueDir; Close then returns an error saying how much. Close
// releases QueueDir in any case; calling it again does nothing.
func (w *Writer) Close(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	stop, done, running := w.stopRun, w.runDone, w.running
	w.mu.Unlock()
	if running {
		// The senders stop at once: they block only on ctx-aware calls,
		// timers and the queue files. Waiting for them even when ctx has
		// ended keeps the queues from being closed under them.
		stop()
		<-done
	}
	if w.store == nil {
		return nil
	}

	var g errgroup.Group
	for _, s := range w.senders {
		g.Go(func() error { s.run(ctx, true); return nil })
	}
	_ = g.Wait()

	var left []string
	for _, q := range []*queue{w.store.events, w.store.metrics} {
		if n := w.store.queueBytes(q); n > 0 {
			left = append(left, fmt.Sprintf("%s %d bytes", q.endpoint, n))
		}
	}
	var errs []error
	if len(left) > 0 {
		errs = append(errs, fmt.Errorf("close output: left queued on disk for the next start: %s: %w",
			strings.Join(left, ", "), context.Cause(ctx)))
	}
	if err := w.store.close(); err != nil {
		errs = append(errs, fmt.Errorf("close output: %w", err))
	}
	return errors.Join(errs...)
}

// Stats returns the Writer's counters since New, for self-metrics.
func (w *Writer) Stats() Stats {
	s := w.stats.snapshot()
	if w.store != nil {
		s.Events.QueueBytes = w.store.queueBytes(w.store.events)
		s.Metrics.QueueBytes = w.store.queueBytes(w.store.metrics)
	}
	return s
}
