package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// subjectCatalog adds the subject formats of the sample datasets to
// testCatalog, as the schema registry reports them.
type subjectCatalog struct{ StaticCatalog }

func (subjectCatalog) SubjectFormat(dataset string) (string, bool) {
	if dataset == "business_licence" {
		return "unified-social-credit-code", true
	}
	return "resident-id", true
}

var _ SubjectCatalog = subjectCatalog{}

// TestProceduresGolden pins the seed procedure catalogue as GET
// /v1/procedures lists it: every procedure with its purpose, case-id
// format, service and evidence.
func TestProceduresGolden(t *testing.T) {
	s, err := Default(subjectCatalog{testCatalog})
	if err != nil {
		t.Fatal(err)
	}
	testkit.GoldenJSON(t, "testdata/procedures/catalogue.golden.json", s.Procedures())

	p, ok := s.Procedure("newborn_registration")
	if !ok {
		t.Fatal("no newborn_registration procedure")
	}
	if got, want := p.Roles(), []string{RoleChild, RoleFather, RoleMother}; !slices.Equal(got, want) {
		t.Errorf("Roles() = %v, want %v", got, want)
	}
	if got, want := s.Publishers("birth"), []string{"hospital"}; !slices.Equal(got, want) {
		t.Errorf("Publishers(birth) = %v, want %v", got, want)
	}
	// A live dataset's holder is the department that answers it.
	if got, want := s.Publishers("tax_certificate"), []string{"tax-bureau"}; !slices.Equal(got, want) {
		t.Errorf("Publishers(tax_certificate) = %v, want %v", got, want)
	}
	if _, ok := s.Procedure("no_such_procedure"); ok {
		t.Error("Procedure(no_such_procedure) found one")
	}
	// Procedures returns copies.
	p.Evidence[0].Fields[0] = "changed"
	if q, _ := s.Procedure("newborn_registration"); q.Evidence[0].Fields[0] == "changed" {
		t.Error("Procedure shares its slices with the Set")
	}
}

// TestProceduresAllowedByPolicy: every field a seed procedure names is
// one its service's access policies release for the procedure's purpose
// (with a case id), so no evidence item is silently narrower than the
// catalogue says.
func TestProceduresAllowedByPolicy(t *testing.T) {
	s := mustDefault(t)
	for _, p := range s.Procedures() {
		for _, e := range p.Evidence {
			d := s.Decide(Request{Consumer: p.Service, Dataset: e.Dataset, Purpose: p.Purpose, CaseID: "X-1", Time: time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC)})
			if !d.Allowed {
				t.Errorf("%s: %s may not read %s for %s: %v", p.ID, p.Service, e.Dataset, p.Purpose, d.Reasons)
				continue
			}
			for _, f := range e.Fields {
				if !slices.Contains(d.Fields, f) {
					t.Errorf("%s: %s of the %s names %s, which %s's policies do not release", p.ID, e.Dataset, e.Role, f, p.Service)
				}
			}
		}
	}
}

// TestProcedureCanonical: the canonical YAML of a set with procedures
// parses back to the same version and the same catalogue, and a change
// to a procedure changes the version.
func TestProcedureCanonical(t *testing.T) {
	s := mustDefault(t)
	back, err := Parse("canonical.yaml", s.YAML(), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version() != s.Version() {
		t.Errorf("canonical form has version %s, want %s", back.Version(), s.Version())
	}
	if got, want := mustJSON(t, back.Procedures()), mustJSON(t, s.Procedures()); got != want {
		t.Errorf("catalogue after the round trip:\n%s\nwant\n%s", got, want)
	}
	changed := strings.Replace(string(s.YAML()), `role: "mother"`, `role: "buyer"`, 1)
	other, err := Parse("changed.yaml", []byte(changed), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	if other.Version() == s.Version() {
		t.Error("changing an evidence role kept the version")
	}
}

const procedureBase = `kind: Purpose
metadata: {name: p}
spec: {purpose: newborn_registration, caseIdPattern: '^NB-\d{4}-\d{4,}$'}
---
`

// TestLoadBadProcedures: each broken Procedure document fails to load
// with its sentinel, and the messages are pinned in a golden file.
func TestLoadBadProcedures(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantErr error
	}{
		{"unknown-dataset", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: births, role: child, fields: [name]}]}`, ErrUnknownDataset},
		{"unknown-role", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: baby, fields: [name]}]}`, ErrUnknownRole},
		{"unknown-field", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name, weight]}]}`, ErrUnknownField},
		{"unknown-purpose", `spec: {procedure: nb, purpose: birth_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name]}]}`, ErrUnknownPurpose},
		{"purpose-without-format", `spec: {procedure: nb, purpose: other_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name]}]}
---
kind: Purpose
metadata: {name: other}
spec: {purpose: other_registration}`, ErrMissing},
		{"unknown-key", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name], optional: true}]}`, ErrUnknownKey},
		{"no-evidence", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: []}`, ErrMissing},
		{"no-fields", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: []}]}`, ErrMissing},
		{"no-service", `spec: {procedure: nb, purpose: newborn_registration, evidence: [{dataset: birth, role: child, fields: [name]}]}`, ErrMissing},
		{"bad-procedure-name", `spec: {procedure: Newborn-Registration, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name]}]}`, ErrBadValue},
		{"company-of-person-dataset", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: household, role: company, fields: [name]}]}`, ErrBadValue},
		{"person-of-company-dataset", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: business_licence, role: legal_representative, fields: [company_name]}]}`, ErrBadValue},
		{"evidence-twice", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name]}, {dataset: birth, role: child, fields: [gender]}]}`, ErrDuplicate},
		{"procedure-twice", `spec: {procedure: nb, purpose: newborn_registration, service: s, evidence: [{dataset: birth, role: child, fields: [name]}]}
