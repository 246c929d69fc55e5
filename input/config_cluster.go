package input

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/k8s-pod-restart/k8s-pod-restart/collect"
)

// checkCluster validates what selects the cluster and its pods: the
// cluster's name, kubeconfig and context, namespaces and pod selector.
func (c *Config) checkCluster(add func(key, format string, args ...any)) {
	c.checkClusterName(add)
	c.checkKubeconfig(add)
	c.checkNamespaces(add)
	if c.PodLabelSelector != "" {
		if _, err := labels.Parse(c.PodLabelSelector); err != nil {
			add("pod_label_selector", "%q: %w", c.PodLabelSelector, err)
		}
	}
}

// checkKubeconfig builds the client configuration the way runCluster does
// when kubeconfig or context is set: the file must parse, the context exist
// and the credentials it names be readable. Nothing is connected. Without
// either, the in-cluster configuration is the environment's, not the file's.
func (c *Config) checkKubeconfig(add func(key, format string, args ...any)) {
	if c.Kubeconfig == "" && c.Context == "" {
		return
	}
	if c.Kubeconfig != "" {
		if err := checkReadable(c.Kubeconfig); err != nil {
			add("kubeconfig", "%w", err)
			return
		}
	}
	key := "kubeconfig"
	if c.Context != "" {
		key = "context"
	}
	restCfg, err := collect.Connect(c.Kubeconfig, c.Context)
	if err == nil {
		_, err = kubernetes.NewForConfig(restCfg)
	}
	if err != nil {
		add(key, "%w", err)
	}
}

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
