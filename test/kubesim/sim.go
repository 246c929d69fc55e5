// Package kubesim plays kubelet and controllers against a Kubernetes API
// server that runs none of them.
//
// End-to-end tests and the demo run a bare kube-apiserver: no scheduler, no
// controller-manager, no kubelet. A Sim does through the API what those
// components would do, so the agent under test watches objects shaped like a
// real cluster's: it creates namespaces, nodes and workload owners, binds
// pods to nodes, writes pod status as the kubelet does (container IDs,
// restart counts, last termination states, CrashLoopBackOff), records
// kubelet Warning events and churns status for benchmarks.
//
// A Sim only needs a kubernetes.Interface, so it also works against
// k8s.io/client-go/kubernetes/fake. Timestamps come from an injectable clock
// (WithNow) and identifiers from a seedable generator (WithSeed).
package kubesim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// DefaultNamespace and DefaultNode are used when PodOptions leave Namespace
// or Node empty.
const (
	DefaultNamespace = "default"
	DefaultNode      = "node-1"
)

// Option configures a Sim.
type Option func(*Sim)

// WithNow sets the clock for every timestamp the Sim writes (startedAt,
// finishedAt, condition transitions, event times). The default is time.Now.
// Times are truncated to whole seconds, as the API server stores them.
func WithNow(now func() time.Time) Option {
	return func(s *Sim) { s.now = now }
}

// WithSeed makes generated names, UIDs, container IDs and IPs reproducible.
// By default they are random.
func WithSeed(seed uint64) Option {
	return func(s *Sim) { s.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// Sim drives a cluster through a kubernetes.Interface. All methods are safe
// for concurrent use; status writes retry on conflict.
type Sim struct {
	client kubernetes.Interface
	now    func() time.Time

	// mu guards the fields below.
	mu       sync.Mutex
	rnd      *rand.Rand
	podIPs   uint32                // last pod IP handed out, as an offset in 10.244.0.0/14
	ensured  map[string]bool       // "namespace/<ns>", "node/<name>" already ensured
	owners   map[string]ownerState // by "<Kind>/<ns>/<name>"
	ordinals map[string]int        // next StatefulSet ordinal by "<ns>/<name>"
	events   map[eventKey]string   // name of the aggregated event
	eventSeq int64
}

// New returns a Sim working through client.
func New(client kubernetes.Interface, opts ...Option) *Sim {
	s := &Sim{
		client:   client,
		now:      time.Now,
		rnd:      rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		ensured:  map[string]bool{},
		owners:   map[string]ownerState{},
		ordinals: map[string]int{},
		events:   map[eventKey]string{},
	}
	for _, o := range opts {
		o(s)
	}
	s.podIPs = uint32(s.rnd.IntN(1 << 16))
	return s
}

// Client returns the client the Sim works through.
func (s *Sim) Client() kubernetes.Interface { return s.client }

// metaNow returns the clock's time as the API server would store it.
func (s *Sim) metaNow() metav1.Time { return metaTime(s.now()) }

func metaTime(t time.Time) metav1.Time { return metav1.NewTime(t).Rfc3339Copy() }

// randHex returns n random bytes in hex.
func (s *Sim) randHex(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rnd.UintN(256))
	}
	return hex.EncodeToString(b)
}

// containerID returns a new containerd container ID.
func (s *Sim) containerID() string { return "containerd://" + s.randHex(32) }

// uid returns a new random UUID (version 4 layout).
func (s *Sim) uid() types.UID {
	h := s.randHex(16)
	return types.UID(h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32])
}

// suffix returns the five character random suffix of generated names.
func (s *Sim) suffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789" // k8s.io/apimachinery/pkg/util/rand
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, 5)
	for i := range b {
		b[i] = alphabet[s.rnd.IntN(len(alphabet))]
	}
	return string(b)
}

// nextPodIP hands out an address in 10.244.0.0/14, skipping .0 and .255.
func (s *Sim) nextPodIP() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		s.podIPs = (s.podIPs + 1) % (1 << 18)
		if last := s.podIPs & 0xff; last != 0 && last != 0xff {
			break
		}
	}
	v := (10 << 24) | (244 << 16) | s.podIPs
	return fmt.Sprintf("%d.%d.%d.%d", byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// nodeIP derives a stable InternalIP in 10.0.0.0/16 from a node name.
func nodeIP(node string) string {
	h := fnv.New32a()
	h.Write([]byte(node))
	v := h.Sum32()
	return fmt.Sprintf("10.0.%d.%d", byte(v>>8), 1+v%254)
}

// imageID derives a stable repo digest for an image reference.
func imageID(image string) string {
	repo := image
	for i := len(image) - 1; i >= 0 && image[i] != '/'; i-- {
		if image[i] == ':' {
			repo = image[:i]
			break
		}
	}
	return fmt.Sprintf("%s@sha256:%x", repo, sha256.Sum256([]byte(image)))
}

// updatePodStatus applies mutate to the current pod and writes its status,
// retrying on conflict.
func (s *Sim) updatePodStatus(ctx context.Context, ns, name string, mutate func(*corev1.Pod) error) (*corev1.Pod, error) {
	var out *corev1.Pod
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := s.client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if err := mutate(pod); err != nil {
			return err
		}
		out, err = s.client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update status of pod %s/%s: %w", ns, name, err)
	}
	return out, nil
}
