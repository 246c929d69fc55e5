package controlplane

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// cp is the control plane shared by the tests of this package; see TestMain.
var cp *ControlPlane

func TestMain(m *testing.M) {
	os.Exit(RunMain(m, Options{}, func(c *ControlPlane) { cp = c }))
}

// testTimeout bounds each API interaction of a test.
const testTimeout = 60 * time.Second

// newNamespace creates a namespace with a generated name for one test. Nothing deletes it: no
// namespace controller runs, and the control plane is thrown away after the package.
func newNamespace(ctx context.Context, t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "cp-test-"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

func TestVersionMatchesBuildModule(t *testing.T) {
	gomod, err := os.ReadFile(filepath.Join("build", "go.mod"))
	if err != nil {
		t.Fatalf("read build module: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes (v\S+)`).FindSubmatch(gomod)
	if m == nil {
		t.Fatal("build/go.mod does not require k8s.io/kubernetes")
	}
	if diff := cmp.Diff(Version, string(m[1])); diff != "" {
		t.Errorf("Version differs from the k8s.io/kubernetes pinned in build/go.mod (-want +got):\n%s", diff)
	}
	// The downloaded etcd is the release the fallback builds.
	m = regexp.MustCompile(`(?m)^\s*(?:require\s+)?go\.etcd\.io/etcd/server/v3 (v\S+)`).FindSubmatch(gomod)
	if m == nil || string(m[1]) != EtcdVersion {
		t.Errorf("EtcdVersion %s differs from the go.etcd.io/etcd/server/v3 pinned in build/go.mod (%q)", EtcdVersion, m)
	}
}

func TestMarkPortTaken(t *testing.T) {
	tests := []struct {
		name string
		log  string
		want bool
	}{
		{
			name: "etcd cannot bind",
			log:  `{"level":"fatal","msg":"discovery failed","error":"listen tcp 127.0.0.1:2380: bind: address already in use"}`,
			want: true,
		},
		{
			name: "apiserver cannot bind",
			log:  `E1127 run.go:72] "command failed" err="failed to listen on 127.0.0.1:6443: listen tcp 127.0.0.1:6443: bind: address already in use"`,
			want: true,
		},
		{
			name: "other failure",
			log:  `E1127 run.go:72] "command failed" err="unknown flag: --nope"`,
			want: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.log")
			if err := os.WriteFile(path, []byte(tc.log), 0o644); err != nil {
				t.Fatal(err)
			}
			err := markPortTaken(errors.New("exited"), path)
			if got := errors.Is(err, errPortTaken); got != tc.want {
				t.Errorf("errors.Is(markPortTaken(...), errPortTaken) = %v, want %v (err: %v)", got, tc.want, err)
			}
		})
	}
}

func TestAdminKubeconfigVerifiesServingCertificate(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.Kubeconfig())
	if err != nil {
		t.Fatalf("load admin kubeconfig: %v", err)
	}
	if cfg.Insecure || len(cfg.CAData) == 0 {
		t.Fatalf("admin kubeconfig: insecure=%v, %d bytes of CA data; want a CA and verification", cfg.Insecure, len(cfg.CAData))
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client from admin kubeconfig: %v", err)
	}
	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}
	if diff := cmp.Diff([]string{"system:masters", "system:authenticated"}, review.Status.UserInfo.Groups); diff != "" {
		t.Errorf("admin groups (-want +got):\n%s", diff)
	}
}

func TestPodStatusThroughStatusSubresource(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	client := cp.Client()
	ns := newNamespace(ctx, t, client)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-"}}
	node, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:   node.Name,
			Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}},
		},
	}
	pod, err = client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod: %v", err)
	}
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", pod.Name).String(),
		ResourceVersion: pod.ResourceVersion,
	})
	if err != nil {
		t.Fatalf("watch pod: %v", err)
	}
	defer w.Stop()

	want := []corev1.ContainerStatus{{
		Name:         "app",
		Image:        "example.invalid/app:1",
		ImageID:      "example.invalid/app@sha256:0",
		ContainerID:  "containerd://1",
		Ready:        true,
		RestartCount: 3,
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{
			StartedAt: metav1.Unix(1700000100, 0),
		}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode:   137,
			Reason:     "OOMKilled",
			StartedAt:  metav1.Unix(1700000000, 0),
			FinishedAt: metav1.Unix(1700000090, 0),
		}},
	}}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = want
	if _, err := client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update pod status: %v", err)
	}

	for {
		select {
		case <-ctx.Done():
			t.Fatalf("no watch event with the new status: %v", ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed before the status update arrived")
			}
			got, isPod := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Modified || !isPod {
				t.Fatalf("watch event %s %T, want MODIFIED *v1.Pod", ev.Type, ev.Object)
			}
			if diff := cmp.Diff(want, got.Status.ContainerStatuses); diff != "" {
				t.Errorf("container statuses seen by the watch (-want +got):\n%s", diff)
			}
			return
		}
	}
}

func TestRestartAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 3*testTimeout)
	defer cancel()
	client := cp.Client()
	ns := newNamespace(ctx, t, client)
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	defer w.Stop()

	if err := cp.RestartAPIServer(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}

	// The watch ends with the old process; an informer would now relist.
	for ended := false; !ended; {
		select {
		case <-ctx.Done():
			t.Fatalf("watch still open after the restart: %v", ctx.Err())
		case _, ok := <-w.ResultChan():
			ended = !ok
		}
	}
	got, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace after restart: %v", err)
	}
	if diff := cmp.Diff(ns, got.Name); diff != "" {
		t.Errorf("namespace after restart (-want +got):\n%s", diff)
	}
}

func TestKubeconfigForServiceAccountWithoutRBAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	ns := newNamespace(ctx, t, cp.Client())

	path, err := cp.KubeconfigFor(ctx, ns, "reader")
	if err != nil {
		t.Fatalf("kubeconfig for service account: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("client from %s: %v", path, err)
	}

	review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("self subject review: %v", err)
	}
	if diff := cmp.Diff("system:serviceaccount:"+ns+":reader", review.Status.UserInfo.Username); diff != "" {
		t.Errorf("authenticated user (-want +got):\n%s", diff)
	}
	_, err = client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("list pods as a service account without RBAC: got %v, want 403 Forbidden", err)
	}
}
