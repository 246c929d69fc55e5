// Package agentproc builds the k8s-pod-restart binary and runs it as a child
// process with a real configuration file, the way users run it. End-to-end
// tests, the demo and the benchmarks share it; the agent never imports it.
package agentproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// repoRoot is the module root, found from this source file.
func repoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the agentproc source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..")), nil
}

// Build compiles the agent into dir and returns the binary's path.
func Build(ctx context.Context, dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "k8s-pod-restart")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "-ldflags", "-X main.version=e2e", "./cmd/k8s-pod-restart")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// Options describe one run of the agent.
type Options struct {
	Binary string
	// Config is the TOML text written to <Dir>/conf.d/k8s_pod_restart.conf.
	Config string
	// Dir holds conf.d, the log file and whatever the config points at.
	Dir string
	// Env is added to the agent's environment.
	Env []string
	// Args are extra command-line arguments.
	Args []string
}

// Process is a running agent.
type Process struct {
	cmd     *exec.Cmd
	logPath string
	// logStart is where this run's logs begin in logPath: a restart in the
	// same Dir appends to the file, and what an earlier run logged must not
	// satisfy a wait on this one.
	logStart int64
	stdout   *SyncBuffer
	done     chan struct{}
	waitErr  error
}

// Start writes the configuration and starts the agent with --config pointing
// at its conf.d directory; stderr (the logs) goes to <Dir>/agent.log.
func Start(opts Options) (*Process, error) {
	confDir := filepath.Join(opts.Dir, "conf.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(confDir, "k8s_pod_restart.conf"), []byte(opts.Config), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(opts.Dir, "agent.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	info, err := logFile.Stat()
	if err != nil {
		logFile.Close()
		return nil, err
	}
	args := append([]string{"--config", confDir, "--log-level", "debug"}, opts.Args...)
	cmd := exec.Command(opts.Binary, args...)
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = procAttr()
	p := &Process{cmd: cmd, logPath: logPath, logStart: info.Size(), stdout: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.stdout
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start agent: %w", err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// Stop sends SIGTERM and waits up to grace for a clean exit, then kills.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.waitErr
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("agent did not stop within %v after SIGTERM", grace)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once Done is closed (-1 if killed by a signal).
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Logs returns what this run of the agent logged so far, without what
// earlier runs in the same Dir logged before it.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.logPath)
	if int64(len(b)) < p.logStart {
		return "" // truncated by someone else: nothing of this run is known
	}
	return string(b[p.logStart:])
}

// LogPath is the agent's log file, shared by every run in the same Dir.
func (p *Process) LogPath() string { return p.logPath }

// Stdout returns what the agent wrote to standard output so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// WaitLog waits until this run's logs contain s.
func (p *Process) WaitLog(ctx context.Context, s string) error {
	return p.WaitLogSequence(ctx, s)
}

// WaitLogSequence waits until this run's logs contain each of seq, in that
// order: seq[1] after the first seq[0], and so on. It lets a test wait for
// what follows a decision (its batch queued after it was logged, say)
// rather than for the decision alone.
func (p *Process) WaitLogSequence(ctx context.Context, seq ...string) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !containsSequence(p.Logs(), seq) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %q in the agent's logs: %w", seq, ctx.Err())
		case <-p.done:
			// The logs may have the sequence now: the agent wrote them
			// before it exited.
			if containsSequence(p.Logs(), seq) {
				return nil
			}
			return fmt.Errorf("agent exited (%v) before logging %q", p.waitErr, seq)
		case <-tick.C:
		}
	}
	return nil
}

// containsSequence reports whether s contains each of seq, in order.
func containsSequence(s string, seq []string) bool {
	for _, sub := range seq {
		i := strings.Index(s, sub)
		if i < 0 {
			return false
		}
		s = s[i+len(sub):]
	}
	return true
}

// SyncBuffer is a bytes.Buffer that a child's output goroutine may write
// while another goroutine reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
