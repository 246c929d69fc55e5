package kubesim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// DefaultImage is the image of containers that name none.
const DefaultImage = "docker.io/library/busybox:1.37"

// Resources is a CPU and memory quantity pair, e.g. {CPU: "100m", Memory:
// "128Mi"}; empty strings are left out.
type Resources struct {
	CPU    string
	Memory string
}

// Container describes one container of a pod.
type Container struct {
	// Name defaults to "app" for the first app container and "app-<i>" for
	// the others, "init-<i>" for init containers and "sidecar-<i>" for
	// sidecars.
	Name string
	// Image defaults to DefaultImage.
	Image    string
	Requests Resources
	Limits   Resources
}

// PodOptions describes a pod for CreatePod.
type PodOptions struct {
	// Namespace defaults to DefaultNamespace; it is created if missing.
	Namespace string
	// Name is required for bare pods. For owned pods it defaults to the
	// controller's naming: "<replicaset>-<5 chars>", "<statefulset>-<ordinal>",
	// "<daemonset|job>-<5 chars>".
	Name string
	// Node the pod is bound to (spec.nodeName); defaults to DefaultNode. The
	// node is created if missing.
	Node string
	// Owner is the pod's workload; the zero value is a bare pod.
	Owner Owner
	// SkipOwnerObjects sets the owner references without creating the owner
	// objects (Deployment, ReplicaSet, ...) in the API server.
	SkipOwnerObjects bool
	// Containers are the app containers; by default one container "app".
	Containers []Container
	// InitContainers run to completion before the app containers.
	InitContainers []Container
	// Sidecars are restartable init containers (restartPolicy Always),
	// placed after InitContainers in spec.initContainers.
	Sidecars []Container
	// Labels are added to the owner's labels (app, pod-template-hash, ...).
	Labels map[string]string
	// Annotations are set on the pod.
	Annotations map[string]string
	// RestartPolicy defaults to Always, or OnFailure for Job and CronJob
	// pods.
	RestartPolicy corev1.RestartPolicy
	// Template, when set, changes the pod just before it is created: what a
	// workload's pod template adds that the simulator does not model
	// (environment, probes, volumes, security contexts).
	Template func(*corev1.Pod)
}

// CreatePod creates a pod bound to its node, in phase Pending, after
// ensuring its namespace, node and owner objects. Call MarkRunning to start
// it, or use RunPod.
func (s *Sim) CreatePod(ctx context.Context, o PodOptions) (*corev1.Pod, error) {
	ns := cmp.Or(o.Namespace, DefaultNamespace)
	node := cmp.Or(o.Node, DefaultNode)
	if err := s.ensureCached("namespace/"+ns, func() error {
		_, err := s.EnsureNamespace(ctx, ns)
		return err
	}); err != nil {
		return nil, err
	}
	if err := s.ensureCached("node/"+node, func() error {
		_, err := s.EnsureNode(ctx, node)
		return err
	}); err != nil {
		return nil, err
	}

	spec, err := podSpec(o)
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", ns, o.Name, err)
	}

	name := o.Name
	labels := merge(o.Labels)
	var refs []metav1.OwnerReference
	if o.Owner.Kind != Bare {
		own, err := s.ensureOwner(ctx, ns, o.Owner, corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: o.Labels},
			Spec:       spec,
		}, o.SkipOwnerObjects)
		if err != nil {
			return nil, fmt.Errorf("create pod in %s: %w", ns, err)
		}
		refs = []metav1.OwnerReference{own.ref}
		labels = merge(labels, own.labels)
		if o.Owner.Kind == KindStatefulSet {
			ord := s.nextOrdinal(ns, o.Owner.Name, name)
			if name == "" {
				name = fmt.Sprintf("%s-%d", own.prefix, ord)
			}
			labels[appsv1.StatefulSetPodNameLabel] = name
			labels[appsv1.PodIndexLabel] = strconv.Itoa(ord)
		} else if name == "" {
			name = own.prefix + "-" + s.suffix()
		}
	}
	if name == "" {
		return nil, errors.New("create pod: a bare pod needs a name")
	}
	spec.NodeName = node

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:              name,
			Namespace:         ns,
			UID:               s.uid(),
			Labels:            labels,
			Annotations:       o.Annotations,
			OwnerReferences:   refs,
			CreationTimestamp: s.metaNow(),
		},
		Spec: spec,
		// The API server resets status on create; the fake client keeps
		// it. Both end up Pending with the same QoS class.
		Status: corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&spec)},
	}
	if o.Template != nil {
		o.Template(pod)
	}
	created, err := s.client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", ns, name, err)
	}
	return created, nil
}

// RunPod is CreatePod followed by MarkRunning.
func (s *Sim) RunPod(ctx context.Context, o PodOptions) (*corev1.Pod, error) {
	pod, err := s.CreatePod(ctx, o)
	if err != nil {
		return nil, err
	}
	return s.MarkRunning(ctx, pod.Namespace, pod.Name)
}

