package collect

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	metafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// listRecorder is a ListSink that records every call in order.
type listRecorder struct {
	contextRecorder
}

func (r *listRecorder) PodChanged(p *detect.Pod)  { r.add("pod " + p.Namespace + "/" + p.Name) }
func (r *listRecorder) PodDeleted(ns, uid string) { r.add("pod deleted " + ns + "/" + uid) }
func (r *listRecorder) PodEvent(ns, uid string, e detect.Event) {
	r.add(fmt.Sprintf("event %s/%s %s", ns, uid, e.Reason))
}

func TestList(t *testing.T) {
	objects := func() []runtime.Object {
		return []runtime.Object{
			&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}},
			replicaSet("api-5f6b", "api", "5f6b", "3", "reg/api:1"),
			testPod("shop", "api-0", "uid-api-0", "1", 2),
			testPod("shop", "api-1", "uid-api-1", "1", 0),
			testPod("other", "x", "uid-x", "1", 0),
			warning("a.1", "shop", "uid-api-0", "Pod", "BackOff", 3),
		}
	}
	for _, tc := range []struct {
		name      string
		opts      Options
		forbid    string // a resource whose list is forbidden
		want      []string
		warnings  int
		wantError bool
	}{
		{
			name: "everything, context before pods, events last",
			opts: Options{},
			want: []string{"namespace shop disabled", "node node-a schedulable", "revision shop/api-5f6b",
				"pod other/x", "pod shop/api-0", "pod shop/api-1", "event shop/uid-api-0 BackOff"},
		},
		{
			name: "one namespace",
			opts: Options{Namespaces: []string{"shop"}},
			want: []string{"namespace shop disabled", "node node-a schedulable", "revision shop/api-5f6b",
				"pod shop/api-0", "pod shop/api-1", "event shop/uid-api-0 BackOff"},
		},
		{
			name: "nodes forbidden: a warning, the rest goes on",
			opts: Options{Namespaces: []string{"shop"}}, forbid: "nodes", warnings: 1,
			want: []string{"namespace shop disabled", "revision shop/api-5f6b",
				"pod shop/api-0", "pod shop/api-1", "event shop/uid-api-0 BackOff"},
		},
		{
			name: "pods forbidden: an error",
			opts: Options{Namespaces: []string{"shop"}}, forbid: "pods", wantError: true,
			want: []string{"namespace shop disabled", "node node-a schedulable", "revision shop/api-5f6b"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(objects()...)
			if tc.forbid != "" {
				client.PrependReactor("list", tc.forbid, func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: tc.forbid}, "", errors.New("RBAC"))
				})
			}
			scheme := metafake.NewTestScheme()
			if err := metav1.AddMetaToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			meta := metafake.NewSimpleMetadataClient(scheme, &metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
				ObjectMeta: metav1.ObjectMeta{Name: "shop", Annotations: map[string]string{AnnotationPrefix + "disabled": "true"}},
			})
			rec := &listRecorder{contextRecorder{ch: make(chan struct{}, 100)}}
			warnings, err := List(t.Context(), client, meta, tc.opts, rec)
			if (err != nil) != tc.wantError {
				t.Errorf("List error %v, want one: %v", err, tc.wantError)
			}
			if len(warnings) != tc.warnings {
				t.Errorf("warnings %v, want %d", warnings, tc.warnings)
			}
			// Pods of one list come in the fake's order; compare them sorted.
			got := sortPods(rec.got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("sink calls (-want +got):\n%s", diff)
			}
		})
	}
}

// sortPods sorts each run of consecutive "pod ..." calls.
func sortPods(calls []string) []string {
	out := slices.Clone(calls)
	for i := 0; i < len(out); {
		j := i
		for j < len(out) && len(out[j]) > 4 && out[j][:4] == "pod " {
			j++
		}
		slices.Sort(out[i:j])
		i = j + 1
	}
	return out
}
