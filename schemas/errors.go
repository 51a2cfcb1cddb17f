package schemas

import (
	"errors"
	"strconv"
	"strings"
)

var (
	// ErrInvalid: the data does not match the schema (or a value does not
	// match a domain format). Reject the record; do not retry it unchanged.
	// The *ValidationError or *FormatError that wraps it says where and why.
	ErrInvalid error = &codedError{"data does not match schema", "schema_violation"}

	// ErrUnknownSchema: the schema id names no loaded schema. Reject the
	// record (or request); retrying helps only after the registry is
	// reloaded with the schema. Every error that wraps ErrUnknownDataset
	// or ErrUnknownVersion also wraps ErrUnknownSchema.
	ErrUnknownSchema error = &codedError{"unknown schema", "unknown_schema"}

	// ErrUnknownDataset: no dataset of that name is loaded (or the schema
	// id is malformed). Also matches ErrUnknownSchema.
	ErrUnknownDataset = errors.New("unknown dataset")

	// ErrUnknownVersion: the dataset exists but not that version. The
	// publisher is ahead of this exchange node or wrote a wrong version.
	// Also matches ErrUnknownSchema.
	ErrUnknownVersion = errors.New("unknown schema version")

	// ErrBadSchema: a schema file breaks the OneVisit schema profile (see
	// the package doc), is not strict JSON, does not compile, or the set of
	// files is malformed. Fix the file; nothing was loaded.
	ErrBadSchema error = &codedError{"bad schema", "bad_schema"}

	// ErrIncompatible: a schema version is incompatible with its
	// predecessor under the declared compatibility mode. Every
	// *CompatibilityError wraps it. Change the new version (or, for a
	// deliberate break, start a new dataset).
	ErrIncompatible error = &codedError{"incompatible schema version", "incompatible_schema"}
)

// ValidationError is the first violation (in the order the package doc
// defines) of a record against a schema. It wraps ErrInvalid. None of its
// fields holds a value from the record, so it is safe to log and to send
// back to a publisher.
type ValidationError struct {
	// Schema is the schema id, e.g. "household/v1".
	Schema string
	// Pointer is a JSON pointer (RFC 6901) to the offending field, e.g.
	// "/resident_id"; for a missing required field, the pointer it would
	// have; "" for the record as a whole.
	Pointer string
	// Keyword is the JSON Schema keyword that failed: "required",
	// "additionalProperties", "type", "enum", "format", "minimum",
	// "exclusiveMinimum", "maximum", "exclusiveMaximum", "minLength",
	// "maxLength", "pattern", or "value" for a Go value that is no JSON
	// value at all.
	Keyword string
	// Reason says what is wrong, without the value.
	Reason string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("validate ")
	b.WriteString(e.Schema)
	b.WriteString(": ")
	if e.Pointer == "" {
		b.WriteString("record")
	} else {
		b.WriteString(e.Pointer)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

var (
	_ error = (*ValidationError)(nil)
	_ error = (*FormatError)(nil)
	_ error = (*CompatibilityError)(nil)
	_ error = (*idError)(nil)
)

// idError reports an unknown schema id; it matches both its own sentinel
// and ErrUnknownSchema.
type idError struct {
	kind error
	id   string
}

func (e *idError) Error() string   { return e.kind.Error() + ": " + quote(e.id) }
func (e *idError) Unwrap() []error { return []error{e.kind, ErrUnknownSchema} }

// quote quotes a caller-supplied name for an error message, bounding its
// length so a hostile id cannot flood a log line.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return strconv.Quote(s)
}

// codedError is a sentinel that names the stable error code a client sees
// of it (see the error catalogue in exchange/wire, which finds it through
// its Code method; this package imports nothing from the exchange).
type codedError struct{ msg, code string }

func (e *codedError) Error() string { return e.msg }

// Code is the name of the error's code in the exchange's catalogue.
func (e *codedError) Code() string { return e.code }

// JSONPointer returns Pointer, for the exchange's error answers.
func (e *ValidationError) JSONPointer() string { return e.Pointer }
