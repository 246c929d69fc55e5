package input

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
	"github.com/k8s-pod-restart/k8s-pod-restart/internal/atomicfile"
)

// faultState is what of a cluster's detection must survive an agent restart
// or a failover: the open faults, so that an ongoing anomaly keeps its fault
// ID and gets exactly one recovery, and the decisions whose events were being
// queued, so that a crash between deciding and queuing loses no event. The
// restart window itself is rebuilt from pod status.
type faultState struct {
	Faults  []detect.Fault   `json:"faults"`
	Pending []detect.Pending `json:"pending,omitempty"`
}

// stateStore keeps a cluster's faultState.
type stateStore interface {
	Load(ctx context.Context) (faultState, error)
	Save(ctx context.Context, s faultState) error
}

// stateKey is the data key of the state ConfigMap and the state file's name.
const stateKey = "faults.json"

// fileStore keeps the state in a file: enough for a single agent whose
// queue_dir survives its restarts (a container restart with an emptyDir, a
// host path).
type fileStore struct{ path string }

func (f fileStore) Load(context.Context) (faultState, error) {
	var s faultState
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read fault state: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return faultState{}, fmt.Errorf("fault state %s: %w", f.path, err)
	}
	return s, nil
}

// Save replaces the file atomically (atomicfile.WriteFile), so that a crash
// or a failed write leaves the old state or the new one.
func (f fileStore) Save(_ context.Context, s faultState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode fault state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o750); err != nil {
		return fmt.Errorf("fault state directory: %w", err)
	}
	if err := atomicfile.WriteFile(f.path, b, 0o640); err != nil {
		return fmt.Errorf("save fault state: %w", err)
	}
	return nil
}

// configMapStore keeps the state in a ConfigMap of the agent's namespace, so
// that the replica taking over after a failover continues the same faults.
type configMapStore struct {
	client    kubernetes.Interface
	namespace string
	name      string
}

func (c configMapStore) Load(ctx context.Context) (faultState, error) {
	var s faultState
	cm, err := c.client.CoreV1().ConfigMaps(c.namespace).Get(ctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("get fault state configmap %s/%s: %w", c.namespace, c.name, err)
	}
	if raw := cm.Data[stateKey]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return faultState{}, fmt.Errorf("fault state configmap %s/%s: %w", c.namespace, c.name, err)
		}
	}
	return s, nil
}

// Save writes the state, creating the ConfigMap the first time. Only the
// leader saves, so a conflict means our cached version is stale: the write
// is retried over the current version, as client-go's retry package does.
func (c configMapStore) Save(ctx context.Context, s faultState) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode fault state: %w", err)
	}
	cms := c.client.CoreV1().ConfigMaps(c.namespace)
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err = retry.OnError(retry.DefaultRetry, retriable, func() error {
		cm, err := cms.Get(ctx, c.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cm = &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: c.namespace,
					Labels: map[string]string{"app.kubernetes.io/name": "k8s-pod-restart"}},
				Data: map[string]string{stateKey: string(b)},
			}
			_, err = cms.Create(ctx, cm, metav1.CreateOptions{})
			return err
		}
		if err != nil {
			return err
		}
		cm = cm.DeepCopy()
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[stateKey] = string(b)
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("save fault state configmap %s/%s: %w", c.namespace, c.name, err)
	}
	return nil
}
