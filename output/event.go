package output

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/detect"
)

// Bounds on what one event carries. The decision may report thousands of
// pods; an event stays well below DataKit's limits (32 MiB per string field)
// and readable in Guance.
const (
	// maxJSONPods and maxJSONBytes bound abnormal_pods: the pods with the
	// most restarts, as many as fit. maxJSONBytes also bounds
	// container_statuses, which follows abnormal_pods' order.
	maxJSONPods  = 100
	maxJSONBytes = 64 << 10
	// maxJSONString bounds every string inside those arrays, in bytes.
	maxJSONString = 1 << 10

	// maxMessagePods and maxMessageContainers bound df_message's tables;
	// maxMessageText bounds free text in a table cell, in characters.
	maxMessagePods       = 20
	maxMessageContainers = 100
	maxMessageText       = 160
	// maxTitleName bounds a cluster or namespace name in df_title.
	maxTitleName = 64

	// DataKit's limits on tags (cliutils' point checker).
	maxTagKeyLen   = 256
	maxTagValueLen = 1024
	// maxUserTags and maxUserTagBytes keep the tags of a point well below
	// DataKit's 256 tags and line protocol's 64 KiB series key.
	maxUserTags     = 200
	maxUserTagBytes = 16 << 10
)

// EncoderConfig configures an Encoder.
type EncoderConfig struct {
	// Cluster is the cluster's name, written as cluster_name_k8s.
	Cluster string
	// Tags are added to every event and metric as tags. Keys and values
	// must be ones DataKit stores unchanged: valid UTF-8 without control
	// characters or a trailing backslash, keys of at most 256 bytes without
	// dots, values of 1 to 1024 bytes. A key must not be one the encoder
	// writes, source, or start with df_.
	Tags map[string]string
	// Language of titles and messages: "en" (or "" for English).
	Language string
}

// Validate reports every problem of the configuration.
func (c *EncoderConfig) Validate() error {
	var errs []error
	if err := checkTagValue(c.Cluster); err != nil {
		errs = append(errs, fmt.Errorf("cluster name: %w", err))
	}
	size := 0
	for k, v := range c.Tags {
		size += len(k) + len(v)
	}
	if len(c.Tags) > maxUserTags || size > maxUserTagBytes {
		errs = append(errs, fmt.Errorf("%d tags of %d bytes, at most %d tags of %d bytes allowed", len(c.Tags), size, maxUserTags, maxUserTagBytes))
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := checkTagKey(k); err != nil {
			errs = append(errs, fmt.Errorf("tag key %q: %w", k, err))
		}
		if err := checkTagValue(c.Tags[k]); err != nil {
			errs = append(errs, fmt.Errorf("tag %q: value %q: %w", k, c.Tags[k], err))
		}
	}
	if _, ok := catalogs[c.language()]; !ok {
		errs = append(errs, fmt.Errorf("language %q is not supported (supported: %s)", c.Language, strings.Join(supportedLanguages(), ", ")))
	}
	return errors.Join(errs...)
}

func (c *EncoderConfig) language() string {
	if c.Language == "" {
		return "en"
	}
	return c.Language
}

