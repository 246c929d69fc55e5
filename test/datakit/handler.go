package datakit

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/GuanceCloud/cliutils/point"
	"github.com/influxdata/influxdb1-client/models"
)

const (
	// maxBody bounds the request body as received.
	maxBody = 64 << 20
	// maxDecoded bounds the body after decompression.
	maxDecoded = 256 << 20
)

// outcome is the result of handling one write request.
type outcome struct {
	status     int
	code, msg  string
	points     []Point
	violations []Violation
}

func (r *Receiver) handleWrite(w http.ResponseWriter, req *http.Request) {
	now := r.cfg.now()
	category := req.PathValue("category")
	query := req.URL.Query()
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	rec := Request{
		Category:   category,
		Query:      query,
		Header:     req.Header.Clone(),
		Bytes:      len(raw),
		ReceivedAt: now,
	}
	if req.TLS != nil {
		rec.TLS = true
		if len(req.TLS.PeerCertificates) > 0 {
			rec.ClientCert = req.TLS.PeerCertificates[0].Subject.CommonName
		}
	}

	if readErr == nil {
		req.Body = io.NopCloser(bytes.NewReader(raw))
		if f, ok := r.nextFault(category, req, now); ok {
			rec.Injected = true
			var abort bool
			rec.Status, rec.ErrorCode, abort = r.serveFault(w, req, f)
			r.record(rec, nil, nil)
			if abort {
				// Not hijackable (e.g. HTTP/2): aborting the handler resets
				// the stream.
				panic(http.ErrAbortHandler)
			}
			return
		}
	}

	var out outcome
	if readErr != nil {
		out = reject(category, now, http.StatusBadRequest, "datakit.decodeBodyFailed",
			UndecodableBody, fmt.Sprintf("read body: %v", readErr))
	} else {
		out = r.process(category, query, req.Header, raw, now)
	}

	rec.Status, rec.ErrorCode, rec.Message, rec.Points = out.status, out.code, out.msg, len(out.points)
	r.record(rec, out.points, out.violations)

	w.Header().Set("X-DataKit", Version)
	if out.status == http.StatusOK {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeError(w, out.status, out.code, out.msg)
}

// record stores a handled request and wakes the waiters.
func (r *Receiver) record(rec Request, pts []Point, vs []Violation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, rec)
	r.points = append(r.points, pts...)
	r.violations = append(r.violations, vs...)
	r.stats.Requests++
	switch {
	case rec.Injected:
		r.stats.Injected++
	case rec.Status == http.StatusOK:
		r.stats.Accepted++
	default:
		r.stats.Rejected++
	}
	r.stats.Points += len(pts)
	r.notifyLocked()
}

