package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxDepth bounds object and array nesting.
const MaxDepth = 32

var (
	// ErrSyntax: the input is not JSON. Reject it with a 400.
	ErrSyntax = errors.New("malformed JSON")
	// ErrDuplicateKey: an object repeats a key, or repeats it with other
	// letter case. Reject it with a 400; never pick one of the values.
	ErrDuplicateKey = errors.New("duplicate or case-variant JSON key")
	// ErrInvalidUTF8: the input holds bytes that are not UTF-8, a \u
	// escape of a lone surrogate, or a NUL in a key. Reject it with a 400.
	ErrInvalidUTF8 = errors.New("invalid UTF-8 in JSON")
	// ErrTooDeep: nesting exceeds MaxDepth.
	ErrTooDeep = errors.New("JSON nested too deeply")
	// ErrUnknownField: a key names no field of the target struct.
	ErrUnknownField = errors.New("unknown JSON field")
)

// Check reports whether data is one strict JSON value (see the package
// doc), without decoding it into anything.
func Check(data []byte) error {
	s := newScanner(data, false)
	_, err := s.document()
	return s.finish(err)
}

// Decode checks data with Check and then decodes it into v. For struct
// targets, a key that is not spelled exactly as a field's JSON name is an
// *UnknownFieldError (ErrUnknownField).
//
// When v is a pointer to a nil any, []any, []string, map[string]any or
// map[string]json.RawMessage, or to a string, checking and decoding are
// one pass; the result is what encoding/json (with UseNumber) would give.
func Decode(data []byte, v any) error {
	if done, err := decodeFast(data, v); done {
		return err
	}
	return decodeSlow(data, v)
}

// decodeSlow is Check followed by decodeStruct for structs and
// encoding/json (with UseNumber) for every other target.
func decodeSlow(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	if isStruct(v) {
		return decodeStruct(data, v)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return nil
}

// structOptions: unknown members are refused; a field of type any is
// decoded by this package's one-pass decoder (numbers as json.Number), and
// a json.Number field takes a JSON number as is.
var structOptions = jsonv2.JoinOptions(
	jsonv2.RejectUnknownMembers(true),
	jsonv2.WithUnmarshalers(jsonv2.JoinUnmarshalers(
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *any) error {
			raw, err := dec.ReadValue()
			if err != nil {
				return err
			}
			x, err := decodeValue(raw)
			if err != nil {
				return err
			}
			*v = x
			return nil
		}),
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, v *json.Number) error {
			raw, err := dec.ReadValue()
			if err != nil {
				return err
			}
			if raw.Kind() == 'n' {
				return nil // null leaves the field as it is, as in encoding/json
			}
			if raw.Kind() != '0' {
				return fmt.Errorf("%s is not a number", raw.Kind())
			}
			*v = json.Number(raw)
			return nil
		}),
	)),
)

// decodeStruct decodes checked data into a struct with
// go-json-experiment/json (encoding/json/v2), which matches member names
// exactly (encoding/json would let "Dataset" fill a field tagged
// "dataset") and, with RejectUnknownMembers, refuses names no field takes:
// about ten times faster than encoding/json plus a reflective walk that
// refused inexact names (BenchmarkDecodeStruct). Fields of type any and
// json.Number get what encoding/json with UseNumber gives them (numbers
// as json.Number), through structOptions.
func decodeStruct(data []byte, v any) error {
	err := jsonv2.Unmarshal(data, v, structOptions)
	if err == nil {
		return nil
	}
	var se *jsonv2.SemanticError
	if errors.As(err, &se) && errors.Is(se.Err, jsonv2.ErrUnknownName) {
		return &UnknownFieldError{Pointer: string(se.JSONPointer)}
	}
	return fmt.Errorf("%w: %v", ErrSyntax, err)
}

