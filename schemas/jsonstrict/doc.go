// Package jsonstrict decodes JSON at OneVisit's trust boundaries (HTTP
// bodies, record payloads and disclosures) so that every later step sees
// exactly one meaning of the input.
//
// Go's encoding/json matches object keys case-insensitively and lets the
// last of two duplicate keys win (golang/go#14750), and it silently turns
// invalid UTF-8 and lone surrogate escapes into U+FFFD. A validator that
// reads the first key and an enforcer that reads the last is a known
// bypass. Check and Decode therefore refuse, before anything else reads
// the input:
//   - two keys in one object that are equal or equal under case folding
//     (ErrDuplicateKey). Keys are compared after unescaping ("a" and
//     "\u0061" are the same key) and folded as encoding/json matches
//     them: strings.ToLower(strings.ToUpper(key)), so "ſ" equals "s" and
//     the Kelvin sign equals "k";
//   - invalid UTF-8 anywhere in the input, a \u escape of a lone
//     surrogate (such as "\ud800"), and NUL characters in keys, escaped
//     or not (ErrInvalidUTF8). When the input holds invalid UTF-8 the
//     error is ErrInvalidUTF8 whatever else is wrong with it;
//   - nesting deeper than MaxDepth (ErrTooDeep);
//   - anything that is not RFC 8259 JSON (ErrSyntax): numbers exactly as
//     the RFC's grammar (no leading zeros, "+", NaN or hex), the literals
//     true, false and null, the eight escapes and \uXXXX, no control
//     characters in strings, and nothing but white space after the first
//     value;
//   - for struct targets, keys that name no field (ErrUnknownField,
//     mass assignment).
//
// Whatever Check accepts, encoding/json's json.Valid accepts too; and
// Check accepts everything json.Valid accepts that has none of the
// problems above. The tests check both directions against a reference
// written with encoding/json, and fuzz them.
//
// Numbers decode as json.Number into interface values, so large integers
// are not rounded through float64.
//
// # Cost
//
// Check reads the input once, byte by byte, and does not allocate for
// objects of fewer than 16 keys (their folded keys are compared
// pairwise; larger objects use a set). Decode into a pointer to a nil
// any, []any, []string, map[string]any or map[string]json.RawMessage, or
// to a string, checks and builds the value in the same pass, with the
// same result as encoding/json. A struct is checked and then decoded by
// go-json-experiment/json (encoding/json/v2), which matches member names
// exactly and refuses unknown ones (about 3 µs for an audit entry, where
// encoding/json with a check of exact names took about 30 µs:
// BenchmarkDecodeStruct); fields of type any and json.Number still get
// numbers as json.Number. Any other target (a non-empty map, a slice of
// structs) is checked and decoded by encoding/json with UseNumber. The
// one-pass decoders copy the input
// once and slice strings without escapes, numbers and keys out of that
// copy, so a decoded value never aliases the caller's buffer but keeps
// the copy alive while any part of it is referenced.
//
// # One decoder
//
// This is OneVisit's only strict JSON decoder: the exchange's trust
// boundaries and the schema registry (schemas, which imports nothing from
// exchange/, decodes schema files with it) read JSON the same way. It
// lives at the module root for that reason.
//
// go-json-experiment/json (encoding/json/v2) was evaluated as a
// replacement and does not refuse the same inputs: it accepts keys equal
// only under case folding, NUL in keys and nesting past MaxDepth, and
// decoding into any it is not faster than the one-pass decoder.
// TestGoJSONExperimentDifferential pins those differences. So Check
// always runs first, and the library only binds checked input to
// structs, where it is the fast path.
package jsonstrict
