// Package logonce tells when a repeating failure is worth a log line: the
// first time it happens, each time it changes, and once when it ends. A
// watch retrying every second against a forbidden resource then logs one
// warning and, once fixed, one recovery, instead of a line per retry.
package logonce

import (
	"sync"
	"sync/atomic"
)

// Failure tracks one thing that can fail repeatedly: a watch, a sender, a
// sampler. Its zero value is healthy and ready to use; it is safe for
// concurrent use.
type Failure struct {
	// failing lets Recovered, called on every success (every notification
	// of an informer), return without taking the lock while healthy.
	failing atomic.Bool
	mu      sync.Mutex // guards last
	last    string     // the class of the failure last recorded; "" while healthy
}

// Failed records a failure of a class (an error's text, or a coarser kind
// such as "forbidden") and reports whether it is new: the first since the
// last recovery, or of another class than the one before. The caller logs
// a new failure at warning level, a repeated one at debug level or not at
// all.
func (f *Failure) Failed(class string) (changed bool) {
	if class == "" {
		class = "failure"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	changed = class != f.last
	f.last = class
	f.failing.Store(true)
	return changed
}

// Recovered records a success and reports whether it ends a failure: the
// caller then logs the recovery, once.
func (f *Failure) Recovered() bool {
	if !f.failing.Load() {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == "" {
		return false
	}
	f.last = ""
	f.failing.Store(false)
	return true
}
