package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/kubesim"
)

var updateScanGoldens = flag.Bool("update-scan", false, "rewrite testdata/scan_*.golden")

// runScan runs `k8s-pod-restart scan` against the control plane and returns
// its standard output and exit code.
func runScan(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), agentBin, append([]string{"scan", "--kubeconfig", cp.Kubeconfig()}, args...)...)
	cmd.Env = append(os.Environ(), "NO_COLOR=") // stdout is a pipe: plain text either way
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() > 0 {
		t.Logf("scan %q stderr:\n%s", args, stderr.String())
	}
	return stdout.String(), code
}

// checkGolden compares got with testdata/name.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateScanGoldens {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

var (
	rfc3339Re = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	// podNameRe matches the names of a Deployment's pods (<replicaset>-<5
	// chars>), whose suffix is random.
	podNameRe = regexp.MustCompile(`\bapi-[0-9a-z]+-[0-9a-z]{5}\b`)
	// replicaSetRe matches the ReplicaSet's name, whose hash varies too.
	replicaSetRe = regexp.MustCompile(`\bapi-[0-9a-z]{6,10}\b`)
)

// TestScan: a storm namespace (4 of 5 pods OOMKilled) and a quiet one, seen
// by one scan of the real API server: the storm comes first and the exit
// code says a namespace is over the rules; the quiet one alone exits 0.
func TestScan(t *testing.T) {
	t.Parallel()
	storm, quiet := newNamespace(t, "scan-storm"), newNamespace(t, "scan-quiet")
	sim := kubesim.New(cp.Client())
	pods := workload(t, sim, storm, "api", 5, nil)
	crashAll(t, sim, pods[:4], "app", kubesim.Crash{Reason: "OOMKilled", ExitCode: 137})
	workload(t, sim, quiet, "db", 3, nil)
	// Namespace and pod names and times vary by run; the goldens name them
	// by role.
	names := func(s string) string {
		s = rfc3339Re.ReplaceAllString(s, "<time>")
		s = podNameRe.ReplaceAllString(s, "<pod>")
		s = replicaSetRe.ReplaceAllString(s, "<replicaset>")
		s = strings.ReplaceAll(s, storm, "<storm>")
		return strings.ReplaceAll(s, quiet, "<quiet>")
	}
	// Column widths follow the names' lengths: compare the cells only.
	normalize := func(s string) string {
		var lines []string
		for l := range strings.SplitSeq(names(s), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		return strings.Join(lines, "\n")
	}

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		golden   string
	}{
		{"both namespaces", []string{"--namespaces", storm + "," + quiet}, 1, "scan_table.golden"},
		{"with details", []string{"--namespaces", storm + "," + quiet, "--details"}, 1, "scan_details.golden"},
		{"the quiet namespace alone", []string{"--namespaces", quiet}, 0, "scan_quiet.golden"},
		{"bad input", []string{"--namespaces", quiet, "--ratio-warning", "2"}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := runScan(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			if tc.golden != "" {
				checkGolden(t, tc.golden, normalize(out))
			}
		})
	}

	// The agent's ClusterRole is enough: nothing is left out.
	t.Run("as the agent's ServiceAccount", func(t *testing.T) {
		out, code := runScan(t, "--namespaces", storm+","+quiet, "--kubeconfig", saKubeconfig(t))
		if code != 1 || strings.Contains(out, "Without part of the context") {
			t.Errorf("exit code %d, want 1, and nothing left out; output:\n%s", code, out)
		}
		checkGolden(t, "scan_table.golden", normalize(out))
	})

	t.Run("json", func(t *testing.T) {
		out, code := runScan(t, "--namespaces", storm+","+quiet, "-o", "json")
		if code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		var doc struct {
			Over       int `json:"over_rules"`
			Namespaces []struct {
				Namespace     string  `json:"namespace"`
				Status        string  `json:"df_status"`
				RestartPods   int     `json:"restart_pods"`
				TotalPods     int     `json:"total_pods"`
				Ratio         float64 `json:"restart_ratio"`
				DominantCause string  `json:"dominant_cause"`
				Causes        []struct {
					Cause    string `json:"cause"`
					Restarts int    `json:"restarts"`
				} `json:"causes"`
				AbnormalPods []abnormalPod     `json:"abnormal_pods"`
				Statuses     []containerStatus `json:"container_statuses"`
			} `json:"namespaces"`
		}
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, out)
		}
		// The parts that do not vary by run, as JSON, for the golden.
		type summary struct {
			Namespace     string   `json:"namespace"`
			Status        string   `json:"df_status"`
			RestartPods   int      `json:"restart_pods"`
			TotalPods     int      `json:"total_pods"`
			Ratio         float64  `json:"restart_ratio"`
			DominantCause string   `json:"dominant_cause"`
			Causes        []string `json:"causes"`
			AbnormalPods  int      `json:"abnormal_pods"`
			Containers    []string `json:"container_statuses"`
		}
		var got []summary
		for _, n := range doc.Namespaces {
			s := summary{Namespace: n.Namespace, Status: n.Status, RestartPods: n.RestartPods, TotalPods: n.TotalPods,
				Ratio: n.Ratio, DominantCause: n.DominantCause, AbnormalPods: len(n.AbnormalPods)}
			for _, c := range n.Causes {
				s.Causes = append(s.Causes, c.Cause)
			}
			for _, c := range n.Statuses {
				s.Containers = append(s.Containers, c.ContainerName+" "+c.LastTerminationReason)
			}
			got = append(got, s)
		}
		b, err := json.MarshalIndent(struct {
			Over       int       `json:"over_rules"`
			Namespaces []summary `json:"namespaces"`
		}{doc.Over, got}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, "scan_json.golden", names(string(b))+"\n")
	})
}