// decodeFast decodes the target types the scanner builds itself. done is
// false when v is another type, or when the input is strict JSON of a
// shape that does not fit v: then encoding/json must decide (and word
// the type error).
func decodeFast(data []byte, v any) (done bool, err error) {
	switch t := v.(type) {
	case *any:
		if t == nil || *t != nil {
			return false, nil
		}
		x, err := decodeValue(data)
		if err != nil {
			return true, err
		}
		*t = x
		return true, nil
	case *[]any:
		if t == nil || *t != nil {
			return false, nil
		}
		return decodeContainer(data, t, '[', func(s *scanner) ([]any, error) { return s.array(0) })
	case *map[string]any:
		if t == nil || *t != nil {
			return false, nil
		}
		return decodeContainer(data, t, '{', func(s *scanner) (map[string]any, error) { return s.object(0) })
	case *map[string]json.RawMessage:
		if t == nil || *t != nil {
			return false, nil
		}
		s := newScanner(data, false).keepText()
		m, fits, err := s.rawObject()
		if err = s.finish(err); err != nil || !fits {
			return err != nil, err
		}
		*t = m
		return true, nil
	case *[]string:
		if t == nil || *t != nil {
			return false, nil
		}
		s := newScanner(data, false).keepText()
		a, fits, err := s.stringArray()
		if err = s.finish(err); err != nil || !fits {
			return err != nil, err
		}
		*t = a
		return true, nil
	case *string:
		if t == nil {
			return false, nil
		}
		if s := newScanner(data, true); s.next('"') {
			start, end, esc, err := s.str()
			if err = s.finish(s.after(err)); err != nil {
				return true, err
			}
			*t = s.unquote(start, end, esc)
			return true, nil
		}
		x, err := decodeValue(data)
		if err != nil {
			return true, err
		}
		switch x := x.(type) {
		case string:
			*t = x
			return true, nil
		case nil: // null leaves a string as it was
			return true, nil
		}
	}
	return false, nil
}

// decodeContainer fills *t in one pass when data is the array or object
// that open starts, decoded by parse. Otherwise data is decoded as any
// value: null leaves *t nil, and any other value is left to encoding/json
// (done false), which reports the type mismatch.
func decodeContainer[T any](data []byte, t *T, open byte, parse func(*scanner) (T, error)) (done bool, err error) {
	if s := newScanner(data, true).keepText(); s.next(open) {
		v, err := parse(s)
		if err = s.finish(s.after(err)); err != nil {
			return true, err
		}
		*t = v
		return true, nil
	}
	x, err := decodeValue(data)
	if err != nil {
		return true, err
	}
	switch x := x.(type) {
	case T:
		*t = x
		return true, nil
	case nil:
		return true, nil
	}
	return false, nil
}

// decodeValue checks data and builds its value as encoding/json does
// into an any with UseNumber.
func decodeValue(data []byte) (any, error) {
	s := newScanner(data, true).keepText()
	v, err := s.document()
	if err = s.finish(err); err != nil {
		return nil, err
	}
	return v, nil
}

// UnknownFieldError is ErrUnknownField naming, as a JSON pointer (RFC
// 6901), the member no struct field takes.
type UnknownFieldError struct{ Pointer string }

func (e *UnknownFieldError) Error() string { return fmt.Sprintf("%v: %q", ErrUnknownField, e.Pointer) }

// Unwrap makes errors.Is(err, ErrUnknownField) true.
func (e *UnknownFieldError) Unwrap() error { return ErrUnknownField }

func isStruct(v any) bool {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && t.Kind() == reflect.Struct
}

// smallObject is the number of keys up to which an object's keys are
// compared pairwise (no allocation); larger objects use a set.
const smallObject = 16

// scanner reads one JSON text strictly, in one pass over the bytes.
type scanner struct {
	data  []byte
	pos   int
	build bool   // build values as well as check them
	buf   []byte // scratch for unescaping
	// text is a copy of data made once, when decoding, so that strings
	// without escapes and numbers are slices of it rather than one
	// allocation each. They keep the copy alive while any of them lives.
	text string
}

