package datakit

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/GuanceCloud/cliutils/diskcache"
	"github.com/k8s-pod-restart/k8s-pod-restart/internal/atomicfile"
)

// Endpoints of DataKit's write API, also the names of the queue directories.
const (
	endpointEvents  = "keyevent"
	endpointMetrics = "metric"
)

// recordOverhead is what diskcache adds to a record on disk: a 4-byte length
// before it and, since every Put is followed by a Rotate, a 4-byte end-of-file
// mark after it.
const recordOverhead = 8

// errQueueEmpty reports that a queue holds nothing to send.
var errQueueEmpty = errors.New("queue empty")

// ErrQueueFull reports a batch refused because the queues hold QueueMaxBytes;
// see the overflow policy in the package documentation.
var ErrQueueFull = errors.New("queue full")

// unsafeDiskcacheEnv lists the environment variables with which diskcache
// overrides the options it is opened with (it reads them after the options),
// each breaking a guarantee of the package documentation.
var unsafeDiskcacheEnv = []struct{ name, breaks string }{
	{"ENV_DISKCACHE_NO_SYNC", "queued batches would not be fsynced"},
	{"ENV_DISKCACHE_NO_FALLBACK_ON_ERROR", "a batch whose in-flight copy failed would be skipped"},
	{"ENV_DISKCACHE_NO_POS", "every start would send the last delivered batch again"},
	{"ENV_DISKCACHE_CAPACITY", "diskcache would delete the oldest files itself, events included"},
	{"ENV_DISKCACHE_MAX_DATA_SIZE", "large batches would be refused"},
}

func checkDiskcacheEnv() error {
	var errs []error
	for _, e := range unsafeDiskcacheEnv {
		if v, ok := os.LookupEnv(e.name); ok && v != "" {
			errs = append(errs, fmt.Errorf("environment variable %s is set: %s; unset it", e.name, e.breaks))
		}
	}
	return errors.Join(errs...)
}

// queue is the disk queue of one category: a diskcache directory, read in
// order, and the in-flight file holding the batch its sender is delivering.
// The owning store's mu guards cache and the byte counts; the other fields
// are set at open and not changed.
type queue struct {
	endpoint string // endpointEvents or endpointMetrics
	dir      string // the diskcache directory, QueueDir/<endpoint>
	inflight string // QueueDir/<endpoint>.inflight, beside the directory: diskcache reads every file inside it as data

	cache *diskcache.DiskCache
	// bytes counts the records in the cache as they lie on disk. It is exact
	// for what this process queued; what an earlier process left is counted by
	// file size, including a record already delivered whose file diskcache has
	// not removed yet, until the queue is next found empty.
	bytes int64
	// inflightBytes is the size of the in-flight file, 0 without one.
	inflightBytes int64

	// wake tells the sender a record was queued; capacity 1, never blocks.
	wake chan struct{}
}

// store holds both queues and applies the bound and the overflow policy
// across them.
type store struct {
	dir string
	max int64
	// lock is held on QueueDir/lock from open to close, so that no two
	// processes (or Writers) share the queues.
	lock io.Closer

	// mu guards every diskcache call and the byte counts of both queues:
	// diskcache's Get reads fields its Put writes without a lock of its own,
	// and the bound spans the two queues.
	mu      sync.Mutex
	events  *queue
	metrics *queue
	closed  bool
}

