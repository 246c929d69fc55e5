package collect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	restclientwatch "k8s.io/client-go/rest/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// BenchmarkIngest measures the agent's ingest path without an API server:
// recorded protobuf watch events, as the API server frames them, of status
// updates to realistic pods (podGen's with productionTemplate's additions,
// about 16 KB of JSON each, as in test/bench) go through
// client-go's watch decoding (frames, metav1.WatchEvent) and the pod
// decoder, the informer's store, the update handler and the detector, one
// event after the other on one goroutine. Each pod alternates between two
// statuses after a restart (running and ready; waiting in CrashLoopBackOff
// and not ready), so that every event is an update the detector sees. It leaves out the informer's queue (DeltaFIFO) and its
// handler goroutine hand-off. With -cpu 1, "updates/s" is per core.
//
//	go test -run '^$' -bench Ingest -cpu 1 ./collect
//
// decoder=standard is the same path with client-go's decoder and the
// transform instead, as the agent ran before the lean decoder.
func BenchmarkIngest(b *testing.B) {
	const pods = 2000
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	gen := newPodGen(now, pods)
	std := standardDecoder(b, runtime.ContentTypeProtobuf)
	var initial, updates bytes.Buffer
	var jsonBytes int
	for variant := range 3 {
		for i := range pods {
			p := gen.pod(i)
			productionTemplate(p)
			p.ResourceVersion = fmt.Sprint(1000000 + variant*pods + i)
			typ := watch.Modified
			switch variant {
			case 0:
				typ = watch.Added
			case 1:
				restarted(p, now, false)
			case 2:
				restarted(p, now, true)
			}
			buf := &updates
			if variant == 0 {
				buf = &initial
				j, _ := json.Marshal(p)
				jsonBytes += len(j)
			}
			writeWatchEvent(b, buf, typ, p)
		}
	}
	for _, tc := range []struct {
		name       string
		decoder    runtime.Decoder
		serializer runtime.NegotiatedSerializer
	}{
		{"decoder=lean", leanDecoder{std}, newLeanSerializer()},
		{"decoder=standard", transformingDecoder{std}, scheme.Codecs.WithoutConversion()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{})
			d := detect.New(detect.Config{Window: 30 * time.Minute, RecoverAfter: 30 * time.Second, MinPods: 3,
				MinRestartedPods: 2, RatioWarning: 0.1, RatioError: 0.3, RatioCritical: 0.5})
			w := &Watcher{sink: detectSink{d, now}, log: discardLogger(), ctx: b.Context()}
			h := handler{w: w, s: &scope{}}
			ingest := func(dec *restclientwatch.Decoder) error {
				typ, obj, err := dec.Decode()
				if err != nil {
					return err
				}
				old, exists, err := store.Get(obj)
				if err != nil {
					b.Fatal(err)
				}
				if err := store.Update(obj); err != nil {
					b.Fatal(err)
				}
				switch {
				case typ == watch.Added || !exists:
					h.OnAdd(obj, false)
				default:
					h.OnUpdate(old, obj)
				}
				return nil
			}
			decoder := func(stream []byte) *restclientwatch.Decoder {
				return newWatchDecoder(b, stream, tc.decoder, tc.serializer)
			}
			for dec := decoder(initial.Bytes()); ingest(dec) == nil; {
			}
			dec := decoder(updates.Bytes())
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			for b.Loop() {
				if err := ingest(dec); err == io.EOF {
					dec = decoder(updates.Bytes())
					if err := ingest(dec); err != nil {
						b.Fatal(err)
					}
				} else if err != nil {
					b.Fatal(err)
				}
			}
			// CPU time of the whole process (garbage collection included),
			// which a loaded machine's waits do not inflate as wall time.
			b.ReportMetric(float64(b.N)/(cpuTime(b)-cpu0).Seconds(), "updates/cpu-s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
			b.ReportMetric(float64(updates.Len())/float64(2*pods), "B/event")
			b.ReportMetric(float64(jsonBytes)/float64(pods), "json-B/pod")
			if st := w.Stats(); st.Updated != uint64(b.N) {
				b.Errorf("%d updates reached the detector, want %d (%+v)", st.Updated, b.N, st)
			}
		})
	}
}

