package kubesim

import (
	"context"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
)

// OwnerKind names the workload that owns a pod.
type OwnerKind string

// Owner kinds a pod can have.
const (
	// Bare pods have no owner.
	Bare OwnerKind = ""
	// KindDeployment pods are owned by a ReplicaSet "<name>-<hash>" owned by
	// Deployment "<name>".
	KindDeployment OwnerKind = "Deployment"
	// KindStatefulSet pods "<name>-<ordinal>" are owned by the StatefulSet.
	KindStatefulSet OwnerKind = "StatefulSet"
	// KindDaemonSet pods are owned by the DaemonSet.
	KindDaemonSet OwnerKind = "DaemonSet"
	// KindJob pods are owned by the Job.
	KindJob OwnerKind = "Job"
	// KindCronJob pods are owned by a Job owned by the CronJob.
	KindCronJob OwnerKind = "CronJob"
)

// Owner describes the workload of a pod.
type Owner struct {
	// Kind is the workload kind; Bare for none.
	Kind OwnerKind
	// Name is the workload's name (the Deployment's, not the
	// ReplicaSet's). Required unless Kind is Bare.
	Name string
	// Hash is the Deployment's pod-template-hash (the ReplicaSet suffix) or
	// the StatefulSet/DaemonSet controller-revision-hash. By default it is
	// derived from the workload's namespace and name, in the alphabet
	// Kubernetes uses.
	Hash string
	// Job is the name of the Job a CronJob pod belongs to. The default is
	// "<name>-<scheduled time in unix minutes>", as the CronJob controller
	// names it, from the clock.
	Job string
	// Revision is a Deployment ReplicaSet's revision number (annotation
	// deployment.kubernetes.io/revision), 1 by default: a rollout is pods
	// of the same Deployment with another Hash and a higher Revision.
	Revision int
}

// ownerState is what a pod needs from its ensured owner chain.
type ownerState struct {
	ref    metav1.OwnerReference
	labels map[string]string // labels the pod carries because of the owner
	prefix string            // generated pod names are prefix + "-" + suffix
}

