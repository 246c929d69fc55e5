// Command demo runs the agent end to end on a laptop with no cluster: a local
// kube-apiserver and etcd, a DataKit-compatible receiver, the real agent
// binary with the sample configuration on a short window, and a simulated
// crash storm. It prints what a user would see in Guance, then tears down.
//
//	make demo    (or: go run ./test/demo)
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	corev1 "k8s.io/api/core/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/input"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/agentproc"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

const (
	namespace = "shop"
	window    = time.Minute
	interval  = 5 * time.Second
)

func main() { os.Exit(run()) }

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := demo(ctx, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "\ndemo failed: %v\n", err)
		return 1
	}
	return 0
}

func step(w io.Writer, n int, format string, args ...any) {
	fmt.Fprintf(w, "\n\033[1m[%d/6] %s\033[0m\n", n, fmt.Sprintf(format, args...))
}

func demo(ctx context.Context, w io.Writer) error {
	fmt.Fprintln(w, "k8s-pod-restart demo: a local control plane, the agent, and a simulated crash storm.")

	step(w, 1, "Control plane binaries (kube-apiserver and etcd v1.37.2)")
	start := time.Now()
	bins, err := controlplane.Ensure(ctx, prefixed(w, "      "))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "      ready in %v: %s\n", time.Since(start).Round(time.Millisecond), bins.APIServer)

	step(w, 2, "Starting etcd and kube-apiserver on loopback")
	start = time.Now()
	cp, err := controlplane.Start(ctx, controlplane.Options{Binaries: bins})
	if err != nil {
		return err
	}
	defer cp.Stop()
	fmt.Fprintf(w, "      API server %s ready in %v; kubeconfig %s\n", cp.URL(), time.Since(start).Round(time.Millisecond), cp.Kubeconfig())

	step(w, 3, "Starting a DataKit-compatible receiver (strict line-protocol decoding)")
	dk, err := datakit.Start()
	if err != nil {
		return err
	}
	defer dk.Close()
	fmt.Fprintf(w, "      POST %s/v1/write/{keyevent,metric}\n", dk.URL())

	step(w, 4, "Building and starting the agent with the sample configuration")
	dir, err := os.MkdirTemp("", "k8s-pod-restart-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := agentproc.Build(ctx, dir)
	if err != nil {
		return err
	}
	// The sample as shipped, with the values a demo changes set through the
	// environment exactly as a Deployment would.
	env := []string{
		input.EnvClusterName + "=demo",
		input.EnvName("kubeconfig") + "=" + cp.Kubeconfig(),
		input.EnvName("namespaces") + "=" + namespace,
		input.EnvName("window") + "=" + window.String(),
		input.EnvName("interval") + "=" + interval.String(),
		input.EnvName("datakit_url") + "=" + dk.URL(),
		input.EnvName("queue_dir") + "=" + dir + "/queue",
		input.EnvName("listen") + "=",
	}
	for _, e := range env {
		fmt.Fprintf(w, "      %s\n", e)
	}
	agent, err := agentproc.Start(agentproc.Options{Binary: bin, Config: input.SampleConfig(), Dir: dir, Env: env})
	if err != nil {
		return err
	}
	defer func() { _ = agent.Stop(15 * time.Second) }()
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := agent.WaitLog(waitCtx, "pod caches synced"); err != nil {
		return fmt.Errorf("%w\nagent logs:\n%s", err, agent.Logs())
	}
	fmt.Fprintf(w, "      agent running (pid %d), logs in %s\n", agent.Pid(), agent.LogPath())

	step(w, 5, "Simulating namespace %q: 20 healthy pods, then a crash storm", namespace)
	sim := kubesim.New(cp.Client())
	checkout, err := deployment(ctx, sim, "checkout", 12, "512Mi")
	if err != nil {
		return err
	}
	cart, err := deployment(ctx, sim, "cart", 8, "256Mi")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "      created deployment checkout (12 pods) and cart (8 pods), all running")

	printer := &eventPrinter{w: w, dk: dk}
	fmt.Fprintln(w, "      wave 1: 3 checkout pods are OOMKilled and go into CrashLoopBackOff")
	crashed := time.Now()
	if err := crash(ctx, sim, checkout[:3], kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}); err != nil {
		return err
	}
	if err := printer.waitFor(ctx, crashed, "warning"); err != nil {
		return err
	}
	fmt.Fprintln(w, "      wave 2: 4 more checkout pods OOMKilled, 3 cart pods exit with an error")
	crashed = time.Now()
	if err := crash(ctx, sim, checkout[3:7], kubesim.Crash{Reason: "OOMKilled", ExitCode: 137}); err != nil {
		return err
	}
	if err := crash(ctx, sim, cart[:3], kubesim.Crash{Reason: "Error", ExitCode: 1, Message: "panic: connection refused (redis:6379)"}); err != nil {
		return err
	}
	// 10 of 20 pods: critical, reached through error as the updates arrive.
	if err := printer.waitFor(ctx, crashed, "critical"); err != nil {
		return err
	}

	step(w, 6, "The crash loop stops; waiting for the %v window to drain and the recovery", window)
	if err := printer.waitFor(ctx, crashed, "ok"); err != nil {
		return err
	}
	var metrics, self []datakit.Point
	for _, p := range dk.Points("metric") {
		if p.Name == "k8s_pod_restart_agent" {
			self = append(self, p)
		} else {
			metrics = append(metrics, p)
		}
	}
	fmt.Fprintf(w, "\nReceived %d events and %d metric points (restart_ratio every %v); DataKit strict-mode violations: %d.\n",
		len(dk.Points("keyevent")), len(metrics), interval, len(dk.Violations()))
	if len(metrics) > 0 {
		fmt.Fprintf(w, "Last metric: %s\n", lineProtocol(metrics[len(metrics)-1]))
	}
	if len(self) > 0 {
		fmt.Fprintf(w, "The agent's own resources: %s\n", lineProtocol(self[len(self)-1]))
	}
	fmt.Fprintln(w, "Tearing down: agent, receiver, kube-apiserver, etcd.")
	return nil
}

