package collect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster:
    server: https://a.example:6443
- name: b
  cluster:
    server: https://b.example:6443
users:
- name: u
  user:
    token: secret
contexts:
- name: a
  context: {cluster: a, user: u}
- name: b
  context: {cluster: b, user: u}
current-context: a
`

func TestConnect(t *testing.T) {
	dir := t.TempDir()
	explicit := filepath.Join(dir, "explicit.yaml")
	fromEnv := filepath.Join(dir, "env.yaml")
	home := filepath.Join(dir, "home")
	for _, f := range []string{explicit, fromEnv, filepath.Join(home, ".kube", "config")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(testKubeconfig), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name       string
		kubeconfig string
		context    string
		env        string // $KUBECONFIG
		home       string // $HOME
		wantHost   string
		wantErr    []string // substrings of the error
	}{
		{name: "explicit file, current context", kubeconfig: explicit, wantHost: "https://a.example:6443"},
		{name: "explicit file, named context", kubeconfig: explicit, context: "b", wantHost: "https://b.example:6443"},
		{name: "explicit file wins over $KUBECONFIG", kubeconfig: explicit, env: missing, context: "b", wantHost: "https://b.example:6443"},
		{name: "$KUBECONFIG", env: fromEnv, home: t.TempDir(), wantHost: "https://a.example:6443"},
		{name: "$KUBECONFIG, named context", env: fromEnv, context: "b", wantHost: "https://b.example:6443"},
		{name: "~/.kube/config", home: home, wantHost: "https://a.example:6443"},
		{name: "missing file is named", kubeconfig: missing, wantErr: []string{missing}},
		{name: "unknown context names the file", kubeconfig: explicit, context: "nope", wantErr: []string{explicit, `"nope"`}},
		{name: "no configuration anywhere names the home file", home: t.TempDir(), wantErr: []string{filepath.Join(".kube", "config")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a cluster
			t.Setenv("KUBECONFIG", tc.env)
			if tc.home != "" {
				t.Setenv("HOME", tc.home)
			}
			cfg, err := Connect(tc.kubeconfig, tc.context)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Connect: no error, want one naming %q", tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if cfg.Host != tc.wantHost {
				t.Errorf("host %q, want %q", cfg.Host, tc.wantHost)
			}
			got := []string{cfg.ContentType, cfg.AcceptContentTypes}
			want := []string{"application/vnd.kubernetes.protobuf", "application/vnd.kubernetes.protobuf,application/json"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("content types (-want +got):\n%s", diff)
			}
			if !cfg.DisableCompression {
				t.Error("compression not disabled")
			}
			if cfg.QPS != clientQPS || cfg.Burst != clientBurst {
				t.Errorf("QPS %v, burst %d; want %v, %d", cfg.QPS, cfg.Burst, clientQPS, clientBurst)
			}
			if !strings.HasPrefix(cfg.UserAgent, "k8s-pod-restart/") || len(cfg.UserAgent) == len("k8s-pod-restart/") {
				t.Errorf("user agent %q, want k8s-pod-restart/<version>", cfg.UserAgent)
			}
		})
	}
}

// TestConnectInClusterError checks that a broken in-cluster setup is reported
// as such instead of falling back to a kubeconfig that may reach another
// cluster.
func TestConnectInClusterError(t *testing.T) {
	if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token"); err == nil {
		t.Skip("running in a pod: the in-cluster configuration works here")
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	_, err := Connect("", "")
	if err == nil || !strings.Contains(err.Error(), "in-cluster") {
		t.Errorf("Connect: %v, want an in-cluster error", err)
	}
}