func newScanner(data []byte, build bool) *scanner {
	return &scanner{data: data, build: build}
}

// keepText makes the one copy of the input that decoded strings share.
func (s *scanner) keepText() *scanner {
	s.text = string(s.data)
	return s
}

// finish maps a scan error to what the package promises: any invalid
// UTF-8 in the input is ErrInvalidUTF8, whatever else is wrong with it.
// On success every byte has been read and checked by the scanner.
func (s *scanner) finish(err error) error {
	if err != nil && !errors.Is(err, ErrInvalidUTF8) && !utf8.Valid(s.data) {
		return ErrInvalidUTF8
	}
	return err
}

func (s *scanner) syntax(what string) error {
	if s.pos >= len(s.data) {
		return fmt.Errorf("%w: unexpected end of input, want %s", ErrSyntax, what)
	}
	return fmt.Errorf("%w: offset %d: invalid character %q, want %s", ErrSyntax, s.pos, s.data[s.pos], what)
}

// document reads one value surrounded by white space and nothing else.
func (s *scanner) document() (any, error) {
	s.space()
	v, err := s.value(0)
	if err != nil {
		return nil, err
	}
	s.space()
	if s.pos != len(s.data) {
		return nil, fmt.Errorf("%w: offset %d: data after the value", ErrSyntax, s.pos)
	}
	return v, nil
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// value reads one value starting at s.pos (no leading white space) at
// nesting depth depth. It returns the value when building.
func (s *scanner) value(depth int) (any, error) {
	if s.pos >= len(s.data) {
		return nil, s.syntax("a value")
	}
	switch c := s.data[s.pos]; c {
	case '{':
		m, err := s.object(depth)
		if err != nil || !s.build {
			return nil, err
		}
		return m, nil
	case '[':
		a, err := s.array(depth)
		if err != nil || !s.build {
			return nil, err
		}
		return a, nil
	case '"':
		start, end, esc, err := s.str()
		if err != nil || !s.build {
			return nil, err
		}
		return s.unquote(start, end, esc), nil
	case 't':
		return true, s.literal("true")
	case 'f':
		return false, s.literal("false")
	case 'n':
		return nil, s.literal("null")
	default:
		if c == '-' || c >= '0' && c <= '9' {
			start := s.pos
			if err := s.number(); err != nil || !s.build {
				return nil, err
			}
			if s.text != "" {
				return json.Number(s.text[start:s.pos]), nil
			}
			return json.Number(s.data[start:s.pos]), nil
		}
		return nil, s.syntax("a value")
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntax("the literal " + lit)
	}
	s.pos += len(lit)
	return nil
}

// number reads an RFC 8259 number:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	if s.pos < len(d) && d[s.pos] == '-' {
		s.pos++
	}
	switch {
	case s.pos < len(d) && d[s.pos] == '0':
		s.pos++
	case s.pos < len(d) && d[s.pos] >= '1' && d[s.pos] <= '9':
		s.digits()
	default:
		return s.syntax("a digit")
	}
	if s.pos < len(d) && d[s.pos] == '.' {
		s.pos++
		if s.digits() == 0 {
			return s.syntax("a digit after the decimal point")
		}
	}
	if s.pos < len(d) && (d[s.pos] == 'e' || d[s.pos] == 'E') {
		s.pos++
		if s.pos < len(d) && (d[s.pos] == '+' || d[s.pos] == '-') {
			s.pos++
		}
		if s.digits() == 0 {
			return s.syntax("a digit in the exponent")
		}
	}
	return nil
}

func (s *scanner) digits() int {
	start := s.pos
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos - start
}

