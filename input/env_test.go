package input

import (
	"io/fs"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/k8s-pod-restart/k8s-pod-restart/test/testpki"
)

func TestEnvOverridesFile(t *testing.T) {
	const file = "testdata/env/base.conf"
	tests := []struct {
		name    string
		environ []string
		change  func(c *Config) // applied to the file's config to get the expected one
	}{
		{"no variables", nil, func(c *Config) {}},
		{"other variables are ignored", []string{"HOME=/root", "ENV_INPUT_CPU_PERCPU=true", "ENV_INPUT_K8S_POD_RESTARTS=1"},
			func(c *Config) {}},
		{"string", []string{"ENV_INPUT_K8S_POD_RESTART_DATAKIT_URL=http://datakit-service.datakit.svc:9529"},
			func(c *Config) { c.DatakitURL = "http://datakit-service.datakit.svc:9529" }},
		{"empty string", []string{"ENV_INPUT_K8S_POD_RESTART_DATAKIT_URL="},
			func(c *Config) { c.DatakitURL = "" }},
		{"comma list", []string{"ENV_INPUT_K8S_POD_RESTART_NAMESPACES= shop, payments ,"},
			func(c *Config) { c.Namespaces = []string{"shop", "payments"} }},
		{"JSON list", []string{`ENV_INPUT_K8S_POD_RESTART_NAMESPACES=["shop","payments"]`},
			func(c *Config) { c.Namespaces = []string{"shop", "payments"} }},
		{"empty list", []string{"ENV_INPUT_K8S_POD_RESTART_NAMESPACES="},
			func(c *Config) { c.Namespaces = nil }},
		{"duration", []string{"ENV_INPUT_K8S_POD_RESTART_WINDOW=45m"},
			func(c *Config) { c.Window = Duration{45 * time.Minute} }},
		{"integer", []string{"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=10"},
			func(c *Config) { c.MinPods = 10 }},
		{"number", []string{"ENV_INPUT_K8S_POD_RESTART_RATIO_CRITICAL=1"},
			func(c *Config) { c.RatioCritical = 1 }},
		{"false is false", []string{"ENV_INPUT_K8S_POD_RESTART_ELECTION=false"},
			func(c *Config) { c.Election = false }},
		{"tags are added", []string{"ENV_INPUT_K8S_POD_RESTART_TAGS=team=platform, env = production"},
			func(c *Config) { c.ExtraTags = map[string]string{"team": "platform", "env": "production"} }},
		{"DataKit's cluster name", []string{"ENV_CLUSTER_NAME_K8S=prod"},
			func(c *Config) { c.ClusterName = "prod" }},
		{"our cluster name wins over DataKit's", []string{"ENV_CLUSTER_NAME_K8S=prod", "ENV_INPUT_K8S_POD_RESTART_CLUSTER_NAME=prod-eu"},
			func(c *Config) { c.ClusterName = "prod-eu" }},
		{"first of repeated names wins, as with os.Getenv", []string{"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=7", "ENV_INPUT_K8S_POD_RESTART_MIN_PODS=8"},
			func(c *Config) { c.MinPods = 7 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := LoadFile(file, nil)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(want[0])
			got, err := LoadFile(file, tc.environ)
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("LoadFile with %q (-want +got):\n%s", tc.environ, diff)
			}
		})
	}
}

