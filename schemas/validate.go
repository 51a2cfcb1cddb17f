package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

// Validate checks one record's fields against the schema schemaID
// ("household/v1"). Values are what schemas/jsonstrict decodes:
// string, json.Number, bool, nil, map[string]any, []any (Go integer and
// finite float types are accepted too).
//
// It returns nil, a *ValidationError (wrapping ErrInvalid) for the first
// violation in the order the package doc defines, or an error wrapping
// ErrUnknownSchema.
func (r *Registry) Validate(schemaID string, fields map[string]any) error {
	v, err := r.lookup(schemaID)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	if vs := v.violations(fields, true); len(vs) > 0 {
		return &vs[0]
	}
	return nil
}

// Violations returns every violation of fields against schemaID, in the
// package's order (Validate returns the first). It is for tools that show
// a publisher all that is wrong at once; ingest uses Validate.
func (r *Registry) Violations(schemaID string, fields map[string]any) ([]ValidationError, error) {
	v, err := r.lookup(schemaID)
	if err != nil {
		return nil, fmt.Errorf("violations: %w", err)
	}
	return v.violations(fields, false), nil
}

// violations validates fields; with first set it may stop sorting early
// but still returns the first violation at index 0.
func (v *compiled) violations(fields map[string]any, first bool) []ValidationError {
	var out []ValidationError
	doc := fields
	for k, x := range fields {
		if !safeValue(x) {
			out = append(out, ValidationError{Schema: v.id, Pointer: "/" + escape(k), Keyword: "value", Reason: "not a JSON value (or a number too long or too large to check)"})
		}
	}
	if len(out) > 0 {
		// Validate the rest without the unsafe values, so the first
		// violation is still found among all of them.
		doc = make(map[string]any, len(fields))
		for k, x := range fields {
			if safeValue(x) {
				doc[k] = x
			}
		}
	}
	if doc == nil {
		doc = map[string]any{}
	}
	err := v.schema.Validate(doc)
	if err == nil && len(out) == 0 {
		return nil
	}
	var verr *jsonschema.ValidationError
	if errors.As(err, &verr) {
		out = leaves(v.id, verr, out)
	}
	if len(out) == 0 {
		out = append(out, ValidationError{Schema: v.id, Keyword: "schema", Reason: "validator failed"})
	}
	if first {
		i := 0
		for j := range out {
			if less(out[j], out[i]) {
				i = j
			}
		}
		out[0], out[i] = out[i], out[0]
		return out[:1]
	}
	slices.SortFunc(out, func(a, b ValidationError) int {
		if less(a, b) {
			return -1
		}
		if less(b, a) {
			return 1
		}
		return 0
	})
	return out
}

// safeValue reports whether x is a Go value jsonschema can check without
// panicking or doing unbounded arithmetic.
func safeValue(x any) bool {
	switch t := x.(type) {
	case nil, bool, string, map[string]any, []any,
		int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case json.Number:
		return numberOK(string(t))
	case float64:
		return !math.IsNaN(t) && !math.IsInf(t, 0)
	case float32:
		return !math.IsNaN(float64(t)) && !math.IsInf(float64(t), 0)
	}
	return false
}

// keywordRank orders violations at the same pointer.
var keywordRank = map[string]int{
	"value": 0, "required": 1, "additionalProperties": 2, "type": 3, "enum": 4, "format": 5,
}

func rank(k string) int {
	if r, ok := keywordRank[k]; ok {
		return r
	}
	return len(keywordRank)
}

// less is the package's violation order: by pointer (byte order), then
// keyword rank, then keyword name, then reason.
func less(a, b ValidationError) bool {
	if a.Pointer != b.Pointer {
		return a.Pointer < b.Pointer
	}
	if ra, rb := rank(a.Keyword), rank(b.Keyword); ra != rb {
		return ra < rb
	}
	if a.Keyword != b.Keyword {
		return a.Keyword < b.Keyword
	}
	return a.Reason < b.Reason
}

// leaves flattens a jsonschema error tree into violations.
func leaves(id string, e *jsonschema.ValidationError, out []ValidationError) []ValidationError {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			out = leaves(id, c, out)
		}
		return out
	}
	ptr := pointer(e.InstanceLocation)
	add := func(p, kw, reason string) {
		out = append(out, ValidationError{Schema: id, Pointer: p, Keyword: kw, Reason: reason})
	}
	switch k := e.ErrorKind.(type) {
	case *kind.Required:
		for _, m := range k.Missing {
			add(ptr+"/"+escape(m), "required", "missing required field")
		}
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			add(ptr+"/"+escape(p), "additionalProperties", "field not defined by the schema")
		}
	case *kind.Type:
		add(ptr, "type", "want "+strings.Join(k.Want, " or ")+", got "+k.Got)
	case *kind.Enum:
		vals := make([]string, 0, len(k.Want))
		for _, w := range k.Want {
			vals = append(vals, fmt.Sprint(w))
		}
		add(ptr, "enum", "not one of: "+strings.Join(vals, ", "))
	case *kind.Format:
		var fe *FormatError
		if errors.As(k.Err, &fe) {
			add(ptr, "format", fe.Error())
		} else {
			add(ptr, "format", "invalid "+k.Want)
		}
	case *kind.Minimum:
		add(ptr, "minimum", "must be >= "+k.Want.RatString())
	case *kind.ExclusiveMinimum:
		add(ptr, "exclusiveMinimum", "must be > "+k.Want.RatString())
	case *kind.Maximum:
		add(ptr, "maximum", "must be <= "+k.Want.RatString())
	case *kind.ExclusiveMaximum:
		add(ptr, "exclusiveMaximum", "must be < "+k.Want.RatString())
	case *kind.MinLength:
		if k.Want == 1 {
			add(ptr, "minLength", "must not be empty")
		} else {
			add(ptr, "minLength", fmt.Sprintf("must have at least %d characters", k.Want))
		}
	case *kind.MaxLength:
		add(ptr, "maxLength", fmt.Sprintf("must have at most %d characters", k.Want))
	case *kind.Pattern:
		add(ptr, "pattern", "does not match the pattern "+k.Want)
	case *kind.InvalidJsonValue:
		add(ptr, "value", "not a JSON value")
	default:
		kw := "schema"
		if p := e.ErrorKind.KeywordPath(); len(p) > 0 {
			kw = p[len(p)-1]
		}
		add(ptr, kw, "violates "+kw)
	}
	return out
}

// JSONPointer is the RFC 6901 JSON pointer of a path of tokens (a
// jsonschema error's instance location; exchange/api's request check
// uses it too).
func JSONPointer(tokens []string) string { return pointer(tokens) }

// pointer builds an RFC 6901 JSON pointer from tokens.
func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}