// ensureOwner creates (unless skip) the owner chain of a pod once per Sim and
// returns the pod's controller reference and owner labels.
func (s *Sim) ensureOwner(ctx context.Context, ns string, o Owner, tmpl corev1.PodTemplateSpec, skip bool) (ownerState, error) {
	if o.Name == "" {
		return ownerState{}, fmt.Errorf("owner %s has no name", o.Kind)
	}
	hash := o.Hash
	if hash == "" {
		hash = templateHash(string(o.Kind), ns, o.Name)
	}

	switch o.Kind {
	case KindDeployment:
		sel := map[string]string{"app": o.Name}
		rsName := o.Name + "-" + hash
		return s.cachedOwner("ReplicaSet", ns, rsName, skip, func() (ownerState, error) {
			var depRef metav1.OwnerReference
			if !skip {
				dep := &appsv1.Deployment{
					ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, UID: s.uid(), Labels: sel},
					Spec: appsv1.DeploymentSpec{
						Replicas: ptr.To[int32](1),
						Selector: &metav1.LabelSelector{MatchLabels: sel},
						Template: withLabels(tmpl, sel, corev1.RestartPolicyAlways),
					},
				}
				deps := s.client.AppsV1().Deployments(ns)
				got, err := createOrGet(ctx, dep, deps.Create, deps.Get)
				if err != nil {
					return ownerState{}, fmt.Errorf("ensure deployment %s/%s: %w", ns, o.Name, err)
				}
				depRef = controllerRef("apps/v1", "Deployment", got.Name, got.UID)
			}

			rsLabels := merge(sel, map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash})
			uid := s.uid()
			if !skip {
				rs := &appsv1.ReplicaSet{
					ObjectMeta: metav1.ObjectMeta{
						Name: rsName, Namespace: ns, UID: uid, Labels: rsLabels,
						Annotations:     map[string]string{"deployment.kubernetes.io/revision": strconv.Itoa(max(o.Revision, 1))},
						OwnerReferences: []metav1.OwnerReference{depRef},
					},
					Spec: appsv1.ReplicaSetSpec{
						Replicas: ptr.To[int32](1),
						Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
						Template: withLabels(tmpl, rsLabels, corev1.RestartPolicyAlways),
					},
				}
				rss := s.client.AppsV1().ReplicaSets(ns)
				got, err := createOrGet(ctx, rs, rss.Create, rss.Get)
				if err != nil {
					return ownerState{}, fmt.Errorf("ensure replicaset %s/%s: %w", ns, rsName, err)
				}
				uid = got.UID
			}
			return ownerState{
				ref:    controllerRef("apps/v1", "ReplicaSet", rsName, uid),
				labels: rsLabels,
				prefix: rsName,
			}, nil
		})

	case KindStatefulSet:
		sel := map[string]string{"app": o.Name}
		return s.cachedOwner("StatefulSet", ns, o.Name, skip, func() (ownerState, error) {
			uid := s.uid()
			if !skip {
				sts := &appsv1.StatefulSet{
					ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, UID: uid, Labels: sel},
					Spec: appsv1.StatefulSetSpec{
						Replicas:    ptr.To[int32](1),
						ServiceName: o.Name,
						Selector:    &metav1.LabelSelector{MatchLabels: sel},
						Template:    withLabels(tmpl, sel, corev1.RestartPolicyAlways),
					},
				}
				stss := s.client.AppsV1().StatefulSets(ns)
				got, err := createOrGet(ctx, sts, stss.Create, stss.Get)
				if err != nil {
					return ownerState{}, fmt.Errorf("ensure statefulset %s/%s: %w", ns, o.Name, err)
				}
				uid = got.UID
			}
			return ownerState{
				ref:    controllerRef("apps/v1", "StatefulSet", o.Name, uid),
				labels: merge(sel, map[string]string{appsv1.ControllerRevisionHashLabelKey: o.Name + "-" + hash}),
				prefix: o.Name,
			}, nil
		})

	case KindDaemonSet:
		sel := map[string]string{"app": o.Name}
		return s.cachedOwner("DaemonSet", ns, o.Name, skip, func() (ownerState, error) {
			uid := s.uid()
			if !skip {
				ds := &appsv1.DaemonSet{
					ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, UID: uid, Labels: sel},
					Spec: appsv1.DaemonSetSpec{
						Selector: &metav1.LabelSelector{MatchLabels: sel},
						Template: withLabels(tmpl, sel, corev1.RestartPolicyAlways),
					},
				}
				dss := s.client.AppsV1().DaemonSets(ns)
				got, err := createOrGet(ctx, ds, dss.Create, dss.Get)
				if err != nil {
					return ownerState{}, fmt.Errorf("ensure daemonset %s/%s: %w", ns, o.Name, err)
				}
				uid = got.UID
			}
			return ownerState{
				ref: controllerRef("apps/v1", "DaemonSet", o.Name, uid),
				labels: merge(sel, map[string]string{
					appsv1.ControllerRevisionHashLabelKey: hash,
					"pod-template-generation":             "1",
				}),
				prefix: o.Name,
			}, nil
		})

	case KindJob:
		return s.ensureJob(ctx, ns, o.Name, nil, tmpl, skip)

	case KindCronJob:
		job := o.Job
		if job == "" {
			job = fmt.Sprintf("%s-%d", o.Name, s.now().Unix()/60)
		}
		cron, err := s.cachedOwner("CronJob", ns, o.Name, skip, func() (ownerState, error) {
			uid := s.uid()
			if !skip {
				cj := &batchv1.CronJob{
					ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: ns, UID: uid},
					Spec: batchv1.CronJobSpec{
						Schedule: "*/10 * * * *",
						JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{
							Template: withLabels(tmpl, nil, jobRestartPolicy(tmpl)),
						}},
					},
				}
				cjs := s.client.BatchV1().CronJobs(ns)
				got, err := createOrGet(ctx, cj, cjs.Create, cjs.Get)
				if err != nil {
					return ownerState{}, fmt.Errorf("ensure cronjob %s/%s: %w", ns, o.Name, err)
				}
				uid = got.UID
			}
			return ownerState{ref: controllerRef("batch/v1", "CronJob", o.Name, uid)}, nil
		})
		if err != nil {
			return ownerState{}, err
		}
		cronRef := &cron.ref
		return s.ensureJob(ctx, ns, job, cronRef, tmpl, skip)

	default:
		return ownerState{}, fmt.Errorf("unknown owner kind %q", o.Kind)
	}
}

