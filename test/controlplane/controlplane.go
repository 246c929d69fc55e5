package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// startAttempts bounds how often Start retries with new ports when one was taken meanwhile.
const startAttempts = 3

// defaultReadyTimeout is Options.ReadyTimeout when that is zero.
const defaultReadyTimeout = 2 * time.Minute

// Options configures Start. The zero value is a working default.
type Options struct {
	// Binaries are the executables to run; when zero, Start calls Ensure.
	Binaries Binaries
	// Progress receives build and start progress; nil discards it.
	Progress io.Writer
	// APIServerFlags are extra kube-apiserver flags ("--name=value"), appended after ours so
	// that they override them.
	APIServerFlags []string
	// APIServerGOMEMLIMIT, when set, is the GOMEMLIMIT of kube-apiserver (for example
	// "3GiB" for benchmarks that load tens of thousands of pods). A GOMEMLIMIT in our own
	// environment is never passed on.
	APIServerGOMEMLIMIT string
	// EtcdQuotaBackendBytes, when positive, is etcd's --quota-backend-bytes (default 2 GiB).
	EtcdQuotaBackendBytes int64
	// KeepLogs keeps the temp dir (logs, data, kubeconfigs) after Stop; see also
	// (*ControlPlane).KeepLogs.
	KeepLogs bool
	// ReadyTimeout bounds the wait for readiness in Start (per attempt) and in
	// RestartAPIServer, within ctx's deadline; zero means two minutes.
	ReadyTimeout time.Duration
}

// ControlPlane is a running etcd and kube-apiserver on loopback ports. Its methods may be
// called from any goroutine.
type ControlPlane struct {
	// Set by Start and read-only afterwards.
	opts       Options
	bins       Binaries
	dir        string // temp dir holding everything below
	paths      apiserverPaths
	url        string
	apiArgs    []string
	apiEnv     []string
	token      string
	restConfig *rest.Config
	client     kubernetes.Interface
	kubeconfig string

	mu        sync.Mutex // guards the fields below
	etcd      *process
	apiserver *process
	keepLogs  bool
	stopped   bool
}

// Start starts etcd and kube-apiserver on free loopback ports with their data and logs in a
// new temp dir, waits until the apiserver is ready, and writes an admin kubeconfig. ctx bounds
// the start only; the processes run until Stop. When a chosen port was taken before the child
// bound it, Start tries again with new ports.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	bins := opts.Binaries
	if bins == (Binaries{}) {
		var err error
		if bins, err = Ensure(ctx, opts.Progress); err != nil {
			return nil, err
		}
	}
	var err error
	for attempt := 1; attempt <= startAttempts; attempt++ {
		var cp *ControlPlane
		cp, err = start(ctx, opts, bins)
		if err == nil {
			return cp, nil
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
		fmt.Fprintf(opts.Progress, "controlplane: attempt %d: %v; retrying with new ports\n", attempt, err)
	}
	return nil, fmt.Errorf("start control plane: %w", err)
}

