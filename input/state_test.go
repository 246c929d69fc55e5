package input

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

func sampleState() faultState {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	f := detect.Fault{ID: "event-1", Namespace: "shop", Start: t0, Level: detect.LevelError, MaxLevel: detect.LevelCritical, LastEvent: t0.Add(time.Minute),
		// The history must survive the round trip: a restored fault's
		// recovery tells the whole story.
		History: detect.History{
			Peak:     detect.Peak{At: t0.Add(time.Minute), Level: detect.LevelCritical, Ratio: 0.6, RestartedPods: 6, Pods: 10},
			Restarts: 9,
			Causes: []detect.HistoryCause{
				{CauseKey: detect.CauseKey{Cause: detect.CauseOOMKilled, Code: 137}, Restarts: 7,
					Workloads: []detect.WorkloadRestarts{{Owner: detect.Owner{Kind: "Deployment", Name: "api"}, Restarts: 7}}},
				{CauseKey: detect.CauseKey{Cause: detect.CauseError, Code: 1}, Restarts: 2,
					Workloads: []detect.WorkloadRestarts{{Owner: detect.Owner{Kind: "StatefulSet", Name: "worker"}, Restarts: 2}}},
			},
			Through: t0.Add(90 * time.Second),
		}}
	return faultState{
		Faults:  []detect.Fault{f},
		Pending: []detect.Pending{{Kind: detect.KindEscalation, EventID: "event-2", Level: detect.LevelError, Previous: detect.LevelWarning, At: t0, Fault: f}},
	}
}

func TestStateStores(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) stateStore
	}{
		{"file", func(t *testing.T) stateStore { return fileStore{path: filepath.Join(t.TempDir(), "q", stateKey)} }},
		{"configmap", func(t *testing.T) stateStore {
			return configMapStore{client: fake.NewClientset(), namespace: "agent", name: "k8s-pod-restart-state"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.store(t)
			empty, err := s.Load(t.Context())
			if err != nil || len(empty.Faults)+len(empty.Pending) != 0 {
				t.Fatalf("Load before any Save = %+v, %v; want empty state", empty, err)
			}
			for _, want := range []faultState{sampleState(), {Faults: sampleState().Faults}, {}} {
				if err := s.Save(t.Context(), want); err != nil {
					t.Fatal(err)
				}
				got, err := s.Load(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("state after Save (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestFileStoreCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), stateKey)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (fileStore{path: path}).Load(t.Context()); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Load of a corrupt file = %v, want an error naming %s", err, path)
	}
}
