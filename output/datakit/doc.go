// Package datakit delivers what package output encodes to DataKit's write
// API; it hides the transport behind Writer's New, Write, Run and Close.
//
// # Delivery
//
// Write encodes a Batch into one line-protocol body per category (events,
// metrics) and puts each on a disk queue, fsynced before Write returns. Run
// runs one sender per queue, each sending its batches in queue order:
//
//	POST {URL}/v1/write/keyevent?precision=n&input={Input}&ignore_global_host_tags=true
//	POST {URL}/v1/write/metric?precision=n&input={Input}&ignore_global_host_tags=true
//
// with Content-Type text/plain, gzipped (Content-Encoding: gzip) from 1 KiB
// on. Without a URL, Write writes the same line protocol to Stdout instead,
// one batch after another, every point newline-terminated (an event's
// Markdown message holds newlines too, inside its quotes), and no queue is
// used.
//
// One function, classify, decides what a response means. 2xx: the batch is
// delivered. 408, 429, 5xx, network errors (timeouts, resets, refused
// connections), and 401, 403 (datakit.publicAccessDisabled) and 404 (a wrong
// URL), which say where we send is wrong rather than what: the same batch is
// sent again after a wait, the Retry-After
// DataKit asks for (seconds or an HTTP date, at most 10 min) or else a capped
// exponential backoff with jitter (1 s doubling up to Config.MaxBackoff,
// default 1 min). Any other 4xx (datakit.invalidLinePoint, emptyBody, ...):
// the batch is dropped, counted in Stats and DataKit's error logged once per
// distinct error code; the next batch follows, so one bad batch never blocks
// a queue. A failure that repeats is logged when it starts and when it
// changes, its end once; the retries in between only at debug level.
//
// # At least once
//
// A sender moves the oldest batch of its queue into an in-flight file
// (written to a temporary file, fsynced, renamed, directory fsynced) before
// the queue forgets it, and removes that file only once the batch is
// delivered or dropped. When ctx ends, or the process dies at any point,
// every batch not yet delivered is in the queue or in the in-flight file: the
// next Writer on the same directory sends the in-flight batch first, then the
// queue. A batch can thus be sent twice (a crash after DataKit accepted it
// but before the in-flight file is removed, or between the in-flight file's
// creation and the queue's position update): an event keeps its df_event_id,
// which is inside the stored bytes, so duplicates can be told apart.
//
// # Bound and overflow policy
//
// Config.QueueMaxBytes (default 256 MiB) bounds both queues together,
// in-flight batches included, counted as diskcache stores them (8 bytes of
// framing per batch; what an earlier process left is counted by file size,
// which may include one batch already delivered, until the queue is next
// found empty). When a batch would exceed the bound, the oldest queued
// metric batches are dropped until it fits; if it still does not fit, the
// queues hold only events and in-flight batches: a new metric batch is then
// dropped, and a new event batch is refused, Write returning an error that
// wraps ErrQueueFull and logging at error level. Events are never dropped to
// make room, and a batch in flight is never dropped. A batch larger than the
// whole bound is queued when the queues hold nothing else, so that no batch
// is refused forever. Every drop is counted
// (Stats Overflow); metric drops are logged when they start and when they
// stop.
//
// # Queue directory
//
//	QueueDir/lock               flock(2) held while a Writer is open
//	QueueDir/keyevent/          diskcache directory of the events
//	QueueDir/keyevent.inflight  the event batch being sent
//	QueueDir/metric/            diskcache directory of the metrics
//	QueueDir/metric.inflight    the metric batch being sent
//
// # diskcache
//
// The queues are github.com/GuanceCloud/cliutils/diskcache directories. What
// this package relies on and works around, as read in cliutils v1.1.21:
//
//   - Put writes a 4-byte length and the data to the write file "data" and
//     fsyncs it unless NoSync. Get never reads "data": only files rotated
//     into data.NNN, which happens when "data" reaches the batch size
//     (20 MiB), on Rotate, or inside Get once nothing was put for 3 s (real
//     time, not an injectable clock). Writer calls Rotate after every Put,
//     so a lone event is readable at once, and fsyncs the directory, which
//     diskcache does not do after its rename; at start it rotates a "data"
//     left non-empty by a process that died between Put and Rotate.
//   - Get(fn), with fallback on error (the default), seeks back and keeps
//     its position when fn fails, so the same record comes again; when fn
//     succeeds it advances its position and writes it to ".pos" (not
//     fsynced) after fn returns. Sending inside fn would thus be safe
//     against SIGKILL, but holds diskcache's locks for the whole send; the
//     in-flight file instead keeps fn to a local fsynced copy. Get's doc
//     comment says a failed record is dropped: the code does the opposite.
//   - ".pos" stores the read file's absolute path: a queue directory
//     mounted at another path restarts from the start of its oldest file,
//     sending one delivered batch again.
//   - Get reads, without a lock, fields Put writes under its own lock, so
//     concurrent Put and Get are a data race; every diskcache call here is
//     serialized by the store's mutex.
//   - Every file in a cache directory other than ".lock", ".pos" and
//     "data" is taken for a data file, read, and deleted as a bad one:
//     nothing of ours lives inside the directories.
//   - diskcache's ".lock" file holds a PID and refuses to open a directory
//     whose PID is alive or is the caller's own. In a container the agent
//     is PID 1 at every start, so after a crash it could never reopen its
//     queue: Writer disables that lock and holds flock(2) on QueueDir/lock,
//     which the kernel releases when the process dies.
//   - Its capacity option drops whole files, events included, and when the
//     file being read is dropped, the next read also skips one more file
//     from its list without deleting it. Writer does not use it and applies
//     its own bound.
//   - Environment variables ENV_DISKCACHE_* override the options Open is
//     given. New refuses to open the queues when one that breaks the
//     guarantees above is set (NO_SYNC, NO_FALLBACK_ON_ERROR, NO_POS,
//     CAPACITY, MAX_DATA_SIZE).
//   - A record torn by a crash inside Put (length without data) fails one
//     Get with "unexpected read size"; the next Get skips the rest of that
//     file. Only the torn record is lost, and Write had not returned for
//     it.
//   - Importing diskcache links cliutils/metrics, hence gin and the
//     Prometheus client, into the binary; its init registers diskcache_*
//     collectors in cliutils/metrics' own global registry (not
//     Prometheus' default one).
package datakit
