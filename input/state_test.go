package input

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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

// TestConfigMapStoreRetries: a conflicting Update or a Create that lost a
// race is retried over the current version; other errors are not.
func TestConfigMapStoreRetries(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "s", errors.New("modified"))
	exists := apierrors.NewAlreadyExists(schema.GroupResource{Resource: "configmaps"}, "s")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "s", errors.New("rbac"))
	tests := []struct {
		name      string
		existing  bool    // the ConfigMap exists before Save
		verb      string  // the verb whose first calls fail
		failures  []error // returned by the first calls of verb
		wantCalls int     // calls of verb
		wantErr   bool
	}{
		{name: "update conflicts once", existing: true, verb: "update", failures: []error{conflict}, wantCalls: 2},
		{name: "update conflicts twice", existing: true, verb: "update", failures: []error{conflict, conflict}, wantCalls: 3},
		{name: "create races", verb: "create", failures: []error{exists}, wantCalls: 1},
		{name: "update forbidden", existing: true, verb: "update", failures: []error{forbidden}, wantCalls: 1, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset()
			if tc.existing {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "agent"}}
				if _, err := client.CoreV1().ConfigMaps("agent").Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			calls := 0
			client.PrependReactor(tc.verb, "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				calls++
				if calls <= len(tc.failures) {
					err := tc.failures[calls-1]
					if apierrors.IsAlreadyExists(err) {
						// The race's winner created it meanwhile.
						cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "agent"}}
						_ = client.Tracker().Add(cm)
					}
					return true, nil, err
				}
				return false, nil, nil
			})
			s := configMapStore{client: client, namespace: "agent", name: "s"}
			err := s.Save(t.Context(), sampleState())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Save() = %v, want error %v", err, tc.wantErr)
			}
			if calls != tc.wantCalls {
				t.Errorf("%s calls = %d, want %d", tc.verb, calls, tc.wantCalls)
			}
			if tc.wantErr {
				return
			}
			got, err := s.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sampleState(), got); diff != "" {
				t.Errorf("state after Save (-want +got):\n%s", diff)
			}
		})
	}
}
