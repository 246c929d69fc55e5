package main

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckConfig(t *testing.T) {
	tests := []struct {
		name       string
		config     string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{
			name:     "tag key with a dot names file, block and key",
			config:   "testdata/tag_with_dot.conf",
			wantCode: exitBadConfig,
			wantStderr: "bad configuration:\n" +
				`testdata/tag_with_dot.conf: inputs.k8s_pod_restart[0]: tags: key "team.name" must not contain a dot` + "\n",
		},
		{
			name:       "two blocks share the default listen address",
			config:     "testdata/two_blocks.conf",
			wantCode:   exitOK,
			wantStdout: "configuration OK: 2 cluster(s)\n",
		},
		{
			name:       "missing file",
			config:     "testdata/none.conf",
			wantCode:   exitBadConfig,
			wantStderr: "bad configuration:\nload configuration: stat testdata/none.conf: no such file or directory\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"--check-config", "--config", tc.config}, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantStdout, stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
