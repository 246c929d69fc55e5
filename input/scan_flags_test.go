package input

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadScanConfig(t *testing.T) {
	type got struct {
		Cluster    string
		Namespaces []string
		Window     time.Duration
		MinPods    int
		Warning    float64
	}
	for _, tc := range []struct {
		name    string
		config  string
		environ []string
		args    []string
		want    got
		wantErr string // a part of the error; "" for none
	}{
		{name: "defaults", want: got{"default", nil, 30 * time.Minute, 3, 0.1}},
		{
			name:    "flags over the environment",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_WINDOW=1h", "ENV_INPUT_K8S_POD_RESTART_MIN_PODS=7"},
			args:    []string{"--namespaces", "shop,payments", "--min-pods", "5", "--ratio-warning=0.2"},
			want:    got{"default", []string{"shop", "payments"}, time.Hour, 5, 0.2},
		},
		{
			name: "--cluster-name chooses the block", config: "testdata/good/two_clusters.conf",
			args: []string{"--cluster-name", "staging", "--window", "2h"},
			want: got{"staging", []string{"shop", "payments"}, 2 * time.Hour, 5, 0.2},
		},
		{
			name: "two blocks and no choice", config: "testdata/good/two_clusters.conf",
			wantErr: "the configuration has 2 clusters (prod, staging): choose one with --cluster-name",
		},
		{
			name: "an unknown cluster", config: "testdata/good/two_clusters.conf", args: []string{"--cluster-name", "dev"},
			wantErr: `--cluster-name "dev": no such cluster`,
		},
		{
			name: "a bad value names the flag", args: []string{"--ratio-warning", "0.9", "--ratio-error", "0.5"},
			wantErr: "--ratio-error: 0.5 must be >= ratio_warning 0.9",
		},
		{name: "a value that does not parse", args: []string{"--window", "soon"}, wantErr: `bad duration "soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("scan", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			sf := RegisterScanFlags(fs)
			err := fs.Parse(tc.args)
			var cfg *Config
			if err == nil {
				cfg, err = LoadScanConfig(tc.config, tc.environ, sf)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			g := got{cfg.ClusterName, cfg.Namespaces, cfg.Window.Duration, cfg.MinPods, cfg.RatioWarning}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}
