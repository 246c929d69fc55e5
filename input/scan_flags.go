package input

import (
	"errors"
	"flag"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// scanFlagKeys are the configuration keys `scan` also takes as flags, named
// with dashes (--min-pods for min_pods): what says where to look and what
// counts. The rest (DataKit, queue, election, HTTP) concern the agent only.
var scanFlagKeys = []string{
	"cluster_name", "kubeconfig", "context", "namespaces", "exclude_namespaces", "pod_label_selector",
	"window", "min_pods", "min_restarted_pods", "ratio_warning", "ratio_error", "ratio_critical", "language",
}

// ScanFlags are the configuration flags of `scan`, parsed as the
// environment's values are (lists take "a,b" or a JSON array).
type ScanFlags struct {
	sets []override // in the order given; later ones win
	// clusterName is --cluster-name: with --config it chooses the block.
	clusterName string
}

// RegisterScanFlags adds the configuration flags to fs.
func RegisterScanFlags(fs *flag.FlagSet) *ScanFlags {
	sf := &ScanFlags{}
	for _, key := range scanFlagKeys {
		k := configKeys[slices.IndexFunc(configKeys, func(k configKey) bool { return k.name == key })]
		name := strings.ReplaceAll(key, "_", "-")
		def := ""
		if v := fieldValue(DefaultConfig(), k.field); v != "" {
			def = " (default " + v + ")"
		}
		fs.Func(name, "the configuration key "+key+def, func(s string) error {
			apply, err := parseEnvValue(k.field, s)
			if err != nil {
				return err
			}
			if key == "cluster_name" {
				sf.clusterName = s
			}
			sf.sets = append(sf.sets, override{env: "--" + name, key: key, apply: apply})
			return nil
		})
	}
	return sf
}

// LoadScanConfig returns the configuration of a scan: the block of the file
// or directory at path ("" for none: the defaults), with the environment's
// overrides (see ApplyEnv), then the flags', validated. With several blocks,
// --cluster-name chooses one.
func LoadScanConfig(path string, environ []string, sf *ScanFlags) (*Config, error) {
	var cfg *Config
	if path == "" {
		cfg = DefaultConfig()
		if err := ApplyEnv([]*Config{cfg}, environ); err != nil {
			return nil, err
		}
	} else {
		cfgs, err := Load(path, environ)
		if err != nil {
			return nil, err
		}
		if cfg, err = chooseBlock(cfgs, sf.clusterName); err != nil {
			return nil, err
		}
	}
	for _, o := range sf.sets {
		if o.key == "cluster_name" && path != "" {
			continue // it chose the block
		}
		o.apply(cfg)
	}
	if err := cfg.Validate(); err != nil {
		return nil, blameFlags(err, sf)
	}
	return cfg, nil
}

func chooseBlock(cfgs []*Config, name string) (*Config, error) {
	var names []string
	for _, c := range cfgs {
		if name == "" && len(cfgs) == 1 || c.ClusterName == name {
			return c, nil
		}
		names = append(names, c.ClusterName)
	}
	if name == "" {
		return nil, fmt.Errorf("the configuration has %d clusters (%s): choose one with --cluster-name", len(cfgs), strings.Join(names, ", "))
	}
	return nil, fmt.Errorf("--cluster-name %q: no such cluster in the configuration (%s)", name, strings.Join(names, ", "))
}

// blameFlags names the flag that set the value of each problem it concerns.
func blameFlags(err error, sf *ScanFlags) error {
	fromFlag := map[string]string{}
	for _, o := range sf.sets {
		fromFlag[o.key] = o.env
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	var errs []error
	for _, e := range joined.Unwrap() {
		if ke, ok := errors.AsType[*keyError](e); ok {
			key, _, _ := strings.Cut(ke.key, "[")
			if f, set := fromFlag[key]; set {
				e = fmt.Errorf("%s: %w", f, ke.err)
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
}

// fieldValue writes the value of c's field for a flag's help, "" for an
// empty one.
func fieldValue(c *Config, field int) string {
	v := reflect.ValueOf(c).Elem().Field(field)
	switch x := v.Interface().(type) {
	case Duration:
		return shortDur(x.Duration)
	case string:
		return x
	case []string:
		return strings.Join(x, ",")
	}
	return fmt.Sprint(v.Interface())
}