// ensureJob creates Job ns/name, owned by cron when not nil.
func (s *Sim) ensureJob(ctx context.Context, ns, name string, cron *metav1.OwnerReference, tmpl corev1.PodTemplateSpec, skip bool) (ownerState, error) {
	return s.cachedOwner("Job", ns, name, skip, func() (ownerState, error) {
		uid := s.uid()
		if !skip {
			job := &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: uid},
				// The API server generates the selector and the template's
				// controller-uid labels.
				Spec: batchv1.JobSpec{Template: withLabels(tmpl, nil, jobRestartPolicy(tmpl))},
			}
			if cron != nil {
				job.OwnerReferences = []metav1.OwnerReference{*cron}
				job.Annotations = map[string]string{
					"batch.kubernetes.io/cronjob-scheduled-timestamp": s.now().UTC().Format("2006-01-02T15:04:05Z07:00"),
				}
			}
			jobs := s.client.BatchV1().Jobs(ns)
			got, err := createOrGet(ctx, job, jobs.Create, jobs.Get)
			if err != nil {
				return ownerState{}, fmt.Errorf("ensure job %s/%s: %w", ns, name, err)
			}
			uid = got.UID
		}
		return ownerState{
			ref: controllerRef("batch/v1", "Job", name, uid),
			labels: map[string]string{
				batchv1.ControllerUidLabel: string(uid),
				batchv1.JobNameLabel:       name,
				"controller-uid":           string(uid), // legacy label, still set
				"job-name":                 name,        // legacy label, still set
			},
			prefix: name,
		}, nil
	})
}

// cachedOwner runs ensure once per owner object for the Sim's lifetime.
func (s *Sim) cachedOwner(kind, ns, name string, skip bool, ensure func() (ownerState, error)) (ownerState, error) {
	key := fmt.Sprintf("%s/%s/%s/%t", kind, ns, name, skip)
	s.mu.Lock()
	st, ok := s.owners[key]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := ensure()
	if err != nil {
		return ownerState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.owners[key]; ok {
		return prev, nil // a concurrent call won; keep one UID per owner
	}
	s.owners[key] = st
	return st, nil
}

// nextOrdinal returns the ordinal of a new StatefulSet pod. An explicit pod
// name "<sts>-<n>" yields n.
func (s *Sim) nextOrdinal(ns, sts, podName string) int {
	if podName != "" {
		if n, err := strconv.Atoi(strings.TrimPrefix(podName, sts+"-")); err == nil {
			return n
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := ns + "/" + sts
	n := s.ordinals[key]
	s.ordinals[key] = n + 1
	return n
}

// templateHash derives a stable hash in the form Kubernetes prints
// pod-template-hash values.
func templateHash(parts ...string) string {
	h := fnv.New32a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return utilrand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func controllerRef(apiVersion, kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         apiVersion,
		Kind:               kind,
		Name:               name,
		UID:                uid,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// withLabels returns a copy of tmpl with labels and restart policy set.
func withLabels(tmpl corev1.PodTemplateSpec, labels map[string]string, policy corev1.RestartPolicy) corev1.PodTemplateSpec {
	out := *tmpl.DeepCopy()
	out.Labels = merge(out.Labels, labels)
	out.Spec.RestartPolicy = policy
	return out
}

// jobRestartPolicy is the template's policy if a Job accepts it, else
// OnFailure.
func jobRestartPolicy(tmpl corev1.PodTemplateSpec) corev1.RestartPolicy {
	if p := tmpl.Spec.RestartPolicy; p == corev1.RestartPolicyNever {
		return p
	}
	return corev1.RestartPolicyOnFailure
}

// merge returns a new map with the entries of ms, later maps winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
