package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/agentproc"
)

// clockTicks is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux the benchmarks run on).
const clockTicks = 100

// usage is one reading of a process's resources.
type usage struct {
	At     time.Time
	CPU    time.Duration // user + system since the process started
	RSS    int64         // bytes, VmRSS
	HWM    int64         // bytes, VmHWM: the peak RSS so far
	exists bool
}

// readUsage reads /proc/<pid>/stat and /proc/<pid>/status.
func readUsage(pid int) (usage, error) {
	u := usage{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis are space-separated, utime and stime being the
	// 12th and 13th of them (fields 14 and 15 of the line).
	rest := stat[bytes.LastIndexByte(stat, ')')+2:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	u.CPU = time.Duration(utime+stime) * time.Second / clockTicks
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return u, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			u.RSS = kb << 10
		} else {
			u.HWM = kb << 10
		}
	}
	u.exists = true
	return u, nil
}

// child is a process the driver started, its output appended to a log file.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	out     *agentproc.SyncBuffer // stdout, also kept in memory
}

// startChild starts bin; stdout goes to the log and to memory, stderr to the
// log.
func startChild(name, bin string, args, env []string, logPath string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "=== %s %s\n", bin, strings.Join(args, " "))
	c := &child{name: name, logPath: logPath, done: make(chan struct{}), out: &agentproc.SyncBuffer{}}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout = &teeWriter{c.out, logFile}
	c.cmd.Stderr = logFile
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = c.cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM and waits up to grace, then kills.
func (c *child) stop(grace time.Duration) {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// waitOutput waits until stdout matches re and returns the match.
func (c *child) waitOutput(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(c.out.String()); m != nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: waiting for %q: %w", c.name, re, ctx.Err())
		case <-c.done:
			return nil, fmt.Errorf("%s exited; see %s", c.name, c.logPath)
		case <-tick.C:
		}
	}
}

type teeWriter struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (t *teeWriter) Write(p []byte) (int, error) {
	_, _ = t.a.Write(p)
	return t.b.Write(p)
}

// gcLine matches a GODEBUG=gctrace=1 line's heap sizes: at the start of the
// cycle, at its end and live (marked) after it, in MB.
var gcLine = regexp.MustCompile(`(?m)^gc \d+ @[\d.]+s [\d%]+: .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// lastLiveHeap returns the live heap after the last garbage collection the
// log at path reports (GODEBUG=gctrace=1), in bytes, and how many
// collections it reports. gctrace has a resolution of 1 MB.
func lastLiveHeap(path string) (int64, int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	all := gcLine.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("no gctrace line in %s", path)
	}
	live, err := strconv.ParseInt(string(all[len(all)-1][3]), 10, 64)
	return live << 20, len(all), err
}
