package input

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// Readiness of the output: the agent is not ready while DataKit has been
// failing for readyFailingAfter AND the disk queue holds at least
// readyQueueFull of queue_max_bytes. Either alone is survivable: a failing
// DataKit is what the queue is for, and a full queue that DataKit drains is
// catching up. Both together mean data is about to be dropped.
const (
	readyFailingAfter = time.Minute
	readyQueueFull    = 0.9
)

// shutdownGrace bounds how long the server waits for requests in progress
// when the agent stops.
const shutdownGrace = 5 * time.Second

// check is the outcome of one readiness check.
type check struct {
	name   string
	ok     bool
	detail string
}

// readiness runs the checks of /readyz at now: the pod caches are synced,
// the replica leads or stands by in the election (when there is one), and
// DataKit answers or the queue has room.
func (s *sources) readiness(now time.Time) []check {
	checks := make([]check, 0, 3)

	if s.synced() {
		checks = append(checks, check{"caches", true, "pod caches synced"})
	} else {
		checks = append(checks, check{"caches", false, "pod caches not synced yet"})
	}

	if s.election == nil {
		checks = append(checks, check{"election", true, "election off"})
	} else if role := s.election(); role == roleLeader || role == roleStandby {
		checks = append(checks, check{"election", true, role})
	} else {
		checks = append(checks, check{"election", false, fmt.Sprintf("not in the election yet (role %q)", role)})
	}

	checks = append(checks, s.outputCheck(now))
	return checks
}

// outputCheck applies the output's readiness rule (see readyFailingAfter).
func (s *sources) outputCheck(now time.Time) check {
	if s.queueMaxBytes <= 0 {
		return check{"output", true, "writing to standard output"}
	}
	st := s.output()
	queued := st.Events.QueueBytes + st.Metrics.QueueBytes
	share := float64(queued) / float64(s.queueMaxBytes)
	full := share >= readyQueueFull
	queue := fmt.Sprintf("queue %d of %d bytes (%.0f%%)", queued, s.queueMaxBytes, 100*share)

	var since time.Time
	lastErr := ""
	for _, c := range []*datakit.CategoryStats{&st.Events, &st.Metrics} {
		if !c.FailingSince.IsZero() && (since.IsZero() || c.FailingSince.Before(since)) {
			since, lastErr = c.FailingSince, c.LastError
		}
	}
	failing := !since.IsZero() && now.Sub(since) >= readyFailingAfter
	switch {
	case since.IsZero():
		return check{"output", true, "DataKit answers; " + queue}
	case failing && full:
		return check{"output", false, fmt.Sprintf("DataKit failing for %v (%s) and %s", now.Sub(since).Round(time.Second), lastErr, queue)}
	default:
		return check{"output", true, fmt.Sprintf("DataKit failing for %v (%s); %s", now.Sub(since).Round(time.Second), lastErr, queue)}
	}
}

// newHandler serves /healthz, /readyz and /metrics from readiness and reg.
//
// /healthz answers 200 while the process serves HTTP. /readyz answers 200
// when every check passes and 503 otherwise, with one line per check either
// way. /metrics serves reg in Prometheus' text format.
func newHandler(readiness func(now time.Time) []check, reg prometheus.Gatherer, now func() time.Time) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		checks := readiness(now())
		var b strings.Builder
		ready := true
		for _, c := range checks {
			mark, verdict := "+", "ok"
			if !c.ok {
				mark, verdict, ready = "-", "failed", false
			}
			fmt.Fprintf(&b, "[%s]%s %s: %s\n", mark, c.name, verdict, c.detail)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if ready {
			b.WriteString("ready\n")
		} else {
			w.WriteHeader(http.StatusServiceUnavailable)
			b.WriteString("not ready\n")
		}
		_, _ = w.Write([]byte(b.String()))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	return mux
}

// server is the HTTP server of one listen address. The clusters whose blocks
// name that address (by default all of them) share it: one /metrics with
// each cluster's series labelled, one /readyz ready when every cluster is.
type server struct {
	ln  net.Listener
	log *slog.Logger
	reg *prometheus.Registry // the process's series, and each cluster's labelled

	// mu guards clusters, added by Run while it builds the clusters and
	// read by the /readyz handler.
	mu       sync.Mutex
	clusters []namedSources
}

// namedSources are one cluster's sources and its name.
type namedSources struct {
	name string
	src  *sources
}

// listenHTTP opens addr at once, so that an address in use fails the start
// rather than a later goroutine; it returns nil when addr is empty (no
// server). Close it if run is never called.
func listenHTTP(addr, version string, log *slog.Logger) (*server, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &server{ln: ln, log: log, reg: newProcessRegistry(version)}, nil
}

// Addr is the address the server listens on, its port resolved.
func (s *server) Addr() string { return s.ln.Addr().String() }

// close releases the listener of a server that did not run; it does nothing
// on nil or after run.
func (s *server) close() {
	if s != nil {
		_ = s.ln.Close()
	}
}

// registerer returns where a cluster's series go: the server's registry with
// the cluster's label, or, without a server, a registry nobody reads.
func (s *server) registerer(cluster string) prometheus.Registerer {
	if s == nil {
		return prometheus.NewRegistry()
	}
	return clusterRegisterer(s.reg, cluster)
}

// add serves a cluster: its scrape-time series on /metrics, its checks on
// /readyz. It does nothing on nil.
func (s *server) add(cluster string, src *sources, now func() time.Time) {
	if s == nil {
		return
	}
	s.registerer(cluster).MustRegister(newStatsCollector(src, now))
	s.mu.Lock()
	s.clusters = append(s.clusters, namedSources{name: cluster, src: src})
	s.mu.Unlock()
}

// readiness runs the checks of every cluster; with several, each check's
// name starts with its cluster's.
func (s *server) readiness(now time.Time) []check {
	s.mu.Lock()
	clusters := slices.Clone(s.clusters)
	s.mu.Unlock()
	var checks []check
	for _, c := range clusters {
		for _, ch := range c.src.readiness(now) {
			if len(clusters) > 1 {
				ch.name = c.name + "/" + ch.name
			}
			checks = append(checks, ch)
		}
	}
	return checks
}

// run serves until ctx ends, then shuts down within shutdownGrace. It
// waits for the serving goroutine before it returns.
func (s *server) run(ctx context.Context, now func() time.Time) error {
	srv := &http.Server{
		Handler:           newHandler(s.readiness, s.reg, now),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.mu.Lock()
	names := make([]string, len(s.clusters))
	for i, c := range s.clusters {
		names[i] = c.name
	}
	s.mu.Unlock()
	s.log.Info("serving /healthz, /readyz and /metrics", "addr", s.Addr(), "clusters", names)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	return nil
}

// sources returns what the cluster's /readyz and /metrics read.
func (c *cluster) sources() *sources {
	src := &sources{
		watcher:  c.watcher.Stats,
		synced:   c.watcher.HasSynced,
		detector: c.detector.Counts,
		output:   c.writer.Stats,
	}
	if c.cfg.DatakitURL != "" {
		src.queueMaxBytes = c.cfg.QueueMaxBytes
	}
	if c.cfg.Election {
		src.election = c.Role
	}
	return src
}