func deployment(ctx context.Context, sim *kubesim.Sim, name string, n int, memLimit string) ([]*corev1.Pod, error) {
	pods := make([]*corev1.Pod, n)
	for i := range pods {
		p, err := sim.RunPod(ctx, kubesim.PodOptions{
			Namespace:      namespace,
			Node:           fmt.Sprintf("node-%d", i%3+1),
			Owner:          kubesim.Owner{Kind: kubesim.KindDeployment, Name: name},
			InitContainers: []kubesim.Container{{Name: "wait-db"}},
			Containers: []kubesim.Container{{
				Name: "app", Image: "registry.example.com/shop/" + name + ":2.3.1",
				Requests: kubesim.Resources{CPU: "200m", Memory: "256Mi"},
				Limits:   kubesim.Resources{CPU: "1", Memory: memLimit},
			}},
		})
		if err != nil {
			return nil, err
		}
		pods[i] = p
	}
	return pods, nil
}

func crash(ctx context.Context, sim *kubesim.Sim, pods []*corev1.Pod, c kubesim.Crash) error {
	c.Waiting = "CrashLoopBackOff"
	for _, p := range pods {
		if _, err := sim.CrashContainer(ctx, p.Namespace, p.Name, "app", c); err != nil {
			return err
		}
	}
	return nil
}

// eventPrinter shows each event as it arrives.
type eventPrinter struct {
	w    io.Writer
	dk   *datakit.Receiver
	seen int
}

// waitFor waits for an event with df_status status and prints the events up
// to it with their delay since since.
func (e *eventPrinter) waitFor(ctx context.Context, since time.Time, status string) error {
	ctx, cancel := context.WithTimeout(ctx, window+time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() { // say something while waiting, so the wait is not a mystery
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(e.w, "      ... waiting (%v so far)\n", time.Since(since).Round(time.Second))
			}
		}
	}()
	upTo := -1
	err := e.dk.WaitFor(ctx, func([]datakit.Point) bool {
		evs := e.dk.Points("keyevent")
		for i := e.seen; i < len(evs); i++ {
			if evs[i].Tags["df_status"] == status {
				upTo = i
				return true
			}
		}
		return false
	})
	close(done)
	if err != nil {
		return fmt.Errorf("waiting for a %s event: %w", status, err)
	}
	evs := e.dk.Points("keyevent")
	for _, ev := range evs[e.seen : upTo+1] {
		e.print(ev, ev.ReceivedAt.Sub(since))
	}
	e.seen = upTo + 1
	return nil
}

func (e *eventPrinter) print(ev datakit.Point, after time.Duration) {
	w := e.w
	title, _ := ev.Fields["df_title"].(string)
	msg, _ := ev.Fields["df_message"].(string)
	fmt.Fprintf(w, "\n  \033[1m▶ %s event\033[0m received %v after the restarts: %s\n", strings.ToUpper(ev.Tags["df_status"]), after.Round(time.Millisecond), title)
	fmt.Fprintf(w, "    df_event_id=%s df_fault_id=%s\n\n", ev.Tags["df_event_id"], ev.Tags["df_fault_id"])
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(w, "    │ %s\n", line)
	}
	lp := lineProtocol(ev)
	const max = 600
	if len(lp) > max {
		lp = lp[:max] + fmt.Sprintf("… (%d bytes in all)", len(lp))
	}
	fmt.Fprintf(w, "\n    raw line protocol as DataKit decoded it:\n    %s\n", lp)
}

// lineProtocol re-encodes a received point, keys sorted, as DataKit would
// store it.
func lineProtocol(p datakit.Point) string {
	var kvs point.KVs
	keys := make([]string, 0, len(p.Tags))
	for k := range p.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kvs = kvs.AddTag(k, p.Tags[k])
	}
	keys = keys[:0]
	for k := range p.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kvs = kvs.Add(k, p.Fields[k], false, true)
	}
	return strings.TrimSpace(point.NewPointV2(p.Name, kvs, point.WithTime(p.Time)).LineProto())
}

// prefixed indents each line written through it.
func prefixed(w io.Writer, prefix string) io.Writer {
	return &prefixWriter{w: w, prefix: prefix, bol: true}
}

type prefixWriter struct {
	w      io.Writer
	prefix string
	bol    bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if p.bol {
			if _, err := io.WriteString(p.w, p.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := p.w.Write([]byte{c}); err != nil {
			return 0, err
		}
		p.bol = c == '\n'
	}
	return len(b), nil
}
