package input

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Config is one [[inputs.k8s_pod_restart]] block: the settings for watching
// one cluster. The sample configuration (sample.conf) documents every key;
// DefaultConfig holds the defaults it shows.
type Config struct {
	ClusterName            string            `toml:"cluster_name"`
	Kubeconfig             string            `toml:"kubeconfig"`
	Context                string            `toml:"context"`
	Namespaces             []string          `toml:"namespaces"`
	ExcludeNamespaces      []string          `toml:"exclude_namespaces"`
	PodLabelSelector       string            `toml:"pod_label_selector"`
	Window                 Duration          `toml:"window"`
	Interval               Duration          `toml:"interval"`
	MinPods                int               `toml:"min_pods"`
	MinRestartedPods       int               `toml:"min_restarted_pods"`
	RatioWarning           float64           `toml:"ratio_warning"`
	RatioError             float64           `toml:"ratio_error"`
	RatioCritical          float64           `toml:"ratio_critical"`
	Silence                Duration          `toml:"silence"`
	Baseline               bool              `toml:"baseline"`
	BaselineWindows        int               `toml:"baseline_windows"`
	BaselineMargin         float64           `toml:"baseline_margin"`
	Language               string            `toml:"language"`
	CollectLogs            bool              `toml:"collect_logs"`
	LogTailLines           int               `toml:"log_tail_lines"`
	LogTailBytes           int               `toml:"log_tail_bytes"`
	LogRedact              []string          `toml:"log_redact"`
	DatakitURL             string            `toml:"datakit_url"`
	TLSCAFile              string            `toml:"tls_ca_file"`
	TLSCertFile            string            `toml:"tls_cert_file"`
	TLSKeyFile             string            `toml:"tls_key_file"`
	TLSInsecureSkipVerify  bool              `toml:"tls_insecure_skip_verify"`
	QueueDir               string            `toml:"queue_dir"`
	QueueMaxBytes          int64             `toml:"queue_max_bytes"`
	Election               bool              `toml:"election"`
	ElectionLeaseName      string            `toml:"election_lease_name"`
	ElectionLeaseNamespace string            `toml:"election_lease_namespace"`
	Listen                 string            `toml:"listen"`
	ExtraTags              map[string]string `toml:"tags"` // the tags table; Tags returns a copy
}

// configKey is one key of a [[inputs.k8s_pod_restart]] block.
type configKey struct {
	name  string // the TOML key, from the field's toml tag
	field int    // the index of the Config field
}

// configKeys lists the keys of Config in field order, derived from the toml
// tags so that the file, the environment and the sample share one source.
var configKeys = func() []configKey {
	t := reflect.TypeFor[Config]()
	keys := make([]configKey, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		keys = append(keys, configKey{name: name, field: i})
	}
	return keys
}()

// Duration is a time.Duration written in TOML as a Go duration string such
// as "30s" or "1h30m".
type Duration struct {
	time.Duration
}

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", text, err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// DefaultConfig returns a new Config holding the defaults that the sample
// configuration documents. Each call returns fresh slices and maps.
func DefaultConfig() *Config {
	return &Config{
		ClusterName:       "default",
		Window:            Duration{30 * time.Minute},
		Interval:          Duration{30 * time.Second},
		MinPods:           3,
		MinRestartedPods:  2,
		RatioWarning:      0.1,
		RatioError:        0.3,
		RatioCritical:     0.5,
		Silence:           Duration{30 * time.Minute},
		BaselineWindows:   6,
		BaselineMargin:    0.1,
		Language:          "en",
		LogTailLines:      20,
		LogTailBytes:      2048,
		QueueDir:          "/var/lib/k8s-pod-restart",
		QueueMaxBytes:     256 << 20,
		ElectionLeaseName: "k8s-pod-restart",
		Listen:            ":9531",
		ExtraTags:         map[string]string{},
	}
}

// TagClusterName is the tag that carries cluster_name on every point.
const TagClusterName = "cluster_name_k8s"

// Validate reports every problem of c, one error per problem, each starting
// with the key it concerns; it returns nil when c is usable. It applies the
// rules of every package the configuration reaches (collect, detect, output)
// so that what passes here also starts. It reads a kubeconfig that is named
// and the TLS files, and does no other I/O; it connects to nothing.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &keyError{key: key, err: fmt.Errorf(format, args...)})
	}
	c.checkCluster(add)
	c.checkDetection(add)
	c.checkOutput(add)
	c.checkLogs(add)
	c.checkElection(add)
	if c.Listen != "" {
		if err := checkListen(c.Listen); err != nil {
			add("listen", "%q %w", c.Listen, err)
		}
	}
	return errors.Join(errs...)
}

// keyError is a problem with the value of one key.
type keyError struct {
	key string // the key as written in messages: "min_pods", "namespaces[2]", "tags.team"
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// checkElection validates the Lease's name and namespace.
func (c *Config) checkElection(add func(key, format string, args ...any)) {
	if msgs := validation.IsDNS1123Subdomain(c.ElectionLeaseName); len(msgs) > 0 {
		add("election_lease_name", "%q is not a valid Lease name: %s", c.ElectionLeaseName, strings.Join(msgs, "; "))
	}
	if c.ElectionLeaseNamespace != "" {
		if msgs := validation.IsDNS1123Label(c.ElectionLeaseNamespace); len(msgs) > 0 {
			add("election_lease_namespace", "%q is not a valid namespace name: %s", c.ElectionLeaseNamespace, strings.Join(msgs, "; "))
		}
	}
}

// checkListen reports why s is not a host:port address to listen on.
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("is not host:port: %w", err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return errors.New("has no numeric port 0-65535")
	}
	return nil
}

// Tags returns a copy of the user's extra tags (the tags table), never nil.
// The agent adds cluster_name_k8s and its own tags to these.
func (c *Config) Tags() map[string]string {
	if c.ExtraTags == nil {
		return map[string]string{}
	}
	return maps.Clone(c.ExtraTags)
}

// IsNamespaceSelected reports whether pods of namespace ns are watched: ns is
// not in exclude_namespaces and, when namespaces is not empty, is in it.
func (c *Config) IsNamespaceSelected(ns string) bool {
	if slices.Contains(c.ExcludeNamespaces, ns) {
		return false
	}
	return len(c.Namespaces) == 0 || slices.Contains(c.Namespaces, ns)
}