// plain marks the bytes a string holds as themselves: printable ASCII
// other than the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string starting at its opening quote. start and end
// delimit its contents (between the quotes); esc reports a backslash in
// them. It refuses control characters, bad escapes, invalid UTF-8 and
// \u escapes of lone surrogates.
func (s *scanner) str() (start, end int, esc bool, err error) {
	d := s.data
	i := s.pos + 1
	start = i
	for {
		for i < len(d) && plain[d[i]] {
			i++
		}
		if i >= len(d) {
			s.pos = i
			return 0, 0, false, s.syntax("the end of the string")
		}
		switch c := d[i]; {
		case c == '"':
			s.pos = i + 1
			return start, i, esc, nil
		case c == '\\':
			esc = true
			n, err := s.escape(i)
			if err != nil {
				return 0, 0, false, err
			}
			i += n
		case c < 0x20:
			s.pos = i
			return 0, 0, false, s.syntax("no control character in a string")
		default:
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, fmt.Errorf("%w: offset %d", ErrInvalidUTF8, i)
			}
			i += size
		}
	}
}

// escape checks the escape sequence at d[i] (a backslash) and returns its
// length: 2, 6, or 12 for a surrogate pair.
func (s *scanner) escape(i int) (int, error) {
	d := s.data
	if i+1 >= len(d) {
		s.pos = len(d)
		return 0, s.syntax("an escape")
	}
	switch d[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, nil
	case 'u':
	default:
		s.pos = i + 1
		return 0, s.syntax("an escape")
	}
	r, ok := hex4(d, i+2)
	if !ok {
		s.pos = i + 2
		return 0, s.syntax("four hex digits")
	}
	switch {
	case r < 0xD800 || r > 0xDFFF:
		return 6, nil
	case r >= 0xDC00:
		return 0, fmt.Errorf("%w: offset %d: lone low surrogate \\u%04x", ErrInvalidUTF8, i, r)
	}
	if i+7 < len(d) && d[i+6] == '\\' && d[i+7] == 'u' {
		r2, ok := hex4(d, i+8)
		if !ok {
			s.pos = i + 8
			return 0, s.syntax("four hex digits")
		}
		if r2 >= 0xDC00 && r2 <= 0xDFFF {
			return 12, nil
		}
	}
	return 0, fmt.Errorf("%w: offset %d: lone high surrogate \\u%04x", ErrInvalidUTF8, i, r)
}

// hex4 reads four hex digits at d[i:].
func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// nextRune decodes the rune at raw[i:] of string contents the scanner has
// checked, resolving escapes, and returns it with its encoded length.
func nextRune(raw []byte, i int) (rune, int) {
	c := raw[i]
	if c < utf8.RuneSelf && c != '\\' {
		return rune(c), 1
	}
	if c != '\\' {
		return utf8.DecodeRune(raw[i:])
	}
	switch raw[i+1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, _ := hex4(raw, i+2)
		if r < 0xD800 || r > 0xDFFF {
			return r, 6
		}
		lo, _ := hex4(raw, i+8) // str checked the pair
		return 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00), 12
	default: // '"', '\\', '/'
		return rune(raw[i+1]), 2
	}
}

// unquote returns the contents of a checked string.
func (s *scanner) unquote(start, end int, esc bool) string {
	if !esc && s.text != "" {
		return s.text[start:end]
	}
	raw := s.data[start:end]
	if !esc {
		return string(raw)
	}
	s.buf = s.buf[:0]
	for i := 0; i < len(raw); {
		r, n := nextRune(raw, i)
		s.buf = utf8.AppendRune(s.buf, r)
		i += n
	}
	return string(s.buf)
}

