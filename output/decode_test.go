package output

import (
	"testing"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/google/go-cmp/cmp"
	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// encPoint is a point as a decoder returns it, for comparisons.
type encPoint struct {
	Name   string
	Tags   map[string]string
	Fields map[string]any
	Time   int64 // unix nanoseconds
}

// encPointOf returns what pt holds.
func encPointOf(pt *point.Point) encPoint {
	p := encPoint{Name: pt.Name(), Tags: map[string]string{}, Fields: map[string]any{}, Time: pt.Time().UnixNano()}
	for _, kv := range pt.KVs() {
		if kv.IsTag {
			p.Tags[kv.Key] = kv.GetS()
		} else {
			p.Fields[kv.Key] = kv.Raw()
		}
	}
	return p
}

// encDecodeDataKit decodes body the way DataKit's write API does for a
// category (precision=n) and fails on any point warning, as strict mode
// would.
func encDecodeDataKit(t testing.TB, body []byte, categoryOpts []point.Option) []encPoint {
	t.Helper()
	dec := point.GetDecoder(point.WithDecEncoding(point.LineProtocol))
	defer point.PutDecoder(dec)
	opts := append([]point.Option{point.WithPrecision(point.PrecNS)}, categoryOpts...)
	pts, err := dec.Decode(body, opts...)
	if err != nil {
		t.Fatalf("cliutils decode: %v", err)
	}
	out := make([]encPoint, 0, len(pts))
	for i, pt := range pts {
		if len(pt.Warns()) > 0 {
			t.Errorf("cliutils decode: point %d has warnings: %s", i, pt.WarnsPretty())
		}
		out = append(out, encPointOf(pt))
	}
	return out
}

// encDecodeInflux decodes body with influxdata's line-protocol/v2, a parser
// independent of DataKit's.
func encDecodeInflux(t testing.TB, body []byte) []encPoint {
	t.Helper()
	var out []encPoint
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		m, err := dec.Measurement()
		if err != nil {
			t.Fatalf("line-protocol/v2 decode measurement: %v", err)
		}
		p := encPoint{Name: string(m), Tags: map[string]string{}, Fields: map[string]any{}}
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("line-protocol/v2 decode tag: %v", err)
			}
			if k == nil {
				break
			}
			p.Tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("line-protocol/v2 decode field: %v", err)
			}
			if k == nil {
				break
			}
			p.Fields[string(k)] = v.Interface()
		}
		ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
		if err != nil {
			t.Fatalf("line-protocol/v2 decode time: %v", err)
		}
		p.Time = ts.UnixNano()
		out = append(out, p)
	}
	return out
}

// encRoundTrip encodes pts, decodes the body with both decoders and
// compares each with what was encoded. It returns the body.
func encRoundTrip(t testing.TB, pts []*point.Point, categoryOpts []point.Option) []byte {
	t.Helper()
	body, err := EncodeLines(pts)
	if err != nil {
		t.Fatalf("EncodeLines: %v", err)
	}
	want := make([]encPoint, 0, len(pts))
	for _, pt := range pts {
		want = append(want, encPointOf(pt))
	}
	if diff := cmp.Diff(want, encDecodeDataKit(t, body, categoryOpts)); diff != "" {
		t.Errorf("decoded by DataKit's decoder (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, encDecodeInflux(t, body)); diff != "" {
		t.Errorf("decoded by line-protocol/v2 (-want +got):\n%s", diff)
	}
	return body
}