// start makes one attempt at Start; on failure it stops what it started and removes the temp
// dir unless opts.KeepLogs.
func start(ctx context.Context, opts Options, bins Binaries) (_ *ControlPlane, err error) {
	dir, err := os.MkdirTemp("", "k8s-pod-restart-controlplane-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	cp := &ControlPlane{opts: opts, bins: bins, dir: dir, paths: newAPIServerPaths(dir), keepLogs: opts.KeepLogs}
	defer func() {
		if err != nil {
			cp.Stop()
			if opts.KeepLogs {
				err = fmt.Errorf("%w; files kept in %s", err, dir)
			}
		}
	}()
	for _, d := range []string{cp.LogDir(), cp.paths.certDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := writeServiceAccountKeys(cp.paths.saKey, cp.paths.saPub); err != nil {
		return nil, err
	}
	if cp.token, err = writeAdminToken(cp.paths.tokenFile); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	waitCtx, cancel := cp.readyContext(ctx)
	defer cancel()
	etcd, err := startEtcd(waitCtx, bins.Etcd, dir, etcdClient, etcdPeer, opts.EtcdQuotaBackendBytes)
	if err != nil {
		return nil, err
	}
	cp.setEtcd(etcd)

	cp.url = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	cp.apiArgs = apiserverArgs(cp.paths, fmt.Sprintf("http://127.0.0.1:%d", etcdClient), apiPort, opts.APIServerFlags)
	var extraEnv []string
	if opts.APIServerGOMEMLIMIT != "" {
		extraEnv = append(extraEnv, "GOMEMLIMIT="+opts.APIServerGOMEMLIMIT)
	}
	cp.apiEnv = childEnv([]string{"GOMEMLIMIT="}, extraEnv...)
	if err := cp.startAPIServer(waitCtx); err != nil {
		return nil, err
	}
	if err := cp.connect(waitCtx); err != nil {
		return nil, err
	}
	return cp, nil
}

// readyContext bounds a readiness wait by opts.ReadyTimeout (or the default) and ctx.
func (cp *ControlPlane) readyContext(ctx context.Context) (context.Context, context.CancelFunc) {
	timeout := cp.opts.ReadyTimeout
	if timeout <= 0 {
		timeout = defaultReadyTimeout
	}
	return context.WithTimeout(ctx, timeout)
}

// startAPIServer starts kube-apiserver with the saved flags and waits for /readyz.
func (cp *ControlPlane) startAPIServer(ctx context.Context) error {
	p, err := startAPIServer(ctx, cp.bins.APIServer, cp.apiArgs, cp.apiEnv, cp.paths.log, cp.url, cp.token)
	if err != nil {
		return err
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		p.stop()
		return errors.New("start kube-apiserver: control plane stopped meanwhile")
	}
	cp.apiserver = p
	return nil
}

// setEtcd records the running etcd so that Stop stops it.
func (cp *ControlPlane) setEtcd(p *process) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.etcd = p
}

// connect builds the admin client from the apiserver's certificate, writes the admin
// kubeconfig, and waits until the apiserver has created the "default" namespace.
func (cp *ControlPlane) connect(ctx context.Context) error {
	ca, err := servingCA(cp.paths.servingCert(), "127.0.0.1")
	if err != nil {
		fmt.Fprintf(cp.opts.Progress, "controlplane: %v; the kubeconfig skips TLS verification\n", err)
		ca = nil
	}
	cp.restConfig = restConfig(cp.url, cp.token, ca)
	cp.kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
	if err := writeKubeconfig(cp.kubeconfig, "admin", cp.restConfig); err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cp.restConfig)
	if err != nil {
		return fmt.Errorf("create admin client: %w", err)
	}
	cp.client = client
	return pollUntil(ctx, cp.currentAPIServer(), `namespace "default"`, func(ctx context.Context) error {
		_, err := client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err
	})
}

// currentAPIServer returns the running kube-apiserver process.
func (cp *ControlPlane) currentAPIServer() *process {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.apiserver
}

// RestartAPIServer stops kube-apiserver and starts it again with the same flags, port, etcd
// and certificates, then waits for /readyz. Open watches break; clients from RESTConfig and
// Client keep working once it is back.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context) error {
	cp.mu.Lock()
	if cp.stopped {
		cp.mu.Unlock()
		return errors.New("restart kube-apiserver: control plane is stopped")
	}
	old := cp.apiserver
	cp.apiserver = nil
	cp.mu.Unlock()

	old.stop()
	waitCtx, cancel := cp.readyContext(ctx)
	defer cancel()
	if err := cp.startAPIServer(waitCtx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	return nil
}

// KeepLogs makes Stop keep the temp dir with the logs, for example because a test failed.
func (cp *ControlPlane) KeepLogs() { cp.setKeepLogs(true) }

// setKeepLogs sets whether Stop keeps the temp dir.
func (cp *ControlPlane) setKeepLogs(keep bool) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.keepLogs = keep
}

// Stop stops kube-apiserver, then etcd (SIGTERM, then SIGKILL after a grace period), and
// removes the temp dir unless logs are kept. It only signals processes this ControlPlane
// started, and is safe to call more than once.
func (cp *ControlPlane) Stop() {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	if cp.stopped {
		return
	}
	cp.stopped = true
	cp.apiserver.stop()
	cp.etcd.stop()
	cp.apiserver, cp.etcd = nil, nil
	if !cp.keepLogs {
		_ = os.RemoveAll(cp.dir)
	}
}

// Dir returns the temp dir holding data, certificates, kubeconfigs and logs.
func (cp *ControlPlane) Dir() string { return cp.dir }

// LogDir returns the directory holding etcd.log and kube-apiserver.log.
func (cp *ControlPlane) LogDir() string { return filepath.Join(cp.dir, "logs") }

// URL returns the apiserver's address, https://127.0.0.1:<port>.
func (cp *ControlPlane) URL() string { return cp.url }

// Kubeconfig returns the path of a kubeconfig that authenticates as an admin in group
// system:masters.
func (cp *ControlPlane) Kubeconfig() string { return cp.kubeconfig }

// RESTConfig returns a copy of the admin client config, free for the caller to change.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// Client returns a clientset authenticated as an admin.
func (cp *ControlPlane) Client() kubernetes.Interface { return cp.client }