// TestEnvSetsEveryKey sets every key from the environment, so a new key that
// cannot be set that way fails here.
func TestEnvSetsEveryKey(t *testing.T) {
	pki, err := testpki.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	environ := []string{
		"ENV_INPUT_K8S_POD_RESTART_CLUSTER_NAME=env",
		"ENV_INPUT_K8S_POD_RESTART_KUBECONFIG=testdata/kubeconfig",
		"ENV_INPUT_K8S_POD_RESTART_CONTEXT=test",
		"ENV_INPUT_K8S_POD_RESTART_NAMESPACES=shop",
		"ENV_INPUT_K8S_POD_RESTART_EXCLUDE_NAMESPACES=kube-system",
		"ENV_INPUT_K8S_POD_RESTART_POD_LABEL_SELECTOR=app=shop",
		"ENV_INPUT_K8S_POD_RESTART_WINDOW=1h",
		"ENV_INPUT_K8S_POD_RESTART_INTERVAL=1m",
		"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=5",
		"ENV_INPUT_K8S_POD_RESTART_MIN_RESTARTED_PODS=4",
		"ENV_INPUT_K8S_POD_RESTART_RATIO_WARNING=0.2",
		"ENV_INPUT_K8S_POD_RESTART_RATIO_ERROR=0.4",
		"ENV_INPUT_K8S_POD_RESTART_RATIO_CRITICAL=0.8",
		"ENV_INPUT_K8S_POD_RESTART_SILENCE=1h",
		"ENV_INPUT_K8S_POD_RESTART_BASELINE=true",
		"ENV_INPUT_K8S_POD_RESTART_BASELINE_WINDOWS=4",
		"ENV_INPUT_K8S_POD_RESTART_BASELINE_MARGIN=0.2",
		"ENV_INPUT_K8S_POD_RESTART_LANGUAGE=zh",
		"ENV_INPUT_K8S_POD_RESTART_COLLECT_LOGS=true",
		"ENV_INPUT_K8S_POD_RESTART_LOG_TAIL_LINES=50",
		"ENV_INPUT_K8S_POD_RESTART_LOG_TAIL_BYTES=4096",
		`ENV_INPUT_K8S_POD_RESTART_LOG_REDACT=["session=(\\w+)"]`,
		"ENV_INPUT_K8S_POD_RESTART_DATAKIT_URL=https://datakit:9529",
		"ENV_INPUT_K8S_POD_RESTART_TLS_CA_FILE=" + pki.CAFile,
		"ENV_INPUT_K8S_POD_RESTART_TLS_CERT_FILE=" + pki.ClientCertFile,
		"ENV_INPUT_K8S_POD_RESTART_TLS_KEY_FILE=" + pki.ClientKeyFile,
		"ENV_INPUT_K8S_POD_RESTART_TLS_INSECURE_SKIP_VERIFY=true",
		"ENV_INPUT_K8S_POD_RESTART_QUEUE_DIR=/queue",
		"ENV_INPUT_K8S_POD_RESTART_QUEUE_MAX_BYTES=1024",
		"ENV_INPUT_K8S_POD_RESTART_ELECTION=true",
		"ENV_INPUT_K8S_POD_RESTART_ELECTION_LEASE_NAME=lease",
		"ENV_INPUT_K8S_POD_RESTART_ELECTION_LEASE_NAMESPACE=monitoring",
		"ENV_INPUT_K8S_POD_RESTART_LISTEN=:9600",
		"ENV_INPUT_K8S_POD_RESTART_TAGS=team=sre",
	}
	want := &Config{
		ClusterName:            "env",
		Kubeconfig:             "testdata/kubeconfig",
		Context:                "test",
		Namespaces:             []string{"shop"},
		ExcludeNamespaces:      []string{"kube-system"},
		PodLabelSelector:       "app=shop",
		Window:                 Duration{time.Hour},
		Interval:               Duration{time.Minute},
		MinPods:                5,
		MinRestartedPods:       4,
		RatioWarning:           0.2,
		RatioError:             0.4,
		RatioCritical:          0.8,
		Silence:                Duration{time.Hour},
		Baseline:               true,
		BaselineWindows:        4,
		BaselineMargin:         0.2,
		Language:               "zh",
		CollectLogs:            true,
		LogTailLines:           50,
		LogTailBytes:           4096,
		LogRedact:              []string{`session=(\w+)`},
		DatakitURL:             "https://datakit:9529",
		TLSCAFile:              pki.CAFile,
		TLSCertFile:            pki.ClientCertFile,
		TLSKeyFile:             pki.ClientKeyFile,
		TLSInsecureSkipVerify:  true,
		QueueDir:               "/queue",
		QueueMaxBytes:          1024,
		Election:               true,
		ElectionLeaseName:      "lease",
		ElectionLeaseNamespace: "monitoring",
		Listen:                 ":9600",
		ExtraTags:              map[string]string{"team": "sre"},
	}
	got, err := FromEnv(environ)
	if err != nil {
		t.Fatalf("FromEnv: %v", err)
	}
	if diff := cmp.Diff([]*Config{want}, got); diff != "" {
		t.Errorf("FromEnv (-want +got):\n%s", diff)
	}

	def := reflect.ValueOf(DefaultConfig()).Elem()
	set := reflect.ValueOf(want).Elem()
	for i := range def.NumField() {
		if reflect.DeepEqual(def.Field(i).Interface(), set.Field(i).Interface()) {
			t.Errorf("the test does not set %s: add %s", def.Type().Field(i).Name, EnvName(def.Type().Field(i).Tag.Get("toml")))
		}
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		want    []string // the lines of the error
	}{
		{
			name:    "misspelt boolean",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_ELECTION=flase"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_ELECTION: bad boolean "flase": invalid syntax (want true or false)`},
		},
		{
			name:    "duration without unit",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_WINDOW=30"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_WINDOW: bad duration "30": time: missing unit in duration "30"`},
		},
		{
			name:    "fractional integer",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=3.5"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_MIN_PODS: bad integer "3.5": invalid syntax`},
		},
		{
			name:    "integer out of range",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_QUEUE_MAX_BYTES=99999999999999999999"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_QUEUE_MAX_BYTES: bad integer "99999999999999999999": value out of range`},
		},
		{
			name:    "not a number",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_RATIO_WARNING=ten percent"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_RATIO_WARNING: bad number "ten percent": invalid syntax`},
		},
		{
			name:    "broken JSON list",
			environ: []string{`ENV_INPUT_K8S_POD_RESTART_NAMESPACES=["shop",`},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_NAMESPACES: bad JSON array of strings "[\"shop\",": unexpected end of JSON input`},
		},
		{
			name:    "tag without value",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_TAGS=team=sre,production"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_TAGS: bad tags "team=sre,production": "production" is not key=value`},
		},
		{
			name:    "unknown key",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_WINDOWS=1h"},
			want:    []string{`ENV_INPUT_K8S_POD_RESTART_WINDOWS: no such key "windows" in [[inputs.k8s_pod_restart]]`},
		},
		{
			name: "every bad variable at once",
			environ: []string{
				"ENV_INPUT_K8S_POD_RESTART_ZZZ=1",
				"ENV_INPUT_K8S_POD_RESTART_ELECTION=yes",
				"ENV_INPUT_K8S_POD_RESTART_INTERVAL=often",
			},
			want: []string{
				`ENV_INPUT_K8S_POD_RESTART_INTERVAL: bad duration "often": time: invalid duration "often"`,
				`ENV_INPUT_K8S_POD_RESTART_ELECTION: bad boolean "yes": invalid syntax (want true or false)`,
				`ENV_INPUT_K8S_POD_RESTART_ZZZ: no such key "zzz" in [[inputs.k8s_pod_restart]]`,
			},
		},
		{
			name:    "bad variable and bad file together",
			file:    "testdata/bad/ratio_order.conf",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_ELECTION=flase"},
			want: []string{
				`ENV_INPUT_K8S_POD_RESTART_ELECTION: bad boolean "flase": invalid syntax (want true or false)`,
				"testdata/bad/ratio_order.conf: inputs.k8s_pod_restart[0]: ratio_error: 0.2 must be >= ratio_warning 0.3",
			},
		},
		{
			name:    "value that parses but is invalid names the variable",
			environ: []string{"ENV_INPUT_K8S_POD_RESTART_RATIO_WARNING=2"},
			want: []string{
				"testdata/env/base.conf: inputs.k8s_pod_restart[0]: ratio_warning: 2 must be in (0, 1] (ENV_INPUT_K8S_POD_RESTART_RATIO_WARNING is set)",
			},
		},
		{
			name:    "cluster name for several blocks",
			file:    "testdata/env/two_blocks.conf",
			environ: []string{"ENV_CLUSTER_NAME_K8S=prod"},
			want: []string{
				`testdata/env/two_blocks.conf: inputs.k8s_pod_restart[1]: cluster_name: "prod" is already used by testdata/env/two_blocks.conf: inputs.k8s_pod_restart[0]; each block needs its own (ENV_CLUSTER_NAME_K8S sets it for every block)`,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "testdata/env/base.conf"
			}
			got, err := LoadFile(file, tc.environ)
			if got != nil {
				t.Errorf("LoadFile returned configs %v with the error", got)
			}
			if diff := cmp.Diff(tc.want, errLines(err)); diff != "" {
				t.Errorf("LoadFile with %q: error (-want +got):\n%s", tc.environ, diff)
			}
		})
	}
}

