package jsonstrict

// Differential test against github.com/go-json-experiment/json (the module
// that became Go's encoding/json/v2), run to decide issue 8's question:
// could it replace this package? It cannot, without the checks this
// package exists for. Over the seed corpus, the fuzz seeds and generated
// inputs it refuses nothing this package accepts, but it accepts three
// classes of input this package refuses:
//
//   - keys equal only under case folding ({"a":1,"A":2}, "s" and "ſ"):
//     v2 refuses exact duplicates only, since its own matching is
//     case-sensitive; but encoding/json (and other readers) match
//     case-insensitively, which is the bypass this package closes;
//   - NUL in keys ({"a\u0000":1});
//   - nesting deeper than MaxDepth (v2 allows 10000).
//
// Decoding into any it is no faster than the one-pass decoder
// (BenchmarkV2Decode against BenchmarkDecode), and it decodes numbers as
// float64, refusing 1e999 where this package keeps a json.Number. This
// test pins the three differences, so that a change on either side shows.

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// v2Check is go-json-experiment's refusal with its default (strict)
// options: syntax, invalid UTF-8 and lone surrogates, exact duplicate
// names. Into a jsontext.Value, so numbers are not converted.
func v2Check(data []byte) error {
	var v jsontext.Value
	return jsonv2.Unmarshal(data, &v)
}

// v2Difference explains why v2 accepts data which Check refuses with err:
// "" when none of the three known differences does.
func v2Difference(data []byte, err error) string {
	switch {
	case errors.Is(err, ErrDuplicateKey):
		// v2 refuses exact duplicates after unescaping; what is left is a
		// pair equal only under folding.
		return "case-variant keys"
	case errors.Is(err, ErrInvalidUTF8) && utf8.Valid(data) && bytes.Contains(data, []byte(`\u0000`)):
		return "NUL in a key"
	case errors.Is(err, ErrTooDeep):
		return "deeper than MaxDepth"
	}
	return ""
}

// fuzzSeeds reads every seed under testdata/fuzz.
func fuzzSeeds(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz seeds: %v", err)
	}
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[1], "[]byte(") {
			t.Fatalf("%s: not a go test fuzz v1 []byte seed", f)
		}
		s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// compareV2 checks one input and counts the differences by class.
func compareV2(t *testing.T, data []byte, seen map[string]int) {
	t.Helper()
	ours, theirs := Check(data), v2Check(data)
	switch {
	case ours == nil && theirs != nil:
		t.Errorf("go-json-experiment refuses %q, which Check accepts: %v", data, theirs)
	case ours != nil && theirs == nil:
		why := v2Difference(data, ours)
		if why == "" {
			t.Errorf("go-json-experiment accepts %q, which Check refuses (%v), for no known reason", data, ours)
		}
		seen[why]++
	}
}

func TestGoJSONExperimentDifferential(t *testing.T) {
	seen := map[string]int{}
	for _, c := range checkCases {
		compareV2(t, []byte(c.in), seen)
	}
	for _, s := range fuzzSeeds(t) {
		compareV2(t, s, seen)
	}
	for _, s := range fragments {
		compareV2(t, []byte(s), seen)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 60_000 {
		compareV2(t, randomInput(r), seen)
	}
	// Each known difference must show up: if one stops showing, the
	// library changed and the decision in this file's comment is stale.
	for _, why := range []string{"case-variant keys", "NUL in a key", "deeper than MaxDepth"} {
		if seen[why] == 0 {
			t.Errorf("no input showed the difference %q any more; re-evaluate go-json-experiment", why)
		}
	}
}

func FuzzGoJSONExperimentDifferential(f *testing.F) {
	for _, c := range checkCases {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compareV2(t, data, map[string]int{})
	})
}

// BenchmarkV2Decode is go-json-experiment on BenchmarkDecode's inputs.
func BenchmarkV2Decode(b *testing.B) {
	for _, bc := range benchInputs {
		b.Run(bc.name, func(b *testing.B) {
			data := []byte(bc.in)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				var v any
				if err := jsonv2.Unmarshal(data, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
