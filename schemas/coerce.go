package schemas

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
)

// Coerce turns one CSV row (column name -> cell text) into the typed
// values Validate expects, following each field's declared type:
//
//   - an empty cell is left out (an absent optional field; an absent
//     required field is then reported by Validate);
//   - "integer": the cell must be a JSON number with an integral value and
//     becomes a json.Number with the cell's text;
//   - "number": the cell must be a JSON number and becomes a json.Number;
//   - "boolean": the cell must be "true" or "false";
//   - "string": the cell is kept as it is (no trimming).
//
// A field with several types takes the first of integer, number, boolean,
// string that the cell parses as. A column that names no field of the
// schema is an error. Coerce does not validate formats, enums or bounds:
// call Validate on its result. Errors are *ValidationError (wrapping
// ErrInvalid) for the first offending column in byte order, or wrap
// ErrUnknownSchema.
func (r *Registry) Coerce(schemaID string, row map[string]string) (map[string]any, error) {
	v, err := r.lookup(schemaID)
	if err != nil {
		return nil, fmt.Errorf("coerce: %w", err)
	}
	cols := make([]string, 0, len(row))
	for c := range row {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	out := make(map[string]any, len(row))
	for _, col := range cols {
		cell := row[col]
		f := v.fields[col]
		if f == nil {
			return nil, &ValidationError{Schema: v.id, Pointer: "/" + escape(col), Keyword: "additionalProperties", Reason: "column names no field of the schema"}
		}
		if cell == "" {
			continue
		}
		val, ok := coerceCell(f.types, cell)
		if !ok {
			return nil, &ValidationError{Schema: v.id, Pointer: "/" + escape(col), Keyword: "type", Reason: "cell is not " + article(f.types)}
		}
		out[col] = val
	}
	return out, nil
}

func coerceCell(types []string, cell string) (any, bool) {
	for _, t := range []string{"integer", "number", "boolean", "string"} {
		if !slices.Contains(types, t) {
			continue
		}
		switch t {
		case "integer":
			if numberOK(cell) {
				if r, ok := new(big.Rat).SetString(cell); ok && r.IsInt() {
					return json.Number(cell), true
				}
			}
		case "number":
			if numberOK(cell) {
				return json.Number(cell), true
			}
		case "boolean":
			switch cell {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		case "string":
			return cell, true
		}
	}
	return nil, false
}

// article names the accepted types for a message: "an integer", "a number
// or a boolean".
func article(types []string) string {
	s := ""
	for i, t := range types {
		if t == "null" {
			continue
		}
		if i > 0 && s != "" {
			s += " or "
		}
		switch t {
		case "integer":
			s += "an integer"
		default:
			s += "a " + t
		}
	}
	return s
}
