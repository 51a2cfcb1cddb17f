package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// TestLoadRefusesWhatJsonstrictRefuses: a schema file is read by the same
// strict decoder as a record. Before schemas used schemas/jsonstrict,
// its own decoder folded keys with strings.ToLower only (so "s" and "ſ",
// "K" and the Kelvin sign were distinct keys) and let lone surrogate
// escapes and NUL in keys through.
func TestLoadRefusesWhatJsonstrictRefuses(t *testing.T) {
	good := schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}`, `"resident_id"`)
	withProp := func(p string) string {
		return schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}, "x": `+p, `"resident_id"`)
	}
	tests := []struct {
		name    string
		data    string
		wantErr error // the jsonstrict sentinel named in the message
	}{
		{name: "long s folds like s", data: withProp(`{"type": "string", "ſ": 1, "s": 2}`), wantErr: jsonstrict.ErrDuplicateKey},
		{name: "kelvin sign folds like k", data: withProp(`{"type": "string", "\u212a": 1, "k": 2}`), wantErr: jsonstrict.ErrDuplicateKey},
		{name: "case-variant property names", data: strings.Replace(good, `"resident_id": {"type": "string"}`, `"resident_id": {"type": "string"}, "Resident_ID": {"type": "string"}`, 1), wantErr: jsonstrict.ErrDuplicateKey},
		{name: "lone surrogate in a value", data: strings.Replace(good, `"type": "object",`, `"type": "object", "title": "\ud800",`, 1), wantErr: jsonstrict.ErrInvalidUTF8},
		{name: "lone surrogate in a key", data: withProp(`{"type": "string", "\udc00": 1}`), wantErr: jsonstrict.ErrInvalidUTF8},
		{name: "NUL in a key", data: withProp(`{"type": "string", "a\u0000": 1}`), wantErr: jsonstrict.ErrInvalidUTF8},
		{name: "deeper than jsonstrict.MaxDepth", data: strings.Repeat("[", jsonstrict.MaxDepth+1) + strings.Repeat("]", jsonstrict.MaxDepth+1), wantErr: jsonstrict.ErrTooDeep},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(fstest.MapFS{"person/v1.json": {Data: []byte(tt.data)}})
			if !errors.Is(err, ErrBadSchema) {
				t.Fatalf("Load = %v, want ErrBadSchema", err)
			}
			if want := "load schemas: " + ErrBadSchema.Error() + ": person/v1.json: " + tt.wantErr.Error(); !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("Load error %q, want it to start with %q", err, want)
			}
		})
	}
	if _, err := Load(fstest.MapFS{"person/v1.json": {Data: []byte(good)}}); err != nil {
		t.Fatalf("Load(good) = %v", err)
	}
}

// TestFuzzLoadStrictSeeds keeps the inputs above in FuzzLoad's seed
// corpus under testdata/fuzz/FuzzLoad, so the fuzz target starts from them.
func TestFuzzLoadStrictSeeds(t *testing.T) {
	for _, name := range []string{"strict-long-s", "strict-lone-surrogate", "strict-nul-key"} {
		b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLoad", name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) != 2 || lines[0] != "go test fuzz v1" {
			t.Fatalf("%s: not a fuzz seed", name)
		}
		data, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := Load(fstest.MapFS{"household/v1.json": {Data: []byte(data)}}); !errors.Is(err, ErrBadSchema) {
			t.Fatalf("seed %s loads: %v", name, err)
		}
	}
}
