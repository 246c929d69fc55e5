package input

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestConfigMapCarriesTheSample keeps the installed configuration and the
// documented sample one text.
func TestConfigMapCarriesTheSample(t *testing.T) {
	raw, err := os.ReadFile("../manifests/configmap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("manifests/configmap.yaml: %v", err)
	}
	if diff := cmp.Diff(SampleConfig(), cm.Data[InputName+".conf"]); diff != "" {
		t.Errorf("manifests/configmap.yaml data differs from the sample (-sample +configmap):\n%s", diff)
	}
}
