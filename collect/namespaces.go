package collect

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// AnnotationPrefix starts the namespace annotations that override the
// detection rules for the namespace, such as
// k8s-pod-restart.guance.com/ratio-warning: "0.3".
const AnnotationPrefix = "k8s-pod-restart.guance.com/"

// Annotation keys, after AnnotationPrefix.
const (
	annRatioWarning     = "ratio-warning"
	annRatioError       = "ratio-error"
	annRatioCritical    = "ratio-critical"
	annMinPods          = "min-pods"
	annMinRestartedPods = "min-restarted-pods"
	annDisabled         = "disabled"
)

// AnnotationKeys lists the annotations a namespace may carry, after
// AnnotationPrefix, for documentation.
var AnnotationKeys = []string{annRatioWarning, annRatioError, annRatioCritical, annMinPods, annMinRestartedPods, annDisabled}

// NamespaceSink receives each namespace's overrides.
type NamespaceSink interface {
	// NamespaceChanged hands over the overrides of a namespace, the zero
	// value when it has none.
	NamespaceChanged(namespace string, o detect.Overrides)
	// NamespaceDeleted says that a namespace is being deleted (Terminating:
	// its pods are about to be deleted by the namespace controller) or is
	// gone.
	NamespaceDeleted(namespace string)
}

// AnnotationProblem is one annotation that could not be used.
type AnnotationProblem struct {
	Key, Value string
	Err        error
}

func (p AnnotationProblem) Error() string {
	return fmt.Sprintf("annotation %s%s=%q: %v", AnnotationPrefix, p.Key, p.Value, p.Err)
}

// OverridesFromAnnotations reads a namespace's overrides from its
// annotations. A value that does not parse or is out of range is left out
// and reported as a problem, and so is an unknown key under
// AnnotationPrefix; the other values still apply. Problems come in key
// order.
func OverridesFromAnnotations(annotations map[string]string) (detect.Overrides, []AnnotationProblem) {
	var o detect.Overrides
	var problems []AnnotationProblem
	keys := make([]string, 0, len(annotations))
	for k := range annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, full := range keys {
		key, value := strings.TrimPrefix(full, AnnotationPrefix), strings.TrimSpace(annotations[full])
		problem := func(format string, args ...any) {
			problems = append(problems, AnnotationProblem{Key: key, Value: annotations[full], Err: fmt.Errorf(format, args...)})
		}
		switch key {
		case annRatioWarning, annRatioError, annRatioCritical:
			f, err := strconv.ParseFloat(value, 64)
			if err != nil || !(f > 0 && f <= 1) {
				problem("want a number in (0, 1]")
				continue
			}
			switch key {
			case annRatioWarning:
				o.RatioWarning = f
			case annRatioError:
				o.RatioError = f
			default:
				o.RatioCritical = f
			}
		case annMinPods, annMinRestartedPods:
			n, err := strconv.Atoi(value)
			if err != nil || n < 1 {
				problem("want an integer of at least 1")
				continue
			}
			if key == annMinPods {
				o.MinPods = n
			} else {
				o.MinRestartedPods = n
			}
		case annDisabled:
			b, err := strconv.ParseBool(value)
			if err != nil {
				problem("want true or false")
				continue
			}
			o.Disabled = b
		default:
			problem("unknown annotation (known: %s)", strings.Join(AnnotationKeys, ", "))
		}
	}
	if err := o.Validate(); err != nil {
		// The ratios set are out of order: none of them applies.
		problems = append(problems, AnnotationProblem{Key: "ratio-*", Value: fmt.Sprint(o.RatioWarning, " ", o.RatioError, " ", o.RatioCritical), Err: err})
		o.RatioWarning, o.RatioError, o.RatioCritical = 0, 0, 0
	}
	return o, problems
}

// trimNamespace is the namespace informer's transform: it keeps the name,
// the resourceVersion, the deletionTimestamp and the annotations under
// AnnotationPrefix of the metadata-only namespace, and nothing else.
func trimNamespace(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	out := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion, DeletionTimestamp: m.DeletionTimestamp,
	}}
	for k, v := range m.Annotations {
		if strings.HasPrefix(k, AnnotationPrefix) {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = bound(v, MaxReasonBytes)
		}
	}
	return out, nil
}
