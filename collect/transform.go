package collect

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// transform is the pod informer's cache.TransformFunc: it replaces every pod
// the informer is about to store by its compact cachedPod, so that the cache
// holds only what PodFromAPI and the event handlers read, and the decoded
// *corev1.Pod is garbage at once. Client-go applies it before anything else
// sees the object, the WatchList stream's temporary store included, so the
// initial list never holds full pods either. It is idempotent, as client-go
// requires: a cachedPod passes unchanged, and so does anything that is not a
// pod.
func transform(obj any) (any, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		return newCachedPod(o), nil
	case cache.DeletedFinalStateUnknown:
		// client-go does not pass tombstones to the transform (their object
		// was transformed when stored), but if it ever does, keep them small.
		if p, ok := o.Obj.(*corev1.Pod); ok {
			return cache.DeletedFinalStateUnknown{Key: o.Key, Obj: newCachedPod(p)}, nil
		}
	}
	return obj, nil
}
