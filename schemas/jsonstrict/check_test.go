package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus under testdata/fuzz")

// TestFuzzSeedCorpus writes checkCases as the seed corpus of the fuzz
// targets with -update, and otherwise checks it is there, so the targets
// run on it as tests.
func TestFuzzSeedCorpus(t *testing.T) {
	for _, target := range []string{"FuzzCheck", "FuzzCheckReference", "FuzzDecode"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, c := range checkCases {
				name := strings.NewReplacer(" ", "-", "/", "-").Replace(c.name)
				body := "go test fuzz v1\n[]byte(" + strconv.Quote(c.in) + ")\n"
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < len(checkCases) {
			t.Fatalf("%s: %d seeds, %v (run go test -run TestFuzzSeedCorpus -update)", dir, len(entries), err)
		}
	}
}

// checkCases pin each guarantee; they are also the fuzz seeds.
var checkCases = []struct {
	name    string
	in      string
	wantErr error
}{
	{name: "object", in: `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`},
	{name: "white space around", in: " \t\r\n{ \"a\" : [ 1 , 2 ] }\n"},
	{name: "scalar", in: `"x"`},
	{name: "empty key", in: `{"":1}`},
	{name: "same key in sibling objects", in: `[{"a":1},{"a":2}]`},
	{name: "same key at two depths", in: `{"a":{"a":{"a":1}}}`},
	{name: "escapes", in: `"\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"`},
	{name: "raw non-ASCII", in: `{"名":"张三","ß":"ẞ"}`},
	{name: "numbers", in: `[0,-0,1,-1,10,1.5,-0.25,1e9,1E+9,1e-9,12345678901234567890]`},
	{name: "depth MaxDepth", in: strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)},
	{name: "sixteen and more keys", in: manyKeys(40, "")},

	{name: "duplicate key", in: `{"a":1,"a":2}`, wantErr: ErrDuplicateKey},
	{name: "case variant", in: `{"purpose":1,"PURPOSE":2}`, wantErr: ErrDuplicateKey},
	{name: "escaped duplicate", in: `{"a":1,"\u0061":2}`, wantErr: ErrDuplicateKey},
	{name: "escaped case variant", in: `{"a":1,"\u0041":2}`, wantErr: ErrDuplicateKey},
	{name: "long s folds like s", in: `{"s":1,"ſ":2}`, wantErr: ErrDuplicateKey},
	{name: "kelvin sign folds like k", in: `{"K":1,"\u212a":2}`, wantErr: ErrDuplicateKey},
	{name: "non-ASCII case variant", in: `{"é":1,"É":2}`, wantErr: ErrDuplicateKey},
	{name: "duplicate after 16 keys", in: manyKeys(40, `,"K7":0`), wantErr: ErrDuplicateKey},
	{name: "duplicate of a late key in a big object", in: manyKeys(40, `,"k39":0`), wantErr: ErrDuplicateKey},
	{name: "duplicate deep inside", in: `[[{"x":{"a":1,"A":2}}]]`, wantErr: ErrDuplicateKey},

	{name: "invalid UTF-8 in a string", in: "\"\xff\"", wantErr: ErrInvalidUTF8},
	{name: "invalid UTF-8 in a key", in: "{\"\xc3\":1}", wantErr: ErrInvalidUTF8},
	{name: "UTF-8 surrogate bytes", in: "\"\xed\xa0\x80\"", wantErr: ErrInvalidUTF8},
	{name: "overlong UTF-8", in: "\"\xc0\xaf\"", wantErr: ErrInvalidUTF8},
	{name: "invalid UTF-8 outside strings", in: "[1,\xff]", wantErr: ErrInvalidUTF8},
	{name: "invalid UTF-8 wins over a syntax error", in: "x\"\xff\"", wantErr: ErrInvalidUTF8},
	{name: "lone high surrogate", in: `"\ud800"`, wantErr: ErrInvalidUTF8},
	{name: "lone low surrogate", in: `"\udc00"`, wantErr: ErrInvalidUTF8},
	{name: "high surrogate then a letter", in: `"\ud800\u0041"`, wantErr: ErrInvalidUTF8},
	{name: "swapped surrogates", in: `"\udc00\ud800"`, wantErr: ErrInvalidUTF8},
	{name: "lone surrogate in a key", in: `{"\ud83d":1}`, wantErr: ErrInvalidUTF8},
	{name: "escaped NUL in key", in: `{"a\u0000":1}`, wantErr: ErrInvalidUTF8},
	{name: "escaped NUL in value is allowed", in: `{"a":"\u0000"}`},

	{name: "too deep array", in: strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), wantErr: ErrTooDeep},
	{name: "too deep object", in: strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), wantErr: ErrTooDeep},

	{name: "empty", in: ``, wantErr: ErrSyntax},
	{name: "only space", in: ` `, wantErr: ErrSyntax},
	{name: "trailing value", in: `{} {}`, wantErr: ErrSyntax},
	{name: "trailing comma in array", in: `[1,]`, wantErr: ErrSyntax},
	{name: "trailing comma in object", in: `{"a":1,}`, wantErr: ErrSyntax},
	{name: "unquoted key", in: `{a:1}`, wantErr: ErrSyntax},
	{name: "number key", in: `{1:1}`, wantErr: ErrSyntax},
	{name: "missing colon", in: `{"a" 1}`, wantErr: ErrSyntax},
	{name: "missing value", in: `{"a":}`, wantErr: ErrSyntax},
	{name: "leading zero", in: `01`, wantErr: ErrSyntax},
	{name: "plus sign", in: `+1`, wantErr: ErrSyntax},
	{name: "bare minus", in: `-`, wantErr: ErrSyntax},
	{name: "dot without digits", in: `1.`, wantErr: ErrSyntax},
	{name: "leading dot", in: `.5`, wantErr: ErrSyntax},
	{name: "exponent without digits", in: `1e+`, wantErr: ErrSyntax},
	{name: "hex", in: `0x10`, wantErr: ErrSyntax},
	{name: "NaN", in: `NaN`, wantErr: ErrSyntax},
	{name: "Infinity", in: `-Infinity`, wantErr: ErrSyntax},
	{name: "truncated literal", in: `tru`, wantErr: ErrSyntax},
	{name: "capital literal", in: `True`, wantErr: ErrSyntax},
	{name: "single quotes", in: `'a'`, wantErr: ErrSyntax},
	{name: "raw newline in string", in: "\"a\nb\"", wantErr: ErrSyntax},
	{name: "raw tab in string", in: "\"a\tb\"", wantErr: ErrSyntax},
	{name: "raw NUL in string", in: "\"a\x00b\"", wantErr: ErrSyntax},
	{name: "bad escape", in: `"\x41"`, wantErr: ErrSyntax},
	{name: "short unicode escape", in: `"\u12"`, wantErr: ErrSyntax},
	{name: "bad hex in escape", in: `"\u12g4"`, wantErr: ErrSyntax},
	{name: "backslash at the end", in: `"\`, wantErr: ErrSyntax},
	{name: "unterminated string", in: `"abc`, wantErr: ErrSyntax},
	{name: "unterminated object", in: `{"a":1`, wantErr: ErrSyntax},
	{name: "unterminated array", in: `[1`, wantErr: ErrSyntax},
	{name: "close without open", in: `]`, wantErr: ErrSyntax},
	{name: "mismatched close", in: `[}`, wantErr: ErrSyntax},
	{name: "byte order mark", in: "\ufeff{}", wantErr: ErrSyntax},
	{name: "comment", in: `{} // no`, wantErr: ErrSyntax},
	{name: "form feed is not white space", in: "\f{}", wantErr: ErrSyntax},
}