func TestApplyEnv(t *testing.T) {
	t.Run("every config gets its own copy", func(t *testing.T) {
		cfgs := []*Config{DefaultConfig(), DefaultConfig()}
		if err := ApplyEnv(cfgs, []string{"ENV_INPUT_K8S_POD_RESTART_NAMESPACES=shop", "ENV_INPUT_K8S_POD_RESTART_TAGS=team=sre"}); err != nil {
			t.Fatal(err)
		}
		cfgs[0].Namespaces[0] = "changed"
		cfgs[0].ExtraTags["team"] = "changed"
		if diff := cmp.Diff([]string{"shop"}, cfgs[1].Namespaces); diff != "" {
			t.Errorf("second config's namespaces (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"team": "sre"}, cfgs[1].ExtraTags); diff != "" {
			t.Errorf("second config's tags (-want +got):\n%s", diff)
		}
	})
	t.Run("nothing changes on error", func(t *testing.T) {
		cfgs := []*Config{DefaultConfig()}
		err := ApplyEnv(cfgs, []string{"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=9", "ENV_INPUT_K8S_POD_RESTART_ELECTION=flase"})
		if err == nil {
			t.Fatal("ApplyEnv: no error")
		}
		if diff := cmp.Diff([]*Config{DefaultConfig()}, cfgs); diff != "" {
			t.Errorf("configs changed (-want +got):\n%s", diff)
		}
	})
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    func(c *Config)
		wantErr []string
	}{
		{name: "defaults", want: func(c *Config) {}},
		{name: "cluster name", environ: []string{"ENV_CLUSTER_NAME_K8S=prod"}, want: func(c *Config) { c.ClusterName = "prod" }},
		{name: "invalid", environ: []string{"ENV_INPUT_K8S_POD_RESTART_MIN_PODS=0"},
			wantErr: []string{"environment: min_pods: 0 must be >= 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromEnv(tc.environ)
			if diff := cmp.Diff(tc.wantErr, errLines(err)); diff != "" {
				t.Fatalf("FromEnv error (-want +got):\n%s", diff)
			}
			if tc.want == nil {
				return
			}
			want := DefaultConfig()
			tc.want(want)
			if diff := cmp.Diff([]*Config{want}, got); diff != "" {
				t.Errorf("FromEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLeaseNamespace(t *testing.T) {
	env := func(vars map[string]string) func(string) (string, bool) {
		return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	}
	file := func(content string, err error) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if name != serviceAccountNamespaceFile {
				t.Errorf("read %s, want %s", name, serviceAccountNamespaceFile)
			}
			return []byte(content), err
		}
	}
	tests := []struct {
		name       string
		configured string
		lookup     func(string) (string, bool)
		readFile   func(string) ([]byte, error)
		want       string
		wantErr    string
	}{
		{"configured", "monitoring", env(map[string]string{"POD_NAMESPACE": "datakit"}), file("other", nil), "monitoring", ""},
		{"POD_NAMESPACE", "", env(map[string]string{"POD_NAMESPACE": "datakit"}), file("other", nil), "datakit", ""},
		{"service account", "", env(nil), file("datakit\n", nil), "datakit", ""},
		{"not in a cluster", "", env(nil), file("", fs.ErrNotExist), "",
			"election_lease_namespace is empty, POD_NAMESPACE is not set, and the pod's namespace is unknown: file does not exist"},
		{"empty file", "", env(map[string]string{"POD_NAMESPACE": ""}), file("\n", nil), "",
			"election_lease_namespace is empty, POD_NAMESPACE is not set, and /var/run/secrets/kubernetes.io/serviceaccount/namespace is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.ElectionLeaseNamespace = tc.configured
			got, err := c.LeaseNamespace(tc.lookup, tc.readFile)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if got != tc.want || gotErr != tc.wantErr {
				t.Errorf("LeaseNamespace() = %q, %q; want %q, %q", got, gotErr, tc.want, tc.wantErr)
			}
		})
	}
}
