package schemas

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// TestCompatCases checks each testdata/compat/<case>/{v1,v2}.json pair
// (dataset "sample") and compares the printed result with golden.txt.
func TestCompatCases(t *testing.T) {
	dirs, err := filepath.Glob("testdata/compat/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no compat cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, v := range []string{"v1.json", "v2.json"} {
				data, err := os.ReadFile(filepath.Join(dir, v))
				if err != nil {
					t.Fatal(err)
				}
				fsys["sample/"+v] = &fstest.MapFile{Data: data}
			}
			reg, err := Load(fsys)
			if err != nil {
				t.Fatal(err)
			}
			results := reg.CheckResults()
			if len(results) != 1 {
				t.Fatalf("got %d results, want 1", len(results))
			}
			res := results[0]
			// Check must agree with the results and expose every problem
			// through errors.Is / errors.As.
			checkErr := reg.Check()
			if res.OK() != (checkErr == nil) {
				t.Fatalf("Check() = %v but result OK = %v", checkErr, res.OK())
			}
			if !res.OK() {
				if !errors.Is(checkErr, ErrIncompatible) {
					t.Errorf("Check() = %v, does not wrap ErrIncompatible", checkErr)
				}
				var ce *CompatibilityError
				if !errors.As(checkErr, &ce) || *ce != *res.Problems[0] {
					t.Errorf("errors.As gave %+v, want %+v", ce, res.Problems[0])
				}
			}
			testkit.Golden(t, filepath.Join(dir, "golden.txt"), []byte(res.String()+"\n"))
		})
	}
}

// TestCompareIsDirectional: swapping the versions swaps BACKWARD and
// FORWARD, which is the definition the package doc gives.
func TestCompareIsDirectional(t *testing.T) {
	tests := []struct {
		name        string
		old, new    string
		mode        string
		wantRule    string
		wantBreakAs Mode
	}{
		{"added optional breaks forward", `"resident_id": {"type": "string"}`, `"resident_id": {"type": "string"}, "x": {"type": "string"}`, "FORWARD", "field-added", Forward},
		{"removed optional breaks backward", `"resident_id": {"type": "string"}, "x": {"type": "string"}`, `"resident_id": {"type": "string"}`, "BACKWARD", "field-removed", Backward},
		{"added optional passes backward", `"resident_id": {"type": "string"}`, `"resident_id": {"type": "string"}, "x": {"type": "string"}`, "BACKWARD", "", ""},
		{"removed optional passes forward", `"resident_id": {"type": "string"}, "x": {"type": "string"}`, `"resident_id": {"type": "string"}`, "FORWARD", "", ""},
		{"equal bounds exclusive vs inclusive", `"resident_id": {"type": "string"}, "x": {"type": "number", "minimum": 0, "exclusiveMinimum": 0}`, `"resident_id": {"type": "string"}, "x": {"type": "number", "exclusiveMinimum": 0}`, "FULL", "", ""},
		{"enum numbers compare by value", `"resident_id": {"type": "string"}, "x": {"type": "number", "enum": [1, 2.50]}`, `"resident_id": {"type": "string"}, "x": {"type": "number", "enum": [1.0, 2.5]}`, "FULL", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Load(fstest.MapFS{
				"person/v1.json": {Data: []byte(schemaDoc("person", 1, tt.mode, tt.old, `"resident_id"`))},
				"person/v2.json": {Data: []byte(schemaDoc("person", 2, tt.mode, tt.new, `"resident_id"`))},
			})
			if err != nil {
				t.Fatal(err)
			}
			res := reg.CheckResults()[0]
			if tt.wantRule == "" {
				if !res.OK() {
					t.Fatalf("unexpected problems: %s", res)
				}
				return
			}
			if len(res.Problems) != 1 || res.Problems[0].Rule != tt.wantRule || res.Problems[0].Mode != tt.wantBreakAs {
				t.Fatalf("got %s, want one %s breaking %s", res, tt.wantRule, tt.wantBreakAs)
			}
		})
	}
}