func TestCheck(t *testing.T) {
	for _, tt := range checkCases {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Check(%q) = %v, want %v", tt.in, err, tt.wantErr)
			}
			if err == nil && !json.Valid([]byte(tt.in)) {
				t.Fatalf("Check accepts %q, which json.Valid refuses", tt.in)
			}
		})
	}
}

// manyKeys is an object with n keys k0..k(n-1) and extra members.
func manyKeys(n int, extra string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":%d`, i, i)
	}
	return b.String() + extra + "}"
}

// --- the reference: encoding/json, used simply ---

// refCheck is what Check must decide, written with encoding/json: valid
// UTF-8, json.Valid, no lone surrogate escapes, and a token walk for the
// rest (keys folded with strings.ToLower(strings.ToUpper(k)) in a map).
func refCheck(data []byte) error {
	if !utf8.Valid(data) {
		return ErrInvalidUTF8
	}
	if !json.Valid(data) {
		return ErrSyntax
	}
	if refLoneSurrogate(data) {
		return ErrInvalidUTF8
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // else Token refuses numbers out of float64's range
	if err := refWalk(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return ErrSyntax
	}
	return nil
}

func refWalk(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return ErrSyntax
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	if depth >= MaxDepth {
		return ErrTooDeep
	}
	seen := map[string]bool{}
	for dec.More() {
		if delim == '{' {
			tok, err := dec.Token()
			if err != nil {
				return ErrSyntax
			}
			key := tok.(string)
			if strings.ContainsRune(key, 0) {
				return ErrInvalidUTF8
			}
			folded := strings.ToLower(strings.ToUpper(key))
			if seen[folded] {
				return ErrDuplicateKey
			}
			seen[folded] = true
		}
		if err := refWalk(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// stringLiteral finds the string literals of valid JSON (outside strings
// there is no quote).
var stringLiteral = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// refLoneSurrogate reports a \u escape of a surrogate that is not the
// high half of a pair followed by its low half, in valid JSON.
func refLoneSurrogate(data []byte) bool {
	for _, lit := range stringLiteral.FindAll(data, -1) {
		var units []uint64
		for i := 1; i < len(lit)-1; i++ {
			if lit[i] != '\\' {
				units = append(units, 0)
				continue
			}
			i++
			if lit[i] != 'u' {
				units = append(units, 0)
				continue
			}
			u, _ := strconv.ParseUint(string(lit[i+1:i+5]), 16, 16)
			units = append(units, u)
			i += 4
		}
		for i := 0; i < len(units); i++ {
			switch u := units[i]; {
			case u >= 0xDC00 && u <= 0xDFFF:
				return true
			case u >= 0xD800 && u <= 0xDBFF:
				if i+1 == len(units) || units[i+1] < 0xDC00 || units[i+1] > 0xDFFF {
					return true
				}
				i++
			}
		}
	}
	return false
}

// checkAgainstReference is the differential property: Check and the
// reference accept the same inputs, whatever Check accepts json.Valid
// accepts, and every error is one of the sentinels.
func checkAgainstReference(t *testing.T, data []byte) {
	t.Helper()
	got, want := Check(data), refCheck(data)
	if got == nil && !json.Valid(data) {
		t.Fatalf("Check accepts %q, which json.Valid refuses", data)
	}
	if (got == nil) != (want == nil) {
		t.Fatalf("Check(%q) = %v, reference says %v", data, got, want)
	}
	if got != nil && !errors.Is(got, ErrSyntax) && !errors.Is(got, ErrDuplicateKey) &&
		!errors.Is(got, ErrInvalidUTF8) && !errors.Is(got, ErrTooDeep) {
		t.Fatalf("Check(%q) = %v, not a sentinel", data, got)
	}
	if !utf8.Valid(data) && !errors.Is(got, ErrInvalidUTF8) {
		t.Fatalf("Check(%q) = %v, want ErrInvalidUTF8 for invalid UTF-8", data, got)
	}
}

// fragments are the pieces random inputs are made of: every kind of
// token, the troublesome ones included.
var fragments = []string{
	"{", "}", "[", "]", ",", ":", " ", "\n", "\t", "\r", "\f",
	`"a"`, `"A"`, `"b"`, `"\u0061"`, `"\u0041"`, `"s"`, `"ſ"`, `"k"`, `"\u212a"`, `""`, `"é"`, `"É"`,
	`"\ud800"`, `"\udc00"`, `"\ud83d\ude00"`, `"\ud83d\u0041"`, `"\u0000"`, `"a\u0000"`,
	`"\n"`, "\"\n\"", `"\x"`, `"\u12"`, `"\\"`, `"\"`, `"`, `\`, "\xff", "\xc3", "\xed\xa0\x80", "名",
	"0", "-0", "1", "-", "01", "1.", "1.5", ".5", "1e5", "1E-5", "1e", "+1", "12345678901234567890",
	"true", "false", "null", "tru", "nul", "NaN", "x",
}

// keyPool holds keys that collide in every way Check must see: equal,
// escaped, case variants, folding specials, NUL, lone surrogates.
var keyPool = []string{
	`"a"`, `"A"`, `"\u0061"`, `"\u0041"`, `"b"`, `"s"`, `"S"`, `"ſ"`, `"k"`, `"\u212a"`, `"K"`,
	`"é"`, `"É"`, `""`, `"a\u0000"`, `"\ud800"`, `"\ud83d\ude00"`, `"😀"`, `"x\"y"`, `"名"`,
}

// scalars are well-formed leaf values, badScalars malformed or refused
// ones.
var (
	scalars = []string{
		`0`, `-0`, `1.5`, `1e5`, `-2E-3`, `12345678901234567890`, `1e999`, `true`, `false`, `null`,
		`""`, `"x"`, `"\n\t\/"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\u0000"`, `"张三"`,
	}
	badScalars = []string{`"\ud800"`, `"\udc00x"`, `01`, `1.`, `+1`, `tru`, `"\x"`, "\"\xff\"", "\"a\nb\""}
)

func randomScalar(r *rand.Rand, b []byte) []byte {
	if r.IntN(20) == 0 {
		return append(b, badScalars[r.IntN(len(badScalars))]...)
	}
	return append(b, scalars[r.IntN(len(scalars))]...)
}

// randomValue writes a random, mostly well-formed value nesting at most
// limit containers.
func randomValue(r *rand.Rand, b []byte, depth, limit int) []byte {
	if depth >= limit || limit <= 4 && depth > 0 && r.IntN(3) == 0 {
		return randomScalar(r, b)
	}
	wide := limit <= 4 // deep values are chains
	if r.IntN(2) == 0 {
		b = append(b, '{')
		n := 1
		switch {
		case wide && depth == 0 && r.IntN(4) == 0:
			n = 10 + r.IntN(20) // past smallObject
		case wide:
			n = r.IntN(4)
		}
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			if r.IntN(3) == 0 {
				b = append(b, keyPool[r.IntN(len(keyPool))]...)
			} else {
				b = strconv.AppendQuote(b, "k"+strconv.Itoa(r.IntN(30)))
			}
			b = append(b, ':')
			b = randomValue(r, b, depth+1, limit)
		}
		return append(b, '}')
	}
	b = append(b, '[')
	n := 1
	if wide {
		n = r.IntN(4)
	}
	for i := range n {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = randomValue(r, b, depth+1, limit)
	}
	return append(b, ']')
}

// randomInput is a random value, sometimes mutated by a few fragments
// inserted, bytes dropped or replaced.
func randomInput(r *rand.Rand) []byte {
	limit := 4
	if r.IntN(10) == 0 {
		limit = MaxDepth - 1 + r.IntN(3)
	}
	b := randomValue(r, nil, 0, limit)
	for range r.IntN(3) * r.IntN(2) {
		if len(b) == 0 {
			break
		}
		i := r.IntN(len(b))
		switch r.IntN(3) {
		case 0:
			b = append(b[:i:i], append([]byte(fragments[r.IntN(len(fragments))]), b[i:]...)...)
		case 1:
			b = append(b[:i:i], b[i+1:]...)
		default:
			const marks = "{}[],:\"\\ 0e.-"
			b[i] = marks[r.IntN(len(marks))]
		}
	}
	return b
}

// TestCheckMatchesReference runs the differential property over many
// generated inputs (the fuzz target explores further).
func TestCheckMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	accepted := 0
	for range 60_000 {
		data := randomInput(r)
		checkAgainstReference(t, data)
		if Check(data) == nil {
			accepted++
		}
	}
	// The generator must reach accepting inputs too, or the test proves
	// little.
	if accepted < 1000 {
		t.Fatalf("only %d accepted inputs generated", accepted)
	}
}

func FuzzCheckReference(f *testing.F) {
	for _, s := range fragments {
		f.Add([]byte(s))
	}
	f.Add([]byte(manyKeys(20, `,"K3":1`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgainstReference(t, data)
	})
}

// decodeTargets are the target types with a one-pass fast path, each
// decoded by the fast path and by Check + encoding/json.
var decodeTargets = []func() any{
	func() any { return new(any) },
	func() any { return new([]any) },
	func() any { return new(map[string]any) },
	func() any { return new(map[string]json.RawMessage) },
	func() any { return new([]string) },
	func() any { return new(string) },
}

// decodeAgainstSlow: for every fast-path target, Decode gives what Check
// followed by encoding/json gives, error sentinel included.
func decodeAgainstSlow(t *testing.T, data []byte) {
	t.Helper()
	for _, mk := range decodeTargets {
		fast, slow := mk(), mk()
		errFast, errSlow := Decode(data, fast), decodeSlow(data, slow)
		if (errFast == nil) != (errSlow == nil) || errors.Is(errFast, ErrSyntax) != errors.Is(errSlow, ErrSyntax) ||
			errors.Is(errFast, ErrInvalidUTF8) != errors.Is(errSlow, ErrInvalidUTF8) ||
			errors.Is(errFast, ErrDuplicateKey) != errors.Is(errSlow, ErrDuplicateKey) ||
			errors.Is(errFast, ErrTooDeep) != errors.Is(errSlow, ErrTooDeep) {
			t.Fatalf("Decode(%q, %T): fast %v, slow %v", data, fast, errFast, errSlow)
		}
		if errFast == nil && !reflect.DeepEqual(fast, slow) {
			t.Fatalf("Decode(%q, %T):\nfast %#v\nslow %#v", data, fast, reflect.ValueOf(fast).Elem(), reflect.ValueOf(slow).Elem())
		}
	}
}

func TestDecodeFastMatchesEncodingJSON(t *testing.T) {
	for _, in := range []string{
		`null`, `{}`, `[]`, `""`, `"x"`, `1`, `true`,
		`{"a":null,"b":[],"c":{},"d":"\u00e9\ud83d\ude00\n","e":-1.5e3,"f":[1,"x",null,{"g":true}]}`,
		` { "a" : [ 1 , 2 ] , "b" : { "c" : "d" } } `,
		`["a","\u0062",""]`, `["a",null]`, `["a",1]`, `[null]`, `[["a"]]`,
		`{"\u0061":1,"b\"c":2}`, `{"a":1,"A":2}`, `["a","\ud800"]`, "[\"\xff\"]", `["a",]`, `["a"`, `{"a":1`,
		manyKeys(20, ""),
	} {
		t.Run(in, func(t *testing.T) { decodeAgainstSlow(t, []byte(in)) })
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		decodeAgainstSlow(t, randomInput(r))
	}
}

func TestDecodeRawMessageKeepsBytes(t *testing.T) {
	var m map[string]json.RawMessage
	if err := Decode([]byte(` {"a" : [1, 2] ,"b":"\u0041" , "c":null}`), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]json.RawMessage{"a": json.RawMessage(`[1, 2]`), "b": json.RawMessage(`"\u0041"`), "c": json.RawMessage(`null`)}
	if !reflect.DeepEqual(m, want) {
		t.Fatalf("got %q, want %q", m, want)
	}
	// The values are copies: appending to one cannot overwrite another.
	m["a"] = append(m["a"], 'x')
	if string(m["b"]) != `"\u0041"` {
		t.Fatalf("append to a value overwrote its neighbour: %q", m["b"])
	}
}

func TestDecodeNonEmptyTargetsUseEncodingJSON(t *testing.T) {
	m := map[string]any{"kept": true}
	if err := Decode([]byte(`{"new":1}`), &m); err != nil {
		t.Fatal(err)
	}
	if want := (map[string]any{"kept": true, "new": json.Number("1")}); !reflect.DeepEqual(m, want) {
		t.Fatalf("got %v, want %v (encoding/json merges into a non-nil map)", m, want)
	}
	s := "before"
	if err := Decode([]byte(`null`), &s); err != nil || s != "before" {
		t.Fatalf("null into a string: %q, %v", s, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fragments {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":[1,"x",null],"b":{"c":1.5}}`))
	f.Add([]byte(`["x","y"]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		decodeAgainstSlow(t, data)
	})
}

func BenchmarkCheck(b *testing.B) {
	for _, bc := range benchInputs {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.in)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchInputs {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.in)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := Decode(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var benchInputs = []struct{ name, in string }{
	{"payload", `{"_sd":["0mWbzaUFbbl6mQWwT9VDMb4jWX9WPsnlCpfHmbI5eg4","2mL6yRp3ZYgpumaANJMTaptT6XMdYaLlmqzSYXkvWdQ","8vLS5Kxyr5fWkOtyM7PnWLtU6d8wfrFvlKLl4XoDhCM","Bq3LAVt7dmRrt-vC5-QEHb8eTJ8GvUu5GEYv9Y8FDVY","Q3XW8dEIS9TCp73rpoO5ynPT3FNRlY5O6RRsqIWeDlI","ZtmGUs3CvhtLdftcVw8DmHAE2YFU9EqEw4CEohT3FnE","dPuE4u1C5ZItr0fgHaFKbHTkOMEf36lMJRJGZ5G1-oY","nj1cMV1wPb7Ls6rM1CUixrOTVAFn_3DdeUsbPWVhtlU","sYkjn-C7FGZk2clXz7a6vYxzBGK1rl6gXaWp8KOJ5XM"],"_sd_alg":"sha-256","dataset":"tax-certificate","iat":1750000000,"iss":"tax-bureau","jti":"rec-0001","op":"upsert","schema":"tax-certificate/v1"}`},
	{"disclosure", `["3fYm2eUlXbLM2yS2hDkV0w","office",{"code":"330100","name":"杭州市税务局"}]`},
}

// TestDecodeDoesNotAliasInput: decoded strings, numbers, keys and raw
// values do not change when the caller reuses its input buffer.
func TestDecodeDoesNotAliasInput(t *testing.T) {
	const in = `{"name":"张三","n":12,"list":["a","b\u0063"],"raw":{"k":"v"}}`
	for _, mk := range []func() any{
		func() any { return new(any) },
		func() any { return new(map[string]any) },
		func() any { return new(map[string]json.RawMessage) },
	} {
		data := []byte(in)
		got, want := mk(), mk()
		if err := Decode(data, got); err != nil {
			t.Fatal(err)
		}
		if err := decodeSlow([]byte(in), want); err != nil {
			t.Fatal(err)
		}
		for i := range data {
			data[i] = 'X'
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%T changed with its input:\n%#v\nwant\n%#v", got, reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem())
		}
	}
	data := []byte(`["a","b"]`)
	var ss []string
	if err := Decode(data, &ss); err != nil {
		t.Fatal(err)
	}
	copy(data, `["x","y"]`)
	if !reflect.DeepEqual(ss, []string{"a", "b"}) {
		t.Fatalf("[]string changed with its input: %q", ss)
	}
}

// TestFoldMatchesEncodingJSON: two runes fold together under fold
// (strings.ToLower(strings.ToUpper)) exactly when encoding/json's key
// matching (upper-case ASCII, unicode.ToUpper(unicode.ToLower(r))
// otherwise) treats them as the same, over every rune. Both work rune by
// rune, so the same holds for whole keys.
func TestFoldMatchesEncodingJSON(t *testing.T) {
	jsonFold := func(r rune) rune {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			return r
		}
		return unicode.ToUpper(unicode.ToLower(r))
	}
	ours := map[rune]rune{}   // fold class -> its json class
	theirs := map[rune]rune{} // json class -> its fold class
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		a, b := fold(r), jsonFold(r)
		if prev, ok := ours[a]; ok && prev != b {
			t.Fatalf("%U: fold class %U holds json classes %U and %U", r, a, prev, b)
		}
		if prev, ok := theirs[b]; ok && prev != a {
			t.Fatalf("%U: json class %U holds fold classes %U and %U", r, b, prev, a)
		}
		ours[a], theirs[b] = b, a
	}
}