---
kind: Procedure
metadata: {name: again}
spec: {procedure: nb, purpose: newborn_registration, service: t, evidence: [{dataset: birth, role: child, fields: [name]}]}`, ErrDuplicate},
	}
	var golden strings.Builder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := procedureBase + "kind: Procedure\nmetadata: {name: proc}\n" + tc.doc + "\n"
			_, err := Parse(tc.name+".yaml", []byte(src), subjectCatalog{testCatalog})
			if !errors.Is(err, tc.wantErr) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse = %v, want %v", err, tc.wantErr)
			}
			golden.WriteString("== " + tc.name + "\n" + err.Error() + "\n")
		})
	}
	testkit.Golden(t, "testdata/procedures/bad.golden", []byte(golden.String()))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestWhatIfCaseItems: a case item's recorded release was narrowed to
// its procedure's fields for the role; the replay narrows the same way,
// so an unchanged set changes nothing, a field added to the procedure
// (and allowed by the policy) is a gain, and an item dropped from the
// catalogue is refused.
func TestWhatIfCaseItems(t *testing.T) {
	s := mustDefault(t)
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	// The school-enrolment bundle's two household items as the audit log
	// records them (the policy does not list resident_id: not released).
	recs := []Recorded{
		{Time: at, Consumer: "school-enrolment", Dataset: "household", Purpose: "school_enrolment", CaseID: "SE-2026-0001", Permitted: true,
			Fields: []string{"address", "birth_date", "household_id", "name", "relation_to_head"}, Procedure: "school_enrolment", CaseRole: "child", SubjectField: "resident_id"},
		{Time: at, Consumer: "school-enrolment", Dataset: "household", Purpose: "school_enrolment", CaseID: "SE-2026-0001", Permitted: true,
			Fields: []string{"address", "household_id", "name", "relation_to_head"}, Procedure: "school_enrolment", CaseRole: "father", SubjectField: "resident_id"},
	}
	replay := func(edit func(string) string) Impact {
		t.Helper()
		set, err := Parse("edited.yaml", []byte(edit(string(s.YAML()))), testCatalog)
		if err != nil {
			t.Fatal(err)
		}
		r := WhatIf(recs, set, at.Add(time.Hour), 0)
		if len(r.Consumers) != 1 {
			t.Fatalf("report %+v", r)
		}
		r.Consumers[0].Consumer = ""
		return r.Consumers[0]
	}
	if got := replay(func(y string) string { return y }); !reflect.DeepEqual(got, Impact{Answers: 2, Gained: []FieldCount{}, Lost: []FieldCount{}}) {
		t.Errorf("the same set: %+v, want no change", got)
	}
	// The father's household item gains birth_date (the policy allows it).
	withBirthDate := func(y string) string {
		return strings.Replace(y, `role: "father"
      fields: ["address", "household_id", "name", "relation_to_head"]`, `role: "father"
      fields: ["address", "birth_date", "household_id", "name", "relation_to_head"]`, 1)
	}
	if got, want := replay(withBirthDate), (Impact{Answers: 2, Changed: 1, FieldsChanged: 1, Gained: []FieldCount{{"household", "birth_date", 1}}, Lost: []FieldCount{}}); !reflect.DeepEqual(got, want) {
		t.Errorf("father's item gains birth_date: %+v, want %+v", got, want)
	}
	// The father's household item dropped from the catalogue.
	dropFather := func(y string) string {
		return strings.Replace(y, `    - dataset: "household"
      role: "father"
      fields: ["address", "household_id", "name", "relation_to_head"]
`, "", 1)
	}
	if got, want := replay(dropFather), (Impact{Answers: 2, Changed: 1, NewlyRefused: 1, Gained: []FieldCount{}, Lost: []FieldCount{{"household", "address", 1}, {"household", "household_id", 1}, {"household", "name", 1}, {"household", "relation_to_head", 1}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("father's item dropped: %+v, want %+v", got, want)
	}
	// The policy lists the subject field, but none of the father's
	// procedure fields: the query refuses his item (it releases none of
	// the procedure's fields), so the replay refuses it too rather than
	// releasing the subject field alone; the child's item gains it.
	subjectOnly := func(y string) string {
		y = strings.Replace(y, `dataset: "household"
  purposes: ["school_enrolment"]
  fields: ["address", "birth_date", "household_id", "name", "relation_to_head"]`, `dataset: "household"
  purposes: ["school_enrolment"]
  fields: ["address", "birth_date", "household_id", "name", "relation_to_head", "resident_id"]`, 1)
		return strings.Replace(y, `role: "father"
      fields: ["address", "household_id", "name", "relation_to_head"]`, `role: "father"
      fields: ["gender"]`, 1)
	}
	if got, want := replay(subjectOnly), (Impact{Answers: 2, Changed: 2, NewlyRefused: 1, FieldsChanged: 1,
		Gained: []FieldCount{{"household", "resident_id", 1}},
		Lost:   []FieldCount{{"household", "address", 1}, {"household", "household_id", 1}, {"household", "name", 1}, {"household", "relation_to_head", 1}}}); !reflect.DeepEqual(got, want) {
		t.Errorf("policy lists only the subject field of the father's item: %+v, want %+v", got, want)
	}
}
