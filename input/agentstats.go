package input

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/shirou/gopsutil/v3/process"

	"github.com/k8s-pod-restart/k8s-pod-restart/internal/logonce"
	"github.com/k8s-pod-restart/k8s-pod-restart/output"
)

// selfSampler reads the agent process's own resources for the
// k8s_pod_restart_agent measurement. Each cluster's loop owns one and is the
// only goroutine that uses it.
type selfSampler struct {
	proc *process.Process // nil when the process could not be opened
	log  *slog.Logger
	// failure tells which sampling failures to log.
	failure logonce.Failure

	// The previous sample's CPU time and instant, for the CPU usage between
	// two samples; lastAt is zero before the first sample.
	lastCPU float64
	lastAt  time.Time
}

func newSelfSampler(log *slog.Logger) *selfSampler {
	// NewProcess fails only when the process cannot be found in /proc (not
	// mounted, or another OS); sample then reports goroutines alone.
	p, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		p = nil
	}
	return &selfSampler{proc: p, log: log}
}

// stats samples the agent's resources for the batch of an interval, or
// returns nil on a nil sampler. A failure is logged when it changes; what
// could be read is still written.
func (s *selfSampler) stats(ctx context.Context, now time.Time) *output.AgentStats {
	if s == nil {
		return nil
	}
	st, err := s.sample(ctx, now)
	switch {
	case err != nil && s.failure.Failed(err.Error()):
		s.log.WarnContext(ctx, "reading the agent's own resources failed; writing what could be read", "err", err)
	case err == nil && s.failure.Recovered():
		s.log.InfoContext(ctx, "reading the agent's own resources works again")
	}
	return st
}

// sample returns the agent's resources at now. On error it returns what it
// could read (the goroutines at least) and the error naming what it could
// not. CPUUsage is the percentage of one core used since the previous sample
// (the CPU time it took over the time elapsed), 0 on the first.
func (s *selfSampler) sample(ctx context.Context, now time.Time) (*output.AgentStats, error) {
	st := &output.AgentStats{Goroutines: int64(runtime.NumGoroutine())}
	if s.proc == nil {
		return st, errors.New("agent resources: the process is not readable in /proc")
	}
	var errs []error
	if t, err := s.proc.TimesWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("cpu: %w", err))
	} else {
		st.CPUSeconds = t.User + t.System
		if elapsed := now.Sub(s.lastAt).Seconds(); !s.lastAt.IsZero() && elapsed > 0 && st.CPUSeconds >= s.lastCPU {
			st.CPUUsage = 100 * (st.CPUSeconds - s.lastCPU) / elapsed
		}
		s.lastCPU, s.lastAt = st.CPUSeconds, now
	}
	if m, err := s.proc.MemoryInfoWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("memory: %w", err))
	} else {
		st.RSSBytes = int64(m.RSS)
	}
	if n, err := s.proc.NumFDsWithContext(ctx); err != nil {
		errs = append(errs, fmt.Errorf("open files: %w", err))
	} else {
		st.OpenFiles = int64(n)
	}
	if err := errors.Join(errs...); err != nil {
		return st, fmt.Errorf("agent resources: %w", err)
	}
	return st, nil
}
