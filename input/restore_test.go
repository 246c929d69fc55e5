package input

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// fixedStore is a stateStore holding one state.
type fixedStore struct{ st faultState }

func (s *fixedStore) Load(context.Context) (faultState, error)    { return s.st, nil }
func (s *fixedStore) Save(_ context.Context, st faultState) error { s.st = st; return nil }

// TestRestoreEndsFaultsOfNamespacesGone: faults restored for a namespace no
// longer watched end at the first evaluation, saying so; the others stay
// open; a namespace deleted later ends its fault the same way.
func TestRestoreEndsFaultsOfNamespacesGone(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ExcludeNamespaces = []string{"old"}
	fault := func(ns string) detect.Fault {
		return detect.Fault{ID: "event-" + ns, Namespace: ns, Start: srvT0, Level: detect.LevelError, MaxLevel: detect.LevelError, LastEvent: srvT0}
	}
	c := &cluster{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil)), clock: clocktesting.NewFakeClock(srvT0),
		detector: detect.New(detectConfig(cfg)), store: &fixedStore{faultState{Faults: []detect.Fault{fault("old"), fault("shop"), fault("cart")}}},
		dirty: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	c.restore(t.Context())
	for i := range 3 {
		c.detector.Observe(&detect.Pod{UID: fmt.Sprint("u", i), Namespace: "shop", Name: fmt.Sprint("p", i), Phase: "Running"}, srvT0)
		c.detector.Observe(&detect.Pod{UID: fmt.Sprint("c", i), Namespace: "cart", Name: fmt.Sprint("p", i), Phase: "Running"}, srvT0)
	}
	c.NamespaceDeleted("cart")
	_, decs := c.detector.EvaluateAll(srvT0)
	var got []string
	for _, d := range decs {
		got = append(got, fmt.Sprintf("%s %v %v", d.Fault.Namespace, d.Kind, d.End))
	}
	if diff := cmp.Diff([]string{"cart recovery namespace_deleted", "old recovery excluded"}, got); diff != "" {
		t.Errorf("decisions (-want +got):\n%s", diff)
	}
	if f := c.detector.Faults(); len(f) != 1 || f[0].Namespace != "shop" {
		t.Errorf("open faults %+v, want shop's alone", f)
	}
}
