package datakit

import (
	"fmt"
	"time"
)

// ViolationKind names a way a request broke DataKit's write contract or this
// project's stricter rules.
type ViolationKind string

// Violation kinds. The receiver rejects a request for the kinds marked
// "rejects" (always, or under strict mode where noted) and only records the
// others, as DataKit accepts those requests.
const (
	// InvalidCategory: the URL names no DataKit category. Rejects.
	InvalidCategory ViolationKind = "invalid_category"
	// UndecodableBody: the body could not be read or decompressed. Rejects.
	UndecodableBody ViolationKind = "undecodable_body"
	// UnsupportedContentType: a JSON body, which this receiver does not
	// decode. Rejects.
	UnsupportedContentType ViolationKind = "unsupported_content_type"
	// EmptyBody: the body is empty. Rejects.
	EmptyBody ViolationKind = "empty_body"
	// NoPoints: the body holds no point (only blank lines or comments).
	// Rejects.
	NoPoints ViolationKind = "no_points"
	// ParseError: the line protocol does not parse. Rejects.
	ParseError ViolationKind = "parse_error"
	// PointWarning: cliutils' checks changed or dropped part of a point
	// (a string field in a metric, a '.' in a logging key, a too long value,
	// ...). Rejects under strict mode.
	PointWarning ViolationKind = "point_warning"
	// TagFieldConflict: a key is both a tag and a field of one point;
	// DataKit silently drops the field. Rejects under strict mode.
	TagFieldConflict ViolationKind = "tag_field_conflict"
	// DuplicateField: a field key occurs twice in one point; the last value
	// silently wins. Rejects under strict mode.
	DuplicateField ViolationKind = "duplicate_field"
	// MissingTimestamp: a point has no timestamp (or 0) while the precision
	// is not "n"; DataKit then scales its receive time by the precision and
	// stores garbage. Rejects under strict mode.
	MissingTimestamp ViolationKind = "missing_timestamp"
	// MissingPrecision: the precision query parameter is absent, so DataKit
	// guesses it from the timestamp's magnitude. Recorded only.
	MissingPrecision ViolationKind = "missing_precision"
	// InvalidPrecision: the precision is none of n, u, ms, s, m, h; DataKit
	// silently uses n. Recorded only.
	InvalidPrecision ViolationKind = "invalid_precision"
	// ReservedKey: a keyevent point carries a "source" key, which collides
	// with the measurement name DataKit stores as the source. Recorded only.
	ReservedKey ViolationKind = "reserved_key"
)

// Violation is one problem found in a write request.
type Violation struct {
	// Kind classifies the problem.
	Kind ViolationKind
	// Category is the write category from the URL.
	Category string
	// Measurement names the offending point; empty for request-level
	// problems.
	Measurement string
	// Message describes the problem.
	Message string
	// Rejected reports whether the receiver answered the request with an
	// error.
	Rejected bool
	// ReceivedAt is when the receiver handled the request, by its clock.
	ReceivedAt time.Time

	// strict marks kinds that reject the request under strict mode only.
	strict bool
}

// String formats v for test failure messages.
func (v Violation) String() string {
	where := v.Category
	if v.Measurement != "" {
		where += "/" + v.Measurement
	}
	verdict := "accepted"
	if v.Rejected {
		verdict = "rejected"
	}
	return fmt.Sprintf("%s %s (%s): %s", where, v.Kind, verdict, v.Message)
}