// restarted makes p's app container restarted once more after an error a
// minute ago, and then either running and ready again or waiting in
// CrashLoopBackOff and not ready (crashLooping).
func restarted(p *corev1.Pod, now time.Time, crashLooping bool) {
	app := &p.Status.ContainerStatuses[0]
	app.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
		ExitCode: 1, Reason: "Error", ContainerID: app.ContainerID,
		StartedAt: metav1.NewTime(now.Add(-2 * time.Minute)), FinishedAt: metav1.NewTime(now.Add(-time.Minute)),
	}
	app.RestartCount++
	if crashLooping {
		app.Ready = false
		app.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 10s restarting failed container"}}
		p.Status.Conditions[1].Status = corev1.ConditionFalse
	}
}

// writeWatchEvent appends a watch event of obj to buf as the API server
// writes it to a protobuf watch: a length-prefixed frame holding a
// metav1.WatchEvent (stream serializer), whose object is the object's own
// protobuf encoding (k8s.io/apiserver's endpoints/handlers/watch.go).
func writeWatchEvent(t testing.TB, buf *bytes.Buffer, typ watch.EventType, obj runtime.Object) {
	t.Helper()
	info, _ := runtime.SerializerInfoForMediaType(scheme.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	stream := info.StreamSerializer
	enc := restclientwatch.NewEncoder(streaming.NewEncoder(stream.Framer.NewFrameWriter(buf), stream.Serializer),
		scheme.Codecs.EncoderForVersion(info.Serializer, corev1.SchemeGroupVersion))
	if err := enc.Encode(&watch.Event{Type: typ, Object: obj}); err != nil {
		t.Fatal(err)
	}
}

// newWatchDecoder reads the events of a recorded protobuf watch as the REST
// client does (rest.Request.newStreamWatcher), objects decoded by dec.
func newWatchDecoder(t testing.TB, recorded []byte, dec runtime.Decoder, serializer runtime.NegotiatedSerializer) *restclientwatch.Decoder {
	t.Helper()
	info, _ := runtime.SerializerInfoForMediaType(serializer.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	frames := info.StreamSerializer.Framer.NewFrameReader(io.NopCloser(bytes.NewReader(recorded)))
	return restclientwatch.NewDecoder(streaming.NewDecoder(frames, info.StreamSerializer.Serializer), dec)
}

// transformingDecoder is the standard decoder followed by the informer's
// transform, as the pod informer decoded before the lean decoder.
type transformingDecoder struct{ next runtime.Decoder }

func (d transformingDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	obj, gvk, err := d.next.Decode(data, defaults, into)
	if err != nil {
		return nil, nil, err
	}
	out, err := transform(obj)
	return out.(runtime.Object), gvk, err
}

// detectSink hands the watcher's conversions to a detector at a fixed now.
type detectSink struct {
	d   *detect.Detector
	now time.Time
}

func (s detectSink) PodChanged(p *detect.Pod)         { s.d.Observe(p, s.now) }
func (s detectSink) PodDeleted(namespace, uid string) { s.d.Delete(namespace, uid, s.now) }

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// productionTemplate adds to p what production Deployments' pods carry
// besides podGen's: more environment, a startup probe, security contexts,
// config and scratch volumes, affinity, a topology spread, and the
// managedFields of the controller that created the pod, so that p is about
// 16 KB of JSON like the pods test/bench loads (and issue 12 measured).
func productionTemplate(p *corev1.Pod) {
	app := p.Labels["app"]
	for _, cs := range []*[]corev1.Container{&p.Spec.InitContainers, &p.Spec.Containers} {
		for i := range *cs {
			c := &(*cs)[i]
			for _, e := range []struct{ name, value string }{
				{"LOG_FORMAT", "json"},
				{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector.observability.svc.cluster.local:4317"},
				{"OTEL_SERVICE_NAME", app},
				{"CACHE_URL", "redis://redis-master." + p.Namespace + ".svc.cluster.local:6379/0"},
				{"FEATURE_FLAGS", "checkout-v2,async-payments,new-search-ranking,cart-recommendations"},
				{"JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=75.0 -XX:+UseG1GC -Dfile.encoding=UTF-8"},
			} {
				c.Env = append(c.Env, corev1.EnvVar{Name: e.name, Value: e.value})
			}
			c.Env = append(c.Env, corev1.EnvVar{Name: "DATABASE_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: app + "-db"}, Key: "password"}}})
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/startupz", Port: intstrPort}},
				PeriodSeconds: 10, FailureThreshold: 30, TimeoutSeconds: 2, SuccessThreshold: 1}
			c.SecurityContext = &corev1.SecurityContext{
				RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), ReadOnlyRootFilesystem: ptr.To(true),
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			}
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "config", MountPath: "/etc/" + app, ReadOnly: true},
				corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		}
	}
	p.Spec.Volumes = append(p.Spec.Volumes,
		corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: app + "-config"}, DefaultMode: ptr.To[int32](0o420)}}},
		corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr.To[int64](65532)}
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100,
			PodAffinityTerm: corev1.PodAffinityTerm{LabelSelector: selector, TopologyKey: "kubernetes.io/hostname"}}},
	}}
	p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: "topology.kubernetes.io/zone",
		WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: selector}}
	p.ManagedFields = append(p.ManagedFields, metav1.ManagedFieldsEntry{
		Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		Time: &p.CreationTimestamp, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: specFieldsJSON},
	})
}

