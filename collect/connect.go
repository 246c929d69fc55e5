// Package collect watches pods with client-go informers and converts them to
// detect's domain types. It is the agent's only Kubernetes watcher.
//
// Connect builds the client configuration (protobuf on the wire); NewWatcher
// and Run watch pods and hand each relevant change to a PodSink; PodFromAPI is
// the one conversion from the API's pod to detect.Pod. The informers cache
// each pod as a compact cachedPod holding only what PodFromAPI reads (see
// transform), about 0.8 KiB a pod. The pod informer's client decodes
// protobuf pods straight into that type, reading only those fields (see
// lean.go and podclient.go), on the connection PodWatchConfig makes for the
// agent's one busy stream: HTTP/1.1, read in batches (podconn.go).
//
// The root-cause analysis reads more, each piece converted the same way:
// NewContextWatcher watches namespaces (metadata only, for the annotations
// that override the rules: OverridesFromAnnotations), nodes (NodeFromAPI) and
// ReplicaSets (RevisionFromAPI), each cache trimmed to what is read;
// NewEventWatcher watches Warning events about pods without any cache
// (EventFromAPI); LogFetcher reads the tails of crashed containers' logs,
// bounded and redacted, behind the LogSource interface.
//
// WatchList: client-go v0.35+ enables its WatchListClient feature by default,
// and this package keeps that default. An informer's initial list is then one
// watch stream (sendInitialEvents=true) served from the API server's watch
// cache, instead of paginated LIST calls whose whole pages are held in memory
// at once; a server without it makes client-go fall back to LIST by itself.
// Operators can still turn it off with the environment variable
// KUBE_FEATURE_WatchListClient=false. The fake clientset does not support it,
// so unit tests use LIST.
package collect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/homedir"
)

// Client rate limits. The watcher makes one LIST (or WatchList) and one
// WATCH per informer, and again after each watch failure: the burst lets an
// agent watching dozens of namespaces start without queueing behind
// client-go's default of 5 requests per second.
const (
	clientQPS   = 20
	clientBurst = 100
)

// Connect returns the configuration to reach the API server. With neither a
// kubeconfig nor a context it uses the in-cluster configuration when running
// in a pod; otherwise, or when given either, it loads the kubeconfig file (the
// one named, else $KUBECONFIG, else ~/.kube/config) and uses the named
// context, or the file's current one. Errors name the file.
//
// The configuration asks for protobuf (JSON decoding dominates the watcher's
// CPU) without gzip, identifies the agent as "k8s-pod-restart/<version>" and
// raises client-go's request rate limits.
func Connect(kubeconfig, context string) (*rest.Config, error) {
	if kubeconfig == "" && context == "" {
		cfg, err := rest.InClusterConfig()
		switch {
		case err == nil:
			tune(cfg)
			return cfg, nil
		case !errors.Is(err, rest.ErrNotInCluster):
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	if os.Getenv(clientcmd.RecommendedConfigPathEnvVar) == "" {
		// clientcmd fixed the home file when the process started; read $HOME
		// now. Nor migrate the legacy ~/.kube/.kubeconfig: an agent does not
		// write to the home directory.
		rules.Precedence = []string{filepath.Join(homedir.HomeDir(), clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)}
		rules.MigrationRules = nil
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		files := strings.Join(rules.GetLoadingPrecedence(), string(filepath.ListSeparator))
		if context != "" {
			return nil, fmt.Errorf("kubeconfig %s, context %q: %w", files, context, err)
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", files, err)
	}
	tune(cfg)
	return cfg, nil
}

// tune sets what the agent wants of every client configuration.
func tune(cfg *rest.Config) {
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	// The API server gzips watch streams for clients that accept it, event
	// by event: inflating them cost an eighth of the agent's CPU per pod
	// update (test/bench), and the server CPU to deflate them, to save
	// bandwidth on the cluster network that a pod's status update (a few KB
	// of protobuf) does not need.
	cfg.DisableCompression = true
	cfg.QPS = clientQPS
	cfg.Burst = clientBurst
	cfg.UserAgent = userAgent()
}

// userAgent returns "k8s-pod-restart/<version>", the version being the main
// module's as the Go toolchain stamped it (a tag, or a pseudo-version from the
// commit), or "dev" for a build without one.
func userAgent() string {
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
	return "k8s-pod-restart/" + version
}
