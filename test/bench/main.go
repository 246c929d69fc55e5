// Command bench measures the agent side by side with what users run today,
// in one run, on one local API server and the same pods: the agent binary, a
// plain client-go pod informer (test/bench/informer) and kube-state-metrics
// with --resources=pods. It loads N realistic pods through the API, starts
// the three one after the other (cache sync time, peak memory of the
// initial list), applies a steady churn of pod status updates (CPU per
// update), crashes pods in fresh namespaces under the same churn (the
// agent's reaction latency), lets everything rest (CPU at rest, RSS), and
// prints one table with ours/theirs ratios. Raw numbers go to
// test/bench/results/N.json.
//
//	make bench N=10000    (or: go run ./test/bench -pods 10000)
//
// Cache sync is measured from process start to: the agent's "pod caches
// synced" log line; the informer's "synced" line; for kube-state-metrics, a
// successful pod list in its telemetry followed by a second of quiet CPU
// (it builds its metric store after the list). RSS and CPU come from
// /proc/<pid>; the live heap from GODEBUG=gctrace=1 (1 MB resolution).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/agentproc"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/controlplane"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

func main() { os.Exit(run()) }

// options are the command's flags.
type options struct {
	pods          int
	workers       int
	churnPods     int
	churnRate     float64
	churnFor      time.Duration
	restFor       time.Duration
	reactions     int
	reactionEvery time.Duration
	agentEnv      string
	skipKSM       bool
	skipPlain     bool
	apiMemLimit   string
	etcdQuota     int64
	out           string
	keep          bool
	agentBin      string
}