// fold maps a rune to the form under which encoding/json matches keys:
// strings.ToLower(strings.ToUpper(key)) works rune by rune, so "ſ" folds
// into "s" and the Kelvin sign into "k".
func fold(r rune) rune {
	if r < utf8.RuneSelf {
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	return unicode.ToLower(unicode.ToUpper(r))
}

// key is an object key: its contents in the input, checked by str.
type key struct {
	start, end int
	plain      bool // ASCII without escapes: folding keeps its length
}

// keySet holds the keys of one object seen so far. The first smallObject
// keys are compared pairwise, folded on the fly, without allocating;
// from then on a set of folded keys takes over.
type keySet struct {
	small [smallObject]key
	n     int
	big   map[string]struct{}
}

// add refuses the key data[start:end] if it equals, folded, a key already
// in ks, or holds a NUL; and adds it otherwise.
func (s *scanner) add(ks *keySet, start, end int, esc bool) error {
	k := key{start: start, end: end, plain: !esc}
	if esc || !isASCII(s.data[start:end]) {
		k.plain = false
		for i := start; i < end; {
			r, n := nextRune(s.data, i)
			if r == 0 {
				return fmt.Errorf("%w: NUL in key", ErrInvalidUTF8)
			}
			i += n
		}
	}
	if ks.big != nil {
		f := s.folded(k)
		if _, dup := ks.big[string(f)]; dup {
			return s.duplicate(k)
		}
		ks.big[string(f)] = struct{}{}
		return nil
	}
	for _, p := range ks.small[:ks.n] {
		if s.sameKey(p, k) {
			return s.duplicate(k)
		}
	}
	if ks.n < smallObject {
		ks.small[ks.n] = k
		ks.n++
		return nil
	}
	ks.big = make(map[string]struct{}, 4*smallObject)
	for _, p := range ks.small {
		ks.big[string(s.folded(p))] = struct{}{}
	}
	ks.big[string(s.folded(k))] = struct{}{}
	return nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// sameKey reports whether two keys are equal once unescaped and folded.
func (s *scanner) sameKey(a, b key) bool {
	d := s.data
	if a.plain && b.plain {
		if a.end-a.start != b.end-b.start {
			return false
		}
		for i := range a.end - a.start {
			if ca, cb := d[a.start+i], d[b.start+i]; ca != cb && fold(rune(ca)) != fold(rune(cb)) {
				return false
			}
		}
		return true
	}
	i, j := a.start, b.start
	for i < a.end && j < b.end {
		ra, na := nextRune(d, i)
		rb, nb := nextRune(d, j)
		if ra != rb && fold(ra) != fold(rb) {
			return false
		}
		i, j = i+na, j+nb
	}
	return i == a.end && j == b.end
}

// folded returns the key unescaped and folded, in s.buf.
func (s *scanner) folded(k key) []byte {
	s.buf = s.buf[:0]
	for i := k.start; i < k.end; {
		r, n := nextRune(s.data, i)
		s.buf = utf8.AppendRune(s.buf, fold(r))
		i += n
	}
	return s.buf
}

func (s *scanner) duplicate(k key) error {
	return fmt.Errorf("%w: %q", ErrDuplicateKey, s.unquote(k.start, k.end, !k.plain))
}

// object reads an object starting at its "{".
func (s *scanner) object(depth int) (map[string]any, error) {
	if depth >= MaxDepth {
		return nil, ErrTooDeep
	}
	s.pos++
	var m map[string]any
	if s.build {
		m = make(map[string]any)
	}
	var ks keySet
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return m, nil
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, s.syntax("a string key")
		}
		start, end, esc, err := s.str()
		if err != nil {
			return nil, err
		}
		if err := s.add(&ks, start, end, esc); err != nil {
			return nil, err
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, s.syntax(`":" after a key`)
		}
		s.pos++
		s.space()
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if s.build {
			m[s.unquote(start, end, esc)] = v
		}
		s.space()
		if s.pos >= len(s.data) {
			return nil, s.syntax(`"," or "}"`)
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.space()
		case '}':
			s.pos++
			return m, nil
		default:
			return nil, s.syntax(`"," or "}"`)
		}
	}
}

