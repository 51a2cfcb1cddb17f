package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/onevisit/onevisit/deploy/testkit"
)

func defaultRegistry(t testing.TB) *Registry {
	t.Helper()
	r, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCases runs every testdata/cases/*.json record through Validate and
// Violations and compares the outcome with the .golden file next to it.
func TestCases(t *testing.T) {
	reg := defaultRegistry(t)
	inputs, err := filepath.Glob("testdata/cases/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c struct {
				Schema string         `json:"schema"`
				Fields map[string]any `json:"fields"`
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = reg.Validate(c.Schema, c.Fields)
			all, verr := reg.Violations(c.Schema, c.Fields)
			if verr != nil {
				t.Fatal(verr)
			}
			if err == nil {
				if len(all) != 0 {
					t.Fatalf("Validate passed but Violations found %v", all)
				}
				out.WriteString("valid\n")
			} else {
				var ve *ValidationError
				if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Validate error %v is not a *ValidationError wrapping ErrInvalid", err)
				}
				if len(all) == 0 || all[0] != *ve {
					t.Fatalf("Validate returned %+v but Violations starts with %+v", ve, all)
				}
				fmt.Fprintf(&out, "first: %s %s: %s\nerror: %s\nall:\n", ve.Pointer, ve.Keyword, ve.Reason, err)
				for _, v := range all {
					fmt.Fprintf(&out, "  %s %s: %s\n", v.Pointer, v.Keyword, v.Reason)
				}
			}
			testkit.Golden(t, strings.TrimSuffix(in, ".json")+".golden", out.Bytes())
		})
	}
}

func TestValidateUnknownSchema(t *testing.T) {
	reg := defaultRegistry(t)
	tests := []struct {
		name, id string
		wantErr  error
	}{
		{"unknown dataset", "pension/v1", ErrUnknownDataset},
		{"unknown version", "household/v9", ErrUnknownVersion},
		{"no version", "household", ErrUnknownDataset},
		{"empty", "", ErrUnknownDataset},
		{"version 0", "household/v0", ErrUnknownVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := reg.Validate(tt.id, map[string]any{})
			if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrUnknownSchema) {
				t.Errorf("Validate(%q) = %v, want %v and ErrUnknownSchema", tt.id, err, tt.wantErr)
			}
			if errors.Is(err, ErrInvalid) {
				t.Errorf("unknown schema reported as invalid data: %v", err)
			}
			_, err = reg.Coerce(tt.id, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Coerce(%q) = %v, want %v", tt.id, err, tt.wantErr)
			}
		})
	}
}

// TestValidateGoValues covers values that do not come from JSON: Validate
// must answer, never panic, and never do unbounded arithmetic.
func TestValidateGoValues(t *testing.T) {
	reg := defaultRegistry(t)
	base := func() map[string]any {
		return map[string]any{
			"resident_id": "330106198503120415", "name": "陈建国", "tax_year": json.Number("2025"),
			"taxable_income": json.Number("186000"), "tax_paid": json.Number("13080.5"),
			"tax_office": "国家税务总局杭州市西湖区税务局", "certificate_no": "(251)浙个证00012345",
		}
	}
	tests := []struct {
		name        string
		field       string
		value       any
		wantPointer string
		wantKeyword string
	}{
		{"Go int", "tax_year", 2025, "", ""},
		{"Go float", "taxable_income", 1.5, "", ""},
		{"NaN", "taxable_income", nanValue(), "/taxable_income", "value"},
		{"huge exponent", "taxable_income", json.Number("1e999999999"), "/taxable_income", "value"},
		{"malformed number", "taxable_income", json.Number("12abc"), "/taxable_income", "value"},
		{"Go struct", "name", struct{}{}, "/name", "value"},
		{"nested object", "name", map[string]any{"x": json.Number("1e999999999")}, "/name", "type"},
		{"array", "name", []any{"a"}, "/name", "type"},
		{"unsafe value and earlier violation", "certificate_no", 3, "/certificate_no", "type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := base()
			rec[tt.field] = tt.value
			if tt.name == "unsafe value and earlier violation" {
				rec["tax_paid"] = json.Number("1e999999999")
			}
			err := reg.Validate("tax/v1", rec)
			if tt.wantPointer == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want *ValidationError", err)
			}
			if ve.Pointer != tt.wantPointer || ve.Keyword != tt.wantKeyword {
				t.Errorf("got %s %s (%s), want %s %s", ve.Pointer, ve.Keyword, ve.Reason, tt.wantPointer, tt.wantKeyword)
			}
		})
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func TestDataset(t *testing.T) {
	reg := defaultRegistry(t)
	if got, want := reg.Datasets(), []string{"birth", "business_licence", "consent", "death", "household", "marriage", "property", "social_insurance", "tax", "tax_certificate"}; !slices.Equal(got, want) {
		t.Errorf("Datasets() = %v, want %v", got, want)
	}
	d, ok := reg.Dataset("household")
	if !ok {
		t.Fatal("no household dataset")
	}
	want := Dataset{
		Name: "household", Latest: "household/v1", Subject: "resident_id", Mode: Backward,
		Fields:   []string{"address", "birth_date", "ethnicity", "gender", "household_id", "name", "registration_date", "relation_to_head", "resident_id"},
		Required: []string{"address", "birth_date", "ethnicity", "gender", "household_id", "name", "registration_date", "relation_to_head", "resident_id"},
		Versions: []string{"household/v1"},
	}
	if fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("Dataset(household) =\n %+v\nwant\n %+v", d, want)
	}
	d.Fields[0] = "mutated"
	if again, _ := reg.Dataset("household"); again.Fields[0] != "address" {
		t.Error("Dataset returned a slice shared with the registry")
	}
	tax, _ := reg.Dataset("tax")
	if slices.Contains(tax.Required, "employer_credit_code") || !slices.Contains(tax.Fields, "employer_credit_code") {
		t.Errorf("tax: employer_credit_code should be an optional field: %+v", tax)
	}
	if _, ok := reg.Dataset("pension"); ok {
		t.Error("Dataset(pension) found")
	}
	fields, ok := reg.Fields("property")
	if want := []string{"acquired_date", "address", "area_sqm", "certificate_no", "owner_name", "resident_id", "unit_number", "usage"}; !ok || !slices.Equal(fields, want) {
		t.Errorf("Fields(property) = %v, %v; want %v", fields, ok, want)
	}
	if _, ok := reg.Fields("pension"); ok {
		t.Error("Fields(pension) found")
	}
	sf, subj, err := reg.SchemaFields("tax/v1")
	if err != nil || subj != "resident_id" || len(sf) != 8 {
		t.Errorf("SchemaFields(tax/v1) = %v, %q, %v", sf, subj, err)
	}
}

// TestFieldsUnionOverVersions: Fields lists fields any version defines,
// Dataset only the latest's.
func TestFieldsUnionOverVersions(t *testing.T) {
	reg, err := Load(fstest.MapFS{
		"person/v1.json": {Data: []byte(schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string", "format": "resident-id"}, "old_note": {"type": "string"}`, `"resident_id"`))},
		"person/v2.json": {Data: []byte(schemaDoc("person", 2, "NONE", `"resident_id": {"type": "string", "format": "resident-id"}, "note": {"type": "string"}`, `"resident_id"`))},
	})
	if err != nil {
		t.Fatal(err)
	}
	all, _ := reg.Fields("person")
	if want := []string{"note", "old_note", "resident_id"}; !slices.Equal(all, want) {
		t.Errorf("Fields = %v, want %v", all, want)
	}
	d, _ := reg.Dataset("person")
	if want := []string{"note", "resident_id"}; !slices.Equal(d.Fields, want) || d.Latest != "person/v2" || d.Mode != None {
		t.Errorf("Dataset = %+v", d)
	}
	// v1 promised BACKWARD, so dropping old_note breaks even though v2
	// declares NONE.
	if err := reg.Check(); !errors.Is(err, ErrIncompatible) {
		t.Errorf("Check = %v, want ErrIncompatible", err)
	}
	if err := reg.Validate("person/v1", map[string]any{"resident_id": "11010519491231002X", "old_note": "x"}); err != nil {
		t.Errorf("old version no longer validates: %v", err)
	}
}

// schemaDoc writes a minimal profile-conforming schema.
func schemaDoc(dataset string, n int, mode, props, required string) string {
	return fmt.Sprintf(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$id": "https://onevisit.example/schemas/%s/v%d",
  "type": "object",
  "x-onevisit-subject": "resident_id",
  "x-onevisit-compatibility": %q,
  "additionalProperties": false,
  "required": [%s],
  "properties": {%s}
}`, dataset, n, mode, required, props)
}

func TestLoadRefuses(t *testing.T) {
	good := schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}`, `"resident_id"`)
	withProp := func(p string) string {
		return schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}, "x": `+p, `"resident_id"`)
	}
	tests := []struct {
		name     string
		files    fstest.MapFS
		wantText string
	}{
		{"empty", fstest.MapFS{}, "no dataset folder"},
		{"not JSON", fstest.MapFS{"person/v1.json": {Data: []byte(`{`)}}, "malformed JSON"},
		{"trailing data", fstest.MapFS{"person/v1.json": {Data: []byte(good + ` {}`)}}, "data after"},
		{"duplicate key", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Replace(good, `"type": "object",`, `"type": "object", "type": "object",`, 1))}}, "duplicate"},
		{"case-variant key", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "Type": "string"}`))}}, "case-variant"},
		{"invalid UTF-8", fstest.MapFS{"person/v1.json": {Data: []byte("{\"title\": \"\xff\"}")}}, "UTF-8"},
		{"remote ref", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"$ref": "https://evil.example/x.json"}`))}}, "remote reference refused"},
		{"file ref", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"$ref": "file:///etc/passwd"}`))}}, "remote reference refused"},
		{"root ref", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Replace(good, `"type": "object",`, `"type": "object", "$ref": "https://evil.example/x.json",`, 1))}}, "remote reference refused"},
		{"local ref", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"$ref": "#/$defs/x"}`))}}, "references are not in"},
		{"nested object", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "object"}`))}}, "type must be"},
		{"unknown keyword", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "oneOf": []}`))}}, "keyword not in"},
		{"unknown format", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "format": "phone"}`))}}, "unknown format"},
		{"format on integer", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "integer", "format": "date"}`))}}, "format needs type string"},
		{"minimum on string", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "minimum": 0}`))}}, "minimum needs"},
		{"huge minimum", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "number", "minimum": 1e999999}`))}}, "must be a number"},
		{"bad pattern", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "pattern": "("}`))}}, "not a regular expression"},
		{"empty enum", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "string", "enum": []}`))}}, "non-empty array"},
		{"repeated enum", fstest.MapFS{"person/v1.json": {Data: []byte(withProp(`{"type": "number", "enum": [1, 1.0]}`))}}, "repeats a value"},
		{"open schema", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Replace(good, `"additionalProperties": false`, `"additionalProperties": true`, 1))}}, "must be false"},
		{"wrong $id", fstest.MapFS{"people/v1.json": {Data: []byte(good)}}, "/$id: must be https://onevisit.example/schemas/people/v1"},
		{"old draft", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Replace(good, "2020-12", "2019-09", 1))}}, "/$schema"},
		{"subject missing", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Replace(good, `"x-onevisit-subject": "resident_id",`, ``, 1))}}, "x-onevisit-subject"},
		{"subject optional", fstest.MapFS{"person/v1.json": {Data: []byte(schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}, "x": {"type": "string"}`, `"x"`))}}, "x-onevisit-subject"},
		{"bad mode", fstest.MapFS{"person/v1.json": {Data: []byte(schemaDoc("person", 1, "BACKWARD_TRANSITIVE", `"resident_id": {"type": "string"}`, `"resident_id"`))}}, "x-onevisit-compatibility"},
		{"required names no property", fstest.MapFS{"person/v1.json": {Data: []byte(schemaDoc("person", 1, "BACKWARD", `"resident_id": {"type": "string"}`, `"resident_id", "x"`))}}, "/required/1"},
		{"version gap", fstest.MapFS{"person/v1.json": {Data: []byte(good)}, "person/v3.json": {Data: []byte(good)}}, "v2 is missing"},
		{"leading zero", fstest.MapFS{"person/v1.json": {Data: []byte(good)}, "person/v01.json": {Data: []byte(good)}}, "v01.json"},
		{"stray json", fstest.MapFS{"person/v1.json": {Data: []byte(good)}, "person/latest.json": {Data: []byte(good)}}, "latest.json"},
		{"bad dataset name", fstest.MapFS{"Person/v1.json": {Data: []byte(good)}}, "dataset folder names"},
		{"too large", fstest.MapFS{"person/v1.json": {Data: bytes.Repeat([]byte(" "), maxSchemaFile+1)}}, "larger than"},
		{"too deep", fstest.MapFS{"person/v1.json": {Data: []byte(strings.Repeat("[", 40) + strings.Repeat("]", 40))}}, "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := Load(tt.files)
			if !errors.Is(err, ErrBadSchema) {
				t.Fatalf("Load = %v, %v; want ErrBadSchema", reg, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Load error %q does not mention %q", err, tt.wantText)
			}
			if !strings.HasPrefix(err.Error(), "load schemas: ") {
				t.Errorf("Load error %q does not start with the operation", err)
			}
		})
	}
}

// TestLoadIgnoresOtherFolders: folders without version files (testdata,
// docs) and non-JSON files are not datasets, so CheckDir works on the
// package folder itself.
func TestLoadIgnoresOtherFolders(t *testing.T) {
	results, err := CheckDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.String())
	}
	want := []string{
		"birth: ok (birth/v1; BACKWARD)",
		"business_licence: ok (business_licence/v1; BACKWARD)",
		"consent: ok (consent/v1; BACKWARD)",
		"death: ok (death/v1; BACKWARD)",
		"household: ok (household/v1; BACKWARD)",
		"marriage: ok (marriage/v1; BACKWARD)",
		"property: ok (property/v1; BACKWARD)",
		"social_insurance: ok (social_insurance/v1; BACKWARD)",
		"tax: ok (tax/v1; BACKWARD)",
		"tax_certificate: ok (tax_certificate/v1; BACKWARD)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckDir(.) =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := CheckDir(t.TempDir()); !errors.Is(err, ErrBadSchema) {
		t.Errorf("CheckDir(empty) = %v, want ErrBadSchema", err)
	}
}

func TestDefaultIsCached(t *testing.T) {
	a, b := defaultRegistry(t), defaultRegistry(t)
	if a != b {
		t.Error("Default built a new registry on the second call")
	}
	if err := a.Check(); err != nil {
		t.Errorf("embedded schemas are incompatible: %v", err)
	}
}

// TestCompilerFetchesNothing: behind the profile check, the compiler's
// loader refuses every URL, so even a $ref that reached it loads nothing.
func TestCompilerFetchesNothing(t *testing.T) {
	for _, ref := range []string{"file:///etc/passwd", "https://evil.example/s.json", "http://127.0.0.1:1/s.json"} {
		t.Run(ref, func(t *testing.T) {
			c := newCompiler()
			doc := map[string]any{"$schema": Draft2020, "$ref": ref}
			if err := c.AddResource(IDBase+"x/v1", doc); err != nil {
				t.Fatal(err)
			}
			_, err := c.Compile(IDBase + "x/v1")
			if err == nil || !strings.Contains(err.Error(), "remote reference refused") {
				t.Errorf("Compile with $ref %s = %v, want the loader's refusal", ref, err)
			}
		})
	}
}
