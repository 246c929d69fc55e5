package input

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// errLines splits a joined error into its lines; nil has none.
func errLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")
}

// writeFile writes content to name under dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSampleDecodesToDefaults(t *testing.T) {
	path := writeFile(t, t.TempDir(), "sample.conf", SampleConfig())
	got, err := LoadFile(path, nil)
	if err != nil {
		t.Fatalf("LoadFile(sample): %v", err)
	}
	want := []*Config{DefaultConfig()}
	if want[0].ClusterName != "default" {
		t.Errorf("DefaultConfig().ClusterName = %q, want %q", want[0].ClusterName, "default")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sample decodes to other than DefaultConfig() (-want +got):\n%s", diff)
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v", err)
	}
}

func TestConfDSampleIsTheEmbeddedSample(t *testing.T) {
	b, err := os.ReadFile("../conf.d/k8s_pod_restart.conf.sample")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(SampleConfig(), string(b)); diff != "" {
		t.Errorf("conf.d/k8s_pod_restart.conf.sample differs from input/sample.conf; copy it (-want +got):\n%s", diff)
	}
}

// commentedKey matches a commented-out key of the sample: "  # key = value".
var commentedKey = regexp.MustCompile(`(?m)^(\s*)# ([a-z_]+ = .*)$`)

// TestSampleDocumentsEveryKey uncomments every "# key = value" line of the
// sample: the result must hold every Config key and no other, and its values
// must be the defaults, so the commented values cannot drift from the code.
func TestSampleDocumentsEveryKey(t *testing.T) {
	uncommented := commentedKey.ReplaceAllString(SampleConfig(), "$1$2")

	var doc struct {
		Inputs struct {
			Blocks []map[string]any `toml:"k8s_pod_restart"`
		} `toml:"inputs"`
	}
	if _, err := toml.Decode(uncommented, &doc); err != nil {
		t.Fatalf("decode uncommented sample: %v", err)
	}
	if len(doc.Inputs.Blocks) != 1 {
		t.Fatalf("uncommented sample has %d blocks, want 1", len(doc.Inputs.Blocks))
	}
	var inSample []string
	for k := range doc.Inputs.Blocks[0] {
		inSample = append(inSample, k)
	}
	var fields []string
	ct := reflect.TypeFor[Config]()
	for i := range ct.NumField() {
		f := ct.Field(i)
		tag := f.Tag.Get("toml")
		if tag == "" {
			t.Errorf("Config.%s has no toml tag", f.Name)
		}
		fields = append(fields, tag)
	}
	if diff := cmp.Diff(fields, inSample, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("Config keys differ from the sample's keys (-Config +sample):\n%s", diff)
	}

	path := writeFile(t, t.TempDir(), "uncommented.conf", uncommented)
	got, err := LoadFile(path, nil)
	if err != nil {
		t.Fatalf("LoadFile(uncommented sample): %v", err)
	}
	// "namespaces = []" decodes to an empty slice, the default is nil.
	opts := cmp.Options{cmpopts.IgnoreFields(Config{}, "ExtraTags"), cmpopts.EquateEmpty()}
	if diff := cmp.Diff([]*Config{DefaultConfig()}, got, opts); diff != "" {
		t.Errorf("the sample's commented values are not the defaults (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	prod := DefaultConfig()
	prod.ClusterName = "prod"
	prod.DatakitURL = "http://datakit-service.datakit.svc:9529"
	prod.QueueDir = "/var/lib/k8s-pod-restart/prod"

	staging := &Config{
		ClusterName:            "staging",
		Kubeconfig:             "testdata/kubeconfig",
		Context:                "test",
		Namespaces:             []string{"shop", "payments"},
		ExcludeNamespaces:      []string{"kube-system"},
		PodLabelSelector:       "app.kubernetes.io/part-of=shop,tier!=batch",
		Window:                 Duration{time.Hour},
		Interval:               Duration{time.Minute},
		MinPods:                5,
		MinRestartedPods:       3,
		RatioWarning:           0.2,
		RatioError:             0.4,
		RatioCritical:          1,
		Silence:                Duration{0},
		BaselineWindows:        6,
		BaselineMargin:         0.1,
		Language:               "en",
		LogTailLines:           20,
		LogTailBytes:           2048,
		DatakitURL:             "https://datakit.example.com/",
		QueueDir:               "/var/lib/k8s-pod-restart/staging",
		QueueMaxBytes:          1 << 20,
		Election:               true,
		ElectionLeaseName:      "k8s-pod-restart-staging",
		ElectionLeaseNamespace: "monitoring",
		Listen:                 "127.0.0.1:9532",
		ExtraTags:              map[string]string{"team": "sre", "cost center": "42"},
	}

	a := DefaultConfig()
	a.ClusterName = "a"
	a.Listen = ""
	b := DefaultConfig()
	b.ClusterName = "b"
	b.Window = Duration{10 * time.Minute}

	tests := []struct {
		name string
		path string
		want []*Config
	}{
		{"file with two blocks", "testdata/good/two_clusters.conf", []*Config{prod, staging}},
		{"directory reads *.conf in name order", "testdata/dir_good", []*Config{a, b}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.path, nil)
			if err != nil {
				t.Fatalf("Load(%q): %v", tc.path, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Load(%q) (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

// TestLoadMountedConfigMap reads a directory laid out like a mounted
// ConfigMap, where every file is a symbolic link into a hidden directory.
func TestLoadMountedConfigMap(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "..2026_01_01_00_00_00.000000000")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, data, "k8s_pod_restart.conf", "[[inputs.k8s_pod_restart]]\ncluster_name = \"mounted\"\n")
	for _, link := range []struct{ target, name string }{
		{filepath.Base(data), "..data"},
		{filepath.Join("..data", "k8s_pod_restart.conf"), "k8s_pod_restart.conf"},
	} {
		if err := os.Symlink(link.target, filepath.Join(dir, link.name)); err != nil {
			t.Fatal(err)
		}
	}

	got, err := Load(dir, nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := DefaultConfig()
	want.ClusterName = "mounted"
	if diff := cmp.Diff([]*Config{want}, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		want []string // the lines of the error
	}{
		{
			name: "unknown keys",
			path: "testdata/bad/unknown_key.conf",
			want: []string{
				"testdata/bad/unknown_key.conf: unknown key inputs.k8s_pod_restart[1].windows",
				"testdata/bad/unknown_key.conf: unknown key inputs.k8s_pod_restart[1].labels",
			},
		},
		{
			name: "unknown key and bad duration in an inline array of tables",
			path: "testdata/bad/inline_array.conf",
			want: []string{
				`testdata/bad/inline_array.conf: inputs.k8s_pod_restart[1]: toml: line 3 (last key "inputs.k8s_pod_restart.window"): bad duration "1y": time: unknown unit "y" in duration "1y"`,
				"testdata/bad/inline_array.conf: unknown key inputs.k8s_pod_restart.bogus",
			},
		},
		{
			name: "another input in the file",
			path: "testdata/bad/other_input.conf",
			want: []string{
				"testdata/bad/other_input.conf: unknown key inputs.cpu (a file holds only [[inputs.k8s_pod_restart]] blocks)",
			},
		},
		{
			name: "wrong type",
			path: "testdata/bad/wrong_type.conf",
			want: []string{
				`testdata/bad/wrong_type.conf: inputs.k8s_pod_restart[0]: toml: line 3 (last key "inputs.k8s_pod_restart.min_pods"): incompatible types: TOML value has type string; destination has type integer`,
			},
		},
		{
			name: "bad duration",
			path: "testdata/bad/bad_duration.conf",
			want: []string{
				`testdata/bad/bad_duration.conf: inputs.k8s_pod_restart[0]: toml: line 3 (last key "inputs.k8s_pod_restart.window"): bad duration "30": time: missing unit in duration "30"`,
			},
		},
		{
			name: "bad duration in an earlier block names its own line",
			path: "testdata/bad/bad_duration_first_block.conf",
			want: []string{
				`testdata/bad/bad_duration_first_block.conf: inputs.k8s_pod_restart[0]: toml: line 5 (last key "inputs.k8s_pod_restart.window"): bad duration "1y": time: unknown unit "y" in duration "1y"`,
			},
		},
		{
			name: "syntax error",
			path: "testdata/bad/syntax.conf",
			want: []string{
				`testdata/bad/syntax.conf: toml: line 2 (last key "inputs.k8s_pod_restart.cluster_name"): strings cannot contain newlines`,
			},
		},
		{
			name: "table instead of array of tables",
			path: "testdata/bad/single_table.conf",
			want: []string{
				"testdata/bad/single_table.conf: inputs.k8s_pod_restart must be an array of tables: write [[inputs.k8s_pod_restart]]",
			},
		},
		{
			name: "no blocks",
			path: "testdata/bad/no_blocks.conf",
			want: []string{
				"testdata/bad/no_blocks.conf: no [[inputs.k8s_pod_restart]] block",
			},
		},
		{
			name: "ratio outside (0, 1]",
			path: "testdata/bad/ratio_range.conf",
			want: []string{
				"testdata/bad/ratio_range.conf: inputs.k8s_pod_restart[0]: ratio_warning: 0 must be in (0, 1]",
				"testdata/bad/ratio_range.conf: inputs.k8s_pod_restart[0]: ratio_critical: 1.5 must be in (0, 1]",
			},
		},
		{
			name: "thresholds out of order",
			path: "testdata/bad/ratio_order.conf",
			want: []string{
				"testdata/bad/ratio_order.conf: inputs.k8s_pod_restart[0]: ratio_error: 0.2 must be >= ratio_warning 0.3",
			},
		},
		{
			name: "namespace both included and excluded",
			path: "testdata/bad/namespace_both.conf",
			want: []string{
				`testdata/bad/namespace_both.conf: inputs.k8s_pod_restart[0]: namespaces[2]: "shop" duplicates namespaces[0]`,
				`testdata/bad/namespace_both.conf: inputs.k8s_pod_restart[0]: namespaces[1]: "kube-system" is also excluded by exclude_namespaces[0]`,
			},
		},
		{
			name: "unreadable kubeconfig",
			path: "testdata/bad/kubeconfig_missing.conf",
			want: []string{
				"testdata/bad/kubeconfig_missing.conf: inputs.k8s_pod_restart[0]: kubeconfig: open testdata/no-such-kubeconfig: no such file or directory",
			},
		},
		{
			name: "duplicate cluster names in a file",
			path: "testdata/bad/duplicate_cluster.conf",
			want: []string{
				`testdata/bad/duplicate_cluster.conf: inputs.k8s_pod_restart[1]: cluster_name: "prod" is already used by testdata/bad/duplicate_cluster.conf: inputs.k8s_pod_restart[0]; each block needs its own`,
			},
		},
		{
			name: "duplicate cluster names across files",
			path: "testdata/dir_duplicate",
			want: []string{
				`testdata/dir_duplicate/b.conf: inputs.k8s_pod_restart[0]: cluster_name: "prod" is already used by testdata/dir_duplicate/a.conf: inputs.k8s_pod_restart[0]; each block needs its own`,
			},
		},
		{
			name: "directory with one bad file",
			path: "testdata/dir_one_bad",
			want: []string{
				"testdata/dir_one_bad/b.conf: inputs.k8s_pod_restart[0]: min_pods: 0 must be >= 1",
			},
		},
		{
			name: "several problems at once",
			path: "testdata/bad/many_problems.conf",
			want: []string{
				`testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: cluster_name: "" must not be empty`,
				`testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: pod_label_selector: "app in (a": unable to parse requirement: found '', expected: ',' or ')'`,
				"testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: window: 10s must be >= interval 1m0s",
				"testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: silence: -1m0s must be >= 0",
				"testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: min_restarted_pods: 0 must be >= 1",
				"testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: ratio_error: 2 must be in (0, 1]",
				`testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: datakit_url: "ftp://datakit:9529" must start with http:// or https://`,
				"testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: queue_dir: must not be empty when datakit_url is set",
				`testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: tags: key "df_source" starts with "df_", which is reserved for DataKit`,
				`testdata/bad/many_problems.conf: inputs.k8s_pod_restart[0]: tags: key "namespace" is written by the agent itself`,
			},
		},
		{
			name: "missing path",
			path: "testdata/no-such-dir",
			want: []string{"load configuration: stat testdata/no-such-dir: no such file or directory"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.path, nil)
			if got != nil {
				t.Errorf("Load(%q) returned configs %v with the error", tc.path, got)
			}
			if diff := cmp.Diff(tc.want, errLines(err)); diff != "" {
				t.Errorf("Load(%q) error (-want +got):\n%s", tc.path, diff)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *Config)
		want   []string
	}{
		{"defaults", func(c *Config) {}, nil},
		{"cluster name with a newline", func(c *Config) { c.ClusterName = "a\nb" },
			[]string{`cluster_name: "a\nb" must not contain control characters`}},
		{"cluster name ending with a backslash", func(c *Config) { c.ClusterName = `a\` },
			[]string{`cluster_name: "a\\" must not end with a backslash`}},
		{"cluster name with a slash", func(c *Config) { c.ClusterName = "prod/eu" },
			[]string{`cluster_name: "prod/eu" must not be "." or ".." nor contain a slash or backslash (it names the cluster's directory under queue_dir)`}},
		{"cluster name ..", func(c *Config) { c.ClusterName = ".." },
			[]string{`cluster_name: ".." must not be "." or ".." nor contain a slash or backslash (it names the cluster's directory under queue_dir)`}},
		{"kubeconfig is a directory", func(c *Config) { c.Kubeconfig = "testdata" },
			[]string{"kubeconfig: testdata is a directory"}},
		{"readable kubeconfig", func(c *Config) { c.Kubeconfig = "testdata/kubeconfig" }, nil},
		{"bad namespace names", func(c *Config) {
			c.Namespaces = []string{"Shop"}
			c.ExcludeNamespaces = []string{""}
		}, []string{
			`namespaces[0]: "Shop" is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
			`exclude_namespaces[0]: "" is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
		}},
		{"zero durations", func(c *Config) {
			c.Window = Duration{}
			c.Interval = Duration{}
		}, []string{"window: 0s must be > 0", "interval: 0s must be > 0"}},
		{"window equal to interval", func(c *Config) { c.Window = c.Interval }, nil},
		{"silence zero", func(c *Config) { c.Silence = Duration{} }, nil},
		{"NaN ratio", func(c *Config) { c.RatioError = math.NaN() },
			[]string{"ratio_error: NaN must be in (0, 1]"}},
		{"equal ratios", func(c *Config) { c.RatioWarning, c.RatioError, c.RatioCritical = 1, 1, 1 }, nil},
		{"critical below error", func(c *Config) { c.RatioCritical = 0.2 },
			[]string{"ratio_critical: 0.2 must be >= ratio_error 0.3"}},
		{"critical below warning, error out of range", func(c *Config) { c.RatioWarning, c.RatioError, c.RatioCritical = 0.5, 2, 0.4 },
			[]string{"ratio_error: 2 must be in (0, 1]", "ratio_critical: 0.4 must be >= ratio_warning 0.5"}},
		{"min pods zero", func(c *Config) { c.MinPods = 0 }, []string{"min_pods: 0 must be >= 1"}},
		{"datakit URL with a path", func(c *Config) { c.DatakitURL = "http://datakit:9529/v1/write/logging" },
			[]string{`datakit_url: "http://datakit:9529/v1/write/logging" must not have a path ("/v1/write/logging"): the agent adds the API path itself`}},
		{"datakit URL without host", func(c *Config) { c.DatakitURL = "http:///" },
			[]string{`datakit_url: "http:///" has no host`}},
		{"datakit URL with a query", func(c *Config) { c.DatakitURL = "http://datakit:9529?token=x" },
			[]string{`datakit_url: "http://datakit:9529?token=x" must not have a query or fragment`}},
		{"datakit URL with a slash", func(c *Config) { c.DatakitURL = "https://datakit:9529/" }, nil},
		{"queue size zero", func(c *Config) { c.QueueMaxBytes = 0 },
			[]string{"queue_max_bytes: 0 must be > 0"}},
		{"bad lease name and namespace", func(c *Config) {
			c.ElectionLeaseName = "Lease"
			c.ElectionLeaseNamespace = "a.b"
		}, []string{
			`election_lease_name: "Lease" is not a valid Lease name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
			`election_lease_namespace: "a.b" is not a valid namespace name: must not contain dots`,
		}},
		{"listen without port", func(c *Config) { c.Listen = "localhost" },
			[]string{`listen: "localhost" is not host:port: address localhost: missing port in address`}},
		{"listen with a named port", func(c *Config) { c.Listen = ":http" },
			[]string{`listen: ":http" has no numeric port 0-65535`}},
		{"listen disabled", func(c *Config) { c.Listen = "" }, nil},
		{"empty tag value and key", func(c *Config) { c.ExtraTags = map[string]string{"team": "", "": "x"} },
			[]string{`tags: key "" must not be empty`, `tags.team: "" must not be empty`}},
		{"cluster_name_k8s tag", func(c *Config) { c.ExtraTags = map[string]string{"cluster_name_k8s": "x"} },
			[]string{`tags: key "cluster_name_k8s" is written by the agent itself`}},
		// The rules output applies when it starts, which a check that
		// passed must not leave to fail then.
		{"tag key with a dot", func(c *Config) { c.ExtraTags = map[string]string{"team.name": "x"} },
			[]string{`tags: key "team.name" must not contain a dot`}},
		{"tag key source", func(c *Config) { c.ExtraTags = map[string]string{"source": "x"} },
			[]string{`tags: key "source" is reserved: DataKit makes the measurement the event's source`}},
		{"tag key of the schema", func(c *Config) { c.ExtraTags = map[string]string{"restart_ratio": "x"} },
			[]string{`tags: key "restart_ratio" is written by the agent itself`}},
		{"tag value over 1 KiB", func(c *Config) { c.ExtraTags = map[string]string{"team": strings.Repeat("x", 1025)} },
			[]string{`tags.team: "` + strings.Repeat("x", 1025) + `" must be at most 1024 bytes`}},
		{"tag value not UTF-8", func(c *Config) { c.ExtraTags = map[string]string{"team": "\xff"} },
			[]string{`tags.team: "\xff" must be valid UTF-8`}},
		{"too many tags", func(c *Config) {
			for i := range 201 {
				c.ExtraTags[fmt.Sprintf("t%03d", i)] = "x"
			}
		}, []string{"tags: 201 tags of 1005 bytes: must be at most 200 tags of 16384 bytes"}},
		{"cluster name over 1 KiB", func(c *Config) { c.ClusterName = strings.Repeat("c", 1025) },
			[]string{`cluster_name: "` + strings.Repeat("c", 1025) + `" must be at most 1024 bytes`}},
		{"unknown language", func(c *Config) { c.Language = "fr" },
			[]string{`language: "fr" must be one of ["en" "zh"]`}},
		{"unknown context", func(c *Config) { c.Kubeconfig, c.Context = "testdata/kubeconfig", "nope" },
			[]string{`context: kubeconfig testdata/kubeconfig, context "nope": context "nope" does not exist`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.change(c)
			if diff := cmp.Diff(tc.want, errLines(c.Validate())); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsNamespaceSelected(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		ns               string
		want             bool
	}{
		{"all namespaces", nil, nil, "shop", true},
		{"all but excluded: excluded", nil, []string{"kube-system"}, "kube-system", false},
		{"all but excluded: other", nil, []string{"kube-system"}, "shop", true},
		{"listed", []string{"shop", "payments"}, nil, "payments", true},
		{"not listed", []string{"shop"}, nil, "payments", false},
		{"listed and excluded", []string{"shop"}, []string{"shop"}, "shop", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Namespaces, c.ExcludeNamespaces = tc.include, tc.exclude
			if got := c.IsNamespaceSelected(tc.ns); got != tc.want {
				t.Errorf("IsNamespaceSelected(%q) = %v, want %v", tc.ns, got, tc.want)
			}
		})
	}
}

func TestTagsReturnsACopy(t *testing.T) {
	c := DefaultConfig()
	c.ExtraTags = map[string]string{"team": "sre"}
	tags := c.Tags()
	tags["team"] = "changed"
	if diff := cmp.Diff(map[string]string{"team": "sre"}, c.ExtraTags); diff != "" {
		t.Errorf("changing Tags() changed the config (-want +got):\n%s", diff)
	}
	c.ExtraTags = nil
	if got := c.Tags(); got == nil {
		t.Error("Tags() = nil for no tags, want an empty map")
	}
}

func TestDurationText(t *testing.T) {
	tests := []struct {
		text    string
		want    time.Duration
		wantErr string
	}{
		{text: "90s", want: 90 * time.Second},
		{text: "1h30m", want: 90 * time.Minute},
		{text: "30", wantErr: `bad duration "30": time: missing unit in duration "30"`},
		{text: "", wantErr: `bad duration "": time: invalid duration ""`},
	}
	for _, tc := range tests {
		t.Run(tc.text, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tc.text))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("UnmarshalText(%q) error = %v, want %q", tc.text, err, tc.wantErr)
				}
				return
			}
			if err != nil || d.Duration != tc.want {
				t.Fatalf("UnmarshalText(%q) = %v, %v; want %v", tc.text, d.Duration, err, tc.want)
			}
			text, _ := d.MarshalText()
			var back Duration
			if err := back.UnmarshalText(text); err != nil || back != d {
				t.Errorf("MarshalText gave %q, which parses back to %v, %v", text, back.Duration, err)
			}
		})
	}
}
