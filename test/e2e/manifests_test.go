package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/datakit"
	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// The install's directory and the identity the manifests give the agent.
const (
	manifestsDir   = "../../manifests"
	agentNamespace = "k8s-pod-restart"
	agentSA        = "k8s-pod-restart"
	fieldManager   = "k8s-pod-restart-e2e"
)

// manifest is one object of a manifest file.
type manifest struct {
	source string // file and document, for messages
	obj    *unstructured.Unstructured
}

// manifestFiles returns every YAML file under manifests/ but the
// kustomizations, relative to it, sorted.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(manifestsDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(p); (ext == ".yaml" || ext == ".yml") && d.Name() != "kustomization.yaml" {
			rel, err := filepath.Rel(manifestsDir, p)
			files = append(files, filepath.ToSlash(rel))
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// readManifests decodes every document of the files (relative to
// manifests/).
func readManifests(t *testing.T, files ...string) []manifest {
	t.Helper()
	var out []manifest
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(manifestsDir, f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
		for i := 1; ; i++ {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			if len(obj) == 0 {
				continue // an empty document
			}
			out = append(out, manifest{source: fmt.Sprintf("%s#%d", f, i), obj: &unstructured.Unstructured{Object: obj}})
		}
	}
	return out
}

// kustomization is the part of kustomization.yaml the manifests may use;
// decoding is strict, so a new field needs this test extended.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Patches    []struct {
		Target struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"target"`
		Patch string `json:"patch"`
	} `json:"patches"`
}

// kustomized returns the files the kustomization in dir (relative to
// manifests/) installs, following directory resources to their own
// kustomization, and the files it lists itself.
func kustomized(t *testing.T, dir string) (all, own []string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(manifestsDir, dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	for _, r := range k.Resources {
		p := path.Clean(path.Join(dir, r))
		info, err := os.Stat(filepath.Join(manifestsDir, p))
		if err != nil {
			t.Errorf("%s/kustomization.yaml lists %s: %v", dir, r, err)
			continue
		}
		if info.IsDir() {
			sub, _ := kustomized(t, p)
			all = append(all, sub...)
			continue
		}
		all = append(all, p)
		own = append(own, p)
	}
	return all, own
}

// TestManifestsKustomization checks that `kubectl apply -k manifests/`
// installs every file at the top, that each overlay adds its own files to
// the whole base, and that no YAML file is left out of every kustomization.
func TestManifestsKustomization(t *testing.T) {
	files := manifestFiles(t)
	var top []string
	for _, f := range files {
		if !strings.Contains(f, "/") {
			top = append(top, f)
		}
	}
	base, _ := kustomized(t, ".")
	slices.Sort(base)
	if diff := cmp.Diff(top, base); diff != "" {
		t.Errorf("manifests/kustomization.yaml resources (-files in manifests/ +listed):\n%s", diff)
	}

	var listed []string
	listed = append(listed, base...)
	overlays, err := filepath.Glob(filepath.Join(manifestsDir, "overlays", "*", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(overlays) == 0 {
		t.Fatal("no overlay found under manifests/overlays")
	}
	for _, o := range overlays {
		dir, _ := filepath.Rel(manifestsDir, filepath.Dir(o))
		dir = filepath.ToSlash(dir)
		t.Run(dir, func(t *testing.T) {
			all, own := kustomized(t, dir)
			for _, f := range base {
				if !slices.Contains(all, f) {
					t.Errorf("the overlay leaves out the base's %s", f)
				}
			}
			listed = append(listed, own...)
		})
	}
	slices.Sort(listed)
	if diff := cmp.Diff(files, slices.Compact(listed)); diff != "" {
		t.Errorf("YAML files (-under manifests/ +listed by a kustomization):\n%s", diff)
	}
}

// clients returns a dynamic client and a RESTMapper from discovery for the
// control plane's admin.
func clients(t *testing.T) (dynamic.Interface, meta.RESTMapper) {
	t.Helper()
	cfg := cp.RESTConfig()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dyn, restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
}

// resourceFor returns the client of the object's resource, in its namespace
// when it is namespaced.
func resourceFor(mapper meta.RESTMapper, dyn dynamic.Interface, obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return dyn.Resource(m.Resource), nil
	}
	if obj.GetNamespace() == "" {
		return nil, fmt.Errorf("%s %s is namespaced but names no namespace", gvk.Kind, obj.GetName())
	}
	return dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
}

// apply applies obj with server-side apply, for real or as a dry run.
func apply(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured, dryRun bool) error {
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true), FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, opts)
	return err
}

// applyManifests applies the files' objects for real, idempotently.
func applyManifests(t *testing.T, files ...string) {
	t.Helper()
	dyn, mapper := clients(t)
	for _, m := range readManifests(t, files...) {
		ri, err := resourceFor(mapper, dyn, m.obj)
		if err == nil {
			err = apply(t.Context(), ri, m.obj, false)
		}
		if err != nil {
			t.Fatalf("apply %s: %v", m.source, err)
		}
	}
}

// TestManifestsDryRun creates every object of every manifest on the real
// API server with a server-side dry run and strict field validation: the
// schemas, defaults and admission apply, nothing is stored. An object that
// exists already (another test applied it) is validated as an update, by a
// server-side apply dry run.
func TestManifestsDryRun(t *testing.T) {
	t.Parallel()
	objs := readManifests(t, manifestFiles(t)...)
	// Namespaced objects need their namespace to exist, which a dry run of
	// the Namespace does not do: Namespaces go first, then are created.
	slices.SortStableFunc(objs, func(a, b manifest) int {
		return boolRank(a.obj.GetKind() != "Namespace") - boolRank(b.obj.GetKind() != "Namespace")
	})
	dyn, mapper := clients(t)
	created := false
	for _, m := range objs {
		if m.obj.GetKind() != "Namespace" && !created {
			applyManifests(t, "namespace.yaml")
			created = true
		}
		t.Run(m.source, func(t *testing.T) {
			ri, err := resourceFor(mapper, dyn, m.obj)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ri.Create(t.Context(), m.obj.DeepCopy(), metav1.CreateOptions{
				DryRun: []string{metav1.DryRunAll}, FieldManager: fieldManager, FieldValidation: "Strict",
			})
			if apierrors.IsAlreadyExists(err) {
				err = apply(t.Context(), ri, m.obj, true)
			}
			if err != nil {
				t.Errorf("%s %s/%s: %v", m.obj.GetKind(), m.obj.GetNamespace(), m.obj.GetName(), err)
			}
		})
	}
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// saKubeconfig applies the namespace and RBAC manifests for real and
// returns a kubeconfig that authenticates as the agent's ServiceAccount.
func saKubeconfig(t *testing.T) string {
	t.Helper()
	applyManifests(t, "namespace.yaml", "rbac.yaml")
	kc, err := cp.KubeconfigFor(t.Context(), agentNamespace, agentSA)
	if err != nil {
		t.Fatal(err)
	}
	// The authorizer learns roles and bindings through its own informers:
	// this no longer assumes that the first request after the apply sees
	// them. One permission of each binding of rbac.yaml says it does.
	sa := clientFor(t, kc)
	waitAccess(t, sa, access{verb: "list", resource: "pods"})
	waitAccess(t, sa, access{verb: "create", resource: "leases", group: "coordination.k8s.io", namespace: agentNamespace})
	return kc
}

// clientFor returns a client with the identity of kubeconfig kc.
func clientFor(t *testing.T, kc string) kubernetes.Interface {
	t.Helper()
	restCfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// waitAccess waits until the identity of client may do a: RBAC changes
// reach the authorizer through its informers.
func waitAccess(t *testing.T, client kubernetes.Interface, a access) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), busyMargin)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !allowed(t, client, a) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s still denied", a)
		case <-tick.C:
		}
	}
}

// access is one question to the API server's authorizer.
type access struct {
	verb, resource, subresource, group, namespace, name string
}

func (a access) String() string {
	r := a.resource
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	if a.group != "" {
		r += "." + a.group
	}
	return fmt.Sprintf("%s %s %s/%s", a.verb, r, a.namespace, a.name)
}

// allowed asks whether the kubeconfig's identity may do a.
func allowed(t *testing.T, client kubernetes.Interface, a access) bool {
	t.Helper()
	r, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(t.Context(), &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Resource: a.resource, Subresource: a.subresource, Group: a.group, Namespace: a.namespace, Name: a.name,
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return r.Status.Allowed
}

// TestRBAC is scenario 8 of issue 3: the agent runs with exactly the
// permissions of manifests/rbac.yaml, as its ServiceAccount, watching the
// whole cluster as the installed configuration does, and reports a crash
// storm. The permissions are checked one by one, and so is the opt-in logs
// overlay. The DataKit URL carries a password, set by the environment like
// the cluster's name: the environment beats the file, and neither the
// password nor the ServiceAccount's token reaches the logs.
func TestRBAC(t *testing.T) {
	t.Parallel()
	kc := saKubeconfig(t)
	restCfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("permissions", func(t *testing.T) {
		const ns = agentNamespace
		tests := []struct {
			access
			want bool
		}{
			{access{verb: "list", resource: "pods"}, true},
			{access{verb: "watch", resource: "pods"}, true},
			{access{verb: "get", resource: "pods", namespace: "default", name: "x"}, false}, // informers list and watch
			{access{verb: "delete", resource: "pods", namespace: "default", name: "x"}, false},
			{access{verb: "create", resource: "pods", namespace: ns}, false},
			{access{verb: "get", resource: "pods", subresource: "log", namespace: "default", name: "x"}, false},
			{access{verb: "list", resource: "namespaces"}, true},
			{access{verb: "watch", resource: "nodes"}, true},
			{access{verb: "watch", resource: "events", namespace: "default"}, true},
			{access{verb: "list", resource: "replicasets", group: "apps"}, true},
			{access{verb: "get", resource: "nodes", name: "node-1"}, false},
			{access{verb: "update", resource: "nodes", name: "node-1"}, false},
			{access{verb: "create", resource: "events", namespace: "default"}, false},
			{access{verb: "list", resource: "deployments", group: "apps"}, false},
			{access{verb: "list", resource: "secrets"}, false},
			{access{verb: "list", resource: "secrets", namespace: ns}, false},
			{access{verb: "list", resource: "configmaps", namespace: ns}, false},
			{access{verb: "create", resource: "leases", group: "coordination.k8s.io", namespace: ns}, true},
			{access{verb: "get", resource: "leases", group: "coordination.k8s.io", namespace: ns, name: "k8s-pod-restart"}, true},
			{access{verb: "update", resource: "leases", group: "coordination.k8s.io", namespace: ns, name: "k8s-pod-restart"}, true},
			{access{verb: "update", resource: "leases", group: "coordination.k8s.io", namespace: ns, name: "kube-scheduler"}, false},
			{access{verb: "delete", resource: "leases", group: "coordination.k8s.io", namespace: ns, name: "k8s-pod-restart"}, false},
			{access{verb: "create", resource: "leases", group: "coordination.k8s.io", namespace: "kube-system"}, false},
			{access{verb: "update", resource: "deployments", group: "apps", namespace: ns, name: "k8s-pod-restart"}, false},
		}
		for _, tc := range tests {
			t.Run(tc.access.String(), func(t *testing.T) {
				if got := allowed(t, sa, tc.access); got != tc.want {
					t.Errorf("allowed = %v, want %v", got, tc.want)
				}
			})
		}
	})

	t.Run("namespaced logs overlay grants pods/log get in its namespaces only", func(t *testing.T) {
		inDefault := access{verb: "get", resource: "pods", subresource: "log", namespace: "default", name: "x"}
		applyManifests(t, "overlays/logs-namespaced/rbac-logs.yaml")
		t.Cleanup(func() {
			ctx := context.WithoutCancel(t.Context())
			rbac := cp.Client().RbacV1()
			for _, err := range []error{
				rbac.RoleBindings("default").Delete(ctx, "k8s-pod-restart-logs", metav1.DeleteOptions{}),
				rbac.Roles("default").Delete(ctx, "k8s-pod-restart-logs", metav1.DeleteOptions{}),
			} {
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("removing the namespaced logs overlay: %v", err)
				}
			}
		})
		waitAllowed(t, sa, "get", "pods", "log", "default")
		for _, ns := range []string{"kube-system", agentNamespace} {
			a := inDefault
			a.namespace = ns
			if allowed(t, sa, a) {
				t.Errorf("%s allowed; the overlay grants only its namespaces", a)
			}
		}
	})

	t.Run("logs overlay grants pods/log get", func(t *testing.T) {
		applyManifests(t, "overlays/logs/rbac-logs.yaml")
		t.Cleanup(func() {
			// Back to the base's permissions for other runs of the tests.
			ctx := context.WithoutCancel(t.Context())
			rbac := cp.Client().RbacV1()
			for _, err := range []error{
				rbac.ClusterRoleBindings().Delete(ctx, "k8s-pod-restart-logs", metav1.DeleteOptions{}),
				rbac.ClusterRoles().Delete(ctx, "k8s-pod-restart-logs", metav1.DeleteOptions{}),
			} {
				if err != nil && !apierrors.IsNotFound(err) {
					t.Errorf("removing the logs overlay: %v", err)
				}
			}
		})
		waitAllowed(t, sa, "get", "pods", "log", "default")
		if a := (access{verb: "get", resource: "pods", subresource: "log", namespace: "kube-system", name: "x"}); !allowed(t, sa, a) {
			t.Errorf("%s denied; this overlay grants every namespace", a)
		}
	})

	t.Run("the agent reports a crash storm", func(t *testing.T) {
		ns := newNamespace(t, "rbac")
		const password = "dk-pa55w0rd"
		h := &harness{t: t, dk: datakit.New(t), dir: t.TempDir()}
		u, err := url.Parse(h.dk.URL())
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("agent", password)
		h.start(agentConfig{
			Kubeconfig: kc,
			Listen:     "127.0.0.1:0",
			Env: []string{
				"ENV_INPUT_K8S_POD_RESTART_DATAKIT_URL=" + u.String(),
				"ENV_INPUT_K8S_POD_RESTART_CLUSTER_NAME=rbac", // the file says e2e
			},
		})
		sim := kubesim.New(cp.Client())
		pods := workload(t, sim, ns, "api", 10, nil)
		crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "Error", ExitCode: 1})
		evs := h.waitEvents(ns, 1, waitEvent)
		if got := evs[0].Tags["df_status"]; got != "warning" && got != "error" && got != "critical" {
			t.Errorf("first event's status %q, want an anomaly%s", got, describe(evs))
		}
		if got := evs[0].Tags["cluster_name_k8s"]; got != "rbac" {
			t.Errorf("cluster_name_k8s = %q, want rbac from the environment over the file's e2e", got)
		}
		addr := h.httpAddr()
		if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK {
			t.Errorf("/readyz: %d\n%s", code, body)
		}

		logs := h.agent.Logs()
		token := kubeconfigToken(t, kc)
		for _, secret := range []string{password, token} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs hold a secret (%.6s...)", secret)
			}
		}
		if strings.Contains(strings.ToLower(logs), "forbidden") {
			t.Errorf("the agent was refused something under its RBAC:\n%s", grep(logs, "orbidden"))
		}
	})
}

// TestManifestsOverlayPatches applies each overlay's patches to the base
// Deployment as kustomize does (RFC 6902) and checks the result: it decodes
// strictly, the logs overlays turn collect_logs on, and the namespaced one
// watches exactly the namespaces its Roles grant logs in.
func TestManifestsOverlayPatches(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile(filepath.Join(manifestsDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	baseJSON, err := yaml.YAMLToJSON(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		overlay string
		wantEnv map[string]string // "" for the namespaces the overlay's Roles are in
	}{
		{"logs", map[string]string{"ENV_INPUT_K8S_POD_RESTART_COLLECT_LOGS": "true"}},
		{"logs-namespaced", map[string]string{"ENV_INPUT_K8S_POD_RESTART_COLLECT_LOGS": "true", "ENV_INPUT_K8S_POD_RESTART_NAMESPACES": ""}},
	} {
		t.Run(tc.overlay, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(manifestsDir, "overlays", tc.overlay, "kustomization.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var k kustomization
			if err := yaml.UnmarshalStrict(raw, &k); err != nil {
				t.Fatal(err)
			}
			doc := baseJSON
			for _, p := range k.Patches {
				if p.Target.Kind != "Deployment" || p.Target.Name != "k8s-pod-restart" {
					t.Fatalf("a patch targets %s/%s, not the Deployment", p.Target.Kind, p.Target.Name)
				}
				ops, err := yaml.YAMLToJSON([]byte(p.Patch))
				if err != nil {
					t.Fatal(err)
				}
				patch, err := jsonpatch.DecodePatch(ops)
				if err != nil {
					t.Fatal(err)
				}
				if doc, err = patch.Apply(doc); err != nil {
					t.Fatalf("applying the patch: %v", err)
				}
			}
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(doc, &d); err != nil {
				t.Fatalf("the patched Deployment: %v", err)
			}
			env := map[string]string{}
			for _, e := range d.Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			var granted []string
			for _, m := range readManifests(t, path.Join("overlays", tc.overlay, "rbac-logs.yaml")) {
				if m.obj.GetKind() == "RoleBinding" {
					granted = append(granted, m.obj.GetNamespace())
				}
			}
			for name, want := range tc.wantEnv {
				if want == "" {
					want = strings.Join(granted, ",")
				}
				if env[name] != want {
					t.Errorf("%s = %q, want %q", name, env[name], want)
				}
			}
		})
	}
}

// TestManifestsNetworkPolicy checks that the NetworkPolicy overlay selects
// the agent's pods and opens the port they serve on, and no other.
func TestManifestsNetworkPolicy(t *testing.T) {
	t.Parallel()
	var np networkingv1.NetworkPolicy
	var dep appsv1.Deployment
	for _, f := range []struct {
		path string
		into any
	}{{"overlays/networkpolicy/networkpolicy.yaml", &np}, {"deployment.yaml", &dep}} {
		raw, err := os.ReadFile(filepath.Join(manifestsDir, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(raw, f.into); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
	}
	if diff := cmp.Diff(dep.Spec.Template.Labels, np.Spec.PodSelector.MatchLabels); diff != "" {
		t.Errorf("the policy's pod selector is not the agent's labels (-pod +selector):\n%s", diff)
	}
	if np.Namespace != dep.Namespace {
		t.Errorf("the policy is in %q, the agent in %q", np.Namespace, dep.Namespace)
	}
	var served []int32
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		served = append(served, p.ContainerPort)
	}
	var opened []int32
	for _, r := range np.Spec.Ingress {
		if len(r.From) == 0 {
			t.Errorf("an ingress rule without from lets anyone in: %+v", r)
		}
		for _, p := range r.Ports {
			opened = append(opened, p.Port.IntVal)
		}
	}
	if diff := cmp.Diff(served, opened); diff != "" {
		t.Errorf("ports (-served by the agent +opened by the policy):\n%s", diff)
	}
}

// kubeconfigToken returns the bearer token of the kubeconfig's user.
func kubeconfigToken(t *testing.T, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := cfg.Contexts[cfg.CurrentContext]
	if ctx == nil || cfg.AuthInfos[ctx.AuthInfo] == nil || cfg.AuthInfos[ctx.AuthInfo].Token == "" {
		t.Fatalf("%s has no token", path)
	}
	return cfg.AuthInfos[ctx.AuthInfo].Token
}

// grep returns the lines of s that contain sub.
func grep(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// serveAddr finds the address in the agent's "serving" log line.
var serveAddr = regexp.MustCompile(`msg="serving /healthz, /readyz and /metrics".* addr=(\S+)`)

// httpAddr waits for the agent's HTTP server and returns its address.
func (h *harness) httpAddr() string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 30*time.Second)
	defer cancel()
	if err := h.agent.WaitLog(ctx, "serving /healthz, /readyz and /metrics"); err != nil {
		h.t.Fatal(err)
	}
	m := serveAddr.FindStringSubmatch(h.agent.Logs())
	if m == nil {
		h.t.Fatalf("no address in the agent's serving log line:\n%s", grep(h.agent.Logs(), "serving"))
	}
	return m[1]
}

func httpGet(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape returns the agent's /metrics, parsed.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, "http://"+addr+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

// value returns the value of the series of family name with the labels (a
// histogram's count), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// TestMetrics runs the agent with its HTTP server, checks that /metrics
// lists the series the issue asks for, then that a crash storm moves them,
// and that the agent's own resources reach DataKit.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "metrics")
	h := startAgent(t, agentConfig{Namespaces: []string{ns}, Listen: "127.0.0.1:0"})
	addr := h.httpAddr()
	if code, body := httpGet(t, "http://"+addr+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+addr+"/readyz"); code != http.StatusOK || !strings.HasSuffix(body, "ready\n") {
		t.Errorf("/readyz: %d\n%s", code, body)
	}

	before := scrape(t, addr)
	series := []string{
		"k8s_pod_restart_watch_errors_total", "k8s_pod_restart_pod_lists_total", "k8s_pod_restart_pod_notifications_total",
		"k8s_pod_restart_pods_tracked", "k8s_pod_restart_namespaces_tracked", "k8s_pod_restart_namespace_evaluations_total",
		"k8s_pod_restart_faults_open", "k8s_pod_restart_events_total",
		"k8s_pod_restart_output_sent_batches_total", "k8s_pod_restart_output_retries_total", "k8s_pod_restart_output_dropped_batches_total",
		"k8s_pod_restart_output_queue_bytes", "k8s_pod_restart_output_send_seconds", "k8s_pod_restart_reaction_seconds",
		"k8s_pod_restart_leader", "k8s_pod_restart_build_info", "k8s_pod_restart_caches_synced",
		"go_goroutines", "process_resident_memory_bytes", "process_open_fds",
	}
	var missing []string
	for _, s := range series {
		if _, ok := before[s]; !ok {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %v", missing)
	}

	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, ns, "checkout", 10, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	h.waitEvents(ns, 1, waitEvent)

	// What the storm must have moved; the scrape is retried until it has,
	// since the senders count a batch after DataKit's answer arrives.
	type move struct {
		name   string
		labels []string
		ok     func(before, after float64) bool
	}
	grew := func(b, a float64) bool { return a > b }
	atLeast := func(n float64) func(_, a float64) bool { return func(_, a float64) bool { return a >= n } }
	moves := []move{
		{"k8s_pod_restart_pod_lists_total", nil, atLeast(1)},
		{"k8s_pod_restart_pod_notifications_total", []string{"kind", "added"}, atLeast(10)},
		{"k8s_pod_restart_pod_notifications_total", []string{"kind", "updated"}, grew},
		{"k8s_pod_restart_pods_tracked", nil, atLeast(10)},
		{"k8s_pod_restart_namespaces_tracked", nil, atLeast(1)},
		{"k8s_pod_restart_namespace_evaluations_total", []string{"trigger", "change"}, grew},
		{"k8s_pod_restart_namespace_evaluations_total", []string{"trigger", "interval"}, grew},
		{"k8s_pod_restart_events_total", []string{"kind", "anomaly"}, atLeast(1)},
		{"k8s_pod_restart_reaction_seconds", nil, atLeast(1)},
		{"k8s_pod_restart_output_sent_batches_total", []string{"category", "keyevent"}, atLeast(1)},
		{"k8s_pod_restart_output_sent_batches_total", []string{"category", "metric"}, grew},
		{"k8s_pod_restart_output_send_seconds", []string{"category", "keyevent"}, atLeast(1)},
		{"k8s_pod_restart_leader", nil, atLeast(1)},
		{"k8s_pod_restart_caches_synced", nil, atLeast(1)},
		{"k8s_pod_restart_build_info", []string{"version", "e2e"}, atLeast(1)},
	}
	// faults_open sums its levels.
	faults := func(f map[string]*dto.MetricFamily) float64 {
		n := 0.0
		for _, l := range []string{"warning", "error", "critical"} {
			v, _ := value(f, "k8s_pod_restart_faults_open", "level", l)
			n += v
		}
		return n
	}
	var failed []string
	ctx, cancel := context.WithTimeout(t.Context(), waitEvent)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		after := scrape(t, addr)
		failed = failed[:0]
		for _, m := range moves {
			b, _ := value(before, m.name, m.labels...)
			a, ok := value(after, m.name, m.labels...)
			if !ok || !m.ok(b, a) {
				failed = append(failed, fmt.Sprintf("%s%v: %v -> %v", m.name, m.labels, b, a))
			}
		}
		if n := faults(after); n < 1 {
			failed = append(failed, fmt.Sprintf("k8s_pod_restart_faults_open: %v open", n))
		}
		if len(failed) == 0 {
			for _, m := range moves {
				b, _ := value(before, m.name, m.labels...)
				a, _ := value(after, m.name, m.labels...)
				t.Logf("%s%v: %v -> %v", m.name, m.labels, b, a)
			}
			if d := after["k8s_pod_restart_reaction_seconds"]; d != nil {
				h := d.GetMetric()[0].GetHistogram()
				t.Logf("reaction: %d events, mean %.3fs", h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("series that did not move:\n%s", strings.Join(failed, "\n"))
		case <-tick.C:
		}
	}

	// The agent's own resources, every interval.
	wctx, wcancel := context.WithTimeout(t.Context(), waitEvent)
	defer wcancel()
	var agent datakit.Point
	err := h.dk.WaitFor(wctx, func([]datakit.Point) bool {
		for _, p := range h.dk.Points("metric") {
			if p.Name == "k8s_pod_restart_agent" {
				agent = p
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no k8s_pod_restart_agent point: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"cluster_name_k8s": "e2e", "suite": "e2e"}, agent.Tags); diff != "" {
		t.Errorf("agent point tags (-want +got):\n%s", diff)
	}
	for _, f := range []string{"cpu_seconds", "mem_rss", "open_files", "goroutines"} {
		switch v := agent.Fields[f].(type) {
		case int64:
			if v <= 0 {
				t.Errorf("agent field %s = %d, want > 0", f, v)
			}
		case float64:
			if v <= 0 {
				t.Errorf("agent field %s = %v, want > 0", f, v)
			}
		default:
			t.Errorf("agent field %s = %#v", f, agent.Fields[f])
		}
	}
	if _, ok := agent.Fields["cpu_usage"].(float64); !ok {
		t.Errorf("agent field cpu_usage = %#v, want a float", agent.Fields["cpu_usage"])
	}
}
