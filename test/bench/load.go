package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

// Cluster shape: Deployments of 10 replicas, 10 Deployments per namespace,
// 50 pods per node; one pod in 10 restarted once, two hours ago, so that it
// carries a last termination like long-running pods do.
const (
	podsPerDeployment = 10
	podsPerNamespace  = 100
	podsPerNode       = 50
	restartedEvery    = 10
)

// reactionPods is the number of pods of each namespace the reaction trials
// crash pods in: two of them crashing opens a fault (min_restarted_pods 2,
// ratio 0.5 >= ratio_warning).
const reactionPods = 4

// layout names the pods the benchmark creates.
type layout struct {
	pods      int
	reactions int
}

func (l layout) namespace(i int) string { return fmt.Sprintf("bench-%04d", i/podsPerNamespace) }
func (l layout) node(i int) string      { return fmt.Sprintf("worker-%04d", i%max(1, l.pods/podsPerNode)) }
func (l layout) deployment(i int) string {
	return fmt.Sprintf("svc-%02d", (i%podsPerNamespace)/podsPerDeployment)
}
func reactionNamespace(k int) string { return fmt.Sprintf("react-%03d", k) }

// podOptions describes the i-th pod: one init container and two app
// containers with requests and limits, as in PERF.md.
func podOptions(ns, node, deployment string) kubesim.PodOptions {
	return kubesim.PodOptions{
		Namespace: ns,
		Node:      node,
		Owner:     kubesim.Owner{Kind: kubesim.KindDeployment, Name: deployment},
		InitContainers: []kubesim.Container{{
			Name: "migrate", Image: "registry.example.com/" + ns + "/" + deployment + "-migrate:1.42.0",
			Requests: kubesim.Resources{CPU: "100m", Memory: "64Mi"},
		}},
		Containers: []kubesim.Container{
			{
				Name: "app", Image: "registry.example.com/" + ns + "/" + deployment + ":1.42.0",
				Requests: kubesim.Resources{CPU: "250m", Memory: "256Mi"},
				Limits:   kubesim.Resources{CPU: "1", Memory: "512Mi"},
			},
			{
				Name: "envoy", Image: "envoyproxy/envoy:v1.33.0",
				Requests: kubesim.Resources{CPU: "100m", Memory: "128Mi"},
				Limits:   kubesim.Resources{Memory: "256Mi"},
			},
		},
		Labels:      map[string]string{"app.kubernetes.io/name": deployment, "app.kubernetes.io/part-of": ns},
		Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
		Template:    realisticTemplate,
	}
}

// realisticTemplate gives a pod what a production Deployment's pods carry
// and the simulator does not model: environment variables, ports, probes,
// volume mounts, security contexts, the service account volume the
// ServiceAccount admission plugin adds, tolerations, affinity and a topology
// spread. With the managedFields the API server records for the creation
// and the kubelet's status updates, a pod is then about 16 KB of JSON, as
// real clusters serve them (the bench prints the size it measured).
func realisticTemplate(p *corev1.Pod) {
	app := p.Labels["app.kubernetes.io/name"]
	for _, cs := range []*[]corev1.Container{&p.Spec.InitContainers, &p.Spec.Containers} {
		for i := range *cs {
			c := &(*cs)[i]
			first := cs == &p.Spec.Containers && i == 0 // the app container: env, ports, probes
			c.VolumeMounts = []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/" + app, ReadOnly: true},
				{Name: "tmp", MountPath: "/tmp"},
				{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
			}
			c.SecurityContext = &corev1.SecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), ReadOnlyRootFilesystem: ptr.To(true),
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			}
			c.ImagePullPolicy = corev1.PullIfNotPresent
			c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
			if !first {
				continue
			}
			c.Env = []corev1.EnvVar{
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}},
				{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}}},
				{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}},
				{Name: "GOMEMLIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1")}}},
				{Name: "DATABASE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: app + "-db"}, Key: "password"}}},
				{Name: "LOG_LEVEL", Value: "info"},
				{Name: "LOG_FORMAT", Value: "json"},
				{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://otel-collector.observability.svc.cluster.local:4317"},
				{Name: "OTEL_SERVICE_NAME", Value: app},
				{Name: "UPSTREAM_URL", Value: "http://" + app + "-backend." + p.Namespace + ".svc.cluster.local:8080/api/v2"},
				{Name: "CACHE_URL", Value: "redis://redis-master." + p.Namespace + ".svc.cluster.local:6379/0"},
				{Name: "FEATURE_FLAGS", Value: "checkout-v2,async-payments,new-search-ranking,cart-recommendations"},
			}
			c.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP},
				{Name: "metrics", ContainerPort: 9090, Protocol: corev1.ProtocolTCP}}
			probe := func(path string, delay int32) *corev1.Probe {
				return &corev1.Probe{
					ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}},
					InitialDelaySeconds: delay, TimeoutSeconds: 2, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
				}
			}
			c.LivenessProbe, c.ReadinessProbe, c.StartupProbe = probe("/healthz", 10), probe("/readyz", 5), probe("/startupz", 0)
		}
	}
	p.Spec.Volumes = []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}, DefaultMode: ptr.To[int32](0o420)}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr.To(resource.MustParse("1Gi"))}}},
		{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: ptr.To[int32](0o420),
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
			},
		}}},
	}
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry-credentials"}}
	p.Spec.EnableServiceLinks = ptr.To(false)
	p.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
		{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
	}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": app}}
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: selector, TopologyKey: "kubernetes.io/hostname"}}},
	}}
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
		WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: selector}}
}

