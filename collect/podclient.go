package collect

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// The pod informer's own REST client decodes pods with the lean decoder
// (lean.go) beneath the informer machinery: the reflector, WatchList, resume
// from a resourceVersion and relists are client-go's, unchanged; only the
// objects its list and watch calls return are cachedPods instead of
// *corev1.Pods. A response that is not a protobuf Pod or PodList (JSON, a
// Status, anything the lean decoder refuses) goes to the standard decoder,
// and a pod it returns is converted with newCachedPod.

// cachedPodList is a pod list of cachedPods, what the pod informer's list
// calls return. The reflector reads its ListMeta and its Items.
type cachedPodList struct {
	metav1.ListMeta
	Items []*cachedPod
}

var _ metav1.ListInterface = (*cachedPodList)(nil)

func (l *cachedPodList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject returns a copy sharing the immutable pods.
func (l *cachedPodList) DeepCopyObject() runtime.Object {
	cp := &cachedPodList{Items: slices.Clone(l.Items)}
	l.ListMeta.DeepCopyInto(&cp.ListMeta)
	return cp
}

// cachedFromAPI converts an object of the standard decoder: pods and pod
// lists become cachedPods; anything else (a Status) passes unchanged.
func cachedFromAPI(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *corev1.Pod:
		c := newCachedPod(o)
		c.initialEventsEnd = o.Annotations[metav1.InitialEventsAnnotationKey] == "true"
		return c
	case *corev1.PodList:
		out := &cachedPodList{ListMeta: o.ListMeta, Items: make([]*cachedPod, len(o.Items))}
		for i := range o.Items {
			out.Items[i] = newCachedPod(&o.Items[i])
		}
		return out
	}
	return obj
}

// leanDecoder decodes with the lean decoder what it can and with next the
// rest.
type leanDecoder struct{ next runtime.Decoder }

func (d leanDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into == nil {
		if obj, ok := leanObject(data); ok {
			gvk := corev1.SchemeGroupVersion.WithKind("Pod")
			if _, list := obj.(*cachedPodList); list {
				gvk.Kind = "PodList"
			}
			return obj.(runtime.Object), &gvk, nil
		}
	}
	obj, gvk, err := d.next.Decode(data, defaults, into)
	if err != nil || into != nil {
		return obj, gvk, err
	}
	return cachedFromAPI(obj), gvk, nil
}

// leanSerializer is the pod client's runtime.NegotiatedSerializer: the
// typed clients' own, whose decoders it wraps in leanDecoders, and whose
// protobuf watch events it decodes with watchEventDecoder.
type leanSerializer struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func newLeanSerializer() leanSerializer {
	s := leanSerializer{NegotiatedSerializer: scheme.Codecs.WithoutConversion()}
	s.infos = slices.Clone(s.NegotiatedSerializer.SupportedMediaTypes())
	for i := range s.infos {
		if ss := s.infos[i].StreamSerializer; s.infos[i].MediaType == runtime.ContentTypeProtobuf && ss != nil {
			lean := *ss
			lean.Serializer = watchEventDecoder{ss.Serializer}
			s.infos[i].StreamSerializer = &lean
		}
	}
	return s
}

func (s leanSerializer) SupportedMediaTypes() []runtime.SerializerInfo { return s.infos }

func (s leanSerializer) DecoderToVersion(d runtime.Decoder, gv runtime.GroupVersioner) runtime.Decoder {
	return leanDecoder{s.NegotiatedSerializer.DecoderToVersion(d, gv)}
}

// watchEventDecoder decodes the frames of a protobuf watch into
// metav1.WatchEvents (type = 1; object = 2, a RawExtension: raw = 1) whose
// object's bytes alias the frame, where the standard decoder copies them,
// about 10 KB per pod update. That is safe beneath client-go's watch decoder
// (rest/watch.Decoder.Decode): it decodes the object, with a leanDecoder,
// before it reads the next frame into the same buffer, and the decoders copy
// what they return. Anything else goes to the standard decoder.
type watchEventDecoder struct{ runtime.Serializer }

var watchEventGVK = metav1.SchemeGroupVersion.WithKind("WatchEvent")

func (d watchEventDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if e, ok := into.(*metav1.WatchEvent); ok && decodeWatchEvent(data, e) {
		return e, &watchEventGVK, nil
	}
	return d.Serializer.Decode(data, defaults, into)
}

// decodeWatchEvent decodes a metav1.WatchEvent into e, its object aliasing
// b; false when it cannot.
func decodeWatchEvent(b []byte, e *metav1.WatchEvent) bool {
	*e = metav1.WatchEvent{}
	return eachField(b, func(f *pbField) bool {
		switch f.num {
		case 1:
			var t string
			if !setStr(f, &t) {
				return false
			}
			e.Type = eventType(t)
		case 2:
			return decodeMsg(f, func(b []byte) bool {
				return eachField(b, func(f *pbField) bool {
					if f.num == 1 {
						var ok bool
						e.Object.Raw, ok = f.msg()
						return ok
					}
					return true
				})
			})
		}
		return true
	})
}

// eventType returns t, a string aliasing a frame, as one of the constant
// event types or a copy.
func eventType(t string) string {
	for _, known := range []watch.EventType{watch.Added, watch.Modified, watch.Deleted, watch.Bookmark, watch.Error} {
		if t == string(known) {
			return string(known)
		}
	}
	return strings.Clone(t)
}

// leanPodClient returns a REST client for core/v1 like client's, whose
// decoders are leanDecoders; nil when client has no REST client (the fake
// clientset of unit tests).
func leanPodClient(client kubernetes.Interface) (*rest.RESTClient, error) {
	base, ok := client.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || base == nil {
		return nil, nil
	}
	// The base client's URL and versioned path are not exported: its
	// request URL is both, "<host>[/prefix]/api/v1".
	u := base.Get().URL()
	versioned := u.Path
	host := &url.URL{Scheme: u.Scheme, Host: u.Host, User: u.User}
	c, err := rest.NewRESTClient(host, versioned, rest.ClientContentConfig{
		AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON,
		ContentType:        runtime.ContentTypeProtobuf,
		GroupVersion:       corev1.SchemeGroupVersion,
		Negotiator:         runtime.NewClientNegotiator(newLeanSerializer(), corev1.SchemeGroupVersion),
	}, base.GetRateLimiter(), base.Client)
	if err != nil {
		return nil, fmt.Errorf("collect: pod client: %w", err)
	}
	return c, nil
}

// leanPodInformer is coreinformers.NewFilteredPodInformer on a lean client:
// the same list and watch requests as client-go's typed PodInterface.List and
// Watch (gentype.Client), whose objects are cachedPods.
func leanPodInformer(c rest.Interface, namespace string, resync time.Duration, tweak func(*metav1.ListOptions)) cache.SharedIndexInformer {
	request := func(opts *metav1.ListOptions) *rest.Request {
		tweak(opts)
		var timeout time.Duration
		if opts.TimeoutSeconds != nil {
			timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
		}
		return c.Get().Namespace(namespace).Resource("pods").
			VersionedParams(opts, scheme.ParameterCodec).Timeout(timeout)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return request(&opts).Do(ctx).Get()
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.Watch = true
			return request(&opts).Watch(ctx)
		},
	}
	return cache.NewSharedIndexInformerWithOptions(lw, &cachedPod{}, cache.SharedIndexInformerOptions{
		ResyncPeriod: resync,
		Indexers:     cache.Indexers{},
	})
}
