package input

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary text to the configuration loader: it must never
// panic, and whatever it accepts must be valid and name no file other than
// the one given; whatever it refuses must say which file.
func FuzzLoad(f *testing.F) {
	f.Add(SampleConfig())
	f.Add("[[inputs.k8s_pod_restart]]\n  cluster_name = \"a\"\n  window = \"5m\"\n  ratio_warning = 0.2\n")
	f.Add("[[inputs.k8s_pod_restart]]\n  window = 5\n")
	f.Add("[[inputs.k8s_pod_restart]]\n[[inputs.k8s_pod_restart]]\n")
	f.Add("[inputs.k8s_pod_restart]\n  cluster_name = \"a\"\n")
	f.Add("[[inputs.k8s_pod_restart]]\n  namespaces = [\"a\", \"a\"]\n  exclude_namespaces = [\"a\"]\n  [inputs.k8s_pod_restart.tags]\n  df_x = \"1\"\n")
	f.Add("\x00\xff[[")
	f.Fuzz(func(t *testing.T, text string) {
		path := filepath.Join(t.TempDir(), "fuzz.conf")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		cfgs, err := LoadFile(path, nil)
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(cfgs) == 0 {
			t.Fatal("no error and no configuration")
		}
		for _, c := range cfgs {
			if err := c.Validate(); err != nil {
				t.Fatalf("accepted an invalid configuration: %v", err)
			}
		}
	})
}
