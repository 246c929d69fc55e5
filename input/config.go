package input

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
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
// with the key it concerns; it returns nil when c is usable. It checks that a
// kubeconfig that is set can be opened and that TLS files load, and does no
// other I/O.
func (c *Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, &keyError{key: key, err: fmt.Errorf(format, args...)})
	}
	addErr := func(key string, err error) {
		errs = append(errs, &keyError{key: key, err: err})
	}

	if err := output.CheckTagValue(c.ClusterName); err != nil {
		add("cluster_name", "%q %v", c.ClusterName, err)
	} else if err := checkPathElement(c.ClusterName); err != nil {
		add("cluster_name", "%q %v (it names the cluster's directory under queue_dir)", c.ClusterName, err)
	}

	if c.Kubeconfig != "" {
		if err := checkReadable(c.Kubeconfig); err != nil {
			addErr("kubeconfig", err)
		}
	}

	c.checkNamespaces(add)

	if c.PodLabelSelector != "" {
		if _, err := labels.Parse(c.PodLabelSelector); err != nil {
			add("pod_label_selector", "%q: %w", c.PodLabelSelector, err)
		}
	}

	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"window", c.Window.Duration}, {"interval", c.Interval.Duration}} {
		if d.v <= 0 {
			add(d.key, "%v must be > 0", d.v)
		}
	}
	if c.Interval.Duration > 0 && c.Window.Duration > 0 && c.Window.Duration < c.Interval.Duration {
		add("window", "%v must be >= interval %v", c.Window.Duration, c.Interval.Duration)
	}
	if c.Silence.Duration < 0 {
		add("silence", "%v must be >= 0", c.Silence.Duration)
	}

	if c.MinPods < 1 {
		add("min_pods", "%d must be >= 1", c.MinPods)
	}
	if c.MinRestartedPods < 1 {
		add("min_restarted_pods", "%d must be >= 1", c.MinRestartedPods)
	}

	ratios := []struct {
		key string
		v   float64
	}{{"ratio_warning", c.RatioWarning}, {"ratio_error", c.RatioError}, {"ratio_critical", c.RatioCritical}}
	prev := -1 // the last ratio in range, to compare the next one with
	for i, r := range ratios {
		if !(r.v > 0 && r.v <= 1) { // also rejects NaN
			add(r.key, "%v must be in (0, 1]", r.v)
			continue
		}
		if prev >= 0 && r.v < ratios[prev].v {
			add(r.key, "%v must be >= %s %v", r.v, ratios[prev].key, ratios[prev].v)
		}
		prev = i
	}

	c.checkAnalysis(add)

	if c.DatakitURL != "" {
		if err := datakit.CheckURL(c.DatakitURL); err != nil {
			add("datakit_url", "%q %w", datakit.RedactURL(c.DatakitURL), err)
		}
		if c.QueueDir == "" {
			add("queue_dir", "must not be empty when datakit_url is set")
		}
	}
	c.checkTLS(add)
	if c.QueueMaxBytes <= 0 {
		add("queue_max_bytes", "%d must be > 0", c.QueueMaxBytes)
	}

	if msgs := validation.IsDNS1123Subdomain(c.ElectionLeaseName); len(msgs) > 0 {
		add("election_lease_name", "%q is not a valid Lease name: %s", c.ElectionLeaseName, strings.Join(msgs, "; "))
	}
	if c.ElectionLeaseNamespace != "" {
		if msgs := validation.IsDNS1123Label(c.ElectionLeaseNamespace); len(msgs) > 0 {
			add("election_lease_namespace", "%q is not a valid namespace name: %s", c.ElectionLeaseNamespace, strings.Join(msgs, "; "))
		}
	}

	if c.Listen != "" {
		if err := checkListen(c.Listen); err != nil {
			add("listen", "%q %w", c.Listen, err)
		}
	}

	if err := output.CheckTagSet(c.ExtraTags); err != nil {
		add("tags", "%v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(c.ExtraTags)) {
		if err := output.CheckTagKey(k); err != nil {
			add("tags", "key %q %v", k, err)
		}
		if err := output.CheckTagValue(c.ExtraTags[k]); err != nil {
			add("tags."+k, "%q %v", c.ExtraTags[k], err)
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

// checkNamespaces validates namespaces and exclude_namespaces: valid names,
// no duplicates, and no namespace in both lists.
func (c *Config) checkNamespaces(add func(key, format string, args ...any)) {
	lists := []struct {
		key   string
		names []string
	}{{"namespaces", c.Namespaces}, {"exclude_namespaces", c.ExcludeNamespaces}}
	for _, l := range lists {
		seen := make(map[string]int, len(l.names))
		for i, ns := range l.names {
			key := fmt.Sprintf("%s[%d]", l.key, i)
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				add(key, "%q is not a valid namespace name: %s", ns, strings.Join(msgs, "; "))
			}
			if j, dup := seen[ns]; dup {
				add(key, "%q duplicates %s[%d]", ns, l.key, j)
				continue
			}
			seen[ns] = i
		}
	}
	for i, ns := range c.Namespaces {
		// Report each overlapping name once, at its first occurrence.
		if j := slices.Index(c.ExcludeNamespaces, ns); j >= 0 && slices.Index(c.Namespaces, ns) == i {
			add(fmt.Sprintf("namespaces[%d]", i), "%q is also excluded by exclude_namespaces[%d]", ns, j)
		}
	}
}

// checkPathElement reports why s cannot name a directory inside another.
func checkPathElement(s string) error {
	if s == "." || s == ".." || strings.ContainsAny(s, `/\`) {
		return errors.New(`must not be "." or ".." nor contain a slash or backslash`)
	}
	return nil
}

// checkReadable reports whether path is a file that can be opened.
func checkReadable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	return nil
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
