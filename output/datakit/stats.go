package datakit

import (
	"sync"
	"time"
)

// Stats are a Writer's counters. Batches are the unit of Queued, Sent,
// Retried, Rejected and Overflow: one Write makes at most one event batch and
// one metric batch.
type Stats struct {
	Events  CategoryStats // keyevent
	Metrics CategoryStats // metric
}

// CategoryStats are the counters of one category.
type CategoryStats struct {
	Queued  uint64 // batches queued on disk
	Sent    uint64 // batches DataKit accepted, or written to Stdout without a URL
	Retried uint64 // failed attempts followed by a retry
	// Rejected counts batches dropped because DataKit refused them with a
	// 4xx other than 408 and 429.
	Rejected uint64
	// Overflow counts batches dropped (metrics) or refused (events)
	// because the queues were full.
	Overflow uint64
	// Invalid counts events or metrics that failed to encode and were skipped.
	Invalid uint64
	// QueueBytes is what the category holds on disk: queued and in flight.
	QueueBytes int64
	// LastError is the last failed attempt's error, at LastErrorAt.
	LastError   string
	LastErrorAt time.Time
	// SendLatency is how long the last accepted request took.
	SendLatency time.Duration
	// FailingSince is when the attempts failing since the last one DataKit
	// answered began; zero while sending works. A batch DataKit rejects
	// counts as an answer.
	FailingSince time.Time
}

// statsRecorder holds the counters; mu guards all fields.
type statsRecorder struct {
	mu      sync.Mutex
	events  CategoryStats
	metrics CategoryStats
	// overflowing is whether the last put had to drop metrics: drops are
	// logged when they start and when they stop, not at every Write.
	overflowing bool
	overflowed  uint64 // metric batches dropped since overflowing began
}

// update applies f to the counters of the category an endpoint names.
func (r *statsRecorder) update(endpoint string, f func(*CategoryStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if endpoint == endpointEvents {
		f(&r.events)
	} else {
		f(&r.metrics)
	}
}

func (r *statsRecorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Stats{Events: r.events, Metrics: r.metrics}
}
