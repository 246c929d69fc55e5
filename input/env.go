package input

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// Environment variables that override the configuration, in DataKit's style.
const (
	// EnvPrefix starts the variable of every key: EnvPrefix + the key in
	// upper case, such as ENV_INPUT_K8S_POD_RESTART_DATAKIT_URL.
	EnvPrefix = "ENV_INPUT_K8S_POD_RESTART_"
	// EnvClusterName sets cluster_name, as DataKit's own variable does for
	// cluster_name_k8s; EnvPrefix + "CLUSTER_NAME" wins over it.
	EnvClusterName = "ENV_CLUSTER_NAME_K8S"
)

// EnvName returns the variable that overrides key.
func EnvName(key string) string { return EnvPrefix + strings.ToUpper(key) }

// override is one value set by the environment.
type override struct {
	env   string // the variable that set it
	key   string // the key it sets
	apply func(c *Config)
}

// ApplyEnv applies the overrides found in environ (as os.Environ returns it)
// to every config in cfgs. A variable starting with EnvPrefix that names no
// key, or whose value does not parse, is an error naming the variable; on
// error no config is changed. Lists take "a,b" or a JSON array, tags take
// "k=v,k2=v2" and are added to each config's tags, booleans take what
// strconv.ParseBool takes.
func ApplyEnv(cfgs []*Config, environ []string) error {
	ovs, err := parseEnv(environ)
	if err != nil {
		return err // apply none: a half-applied environment is worse
	}
	for _, c := range cfgs {
		for _, o := range ovs {
			o.apply(c)
		}
	}
	return nil
}

// FromEnv returns the configuration of an agent run without a configuration
// file: one block of defaults with the environment applied, validated.
func FromEnv(environ []string) ([]*Config, error) {
	c := DefaultConfig()
	if err := ApplyEnv([]*Config{c}, environ); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, prefixErrors("environment", err)
	}
	return []*Config{c}, nil
}

// parseEnv parses the variables of environ that concern the configuration:
// it returns the overrides of the good ones and an error for every bad one.
// Like os.Getenv, the first of repeated names wins.
func parseEnv(environ []string) ([]override, error) {
	vars := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if _, seen := vars[name]; ok && !seen {
			vars[name] = value
		}
	}

	var (
		ovs  []override
		errs []error
	)
	if v, ok := vars[EnvClusterName]; ok {
		if _, specific := vars[EnvName("cluster_name")]; !specific {
			ovs = append(ovs, override{env: EnvClusterName, key: "cluster_name", apply: func(c *Config) { c.ClusterName = v }})
		}
	}
	known := make(map[string]bool, len(configKeys))
	for _, k := range configKeys {
		name := EnvName(k.name)
		known[name] = true
		v, ok := vars[name]
		if !ok {
			continue
		}
		apply, err := parseEnvValue(k.field, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		ovs = append(ovs, override{env: name, key: k.name, apply: apply})
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			errs = append(errs, fmt.Errorf("%s: no such key %q in [[inputs.k8s_pod_restart]]",
				name, strings.ToLower(strings.TrimPrefix(name, EnvPrefix))))
		}
	}
	return ovs, errors.Join(errs...)
}

// parseEnvValue parses s for the Config field with index field and returns
// the function that sets it.
func parseEnvValue(field int, s string) (func(c *Config), error) {
	fieldOf := func(c *Config) reflect.Value { return reflect.ValueOf(c).Elem().Field(field) }
	t := reflect.TypeFor[Config]().Field(field).Type

	if t == reflect.TypeFor[Duration]() {
		var d Duration
		if err := d.UnmarshalText([]byte(s)); err != nil {
			return nil, err
		}
		return func(c *Config) { fieldOf(c).Set(reflect.ValueOf(d)) }, nil
	}
	switch t.Kind() {
	case reflect.String:
		return func(c *Config) { fieldOf(c).SetString(s) }, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("bad boolean %q: %w (want true or false)", s, numErr(err))
		}
		return func(c *Config) { fieldOf(c).SetBool(b) }, nil
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return nil, fmt.Errorf("bad integer %q: %w", s, numErr(err))
		}
		return func(c *Config) { fieldOf(c).SetInt(n) }, nil
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", s, numErr(err))
		}
		return func(c *Config) { fieldOf(c).SetFloat(f) }, nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			list, err := parseEnvList(s)
			if err != nil {
				return nil, err
			}
			// Each config gets its own copy.
			return func(c *Config) { fieldOf(c).Set(reflect.ValueOf(slices.Clone(list))) }, nil
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String && t.Elem().Kind() == reflect.String {
			tags, err := parseEnvTags(s)
			if err != nil {
				return nil, err
			}
			return func(c *Config) {
				f := fieldOf(c)
				if f.IsNil() {
					f.Set(reflect.MakeMap(t))
				}
				for k, v := range tags {
					f.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(v))
				}
			}, nil
		}
	}
	return nil, fmt.Errorf("a value of type %s cannot be set from the environment", t)
}

// numErr returns the reason inside a strconv error ("invalid syntax", "value
// out of range"): the variable and value are already in the message.
func numErr(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	return err
}

// parseEnvList parses a comma-separated list or a JSON array of strings.
// Blank items of a comma-separated list are skipped; "" is the empty list.
func parseEnvList(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "[") {
		var list []string
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("bad JSON array of strings %q: %w", s, err)
		}
		if len(list) == 0 {
			return nil, nil
		}
		return list, nil
	}
	var list []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	return list, nil
}

// parseEnvTags parses "k=v,k2=v2"; blank items are skipped.
func parseEnvTags(s string) (map[string]string, error) {
	tags := make(map[string]string)
	for item := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("bad tags %q: %q is not key=value", s, item)
		}
		tags[k] = strings.TrimSpace(v)
	}
	return tags, nil
}

// serviceAccountNamespaceFile holds the namespace of the pod the agent runs
// in, inside a cluster.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// LeaseNamespace returns the namespace of the election Lease:
// election_lease_namespace when set, else $POD_NAMESPACE, else the namespace
// of the pod's service account. lookup and readFile are os.LookupEnv and
// os.ReadFile outside tests.
func (c *Config) LeaseNamespace(lookup func(string) (string, bool), readFile func(string) ([]byte, error)) (string, error) {
	if c.ElectionLeaseNamespace != "" {
		return c.ElectionLeaseNamespace, nil
	}
	if ns, ok := lookup("POD_NAMESPACE"); ok && ns != "" {
		return ns, nil
	}
	b, err := readFile(serviceAccountNamespaceFile)
	if err != nil {
		return "", fmt.Errorf("election_lease_namespace is empty, POD_NAMESPACE is not set, and the pod's namespace is unknown: %w", err)
	}
	ns := strings.TrimSpace(string(b))
	if ns == "" {
		return "", fmt.Errorf("election_lease_namespace is empty, POD_NAMESPACE is not set, and %s is empty", serviceAccountNamespaceFile)
	}
	return ns, nil
}
