package collect

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
)

// ListSink receives, once, everything the agent's watchers would hand over
// from their initial lists.
type ListSink interface {
	PodSink
	ContextSink
	EventSink
}

// listPageSize is the page size of every list.
const listPageSize = 500

// List lists once what the agent watches: namespaces (with meta; nil leaves
// their annotations out), nodes, ReplicaSets, pods and the Warning events
// about pods, in that order, and hands each to sink through the same
// conversions the watchers use. Pods come after their context, as a
// watcher's first evaluation sees them, and events last: the sink drops
// events about pods it does not know. It needs only get/list, which the
// agent's ClusterRole allows.
//
// It returns an error when the pods cannot be listed. What the analysis
// reads besides pods is returned as warnings when it fails (a Role without
// nodes, say): the analysis goes on without it, as the agent's does.
func List(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, opts Options, sink ListSink) (warnings []error, err error) {
	namespaces := watchedNamespaces(opts.Namespaces, opts.ExcludeNamespaces)
	if len(opts.Namespaces) > 0 && len(namespaces) == 0 {
		return nil, errors.New("collect: every namespace to list is also excluded")
	}
	fieldSelector := ""
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
		fieldSelector = excludeSelector(opts.ExcludeNamespaces)
	}
	warn := func(what string, err error) {
		if err != nil {
			warnings = append(warnings, fmt.Errorf("list %s: %w", what, err))
		}
	}

	if meta != nil {
		warn("namespaces", pages(ctx, func(o metav1.ListOptions) (string, error) {
			l, err := meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).List(ctx, o)
			if err != nil {
				return "", err
			}
			for i := range l.Items {
				m := &l.Items[i]
				if opts.selects(m.Name) {
					ov, _ := OverridesFromAnnotations(m.Annotations)
					sink.NamespaceChanged(m.Name, ov)
				}
			}
			return l.Continue, nil
		}))
	}
	warn("nodes", pages(ctx, func(o metav1.ListOptions) (string, error) {
		l, err := client.CoreV1().Nodes().List(ctx, o)
		if err != nil {
			return "", err
		}
		for i := range l.Items {
			sink.NodeChanged(NodeFromAPI(&l.Items[i]))
		}
		return l.Continue, nil
	}))
	for _, ns := range namespaces {
		warn("replicasets", pages(ctx, func(o metav1.ListOptions) (string, error) {
			o.FieldSelector = fieldSelector
			l, err := client.AppsV1().ReplicaSets(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			for i := range l.Items {
				if r, ok := RevisionFromAPI(&l.Items[i]); ok {
					sink.RevisionChanged(r)
				}
			}
			return l.Continue, nil
		}))
	}
	for _, ns := range namespaces {
		err := pages(ctx, func(o metav1.ListOptions) (string, error) {
			o.FieldSelector, o.LabelSelector = fieldSelector, opts.LabelSelector
			l, err := client.CoreV1().Pods(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			for i := range l.Items {
				sink.PodChanged(PodFromAPI(&l.Items[i]))
			}
			return l.Continue, nil
		})
		if err != nil {
			return warnings, fmt.Errorf("list pods: %w", err)
		}
	}
	ew, err := NewEventWatcher(client, opts, sink, nil)
	if err != nil {
		return warnings, err
	}
	for _, s := range ew.scopes {
		warn("events", pages(ctx, func(o metav1.ListOptions) (string, error) {
			o.FieldSelector = s.selector
			l, err := client.CoreV1().Events(s.namespace).List(ctx, o)
			if err != nil {
				return "", err
			}
			for i := range l.Items {
				ew.hand(&l.Items[i])
			}
			return l.Continue, nil
		}))
	}
	return warnings, nil
}

// pages calls list with a page size until it returns no continue token,
// starting over when the token expires.
func pages(ctx context.Context, list func(metav1.ListOptions) (string, error)) error {
	o := metav1.ListOptions{Limit: listPageSize}
	for {
		next, err := list(o)
		switch {
		case apierrors.IsResourceExpired(err) && o.Continue != "":
			o.Continue = ""
			continue
		case err != nil:
			return err
		case next == "":
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		o.Continue = next
	}
}
