package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// maxSchemaDepth bounds nesting in a schema file. The profile needs 3.
const maxSchemaDepth = 16

// decodeStrict decodes one JSON value with numbers as json.Number,
// refusing invalid UTF-8, keys repeated in one object (also under case
// folding, as exchange/internal/jsonstrict does for records), nesting
// deeper than maxSchemaDepth and data after the value.
func decodeStrict(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("invalid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > maxSchemaDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			obj := map[string]any{}
			folded := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("malformed JSON: %w", err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, errors.New("malformed JSON: object key is not a string")
				}
				f := strings.ToLower(key)
				if folded[f] {
					return nil, fmt.Errorf("duplicate or case-variant key %s", quote(key))
				}
				folded[f] = true
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				obj[key] = v
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			return obj, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("malformed JSON: %w", err)
			}
			return arr, nil
		}
		return nil, errors.New("malformed JSON: unexpected delimiter")
	default:
		return t, nil
	}
}