// process validates and decodes one write request as DataKit would.
func (r *Receiver) process(category string, query url.Values, header http.Header, raw []byte, now time.Time) outcome {
	if !slices.Contains(Categories, category) {
		return reject(category, now, http.StatusBadRequest, "datakit.invalidCategory",
			InvalidCategory, fmt.Sprintf("invalid category %q", category))
	}

	encoding := header.Get("Content-Encoding")
	if encoding == "" {
		encoding = query.Get("encoding")
	}
	body, err := decompress(encoding, raw)
	if err != nil {
		return reject(category, now, http.StatusBadRequest, "datakit.decodeBodyFailed",
			UndecodableBody, err.Error())
	}
	if len(body) == 0 {
		return reject(category, now, http.StatusBadRequest, "datakit.emptyBody",
			EmptyBody, "empty body")
	}

	enc := point.HTTPContentType(header.Get("Content-Type"))
	if enc == point.JSON || enc == point.PBJSON {
		return reject(category, now, http.StatusBadRequest, "datakit.invalidJsonPoint",
			UnsupportedContentType, fmt.Sprintf("content type %q is not decoded by the test receiver", header.Get("Content-Type")))
	}

	var vs []Violation
	add := func(kind ViolationKind, measurement, msg string, strict bool) {
		vs = append(vs, Violation{Kind: kind, Category: category, Measurement: measurement,
			Message: msg, ReceivedAt: now, strict: strict})
	}

	precision := query.Get("precision")
	prec := point.PrecStr(precision)
	if enc == point.LineProtocol {
		switch {
		case precision == "":
			add(MissingPrecision, "", "no precision query parameter: DataKit guesses it from each timestamp", false)
			prec = point.PrecDyn
		case !validPrecision(precision):
			add(InvalidPrecision, "", fmt.Sprintf("precision %q is none of n, u, ms, s, m, h: DataKit uses n", precision), false)
		}
	}

	opts := append(categoryOptions(category), point.WithPrecision(prec))
	dec := point.GetDecoder(point.WithDecEncoding(enc))
	pts, err := dec.Decode(body, opts...)
	detailed := dec.DetailedError()
	point.PutDecoder(dec)
	if err != nil {
		if detailed == nil {
			detailed = err
		}
		out := reject(category, now, http.StatusBadRequest, "datakit.invalidLinePoint",
			ParseError, detailed.Error())
		out.msg = err.Error()
		out.violations = append(vs, out.violations...)
		return out
	}
	if len(pts) == 0 {
		out := reject(category, now, http.StatusBadRequest, "datakit.noPoints", NoPoints, "no points in body")
		out.violations = append(vs, out.violations...)
		return out
	}

	var warned bool
	if enc == point.LineProtocol {
		for _, l := range lintLP(category, body, precision, opts) {
			add(l.kind, l.measurement, l.msg, l.kind != ReservedKey)
			warned = warned || l.kind == PointWarning
		}
	}
	if !warned {
		// The lint pass found no warning the decoder saw (a protobuf body,
		// or a check this receiver does not replay): report the decoder's.
		for _, pt := range pts {
			for _, w := range pt.Warns() {
				add(PointWarning, pt.Name(), fmt.Sprintf("%s: %s", w.Type, w.Msg), true)
			}
		}
	}

	strict := r.cfg.strict || query.Has("strict")
	var problems []string
	for _, v := range vs {
		if v.strict {
			problems = append(problems, fmt.Sprintf("%s %s: %s", v.Measurement, v.Kind, v.Message))
		}
	}
	if strict && len(problems) > 0 {
		for i := range vs {
			vs[i].Rejected = true
		}
		return outcome{
			status:     http.StatusBadRequest,
			code:       "datakit.pointGotWarning",
			msg:        fmt.Sprintf("%d problem(s) under strict mode: %s", len(problems), strings.Join(problems, "; ")),
			violations: vs,
		}
	}

	hostTags := r.cfg.hostTags
	if query.Has("ignore_global_host_tags") || query.Has("ignore_global_tags") {
		hostTags = nil
	}
	out := outcome{status: http.StatusOK, violations: vs}
	for _, pt := range pts {
		out.points = append(out.points, convert(category, pt, hostTags, query, now))
	}
	return out
}

// reject builds the outcome of a request rejected for one violation.
func reject(category string, now time.Time, status int, code string, kind ViolationKind, msg string) outcome {
	return outcome{
		status: status,
		code:   code,
		msg:    msg,
		violations: []Violation{{
			Kind: kind, Category: category, Message: msg, Rejected: true, ReceivedAt: now,
		}},
	}
}

// categoryOptions returns the point options DataKit decodes category with.
func categoryOptions(category string) []point.Option {
	switch category {
	case "metric":
		return point.DefaultMetricOptions()
	case "object", "custom_object":
		return point.DefaultObjectOptions()
	default: // logging, keyevent, network, tracing, security, rum
		return point.CommonLoggingOptions()
	}
}

func validPrecision(p string) bool {
	switch p {
	case "n", "u", "ms", "s", "m", "h":
		return true
	default:
		return false
	}
}

// lint is a problem lintLP found in one point.
type lint struct {
	kind        ViolationKind
	measurement string
	msg         string
}