// openStore opens (creating it if needed) the queues under dir and makes
// whatever an earlier process left readable.
func openStore(dir string, max int64) (s *store, err error) {
	if err := checkDiskcacheEnv(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create queue directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s = &store{dir: dir, max: max, lock: lock}
	defer func() {
		if err != nil {
			err = errors.Join(err, s.close())
		}
	}()
	if s.events, err = openQueue(dir, endpointEvents); err != nil {
		return nil, err
	}
	if s.metrics, err = openQueue(dir, endpointMetrics); err != nil {
		return nil, err
	}
	return s, nil
}

func openQueue(root, endpoint string) (*queue, error) {
	q := &queue{
		endpoint: endpoint,
		dir:      filepath.Join(root, endpoint),
		inflight: filepath.Join(root, endpoint+".inflight"),
		wake:     make(chan struct{}, 1),
	}
	// A batch fsynced into diskcache's write file by a process that died
	// before rotating it: diskcache would only hand it out after its 3 s
	// wakeup, measured from Open, so rotate it below.
	var leftover bool
	if fi, err := os.Stat(filepath.Join(q.dir, "data")); err == nil && fi.Size() > 0 {
		leftover = true
	}
	c, err := diskcache.Open(
		diskcache.WithPath(q.dir),
		diskcache.WithNoSync(false),
		diskcache.WithNoFallbackOnError(false),
		diskcache.WithNoPos(false),
		// The store's flock replaces diskcache's lock file, which holds a
		// PID: in a container the agent is PID 1 at every start, and
		// diskcache refuses to open a directory "locked" by its own PID.
		diskcache.WithNoLock(true),
	)
	if err != nil {
		return nil, fmt.Errorf("open %s queue: %w", endpoint, err)
	}
	q.cache = c
	if leftover {
		if err := c.Rotate(); err != nil {
			return nil, errors.Join(fmt.Errorf("rotate %s queue: %w", endpoint, err), c.Close())
		}
	}
	if q.bytes, err = cacheBytes(q.dir); err != nil {
		return nil, errors.Join(fmt.Errorf("size %s queue: %w", endpoint, err), c.Close())
	}
	atomicfile.RemoveTemps(q.inflight) // copies that were never completed
	if fi, err := os.Stat(q.inflight); err == nil {
		q.inflightBytes = fi.Size()
	}
	return q, nil
}

// cacheBytes sums the sizes of diskcache's data files in dir.
func cacheBytes(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if e.Name() != "data" && !strings.HasPrefix(e.Name(), "data.") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}

// putResult says what a put did besides queuing.
type putResult struct {
	queued         bool  // the batch is on disk, even if put also returns an error
	droppedMetrics int   // oldest metric batches dropped to make room
	droppedBytes   int64 // their size on disk
}

// put queues rec on q under the overflow policy: when the queues would exceed
// the bound, the oldest queued metric batches are dropped until rec fits; if
// it still does not fit, put returns ErrQueueFull and rec is not queued (for
// metrics this drops the new batch, for events it refuses it), unless the
// queues hold nothing else. Batches in flight are never dropped. put returns once rec is fsynced.
func (s *store) put(q *queue, rec []byte) (putResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res putResult
	if s.closed {
		return res, ErrClosed
	}
	need := int64(len(rec)) + recordOverhead
	for s.totalLocked()+need > s.max && s.metrics.bytes > 0 {
		n, err := s.dropOldestLocked(s.metrics)
		if errors.Is(err, errQueueEmpty) {
			break
		}
		if err != nil {
			return res, err
		}
		res.droppedMetrics++
		res.droppedBytes += n
	}
	// A batch larger than the whole bound is still queued when nothing else
	// is: refused, it would be refused forever, and the events pending
	// behind it with it.
	if total := s.totalLocked(); total+need > s.max && total > 0 {
		return res, fmt.Errorf("%w: %d bytes queued, %d more would exceed the bound of %d",
			ErrQueueFull, total, need, s.max)
	}
	if err := q.cache.Put(rec); err != nil {
		return res, fmt.Errorf("queue %s batch: %w", q.endpoint, err)
	}
	q.bytes += need
	res.queued = true
	// Put fsynced rec into diskcache's write file, which Get does not read
	// until it is rotated: rotate now so that a lone batch is sent at once. A
	// failure leaves rec queued; Get rotates the file itself after 3 s.
	rotErr := q.cache.Rotate()
	if rotErr == nil {
		rotErr = atomicfile.SyncDir(q.dir) // make the rotation's rename durable too
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
	if rotErr != nil {
		return res, fmt.Errorf("batch queued, but rotating the %s queue failed: %w", q.endpoint, rotErr)
	}
	return res, nil
}

// dropOldestLocked drops the oldest record of q and returns its size on disk.
func (s *store) dropOldestLocked(q *queue) (int64, error) {
	var n int64
	err := q.cache.Get(func(b []byte) error {
		n = int64(len(b)) + recordOverhead
		return nil
	})
	if errors.Is(err, diskcache.ErrEOF) {
		q.bytes = 0
		return 0, errQueueEmpty
	}
	if err != nil && n == 0 {
		return 0, fmt.Errorf("drop from %s queue: %w", q.endpoint, err)
	}
	q.bytes = max(q.bytes-n, 0)
	return n, nil
}

// take moves the oldest record of q into its in-flight file and returns it;
// errQueueEmpty when there is none. Only q's sender calls take, and only
// without a record in flight.
//
// diskcache's Get advances its read position (persisted in .pos) once its
// callback returns nil and seeks back when it fails; the callback here
// returns nil only once the record is fsynced in the in-flight file, so a
// record is always in the queue, in the in-flight file, or both (after a
// crash between the two, which sends it twice).
func (s *store) take(q *queue) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var rec []byte
	err := q.cache.Get(func(b []byte) error {
		if err := atomicfile.WriteFile(q.inflight, b, 0o640); err != nil {
			return err
		}
		rec = b // Get allocates a new buffer for every record
		return nil
	})
	if errors.Is(err, diskcache.ErrEOF) {
		q.bytes = 0 // nothing left: whatever was estimated is gone
		return nil, errQueueEmpty
	}
	if rec == nil {
		return nil, fmt.Errorf("read %s queue: %w", q.endpoint, err)
	}
	// A non-nil err here failed only to persist the read position: the
	// record is safe in the in-flight file, and a restart sends it twice.
	q.bytes = max(q.bytes-int64(len(rec))-recordOverhead, 0)
	q.inflightBytes = int64(len(rec))
	return rec, nil
}

// loadInflight returns the batch an earlier sender left in flight, if any.
func (s *store) loadInflight(q *queue) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, err := os.ReadFile(q.inflight)
	if errors.Is(err, fs.ErrNotExist) {
		q.inflightBytes = 0
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s in-flight batch: %w", q.endpoint, err)
	}
	q.inflightBytes = int64(len(rec))
	return rec, nil
}

// done forgets q's in-flight batch: it was delivered or dropped. A failure to
// remove the file only means the batch is sent again after a restart.
func (s *store) done(q *queue) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q.inflightBytes = 0
	if err := os.Remove(q.inflight); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s in-flight batch: %w", q.endpoint, err)
	}
	return nil
}

func (s *store) totalLocked() int64 {
	return s.events.bytes + s.events.inflightBytes + s.metrics.bytes + s.metrics.inflightBytes
}

// queueBytes returns the bytes held for q: queued and in flight.
func (s *store) queueBytes(q *queue) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return q.bytes + q.inflightBytes
}

// close closes the caches and releases the directory lock. Everything queued
// stays on disk.
func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, q := range []*queue{s.events, s.metrics} {
		if q != nil && q.cache != nil {
			if err := q.cache.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close %s queue: %w", q.endpoint, err))
			}
		}
	}
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("unlock queue directory: %w", err))
	}
	return errors.Join(errs...)
}