// load creates the pods through the API, running (and one in ten restarted
// long ago), with workers in parallel, and the reaction namespaces' pods.
// It returns the names of the loaded pods (not the reaction ones).
func load(ctx context.Context, sim *kubesim.Sim, l layout, workers int, progress io.Writer) ([]types.NamespacedName, map[string][]string, error) {
	// Namespaces and nodes first, once each: the pod workers then never race
	// to create them.
	start := time.Now()
	seen := map[string]bool{}
	for i := range l.pods {
		for _, ensure := range []struct {
			key string
			fn  func() error
		}{
			{"ns/" + l.namespace(i), func() error { _, err := sim.EnsureNamespace(ctx, l.namespace(i)); return err }},
			{"node/" + l.node(i), func() error { _, err := sim.EnsureNode(ctx, l.node(i)); return err }},
		} {
			if !seen[ensure.key] {
				seen[ensure.key] = true
				if err := ensure.fn(); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	for k := range l.reactions {
		if _, err := sim.EnsureNamespace(ctx, reactionNamespace(k)); err != nil {
			return nil, nil, err
		}
	}
	fmt.Fprintf(progress, "  %d namespaces and nodes in %v\n", len(seen)+l.reactions, time.Since(start).Round(time.Millisecond))

	names := make([]types.NamespacedName, l.pods)
	reaction := make(map[string][]string, l.reactions)
	var mu sync.Mutex
	var done atomic.Int64
	total := l.pods + l.reactions*reactionPods
	g, gctx := errgroup.WithContext(ctx)
	jobs := make(chan int)
	g.Go(func() error {
		defer close(jobs)
		for i := range total {
			select {
			case jobs <- i:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	longAgo := time.Now().Add(-2 * time.Hour)
	for range workers {
		g.Go(func() error {
			for i := range jobs {
				var o kubesim.PodOptions
				if i < l.pods {
					o = podOptions(l.namespace(i), l.node(i), l.deployment(i))
				} else {
					k := (i - l.pods) / reactionPods
					o = podOptions(reactionNamespace(k), l.node(i), "web")
				}
				p, err := sim.RunPod(gctx, o)
				if err != nil {
					return err
				}
				if i < l.pods && i%restartedEvery == restartedEvery-1 {
					if _, err := sim.CrashContainer(gctx, p.Namespace, p.Name, "app",
						kubesim.Crash{Reason: "OOMKilled", FinishedAt: longAgo}); err != nil {
						return err
					}
				}
				if i < l.pods {
					names[i] = types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
				} else {
					mu.Lock()
					reaction[p.Namespace] = append(reaction[p.Namespace], p.Name)
					mu.Unlock()
				}
				if n := done.Add(1); n%5000 == 0 || int(n) == total {
					el := time.Since(start)
					fmt.Fprintf(progress, "  %d/%d pods running after %v (%.0f pods/s)\n", n, total, el.Round(time.Second), float64(n)/el.Seconds())
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return names, reaction, nil
}

// podSize returns the mean size of up to 100 of the pods, evenly spread, in
// JSON as the API server serves them, and that of their managedFields.
func podSize(ctx context.Context, client kubernetes.Interface, names []types.NamespacedName) (pod, managed int, err error) {
	n := min(len(names), 100)
	if n == 0 {
		return 0, 0, nil
	}
	for k := range n {
		nn := names[k*len(names)/n]
		raw, err := client.CoreV1().RESTClient().Get().Namespace(nn.Namespace).Resource("pods").Name(nn.Name).
			SetHeader("Accept", "application/json").DoRaw(ctx)
		if err != nil {
			return 0, 0, fmt.Errorf("pod size: %w", err)
		}
		var p struct {
			Metadata struct {
				ManagedFields json.RawMessage `json:"managedFields"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			return 0, 0, fmt.Errorf("pod size: %w", err)
		}
		pod += len(raw)
		managed += len(p.Metadata.ManagedFields)
	}
	return pod / n, managed / n, nil
}
