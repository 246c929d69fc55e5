package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane"
)

// ksmVersion is the kube-state-metrics release test/bench/ksmbuild pins.
const ksmVersion = "v2.13.0"

// ensureKSM returns the cached kube-state-metrics binary, building it from
// test/bench/ksmbuild first when it is missing (about two minutes on 2
// cores, the module download included).
func ensureKSM(ctx context.Context, progress io.Writer) (string, error) {
	cpCache, err := controlplane.CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(filepath.Dir(cpCache), "kube-state-metrics-"+ksmVersion)
	bin := filepath.Join(dir, "kube-state-metrics")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o100 != 0 {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate test/bench")
	}
	module := filepath.Join(filepath.Dir(file), "ksmbuild")
	tmp := bin + ".building"
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", tmp, "k8s.io/kube-state-metrics/v2")
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	fmt.Fprintf(progress, "building kube-state-metrics %s into %s because it is not cached yet (about 2 minutes)\n", ksmVersion, dir)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for err = nil; ; {
		select {
		case err = <-done:
		case <-tick.C:
			fmt.Fprintf(progress, "still building kube-state-metrics (%s elapsed)\n", time.Since(start).Round(time.Second))
			continue
		}
		break
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("build kube-state-metrics: %w\n%s", err, out.String())
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "built kube-state-metrics in %s\n", time.Since(start).Round(time.Second))
	return bin, nil
}

// ksm is a running kube-state-metrics.
type ksm struct {
	*child
	metricsURL   string
	telemetryURL string
}

func startKSM(bin, kubeconfig, dir string) (*ksm, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	c, err := startChild("kube-state-metrics", bin, []string{
		"--kubeconfig=" + kubeconfig,
		"--resources=pods",
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", ports[0]),
		"--telemetry-host=127.0.0.1", fmt.Sprintf("--telemetry-port=%d", ports[1]),
	}, []string{"GODEBUG=gctrace=1"}, filepath.Join(dir, "kube-state-metrics.log"))
	if err != nil {
		return nil, err
	}
	return &ksm{
		child:        c,
		metricsURL:   fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[0]),
		telemetryURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1]),
	}, nil
}

// waitSynced waits until kube-state-metrics has listed the pods (its
// telemetry counts a successful list) and then built its metric store: its
// CPU use drops below 5% for a whole second. It returns when that quiet
// second began. kube-state-metrics has no readiness signal of its own for
// this.
func (k *ksm) waitSynced(ctx context.Context) (time.Time, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for listed := false; !listed; {
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("kube-state-metrics did not list pods: %w", ctx.Err())
		case <-k.done:
			return time.Time{}, fmt.Errorf("kube-state-metrics exited; see %s", k.logPath)
		case <-tick.C:
		}
		body, err := get(ctx, k.telemetryURL)
		if err != nil {
			continue
		}
		for line := range strings.Lines(body) {
			if strings.HasPrefix(line, `kube_state_metrics_list_total{`) && strings.Contains(line, `resource="*v1.Pod"`) &&
				strings.Contains(line, `result="success"`) && !strings.HasSuffix(strings.TrimSpace(line), " 0") {
				listed = true
			}
		}
	}
	return waitQuiet(ctx, k.pid(), time.Second, 0.05)
}

// waitQuiet waits until the process used less than share of a CPU over a
// whole period and returns when that period began.
func waitQuiet(ctx context.Context, pid int, period time.Duration, share float64) (time.Time, error) {
	prev, err := readUsage(pid)
	if err != nil {
		return time.Time{}, err
	}
	for {
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(period):
		}
		cur, err := readUsage(pid)
		if err != nil {
			return time.Time{}, err
		}
		if float64(cur.CPU-prev.CPU) < share*float64(cur.At.Sub(prev.At)) {
			return prev.At, nil
		}
		prev = cur
	}
}

// scrape is the cost of one GET /metrics.
type scrape struct {
	Bytes    int64
	Duration time.Duration
	CPU      time.Duration // the server's CPU during the scrape
	PodInfo  int           // kube_pod_info series: one per pod
}

func (k *ksm) scrape(ctx context.Context) (scrape, error) {
	before, err := readUsage(k.pid())
	if err != nil {
		return scrape{}, err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.metricsURL, nil)
	if err != nil {
		return scrape{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return scrape{}, err
	}
	defer resp.Body.Close()
	var s scrape
	br := bufio.NewReaderSize(resp.Body, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		s.Bytes += int64(len(line))
		if strings.HasPrefix(string(line[:min(len(line), 14)]), "kube_pod_info{") {
			s.PodInfo++
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				s.Bytes += int64(len(line))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
	}
	s.Duration = time.Since(start)
	after, err := readUsage(k.pid())
	if err != nil {
		return s, err
	}
	s.CPU = after.CPU - before.CPU
	return s, nil
}

func get(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