// checkTagKey reports why DataKit would change or refuse k as a user tag key,
// or why it would clash with the encoder's keys.
func checkTagKey(k string) error {
	switch {
	case k == "":
		return errors.New("empty")
	case len(k) > maxTagKeyLen:
		return fmt.Errorf("longer than %d bytes", maxTagKeyLen)
	case !utf8.ValidString(k):
		return errors.New("not valid UTF-8")
	case strings.ContainsFunc(k, isControl):
		return errors.New("contains control characters")
	case strings.Contains(k, "."):
		return errors.New("contains a dot")
	case strings.HasSuffix(k, `\`):
		return errors.New(`ends with \`)
	case k == "source":
		return errors.New("reserved: DataKit makes the measurement the event's source")
	case strings.HasPrefix(k, "df_"):
		return errors.New("reserved: df_ keys are Guance's")
	case declaredAnywhere(k):
		return errors.New("reserved: written by the agent")
	}
	return nil
}

// checkTagValue reports why DataKit would change or refuse v as a tag value.
func checkTagValue(v string) error {
	switch {
	case v == "":
		return errors.New("empty")
	case len(v) > maxTagValueLen:
		return fmt.Errorf("longer than %d bytes", maxTagValueLen)
	case !utf8.ValidString(v):
		return errors.New("not valid UTF-8")
	case strings.ContainsFunc(v, isControl):
		return errors.New("contains control characters")
	case strings.HasSuffix(v, `\`):
		return errors.New(`ends with \`)
	}
	return nil
}

// isControl reports the characters that must not reach a tag value or a
// one-line text: C0 and C1 controls (newline, tab, ...) and the Unicode line
// and paragraph separators.
func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// tagValue makes s a tag value that DataKit stores unchanged and both line
// protocol decoders read back as is: invalid UTF-8 becomes U+FFFD, control
// characters (DataKit turns newlines into spaces) become spaces and trailing
// backslashes (which DataKit removes) are dropped. It fails when nothing is
// left or the value is too long.
func tagValue(key, s string) (string, error) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimRight(s, `\`)
	if err := checkTagValue(s); err != nil {
		return "", fmt.Errorf("%s %q: %w", key, s, err)
	}
	return s, nil
}

// Encoder turns detect's decisions and stats into DataKit points. It holds
// no mutable state and is safe for concurrent use.
type Encoder struct {
	cluster   string
	tags      map[string]string
	msgs      *messages
	checkerID string
}

// NewEncoder returns an encoder for cfg, or cfg's problems.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("output encoder: %w", err)
	}
	sum := sha256.Sum256([]byte(Measurement + "\x00" + cfg.Cluster))
	return &Encoder{
		cluster:   cfg.Cluster,
		tags:      maps.Clone(cfg.Tags),
		msgs:      catalogs[cfg.language()],
		checkerID: "rul_" + hex.EncodeToString(sum[:16]),
	}, nil
}

// kvBuilder collects a point's keys and refuses a key twice.
type kvBuilder struct {
	kvs point.KVs
	err error
}

func (b *kvBuilder) add(k string, v any, tag bool) {
	if b.kvs.Has(k) {
		b.err = errors.Join(b.err, fmt.Errorf("key %q written twice", k))
		return
	}
	if tag {
		b.kvs = b.kvs.AddV2(k, v, false, point.WithKVTagSet(true))
	} else {
		b.kvs = b.kvs.AddV2(k, v, false)
	}
}

func (b *kvBuilder) tag(k, v string)       { b.add(k, v, true) }
func (b *kvBuilder) field(k string, v any) { b.add(k, v, false) }

// commonTags writes the tags of both events and metrics.
func (e *Encoder) commonTags(b *kvBuilder, namespace string) {
	b.tag(keyCluster, e.cluster)
	b.tag(keyNamespace, namespace)
	for k, v := range e.tags {
		b.tag(k, v)
	}
}

// newPoint builds the point and fails on anything DataKit would warn about.
func newPoint(b *kvBuilder, at time.Time, opts []point.Option) (*point.Point, error) {
	if b.err != nil {
		return nil, b.err
	}
	opts = append(opts, point.WithTime(at), point.WithPrecheck(true))
	pt := point.NewPointV2(Measurement, b.kvs, opts...)
	if err := warnsError(pt); err != nil {
		return nil, err
	}
	return pt, nil
}

func warnsError(pt *point.Point) error {
	ws := pt.Warns()
	if len(ws) == 0 {
		return nil
	}
	errs := make([]error, 0, len(ws))
	for _, w := range ws {
		errs = append(errs, fmt.Errorf("%s: %s", w.Type, w.Msg))
	}
	return fmt.Errorf("point %s would be changed by DataKit: %w", pt.Name(), errors.Join(errs...))
}

// EncodeLines renders points as a line-protocol body with nanosecond
// timestamps (send it with precision=n), each point ended by a newline. The
// body cannot be split at newlines: string fields such as df_message hold
// raw newlines inside their quotes. It fails on a point DataKit would warn
// about. No points give an empty body, which DataKit refuses: don't send it.
func EncodeLines(pts []*point.Point) ([]byte, error) {
	var buf []byte
	for i, pt := range pts {
		if pt == nil {
			return nil, fmt.Errorf("encode point %d: nil point", i)
		}
		if err := warnsError(pt); err != nil {
			return nil, fmt.Errorf("encode point %d: %w", i, err)
		}
		lp, err := pt.LPPoint()
		if err != nil {
			return nil, fmt.Errorf("encode point %d: %w", i, err)
		}
		buf = lp.AppendString(buf)
		buf = append(buf, '\n')
	}
	return buf, nil
}

// checkDecision reports a decision the encoder cannot write.
func checkDecision(d *detect.Decision) error {
	if d == nil {
		return errors.New("nil decision")
	}
	var errs []error
	if d.Kind < detect.KindAnomaly || d.Kind > detect.KindRecovery {
		errs = append(errs, fmt.Errorf("unknown kind %d", d.Kind))
	}
	if d.Kind != detect.KindRecovery && d.Level == detect.LevelNone {
		errs = append(errs, fmt.Errorf("%s without a level", d.Kind))
	}
	if d.EventID == "" || d.Fault.ID == "" {
		errs = append(errs, errors.New("missing event or fault ID"))
	}
	if d.At.IsZero() || d.Fault.Start.IsZero() {
		errs = append(errs, errors.New("missing time or fault start"))
	}
	if d.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %v not positive", d.Window))
	}
	if math.IsNaN(d.Stats.Ratio) || math.IsInf(d.Stats.Ratio, 0) {
		errs = append(errs, fmt.Errorf("ratio %v", d.Stats.Ratio))
	}
	for i := range d.Pods {
		if d.Pods[i].Pod == nil {
			errs = append(errs, fmt.Errorf("pod report %d without a pod", i))
			break
		}
	}
	return errors.Join(errs...)
}

// Event encodes a decision as a Guance event for /v1/write/keyevent.
func (e *Encoder) Event(d *detect.Decision) (*point.Point, error) {
	if err := checkDecision(d); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	nsName := d.Stats.Namespace
	if nsName == "" {
		nsName = d.Fault.Namespace
	}
	ns, err := tagValue(keyNamespace, nsName)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	eventID, err := tagValue(keyEventID, d.EventID)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	faultID, err := tagValue(keyFaultID, d.Fault.ID)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}

	dims, err := marshalJSON(struct {
		Cluster   string `json:"cluster_name_k8s"`
		Namespace string `json:"namespace"`
	}{e.cluster, ns})
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	ref := sha256.Sum256([]byte(e.checkerID + "\x00" + dims))

	status, faultStatus := d.Level.String(), "fault"
	if d.Kind == detect.KindRecovery {
		status, faultStatus = detect.LevelNone.String(), "ok"
	}

	det, err := buildDetails(d)
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	v := &eventView{d: d, cluster: e.cluster, namespace: ns, details: det}

	var b kvBuilder
	e.commonTags(&b, ns)
	b.tag(keySource, "monitor")
	b.tag(keyStatus, status)
	b.tag(keySubStatus, status)
	b.tag(keyEventID, eventID)
	b.tag(keyFaultID, faultID)
	b.tag(keyFaultStatus, faultStatus)
	b.tag(keyMonitorType, "bot_obs")
	b.tag(keyChecker, Measurement)
	b.tag(keyCheckerID, e.checkerID)
	b.tag(keyCheckerEventRef, hex.EncodeToString(ref[:16]))

	start, dur := d.Fault.Start.Unix(), int64(d.Duration()/time.Second)
	b.field(keyTitle, e.msgs.title(v))
	b.field(keyMessage, e.msgs.markdown(v))
	b.field(keyDimensionTags, dims)
	b.field(keyCheckerName, e.msgs.checkerName)
	b.field(keyCheckerValue, d.Stats.Ratio)
	b.field(keyDateRange, int64(d.Window/time.Second))
	b.field(keyCheckRangeStart, d.At.Add(-d.Window).Unix())
	b.field(keyCheckRangeEnd, d.At.Unix())
	b.field(keyFaultStartTime, start)
	b.field(keyFaultDuration, dur)
	b.field(keyIssueStartTime, start)
	b.field(keyIssueDuration, dur)
	b.field(keyRestartRatio, d.Stats.Ratio)
	b.field(keyRestartPods, int64(d.Stats.RestartedPods))
	b.field(keyTotalPods, int64(d.Stats.Pods))
	b.field(keyRestarts, int64(d.Stats.Restarts))
	b.field(keyAbnormalPods, det.podsJSON)
	b.field(keyContainerStatuses, det.containersJSON)
	b.field(keyOmittedPods, int64(det.totalPods-det.jsonPods))
	b.field(keyOmittedContainers, int64(det.totalContainers-det.jsonContainers))
	if err := e.rcaFields(&b, d); err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}

	pt, err := newPoint(&b, d.At, point.CommonLoggingOptions())
	if err != nil {
		return nil, fmt.Errorf("encode event %q: %w", d.EventID, err)
	}
	return pt, nil
}

// podDetail is one entry of abnormal_pods; abnormalPodKeys documents it.
type podDetail struct {
	PodName     string        `json:"pod_name"`
	NodeName    string        `json:"node_name"`
	OwnerKind   string        `json:"owner_kind"`
	OwnerName   string        `json:"owner_name"`
	Phase       string        `json:"phase"`
	Reason      string        `json:"reason"`
	Deleted     bool          `json:"deleted"`
	Terminating bool          `json:"terminating"`
	Restarts    int           `json:"restarts"`
	LastRestart string        `json:"last_restart,omitempty"`
	Events      []eventDetail `json:"events"`
}

// containerDetail is one entry of container_statuses; containerStatusKeys
// documents it.
type containerDetail struct {
	PodName                string          `json:"pod_name"`
	ContainerName          string          `json:"container_name"`
	ContainerType          string          `json:"container_type"`
	ContainerID            string          `json:"container_id"`
	Image                  string          `json:"image"`
	State                  string          `json:"state"`
	StateReason            string          `json:"state_reason"`
	StateMessage           string          `json:"state_message"`
	Ready                  bool            `json:"ready"`
	RestartCount           int32           `json:"restart_count"`
	Restarts               int             `json:"restarts"`
	LastTerminationReason  string          `json:"last_termination_reason"`
	LastTerminationMessage string          `json:"last_termination_message"`
	ExitCode               *int32          `json:"exit_code,omitempty"`
	Signal                 *int32          `json:"signal,omitempty"`
	ErrorTime              string          `json:"error_time,omitempty"`
	Resources              resourcesDetail `json:"resources"`
	Cause                  string          `json:"cause,omitempty"`
	LogTail                string          `json:"log_tail,omitempty"`
}

type resourcesDetail struct {
	Requests *quantities `json:"requests,omitempty"`
	Limits   *quantities `json:"limits,omitempty"`
}

type quantities struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
}

func newQuantities(cpu, memory string) *quantities {
	if cpu == "" && memory == "" {
		return nil
	}
	return &quantities{CPU: jsonString(cpu), Memory: jsonString(memory)}
}

// details is what an event reports of the abnormal pods, bounded.
type details struct {
	podsJSON, containersJSON string
	// totalPods counts every pod that restarted inside the window, reported
	// or not; jsonPods those in podsJSON.
	totalPods, jsonPods int
	// totalContainers counts the containers of the pods in podsJSON;
	// jsonContainers those in containersJSON.
	totalContainers, jsonContainers int
}

func buildDetails(d *detect.Decision) (*details, error) {
	det := &details{totalPods: len(d.Pods) + d.OmittedPods}
	pods := d.Pods[:min(len(d.Pods), maxJSONPods)]
	var err error
	det.podsJSON, det.jsonPods, err = boundedArray(pods, maxJSONBytes, newPodDetail)
	if err != nil {
		return nil, fmt.Errorf("abnormal pods: %w", err)
	}
	var containers []containerRef
	for i := range pods[:det.jsonPods] {
		for j := range pods[i].Pod.Containers {
			containers = append(containers, containerRef{&pods[i], j})
		}
	}
	det.totalContainers = len(containers)
	det.containersJSON, det.jsonContainers, err = boundedArray(containers, maxJSONBytes, newContainerDetail)
	if err != nil {
		return nil, fmt.Errorf("container statuses: %w", err)
	}
	return det, nil
}

func newPodDetail(r *detect.PodReport) podDetail {
	p := r.Pod
	return podDetail{
		PodName:     jsonString(p.Name),
		NodeName:    jsonString(p.Node),
		OwnerKind:   jsonString(p.Owner.Kind),
		OwnerName:   jsonString(p.Owner.Name),
		Phase:       jsonString(p.Phase),
		Reason:      jsonString(p.Reason),
		Deleted:     r.Deleted,
		Terminating: p.Deleting,
		Restarts:    r.Restarts,
		LastRestart: rfc3339(r.LastRestart),
		Events:      newEventDetails(r.Events),
	}
}

// containerRef is one container of a reported pod.
type containerRef struct {
	report *detect.PodReport
	index  int
}

func (c containerRef) container() *detect.Container { return &c.report.Pod.Containers[c.index] }

// restarts returns the container's restarts inside the window.
func (c containerRef) restarts() int {
	if c.index < len(c.report.ContainerRestarts) {
		return c.report.ContainerRestarts[c.index]
	}
	return 0
}

// containerID returns the current container's ID, or the last terminated
// one's before a new one started.
func containerID(c *detect.Container) string {
	if c.ContainerID != "" {
		return c.ContainerID
	}
	return c.Last.ContainerID
}

func newContainerDetail(ref *containerRef) containerDetail {
	c := ref.container()
	cd := containerDetail{
		PodName:                jsonString(ref.report.Pod.Name),
		ContainerName:          jsonString(c.Name),
		ContainerType:          c.Type.String(),
		ContainerID:            jsonString(containerID(c)),
		Image:                  jsonString(c.Image),
		State:                  c.State.String(),
		StateReason:            jsonString(c.StateReason),
		StateMessage:           jsonString(c.StateMessage),
		Ready:                  c.Ready,
		RestartCount:           c.RestartCount,
		Restarts:               ref.restarts(),
		LastTerminationReason:  jsonString(c.Last.Reason),
		LastTerminationMessage: jsonString(c.Last.Message),
		ErrorTime:              rfc3339(c.Last.FinishedAt),
		Resources: resourcesDetail{
			Requests: newQuantities(c.Resources.CPURequest, c.Resources.MemoryRequest),
			Limits:   newQuantities(c.Resources.CPULimit, c.Resources.MemoryLimit),
		},
	}
	if !c.Last.IsZero() {
		exit, sig := c.Last.ExitCode, c.Last.Signal
		cd.ExitCode, cd.Signal = &exit, &sig
	}
	if ref.restarts() > 0 && ref.index < len(ref.report.Causes) {
		cd.Cause = ref.report.Causes[ref.index].Cause.String()
	}
	if ref.index < len(ref.report.LogTails) {
		cd.LogTail = strings.ToValidUTF8(ref.report.LogTails[ref.index], "\uFFFD")
	}
	return cd
}

// boundedArray marshals items in order into a JSON array of at most
// maxBytes and reports how many items it holds.
func boundedArray[T, D any](items []T, maxBytes int, conv func(*T) D) (string, int, error) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	n := 0
	for i := range items {
		b, err := marshalJSON(conv(&items[i]))
		if err != nil {
			return "", 0, err
		}
		sep := 0
		if n > 0 {
			sep = 1
		}
		if buf.Len()+sep+len(b)+1 > maxBytes {
			break
		}
		if sep > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(b)
		n++
	}
	buf.WriteByte(']')
	return buf.String(), n, nil
}

// marshalJSON encodes v without HTML escaping: the JSON is data, not markup.
func marshalJSON(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// jsonString returns s as valid UTF-8 of at most maxJSONString bytes,
// marking a cut with an ellipsis.
func jsonString(s string) string {
	return truncateBytes(strings.ToValidUTF8(s, "\uFFFD"), maxJSONString)
}

// truncateBytes cuts valid UTF-8 s to at most n bytes at a character
// boundary, ending a cut string with "…".
func truncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := n - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// rfc3339 formats t in UTC to the second; "" for the zero time.
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
