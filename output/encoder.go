package output

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/GuanceCloud/cliutils/point"

	"github.com/k8s-pod-restart/k8s-pod-restart/output/render"
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
	// must be ones DataKit stores unchanged (CheckTagKey, CheckTagValue):
	// valid UTF-8 without control characters, a trailing backslash or a
	// backslash before a space, comma or "=", keys of at most 256 bytes
	// without dots, values of 1 to 1024 bytes. A key must not be one the
	// encoder writes, source, or start with df_. At most 200 tags of 16 KiB
	// together (CheckTagSet).
	Tags map[string]string
	// Language of titles and messages: "en" (or "" for English).
	Language string
}

// Validate reports every problem of the configuration.
func (c *EncoderConfig) Validate() error {
	var errs []error
	if err := CheckTagValue(c.Cluster); err != nil {
		errs = append(errs, fmt.Errorf("cluster name: %w", err))
	}
	if err := CheckTagSet(c.Tags); err != nil {
		errs = append(errs, err)
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := CheckTagKey(k); err != nil {
			errs = append(errs, fmt.Errorf("tag key %q %w", k, err))
		}
		if err := CheckTagValue(c.Tags[k]); err != nil {
			errs = append(errs, fmt.Errorf("tag %q: value %q %w", k, c.Tags[k], err))
		}
	}
	if err := CheckLanguage(c.Language); err != nil {
		errs = append(errs, fmt.Errorf("language %w", err))
	}
	return errors.Join(errs...)
}

// CheckTagSet reports a set of tags too large to add to every point: more
// than 200 tags or 16 KiB of keys and values, which keeps a point well below
// DataKit's 256 tags and line protocol's 64 KiB series key.
func CheckTagSet(tags map[string]string) error {
	size := 0
	for k, v := range tags {
		size += len(k) + len(v)
	}
	if len(tags) > maxUserTags || size > maxUserTagBytes {
		return fmt.Errorf("%d tags of %d bytes: must be at most %d tags of %d bytes", len(tags), size, maxUserTags, maxUserTagBytes)
	}
	return nil
}

// CheckTagKey reports why DataKit would change or refuse k as a key of the
// tags setting, or why it would clash with the encoder's keys.
func CheckTagKey(k string) error {
	switch {
	case k == "":
		return errors.New("must not be empty")
	case len(k) > maxTagKeyLen:
		return fmt.Errorf("must be at most %d bytes", maxTagKeyLen)
	case !utf8.ValidString(k):
		return errors.New("must be valid UTF-8")
	case strings.ContainsFunc(k, isControl):
		return errors.New("must not contain control characters")
	case strings.Contains(k, "."):
		return errors.New("must not contain a dot")
	case strings.HasSuffix(k, `\`):
		return errors.New("must not end with a backslash")
	case backslashBeforeSpecial(k):
		return errors.New(errBackslashSpecial)
	case k == "source":
		return errors.New("is reserved: DataKit makes the measurement the event's source")
	case strings.HasPrefix(k, "df_"):
		return errors.New(`starts with "df_", which is reserved for DataKit`)
	case declaredAnywhere(k):
		return errors.New("is written by the agent itself")
	}
	return nil
}

// CheckTagValue reports why DataKit would change or refuse v as a tag value,
// such as a value of the tags setting or the cluster's name.
func CheckTagValue(v string) error {
	switch {
	case v == "":
		return errors.New("must not be empty")
	case len(v) > maxTagValueLen:
		return fmt.Errorf("must be at most %d bytes", maxTagValueLen)
	case !utf8.ValidString(v):
		return errors.New("must be valid UTF-8")
	case strings.ContainsFunc(v, isControl):
		return errors.New("must not contain control characters")
	case strings.HasSuffix(v, `\`):
		return errors.New("must not end with a backslash")
	case backslashBeforeSpecial(v):
		return errors.New(errBackslashSpecial)
	}
	return nil
}

// errBackslashSpecial says why a tag key or value may not hold a backslash
// right before a space, comma or equals sign.
const errBackslashSpecial = `must not have a backslash before a space, comma or "=" (DataKit's line protocol parser cannot read it back)`

// backslashBeforeSpecial reports a backslash right before a space, comma or
// equals sign. Line protocol escapes those three with a backslash and
// leaves backslashes as they are, so `x\ y` is written `x\\ y`: the tag
// parser of DataKit's influxdb1-client fork (scanTagsValue) reads an escaped
// space, but its line splitter (scanLine) reads `\\` as an escaped
// backslash and the space as the end of the tags, and then takes a `]` or a
// quote after it for field syntax: the line is cut and DataKit refuses the
// whole request.
func backslashBeforeSpecial(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] == '\\' && isLPSpecial(s[i]) {
			return true
		}
	}
	return false
}

// isLPSpecial reports the bytes line protocol escapes in tag keys and values.
func isLPSpecial(c byte) bool { return c == ' ' || c == ',' || c == '=' }

// dropBackslashesBeforeSpecial removes every run of backslashes that ends
// right before a space, comma or equals sign.
func dropBackslashesBeforeSpecial(s string) string {
	if !backslashBeforeSpecial(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && s[j] == '\\' {
			j++
		}
		if j > i {
			if j == len(s) || !isLPSpecial(s[j]) {
				b.WriteString(s[i:j])
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return b.String()
}

// CheckLanguage reports a language of titles and messages that is not
// supported; "" is English.
func CheckLanguage(language string) error { return render.CheckLanguage(language) }

// isControl reports the characters that must not reach a tag value: the
// same as those that must not reach a one-line text.
func isControl(r rune) bool { return render.IsControl(r) }

// tagValue makes s a tag value that DataKit stores unchanged and both line
// protocol decoders read back as is: invalid UTF-8 becomes U+FFFD, control
// characters (DataKit turns newlines into spaces) become spaces, backslashes
// right before a space, comma or equals sign (see backslashBeforeSpecial)
// and trailing backslashes (which DataKit removes) are dropped. It fails
// when nothing is left or the value is too long.
func tagValue(key, s string) (string, error) {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimRight(dropBackslashesBeforeSpecial(s), `\`)
	if err := CheckTagValue(s); err != nil {
		return "", fmt.Errorf("%s %q: %w", key, s, err)
	}
	return s, nil
}

// Encoder turns detect's decisions and stats into DataKit points. It holds
// no mutable state and is safe for concurrent use.
type Encoder struct {
	cluster   string
	tags      map[string]string
	text      *render.Renderer
	checkerID string
}

// NewEncoder returns an encoder for cfg, or cfg's problems.
func NewEncoder(cfg EncoderConfig) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("output encoder: %w", err)
	}
	text, err := render.New(cfg.Language)
	if err != nil {
		return nil, fmt.Errorf("output encoder: %w", err)
	}
	sum := sha256.Sum256([]byte(Measurement + "\x00" + cfg.Cluster))
	return &Encoder{
		cluster:   cfg.Cluster,
		tags:      maps.Clone(cfg.Tags),
		text:      text,
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