func run() int {
	var o options
	flag.IntVar(&o.pods, "pods", 1000, "pods to load")
	flag.IntVar(&o.workers, "workers", 16, "parallel pod creators")
	flag.IntVar(&o.churnPods, "churn-pods", 5000, "pods the status churn goes round")
	flag.Float64Var(&o.churnRate, "churn-rate", 50, "status updates per second during the churn")
	flag.DurationVar(&o.churnFor, "churn", 60*time.Second, "how long the churn whose CPU is measured lasts")
	flag.DurationVar(&o.restFor, "rest", 60*time.Second, "how long CPU at rest is measured")
	flag.IntVar(&o.reactions, "reactions", 50, "reaction-latency trials, one namespace each, under the churn")
	flag.DurationVar(&o.reactionEvery, "reaction-every", time.Second, "time between two reaction trials")
	flag.StringVar(&o.agentEnv, "agent-env", "", "extra environment of the agent, comma-separated KEY=VALUE (e.g. GOGC=50)")
	flag.BoolVar(&o.skipKSM, "skip-ksm", false, "do not run kube-state-metrics")
	flag.BoolVar(&o.skipPlain, "skip-informer", false, "do not run the plain informer")
	flag.StringVar(&o.apiMemLimit, "apiserver-memlimit", "8GiB", "kube-apiserver's GOMEMLIMIT")
	flag.Int64Var(&o.etcdQuota, "etcd-quota", 8<<30, "etcd's --quota-backend-bytes")
	flag.StringVar(&o.out, "out", "test/bench/results", "directory of the JSON results")
	flag.BoolVar(&o.keep, "keep", false, "keep the run directory and the control plane's files")
	flag.StringVar(&o.agentBin, "agent", "", "agent binary to measure (default: build this tree's)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, err := bench(ctx, o, os.Stdout)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	printTable(os.Stdout, res)
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	path := filepath.Join(o.out, fmt.Sprintf("%d.json", o.pods))
	b, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("\nraw results: %s\n", path)
	return 0
}

// watcherResult is what one watcher cost.
type watcherResult struct {
	Name         string
	Ran          bool
	SyncSeconds  float64
	PeakRSSSync  int64 // VmHWM right after the sync: the initial list's peak
	RSSSync      int64 // VmRSS right after the sync
	RSSRest      int64 // VmRSS at the end of the rest period
	PeakRSSEnd   int64 // VmHWM at the end
	LiveHeap     int64 // after the last GC, from gctrace
	GCs          int
	ChurnCPU     float64 // seconds during the churn
	RestCPU      float64 // seconds during the rest period
	SyncCPU      float64 // seconds from start to sync
	ScrapeBytes  int64   `json:",omitempty"`
	ScrapeSecs   float64 `json:",omitempty"`
	ScrapeCPU    float64 `json:",omitempty"`
	ScrapePodInf int     `json:",omitempty"`
}

// result is one run.
type result struct {
	Pods         int
	ReactionPods int
	Machine      machine
	ChurnPods    int
	ChurnRate    float64
	ChurnSeconds float64
	ChurnUpdates int      // status updates during the churn
	AgentEnv     string   `json:",omitempty"`
	LoadAvg      []string // /proc/loadavg at points of the run: the machine may be shared
	RestSeconds  float64
	LoadSeconds  float64
	// PodJSONBytes is the mean size of a loaded pod as the API server serves
	// it in JSON, ManagedFieldsJSONBytes that of its managedFields.
	PodJSONBytes           int
	ManagedFieldsJSONBytes int
	Agent                  watcherResult
	Informer               watcherResult
	KSM                    watcherResult
	Reactions              []reaction
	ReactionP50Ms          float64
	ReactionP90Ms          float64
	ReactionP99Ms          float64
	ReactionMaxMs          float64
	Missed                 int // trials without an event
}

type machine struct {
	CPUs     int
	MemoryKB int64
	CPUModel string
	Go       string
}

func bench(ctx context.Context, o options, w io.Writer) (*result, error) {
	res := &result{Pods: o.pods, ReactionPods: o.reactions * reactionPods, ChurnPods: min(o.churnPods, o.pods),
		ChurnRate: o.churnRate, Machine: describeMachine(), AgentEnv: o.agentEnv}
	dir, err := os.MkdirTemp("", "k8s-pod-restart-bench-")
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	fmt.Fprintf(w, "k8s-pod-restart benchmark: %d pods, run directory %s\n", o.pods, dir)

	step(w, "binaries: control plane, kube-state-metrics, agent, informer")
	bins, err := controlplane.Ensure(ctx, w)
	if err != nil {
		return nil, err
	}
	ksmBin := ""
	if !o.skipKSM {
		if ksmBin, err = ensureKSM(ctx, w); err != nil {
			return nil, err
		}
	}
	agentBin := o.agentBin
	if agentBin == "" {
		if agentBin, err = agentproc.Build(ctx, dir); err != nil {
			return nil, err
		}
	}
	informerBin := filepath.Join(dir, "informer")
	if err := goBuild(ctx, informerBin, "./test/bench/informer"); err != nil {
		return nil, err
	}

	step(w, "control plane (etcd quota %d GiB, kube-apiserver GOMEMLIMIT %s)", o.etcdQuota>>30, o.apiMemLimit)
	cp, err := controlplane.Start(ctx, controlplane.Options{Binaries: bins, Progress: w,
		APIServerGOMEMLIMIT: o.apiMemLimit, EtcdQuotaBackendBytes: o.etcdQuota, KeepLogs: o.keep})
	if err != nil {
		return nil, err
	}
	defer cp.Stop()
	cfg := cp.RESTConfig()
	cfg.QPS, cfg.Burst = 2000, 2000
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	sim := kubesim.New(client, kubesim.WithSeed(1))

	step(w, "loading %d pods and %d reaction pods (%d workers)", o.pods, res.ReactionPods, o.workers)
	start := time.Now()
	l := layout{pods: o.pods, reactions: o.reactions}
	names, reactionPodNames, err := load(ctx, sim, l, o.workers, w)
	if err != nil {
		return nil, err
	}
	res.LoadSeconds = time.Since(start).Seconds()
	if res.PodJSONBytes, res.ManagedFieldsJSONBytes, err = podSize(ctx, client, names); err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "  a pod is %d bytes of JSON, managedFields %d of them\n", res.PodJSONBytes, res.ManagedFieldsJSONBytes)

	dk, err := datakit.Start()
	if err != nil {
		return nil, err
	}
	defer dk.Close()

	// The agent, then the informer, then kube-state-metrics: each syncs
	// alone while the others idle.
	step(w, "agent: cache sync")
	agent, err := agentproc.Start(agentproc.Options{
		Binary: agentBin, Dir: dir, Args: []string{"--log-level", "info"},
		Env: append([]string{"GODEBUG=gctrace=1"}, splitEnv(o.agentEnv)...),
		Config: fmt.Sprintf(`[[inputs.k8s_pod_restart]]
  cluster_name = "bench"
  kubeconfig = %q
  datakit_url = %q
  queue_dir = %q
  listen = ""
`, cp.Kubeconfig(), dk.URL(), filepath.Join(dir, "queue")),
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = agent.Stop(15 * time.Second) }()
	if err := syncAgent(ctx, agent, &res.Agent); err != nil {
		return nil, err
	}
	report(w, &res.Agent)

	var informer *child
	if !o.skipPlain {
		step(w, "plain client-go informer: cache sync")
		informer, err = startChild("informer", informerBin, []string{"--kubeconfig", cp.Kubeconfig()},
			[]string{"GODEBUG=gctrace=1"}, filepath.Join(dir, "informer.log"))
		if err != nil {
			return nil, err
		}
		defer informer.stop(10 * time.Second)
		res.Informer = watcherResult{Name: "plain informer", Ran: true}
		sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		_, err := informer.waitOutput(sctx, regexp.MustCompile(`synced (\d+) pods`))
		cancel()
		if err != nil {
			return nil, err
		}
		if err := synced(informer.pid(), informer.started, time.Now(), &res.Informer); err != nil {
			return nil, err
		}
		report(w, &res.Informer)
	}

	var ksmProc *ksm
	if !o.skipKSM {
		step(w, "kube-state-metrics %s --resources=pods: cache sync", ksmVersion)
		if ksmProc, err = startKSM(ksmBin, cp.Kubeconfig(), dir); err != nil {
			return nil, err
		}
		defer ksmProc.stop(10 * time.Second)
		res.KSM = watcherResult{Name: "kube-state-metrics", Ran: true}
		sctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		at, err := ksmProc.waitSynced(sctx)
		cancel()
		if err != nil {
			return nil, err
		}
		if err := synced(ksmProc.pid(), ksmProc.started, at, &res.KSM); err != nil {
			return nil, err
		}
		report(w, &res.KSM)
	}

	procs := []struct {
		pid int
		r   *watcherResult
	}{{agent.Pid(), &res.Agent}}
	if informer != nil {
		procs = append(procs, struct {
			pid int
			r   *watcherResult
		}{informer.pid(), &res.Informer})
	}
	if ksmProc != nil {
		procs = append(procs, struct {
			pid int
			r   *watcherResult
		}{ksmProc.pid(), &res.KSM})
	}
	readAll := func() ([]usage, error) {
		us := make([]usage, len(procs))
		for i, p := range procs {
			u, err := readUsage(p.pid)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.r.Name, err)
			}
			us[i] = u
		}
		return us, nil
	}
	sleep(ctx, 5*time.Second)

	// CPU per status update is measured on the churn alone; the reaction
	// trials come after, under the same churn, so that the cost of the
	// events they open (root-cause analysis, delivery) does not count as
	// the cost of watching.
	step(w, "churn: %.0f status updates/s over %d pods for %v", o.churnRate, res.ChurnPods, o.churnFor)
	set := churnSet(names, res.ChurnPods)
	churnOpts := kubesim.ChurnOptions{PerSecond: o.churnRate, FlipReady: true}
	res.LoadAvg = append(res.LoadAvg, "churn start: "+loadAvg())
	u0, err := readAll()
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, o.churnFor)
	res.ChurnUpdates, err = sim.Churn(cctx, set, churnOpts)
	cancel()
	if err != nil {
		return nil, err
	}
	u1, err := readAll()
	if err != nil {
		return nil, err
	}
	res.LoadAvg = append(res.LoadAvg, "churn end: "+loadAvg())
	res.ChurnSeconds = u1[0].At.Sub(u0[0].At).Seconds()
	for i, p := range procs {
		p.r.ChurnCPU = (u1[i].CPU - u0[i].CPU).Seconds()
	}
	fmt.Fprintf(w, "  %d status updates in %.0fs\n", res.ChurnUpdates, res.ChurnSeconds)

	step(w, "reaction: %d trials, one namespace each, under the same churn", o.reactions)
	rctx, stopChurn := context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(rctx)
	g.Go(func() error {
		_, err := sim.Churn(gctx, set, churnOpts)
		return err
	})
	trials, rerr := reactions(ctx, sim, dk, reactionPodNames, o.reactionEvery, 200*time.Millisecond, 15*time.Second, w)
	stopChurn()
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	if rerr != nil {
		return nil, rerr
	}
	res.LoadAvg = append(res.LoadAvg, "reactions end: "+loadAvg())
	res.Reactions = trials
	for _, t := range trials {
		if t.Received.IsZero() {
			res.Missed++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res.ReactionP50Ms, res.ReactionP90Ms = ms(percentile(trials, 50)), ms(percentile(trials, 90))
	res.ReactionP99Ms, res.ReactionMaxMs = ms(percentile(trials, 99)), ms(percentile(trials, 100))
	fmt.Fprintf(w, "  p50 %.0f ms, p99 %.0f ms (%d trials, %d missed)\n", res.ReactionP50Ms, res.ReactionP99Ms, len(trials), res.Missed)

	step(w, "rest: %v without changes", o.restFor)
	sleep(ctx, 10*time.Second) // let queued notifications drain
	u2, err := readAll()
	if err != nil {
		return nil, err
	}
	sleep(ctx, o.restFor)
	u3, err := readAll()
	if err != nil {
		return nil, err
	}
	res.RestSeconds = u3[0].At.Sub(u2[0].At).Seconds()
	for i, p := range procs {
		p.r.RestCPU = (u3[i].CPU - u2[i].CPU).Seconds()
		p.r.RSSRest, p.r.PeakRSSEnd = u3[i].RSS, u3[i].HWM
	}

	if ksmProc != nil {
		step(w, "one kube-state-metrics scrape")
		s, err := ksmProc.scrape(ctx)
		if err != nil {
			return nil, err
		}
		res.KSM.ScrapeBytes, res.KSM.ScrapeSecs, res.KSM.ScrapeCPU, res.KSM.ScrapePodInf = s.Bytes, s.Duration.Seconds(), s.CPU.Seconds(), s.PodInfo
		fmt.Fprintf(w, "  %.1f MiB in %.2fs, %.2f CPU-s, %d kube_pod_info series\n", float64(s.Bytes)/(1<<20), s.Duration.Seconds(), s.CPU.Seconds(), s.PodInfo)
	}
	for _, x := range []struct {
		log string
		r   *watcherResult
	}{{agent.LogPath(), &res.Agent}, {filepath.Join(dir, "informer.log"), &res.Informer}, {filepath.Join(dir, "kube-state-metrics.log"), &res.KSM}} {
		if x.r.Ran {
			x.r.LiveHeap, x.r.GCs, _ = lastLiveHeap(x.log)
		}
	}
	if n := strings.Count(agent.Logs(), "level=ERROR"); n > 0 {
		fmt.Fprintf(w, "warning: the agent logged %d errors; see %s\n", n, agent.LogPath())
	}
	if v := dk.Violations(); len(v) > 0 {
		fmt.Fprintf(w, "warning: the receiver recorded %d line-protocol violations, the first: %v\n", len(v), v[0])
	}
	return res, nil
}

// syncAgent waits for the agent's "pod caches synced" line, dated by the
// line's own time stamp.
func syncAgent(ctx context.Context, agent *agentproc.Process, r *watcherResult) error {
	*r = watcherResult{Name: "k8s-pod-restart", Ran: true}
	started := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := agent.WaitLog(sctx, "pod caches synced"); err != nil {
		return fmt.Errorf("%w\nagent logs: %s", err, agent.LogPath())
	}
	at := time.Now()
	if m := regexp.MustCompile(`time=(\S+) level=INFO msg="pod caches synced`).FindStringSubmatch(agent.Logs()); m != nil {
		if t, err := time.Parse(time.RFC3339Nano, m[1]); err == nil {
			at = t
		}
	}
	return synced(agent.Pid(), started, at, r)
}

// synced records a watcher's sync: its duration and memory at that point.
func synced(pid int, started, at time.Time, r *watcherResult) error {
	u, err := readUsage(pid)
	if err != nil {
		return err
	}
	r.SyncSeconds = at.Sub(started).Seconds()
	r.PeakRSSSync, r.RSSSync, r.SyncCPU = u.HWM, u.RSS, u.CPU.Seconds()
	// Settle before the next watcher starts: one quiet second.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, _ = waitQuiet(ctx, pid, time.Second, 0.05)
	return nil
}

func report(w io.Writer, r *watcherResult) {
	fmt.Fprintf(w, "  %s synced in %.2fs, peak RSS %.0f MiB, RSS %.0f MiB, %.2f CPU-s\n",
		r.Name, r.SyncSeconds, mib(r.PeakRSSSync), mib(r.RSSSync), r.SyncCPU)
}

// churnSet returns the first n pods, spread over the namespaces.
func churnSet(names []types.NamespacedName, n int) []types.NamespacedName {
	if n >= len(names) {
		return names
	}
	out := make([]types.NamespacedName, 0, n)
	stride := float64(len(names)) / float64(n)
	for i := range n {
		out = append(out, names[int(float64(i)*stride)])
	}
	return out
}

func step(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "\n[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// goBuild builds pkg of the main module into out.
func goBuild(ctx context.Context, out, pkg string) error {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return errors.New("cannot locate test/bench")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// freePorts returns n free loopback ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// splitEnv splits "A=1,B=2".
func splitEnv(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.MemoryKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}
