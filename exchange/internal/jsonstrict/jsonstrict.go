// Package jsonstrict decodes JSON at OneVisit's trust boundaries (HTTP
// bodies, record payloads and disclosures) so that every later step sees
// exactly one meaning of the input.
//
// Go's encoding/json matches object keys case-insensitively and lets the
// last of two duplicate keys win (golang/go#14750), and it silently turns
// invalid UTF-8 into U+FFFD. A validator that reads the first key and an
// enforcer that reads the last is a known bypass. Decode therefore refuses,
// before anything else reads the input:
//   - two keys in one object that are equal or equal under case folding;
//   - invalid UTF-8 anywhere in the input, and NUL characters in keys;
//   - nesting deeper than MaxDepth;
//   - anything but white space after the first value;
//   - for struct targets, keys that name no field (mass assignment).
//
// Numbers decode as json.Number into interface values, so large integers
// are not rounded through float64.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds object and array nesting.
const MaxDepth = 32

var (
	// ErrSyntax: the input is not JSON. Reject it with a 400.
	ErrSyntax = errors.New("malformed JSON")
	// ErrDuplicateKey: an object repeats a key, or repeats it with other
	// letter case. Reject it with a 400; never pick one of the values.
	ErrDuplicateKey = errors.New("duplicate or case-variant JSON key")
	// ErrInvalidUTF8: the input holds bytes that are not UTF-8, or a NUL
	// in a key.
	ErrInvalidUTF8 = errors.New("invalid UTF-8 in JSON")
	// ErrTooDeep: nesting exceeds MaxDepth.
	ErrTooDeep = errors.New("JSON nested too deeply")
	// ErrUnknownField: a key names no field of the target struct.
	ErrUnknownField = errors.New("unknown JSON field")
)

// Check reports whether data is one strict JSON value (see the package
// doc), without decoding it into anything.
func Check(data []byte) error {
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the value", ErrSyntax)
	}
	return nil
}

// Decode checks data with Check and then decodes it into v. For struct
// targets, unknown keys are ErrUnknownField.
func Decode(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if isStruct(v) {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return fmt.Errorf("%w: %s", ErrUnknownField, strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return nil
}

func isStruct(v any) bool {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.Kind() == reflect.Struct
}

// walk consumes one value from dec, checking keys of every object in it.
func walk(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return ErrTooDeep
	}
	switch delim {
	case '{':
		seen := make(map[string]struct{})
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrSyntax, err)
			}
			key, ok := tok.(string)
			if !ok {
				return fmt.Errorf("%w: object key is not a string", ErrSyntax)
			}
			if strings.IndexByte(key, 0) >= 0 {
				return fmt.Errorf("%w: NUL in key", ErrInvalidUTF8)
			}
			folded := fold(key)
			if _, dup := seen[folded]; dup {
				return fmt.Errorf("%w: %q", ErrDuplicateKey, key)
			}
			seen[folded] = struct{}{}
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return nil
}

// fold maps a key to the form under which encoding/json would match it:
// upper then lower case folds "ſ" into "s" and the Kelvin sign into "k".
func fold(s string) string {
	return strings.ToLower(strings.ToUpper(s))
}