// specFieldsJSON is the field set of a controller that created a pod like
// productionTemplate's, about 3 KB.
var specFieldsJSON = []byte(`{"f:metadata":{"f:generateName":{},"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{},"f:team":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"6b1c2a7e-9b1d-4c55-8e0f-0a1b2c3d4e5f\"}":{}}},"f:spec":{"f:affinity":{".":{},"f:podAntiAffinity":{".":{},"f:preferredDuringSchedulingIgnoredDuringExecution":{}}},"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:env":{".":{},"k:{\"name\":\"CACHE_URL\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"DATABASE_PASSWORD\"}":{".":{},"f:name":{},"f:valueFrom":{".":{},"f:secretKeyRef":{}}},"k:{\"name\":\"FEATURE_FLAGS\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"JAVA_TOOL_OPTIONS\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"LOG_FORMAT\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"LOG_LEVEL\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"OTEL_EXPORTER_OTLP_ENDPOINT\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"OTEL_SERVICE_NAME\"}":{".":{},"f:name":{},"f:value":{}},"k:{\"name\":\"POD_NAME\"}":{".":{},"f:name":{},"f:valueFrom":{".":{},"f:fieldRef":{}}},"k:{\"name\":\"UPSTREAM\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{},"f:imagePullPolicy":{},"f:livenessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:name":{},"f:protocol":{}}},"f:readinessProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:resources":{".":{},"f:limits":{".":{},"f:cpu":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:securityContext":{".":{},"f:allowPrivilegeEscalation":{},"f:capabilities":{".":{},"f:drop":{}},"f:readOnlyRootFilesystem":{},"f:runAsNonRoot":{},"f:runAsUser":{},"f:seccompProfile":{".":{},"f:type":{}}},"f:startupProbe":{".":{},"f:failureThreshold":{},"f:httpGet":{".":{},"f:path":{},"f:port":{},"f:scheme":{}},"f:periodSeconds":{},"f:successThreshold":{},"f:timeoutSeconds":{}},"f:terminationMessagePath":{},"f:terminationMessagePolicy":{},"f:volumeMounts":{".":{},"k:{\"mountPath\":\"/etc/app\"}":{".":{},"f:mountPath":{},"f:name":{},"f:readOnly":{}},"k:{\"mountPath\":\"/tmp\"}":{".":{},"f:mountPath":{},"f:name":{}}}}},"f:dnsPolicy":{},"f:enableServiceLinks":{},"f:restartPolicy":{},"f:schedulerName":{},"f:securityContext":{".":{},"f:fsGroup":{}},"f:terminationGracePeriodSeconds":{},"f:topologySpreadConstraints":{".":{},"k:{\"topologyKey\":\"topology.kubernetes.io/zone\",\"whenUnsatisfiable\":\"ScheduleAnyway\"}":{".":{},"f:labelSelector":{},"f:maxSkew":{},"f:topologyKey":{},"f:whenUnsatisfiable":{}}},"f:volumes":{".":{},"k:{\"name\":\"config\"}":{".":{},"f:configMap":{".":{},"f:defaultMode":{},"f:name":{}},"f:name":{}},"k:{\"name\":\"tmp\"}":{".":{},"f:emptyDir":{},"f:name":{}}}}}`)