// MarkRunning writes the status the kubelet reports once a pod has started:
// phase Running, host and pod IPs, init containers terminated with reason
// Completed, sidecars and app containers running, started and ready with
// fresh containerd IDs, all conditions True. Containers already running keep
// their IDs and restart counts; waiting ones are started (see start: one
// waiting in back-off counts a restart).
func (s *Sim) MarkRunning(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return s.updatePodStatus(ctx, ns, name, func(pod *corev1.Pod) error {
		if pod.Spec.NodeName == "" {
			return errors.New("pod is not bound to a node")
		}
		now := s.metaNow()
		st := &pod.Status
		st.Phase = corev1.PodRunning
		st.Reason, st.Message = "", ""
		s.bindStatus(pod, now)

		var inits []corev1.ContainerStatus
		for _, c := range pod.Spec.InitContainers {
			cs := statusFor(st.InitContainerStatuses, c)
			switch {
			case isSidecar(c):
				s.start(&cs, now)
			case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
				cs.ContainerID = s.containerID()
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID,
				}}
				cs.Ready, cs.Started = true, ptr.To(false)
			}
			inits = append(inits, cs)
		}
		st.InitContainerStatuses = inits

		var apps []corev1.ContainerStatus
		for _, c := range pod.Spec.Containers {
			cs := statusFor(st.ContainerStatuses, c)
			s.start(&cs, now)
			apps = append(apps, cs)
		}
		st.ContainerStatuses = apps
		syncConditions(pod, now)
		return nil
	})
}

// bindStatus fills what the kubelet reports once it admitted a pod: host and
// pod IPs, start time and QoS class, unless already set.
func (s *Sim) bindStatus(pod *corev1.Pod, now metav1.Time) {
	st := &pod.Status
	ip := nodeIP(pod.Spec.NodeName)
	st.HostIP, st.HostIPs = ip, []corev1.HostIP{{IP: ip}}
	if st.PodIP == "" {
		pip := s.nextPodIP()
		st.PodIP, st.PodIPs = pip, []corev1.PodIP{{IP: pip}}
	}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	if st.QOSClass == "" {
		st.QOSClass = qosClass(&pod.Spec)
	}
}

// statusFor returns a copy of c's status from statuses, or a fresh waiting
// one.
func statusFor(statuses []corev1.ContainerStatus, c corev1.Container) corev1.ContainerStatus {
	for _, cs := range statuses {
		if cs.Name == c.Name {
			return *cs.DeepCopy()
		}
	}
	return corev1.ContainerStatus{
		Name:    c.Name,
		Image:   c.Image,
		ImageID: imageID(c.Image),
		State:   corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		Started: ptr.To(false),
	}
}

// podSpec builds the pod spec for o, without the node name.
func podSpec(o PodOptions) (corev1.PodSpec, error) {
	policy := o.RestartPolicy
	if policy == "" {
		policy = corev1.RestartPolicyAlways
		if o.Owner.Kind == KindJob || o.Owner.Kind == KindCronJob {
			policy = corev1.RestartPolicyOnFailure
		}
	}
	spec := corev1.PodSpec{
		RestartPolicy:                 policy,
		TerminationGracePeriodSeconds: ptr.To[int64](30),
		DNSPolicy:                     corev1.DNSClusterFirst,
		ServiceAccountName:            "default",
		SchedulerName:                 corev1.DefaultSchedulerName,
	}
	apps := o.Containers
	if len(apps) == 0 {
		apps = []Container{{}}
	}
	var errs []error
	for i, c := range apps {
		ctr, err := container(c, "app", i)
		errs = append(errs, err)
		spec.Containers = append(spec.Containers, ctr)
	}
	for i, c := range o.InitContainers {
		ctr, err := container(c, "init", i+1)
		errs = append(errs, err)
		spec.InitContainers = append(spec.InitContainers, ctr)
	}
	for i, c := range o.Sidecars {
		ctr, err := container(c, "sidecar", i+1)
		errs = append(errs, err)
		ctr.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		spec.InitContainers = append(spec.InitContainers, ctr)
	}
	return spec, errors.Join(errs...)
}

// container builds the i-th container of a kind ("app", "init", "sidecar").
func container(c Container, kind string, i int) (corev1.Container, error) {
	name := c.Name
	switch {
	case name != "":
	case kind == "app" && i == 0:
		name = "app"
	default:
		name = fmt.Sprintf("%s-%d", kind, i)
	}
	out := corev1.Container{
		Name:                     name,
		Image:                    cmp.Or(c.Image, DefaultImage),
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
	var err1, err2 error
	out.Resources.Requests, err1 = resourceList(c.Requests)
	out.Resources.Limits, err2 = resourceList(c.Limits)
	if err := errors.Join(err1, err2); err != nil {
		return out, fmt.Errorf("container %s: %w", name, err)
	}
	return out, nil
}

func resourceList(r Resources) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceCPU: r.CPU, corev1.ResourceMemory: r.Memory} {
		if v == "" {
			continue
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return nil, fmt.Errorf("parse %s quantity %q: %w", name, v, err)
		}
		out[name] = q
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// qosClass computes the pod's QoS class as the API server does, for CPU and
// memory.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	some, guaranteed := false, true
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[r]
			lim, hasLim := c.Resources.Limits[r]
			if hasReq || hasLim {
				some = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !some:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

func isSidecar(c corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}
