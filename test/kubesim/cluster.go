package kubesim

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// KubeletVersion is the version the simulated nodes report.
const KubeletVersion = "v1.37.2"

// EnsureNamespace creates namespace ns unless it exists, and its "default"
// ServiceAccount, which the controller-manager would create and without
// which the ServiceAccount admission plugin rejects pods.
func (s *Sim) EnsureNamespace(ctx context.Context, ns string) (*corev1.Namespace, error) {
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   ns,
		UID:    s.uid(),
		Labels: map[string]string{"kubernetes.io/metadata.name": ns},
	}}
	got, err := createOrGet(ctx, obj, s.client.CoreV1().Namespaces().Create, s.client.CoreV1().Namespaces().Get)
	if err != nil {
		return nil, fmt.Errorf("ensure namespace %s: %w", ns, err)
	}
	if _, err := s.EnsureServiceAccount(ctx, ns, "default"); err != nil {
		return nil, err
	}
	return got, nil
}

// EnsureServiceAccount creates ServiceAccount ns/name unless it exists.
func (s *Sim) EnsureServiceAccount(ctx context.Context, ns, name string) (*corev1.ServiceAccount, error) {
	obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: s.uid()}}
	sas := s.client.CoreV1().ServiceAccounts(ns)
	got, err := createOrGet(ctx, obj, sas.Create, sas.Get)
	if err != nil {
		return nil, fmt.Errorf("ensure service account %s/%s: %w", ns, name, err)
	}
	return got, nil
}

// EnsureNode creates node name unless it exists and writes, through the
// status subresource, the status a healthy kubelet reports: Ready, no
// pressure conditions, capacity of 4 CPUs, 16Gi memory and 110 pods, an
// InternalIP derived from the name. An existing node's status is left alone.
func (s *Sim) EnsureNode(ctx context.Context, name string) (*corev1.Node, error) {
	nodes := s.client.CoreV1().Nodes()
	obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: name,
		UID:  s.uid(),
		Labels: map[string]string{
			"kubernetes.io/hostname": name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     "amd64",
		},
	}}
	created, err := nodes.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		got, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("ensure node %s: %w", name, err)
		}
		return got, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ensure node %s: %w", name, err)
	}

	now := s.metaNow()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("16Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	created.Status = corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Phase:       corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			nodeCondition(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
			nodeCondition(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
			nodeCondition(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available", now),
			nodeCondition(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status", now),
		},
		Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: nodeIP(name)},
			{Type: corev1.NodeHostName, Address: name},
		},
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               s.randHex(16),
			SystemUUID:              string(s.uid()),
			BootID:                  string(s.uid()),
			KernelVersion:           "6.12.0-kubesim",
			OSImage:                 "Debian GNU/Linux 13 (trixie)",
			ContainerRuntimeVersion: "containerd://2.1.4",
			KubeletVersion:          KubeletVersion,
			OperatingSystem:         "linux",
			Architecture:            "amd64",
		},
	}
	updated, err := nodes.UpdateStatus(ctx, created, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("write status of node %s: %w", name, err)
	}
	return updated, nil
}

// SetNodeCondition sets (or adds) a condition of node name, e.g.
// MemoryPressure True with reason KubeletHasInsufficientMemory. Zero
// heartbeat and transition times are filled from the clock; the transition
// time is kept when the status does not change.
func (s *Sim) SetNodeCondition(ctx context.Context, name string, cond corev1.NodeCondition) (*corev1.Node, error) {
	nodes := s.client.CoreV1().Nodes()
	var out *corev1.Node
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := s.metaNow()
		c := cond
		if c.LastHeartbeatTime.IsZero() {
			c.LastHeartbeatTime = now
		}
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		replaced := false
		for i, old := range node.Status.Conditions {
			if old.Type != c.Type {
				continue
			}
			if old.Status == c.Status && cond.LastTransitionTime.IsZero() {
				c.LastTransitionTime = old.LastTransitionTime
			}
			node.Status.Conditions[i] = c
			replaced = true
		}
		if !replaced {
			node.Status.Conditions = append(node.Status.Conditions, c)
		}
		out, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set condition %s of node %s: %w", cond.Type, name, err)
	}
	return out, nil
}

func nodeCondition(t corev1.NodeConditionType, st corev1.ConditionStatus, reason, msg string, now metav1.Time) corev1.NodeCondition {
	return corev1.NodeCondition{
		Type: t, Status: st, Reason: reason, Message: msg,
		LastHeartbeatTime: now, LastTransitionTime: now,
	}
}

// ensureCached runs ensure once per key for the Sim's lifetime.
func (s *Sim) ensureCached(key string, ensure func() error) error {
	s.mu.Lock()
	done := s.ensured[key]
	s.mu.Unlock()
	if done {
		return nil
	}
	if err := ensure(); err != nil {
		return err
	}
	s.mu.Lock()
	s.ensured[key] = true
	s.mu.Unlock()
	return nil
}

// createOrGet creates obj, or gets the existing object of the same name.
func createOrGet[T interface{ GetName() string }](
	ctx context.Context,
	obj T,
	create func(context.Context, T, metav1.CreateOptions) (T, error),
	get func(context.Context, string, metav1.GetOptions) (T, error),
) (T, error) {
	got, err := create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return get(ctx, obj.GetName(), metav1.GetOptions{})
	}
	return got, err
}
