package schemas_test

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/onevisit/onevisit/schemas"
)

// householdV2 is household/v1.json as version 2, changed by edit.
func householdV2(t *testing.T, edit func(doc map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("household/v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	doc["$id"] = schemas.IDBase + "household/v2"
	edit(doc)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func addPhone(required bool) func(map[string]any) {
	return func(doc map[string]any) {
		doc["properties"].(map[string]any)["phone"] = map[string]any{"type": "string", "maxLength": 20}
		if required {
			doc["required"] = append(doc["required"].([]any), "phone")
		}
	}
}

// TestPrepareAndAdd: the next version of a served dataset is checked as
// Load and Check would, against the latest version under its mode, and
// once added is the latest; records of both versions validate.
func TestPrepareAndAdd(t *testing.T) {
	tests := []struct {
		name    string
		data    []byte
		wantErr error
	}{
		{"compatible v2: an optional field more", householdV2(t, addPhone(false)), nil},
		{"incompatible under BACKWARD: a required field more", householdV2(t, addPhone(true)), schemas.ErrIncompatible},
		{"not the next version", householdV2(t, func(d map[string]any) { d["$id"] = schemas.IDBase + "household/v3" }), schemas.ErrBadSchema},
		{"v1 with other fields", householdV2(t, func(d map[string]any) {
			d["$id"] = schemas.IDBase + "household/v1"
			addPhone(false)(d)
		}), schemas.ErrBadSchema},
		{"a dataset not served", householdV2(t, func(d map[string]any) { d["$id"] = schemas.IDBase + "pets/v1" }), schemas.ErrBadSchema},
		{"outside the profile", householdV2(t, func(d map[string]any) { d["$ref"] = "https://evil.example/x" }), schemas.ErrBadSchema},
		{"no $id", householdV2(t, func(d map[string]any) { delete(d, "$id") }), schemas.ErrBadSchema},
		{"not strict JSON", []byte(`{"$id":"a","$id":"b"}`), schemas.ErrBadSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			def, err := schemas.Default()
			if err != nil {
				t.Fatal(err)
			}
			r := def.Clone()
			p, err := r.Prepare(tc.data)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Prepare: %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if d, _ := r.Dataset("household"); d.Latest != "household/v1" {
					t.Fatalf("a refused version changed the registry: latest %s", d.Latest)
				}
				return
			}
			if p.ID() != "household/v2" || p.Dataset() != "household" || !slices.Contains(p.Fields(), "phone") {
				t.Fatalf("prepared %s of %s with %v", p.ID(), p.Dataset(), p.Fields())
			}
			if err := r.Add(p); err != nil {
				t.Fatal(err)
			}
			if err := r.Add(p); err != nil {
				t.Fatalf("adding the same version again: %v, want a no-op", err)
			}
			d, _ := r.Dataset("household")
			all, _ := r.Fields("household")
			if d.Latest != "household/v2" || !slices.Equal(d.Versions, []string{"household/v1", "household/v2"}) || !slices.Contains(all, "phone") {
				t.Fatalf("after Add: %+v, fields %v", d, all)
			}
			if again, err := r.Prepare(tc.data); err != nil || r.Add(again) != nil {
				t.Fatalf("preparing and adding v2 again once added: %v, want a no-op", err)
			}
			if d, _ := r.Dataset("household"); len(d.Versions) != 2 {
				t.Fatalf("after adding v2 twice: %v", d.Versions)
			}
			if d, _ := def.Dataset("household"); d.Latest != "household/v1" {
				t.Fatalf("Add to a clone changed the shared default registry: latest %s", d.Latest)
			}
			other := householdV2(t, func(d map[string]any) {
				d["properties"].(map[string]any)["email"] = map[string]any{"type": "string", "format": "email"}
			})
			if _, err := r.Prepare(other); !errors.Is(err, schemas.ErrBadSchema) {
				t.Fatalf("preparing a different v2 once v2 is added: %v, want ErrBadSchema", err)
			}
			q, err := def.Clone().Prepare(other)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Add(q); !errors.Is(err, schemas.ErrBadSchema) {
				t.Fatalf("adding a different v2: %v, want ErrBadSchema", err)
			}
		})
	}
}