// array reads an array starting at its "[".
func (s *scanner) array(depth int) ([]any, error) {
	if depth >= MaxDepth {
		return nil, ErrTooDeep
	}
	s.pos++
	var a []any
	if s.build {
		a = make([]any, 0, 4)
	}
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return a, nil
	}
	for {
		v, err := s.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if s.build {
			a = append(a, v)
		}
		s.space()
		if s.pos >= len(s.data) {
			return nil, s.syntax(`"," or "]"`)
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.space()
		case ']':
			s.pos++
			return a, nil
		default:
			return nil, s.syntax(`"," or "]"`)
		}
	}
}

// rawObject reads a document that is one object (or null) into a map of
// raw member values, as encoding/json fills a map[string]json.RawMessage:
// keys unescaped, values their exact bytes (copied). fits is false, with
// no error, when the document does not start with "{" (null, another
// kind of value, or not JSON): encoding/json must decide then.
func (s *scanner) rawObject() (m map[string]json.RawMessage, fits bool, err error) {
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '{' {
		return nil, false, nil
	}
	s.pos++
	var own []byte // one copy of the input, which the values slice
	m = make(map[string]json.RawMessage)
	var ks keySet
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == '}' {
		s.pos++
		return m, true, s.rest()
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, false, s.syntax("a string key")
		}
		start, end, esc, err := s.str()
		if err != nil {
			return nil, false, err
		}
		if err := s.add(&ks, start, end, esc); err != nil {
			return nil, false, err
		}
		s.space()
		if s.pos >= len(s.data) || s.data[s.pos] != ':' {
			return nil, false, s.syntax(`":" after a key`)
		}
		s.pos++
		s.space()
		vstart := s.pos
		if _, err := s.value(1); err != nil {
			return nil, false, err
		}
		if own == nil {
			own = bytes.Clone(s.data)
		}
		m[s.unquote(start, end, esc)] = own[vstart:s.pos:s.pos]
		s.space()
		if s.pos >= len(s.data) {
			return nil, false, s.syntax(`"," or "}"`)
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.space()
		case '}':
			s.pos++
			return m, true, s.rest()
		default:
			return nil, false, s.syntax(`"," or "}"`)
		}
	}
}

// next skips white space and reports whether the next byte is c.
func (s *scanner) next(c byte) bool {
	s.space()
	return s.pos < len(s.data) && s.data[s.pos] == c
}

// after is err, or else the result of rest: the end of a document.
func (s *scanner) after(err error) error {
	if err != nil {
		return err
	}
	return s.rest()
}

// rest refuses anything but white space after the value.
func (s *scanner) rest() error {
	s.space()
	if s.pos != len(s.data) {
		return fmt.Errorf("%w: offset %d: data after the value", ErrSyntax, s.pos)
	}
	return nil
}

// stringArray reads a document that is an array of strings. fits is
// false, with no error, when the document is not one (null, an element
// of another kind, including null, which encoding/json decodes as "",
// or not JSON at all): encoding/json must decide then.
func (s *scanner) stringArray() (a []string, fits bool, err error) {
	s.space()
	if s.pos >= len(s.data) || s.data[s.pos] != '[' {
		return nil, false, nil
	}
	s.pos++
	a = make([]string, 0, bytes.Count(s.data, []byte{','})+1)
	s.space()
	if s.pos < len(s.data) && s.data[s.pos] == ']' {
		s.pos++
		return a, true, s.rest()
	}
	for {
		if s.pos >= len(s.data) || s.data[s.pos] != '"' {
			return nil, false, nil // another element kind
		}
		start, end, esc, err := s.str()
		if err != nil {
			return nil, false, err
		}
		a = append(a, s.unquote(start, end, esc))
		s.space()
		if s.pos >= len(s.data) {
			return nil, false, s.syntax(`"," or "]"`)
		}
		switch s.data[s.pos] {
		case ',':
			s.pos++
			s.space()
		case ']':
			s.pos++
			return a, true, s.rest()
		default:
			return nil, false, s.syntax(`"," or "]"`)
		}
	}
}
