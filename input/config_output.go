package input

import (
	"maps"
	"slices"

	"github.com/k8s-pod-restart/k8s-pod-restart/output"
	"github.com/k8s-pod-restart/k8s-pod-restart/output/datakit"
)

// checkOutput validates where and how the agent writes: the DataKit URL and
// queue, and what output encodes: the extra tags and the language of the
// events (checkClusterName checks the cluster's name). The rules of URLs,
// tags and languages are output's alone.
func (c *Config) checkOutput(add func(key, format string, args ...any)) {
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
	if err := output.CheckLanguage(c.Language); err != nil {
		add("language", "%w", err)
	}
}

// checkClusterName validates cluster_name as output's tag value, then as
// the name of the cluster's queue directory.
func (c *Config) checkClusterName(add func(key, format string, args ...any)) {
	if err := output.CheckTagValue(c.ClusterName); err != nil {
		add("cluster_name", "%q %v", c.ClusterName, err)
		return
	}
	if err := checkPathElement(c.ClusterName); err != nil {
		add("cluster_name", "%q %v (it names the cluster's directory under queue_dir)", c.ClusterName, err)
	}
}