// lintLP finds, point by point, what DataKit would silently alter: it replays
// cliutils' checks on each point alone (the decoder shares one warning buffer
// across a body's points, so the warnings it attaches to earlier points are
// overwritten by later ones) and looks for reused keys, which the decoder
// merges without a warning.
func lintLP(category string, body []byte, precision string, opts []point.Option) []lint {
	lps, err := models.ParsePointsWithPrecision(body, time.Unix(0, 0), "n")
	if err != nil {
		return nil // the decoder already rejected the body
	}
	var out []lint
	for _, lp := range lps {
		name := string(lp.Name())
		found := func(kind ViolationKind, format string, args ...any) {
			out = append(out, lint{kind: kind, measurement: name, msg: fmt.Sprintf(format, args...)})
		}

		tags := map[string]bool{}
		for _, t := range lp.Tags() {
			tags[string(t.Key)] = true
		}
		fields := map[string]bool{}
		for it := lp.FieldIterator(); it.Next(); {
			k := string(it.FieldKey())
			if tags[k] {
				found(TagFieldConflict, "key %q is both a tag and a field: DataKit drops the field", k)
			}
			if fields[k] {
				found(DuplicateField, "field %q occurs twice: the last value wins", k)
			}
			fields[k] = true
		}

		if lp.UnixNano() == 0 && precision != "" && precision != "n" {
			found(MissingTimestamp, "no timestamp with precision %q: DataKit scales its receive time by the precision", precision)
		}
		if category == "keyevent" && (tags["source"] || fields["source"]) {
			found(ReservedKey, "keyevent point carries a source key: the measurement name is the source")
		}

		if pt := point.FromModelsLP(lp); pt != nil {
			for _, checked := range point.CheckPoints([]*point.Point{pt}, opts...) {
				for _, w := range checked.Warns() {
					found(PointWarning, "%s: %s", w.Type, w.Msg)
				}
			}
		}
	}
	return out
}

// convert turns a decoded point into a Point.
func convert(category string, pt *point.Point, hostTags map[string]string, query url.Values, now time.Time) Point {
	p := Point{
		Category:   category,
		Name:       pt.Name(),
		Tags:       pt.MapTags(),
		Fields:     map[string]any{},
		Time:       pt.Time().UTC(),
		Query:      cloneValues(query),
		ReceivedAt: now,
	}
	for _, kv := range pt.Fields() {
		p.Fields[kv.Key] = kv.Raw()
	}
	for k, v := range hostTags {
		if _, ok := p.Tags[k]; !ok {
			p.Tags[k] = v
		}
	}
	return p
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// decompress undoes the Content-Encoding of a body.
func decompress(encoding string, raw []byte) ([]byte, error) {
	var (
		rd  io.Reader
		err error
	)
	switch enc := strings.ToLower(strings.TrimSpace(encoding)); enc {
	case "", "identity":
		return raw, nil
	case "gzip", "x-gzip":
		rd, err = gzip.NewReader(bytes.NewReader(raw))
	case "deflate":
		// HTTP's deflate is zlib-wrapped; some clients send raw deflate.
		rd, err = zlib.NewReader(bytes.NewReader(raw))
		if err != nil {
			rd, err = flate.NewReader(bytes.NewReader(raw)), nil
		}
	default:
		return nil, fmt.Errorf("unsupported content encoding %q (the test receiver decodes gzip and deflate)", enc)
	}
	if err != nil {
		return nil, fmt.Errorf("decode %s body: %w", encoding, err)
	}
	body, err := io.ReadAll(io.LimitReader(rd, maxDecoded+1))
	if err != nil {
		return nil, fmt.Errorf("decode %s body: %w", encoding, err)
	}
	if len(body) > maxDecoded {
		return nil, fmt.Errorf("decode %s body: %w", encoding, errTooLarge)
	}
	return body, nil
}

var errTooLarge = errors.New("decoded body exceeds 256 MiB")

// writeError sends DataKit's JSON error body.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"error_code": code, "message": msg})
	w.Write(b) //nolint:errcheck // the client may be gone; nothing to do.
}
