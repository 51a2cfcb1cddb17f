package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCheckCaseID(t *testing.T) {
	set := mustParseFile(t, "testdata/governance/purposes.yaml")
	tests := []struct {
		name, purpose, caseID string
		wantErr               error
	}{
		{"matches the declared format", "school_enrolment", "SE-2026-0001", nil},
		{"longer serial still matches", "school_enrolment", "SE-2026-123456", nil},
		{"short id refused", "school_enrolment", "SE-7", ErrBadCaseID},
		{"trailing text refused", "school_enrolment", "SE-2026-0001x", ErrBadCaseID},
		{"leading text refused", "school_enrolment", "xSE-2026-0001", ErrBadCaseID},
		{"empty case id is the access policy's business", "school_enrolment", "", nil},
		{"purpose without a pattern takes any id", "grant_application", "anything", nil},
		{"undeclared purpose takes any id", "social_assistance", "x", nil},
		{"alternation anchored as a whole: left", "either_or", "A-1", nil},
		{"alternation anchored as a whole: right", "either_or", "B-2", nil},
		{"alternation cannot match a prefix", "either_or", "A-1zzz", ErrBadCaseID},
		{"alternation cannot match a suffix", "either_or", "zzzB-2", ErrBadCaseID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := set.CheckCaseID(tt.purpose, tt.caseID)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("CheckCaseID(%q, %q) = %v, want %v", tt.purpose, tt.caseID, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), tt.caseID) {
				t.Errorf("error %q repeats the case id", err)
			}
		})
	}
	var nilSet *Set
	if err := nilSet.CheckCaseID("school_enrolment", "x"); err != nil {
		t.Errorf("nil set: %v", err)
	}
}

func TestKnownPurposeCountsPurposeDocuments(t *testing.T) {
	set := mustParseFile(t, "testdata/governance/purposes.yaml")
	for _, tt := range []struct {
		purpose string
		want    bool
	}{
		{"grant_application", true}, // declared only by a Purpose document
		{"school_enrolment", true},  // both
		{"social_assistance", true}, // only by an access policy
		{"grant_applications", false},
	} {
		if got := set.KnownPurpose(tt.purpose); got != tt.want {
			t.Errorf("KnownPurpose(%q) = %v, want %v", tt.purpose, got, tt.want)
		}
	}
}

func TestGovernanceDocumentsBad(t *testing.T) {
	head := "kind: Purpose\nmetadata: {name: p}\nspec:\n"
	access := "kind: AccessPolicy\nmetadata: {name: a}\nspec:\n  consumer: c\n  dataset: household\n  purposes: [p]\n  fields: [name]\n"
	tests := []struct {
		name, yaml string
		wantErr    error
		wantMsg    string
	}{
		{"unanchored start", head + "  purpose: p\n  caseIdPattern: 'SE-\\d+$'\n", ErrBadValue, "must be anchored"},
		{"unanchored end", head + "  purpose: p\n  caseIdPattern: '^SE-\\d+'\n", ErrBadValue, "must be anchored"},
		{"escaped dollar is not an anchor", head + "  purpose: p\n  caseIdPattern: '^SE-\\$'\n", ErrBadValue, "must be anchored"},
		{"not a regexp", head + "  purpose: p\n  caseIdPattern: '^SE-(\\d+$'\n", ErrBadValue, "not a Go regular expression"},
		{"too long", head + "  purpose: p\n  caseIdPattern: '^" + strings.Repeat("a", 300) + "$'\n", ErrBadValue, "longer than 256"},
		{"purpose not snake case", head + "  purpose: School-Enrolment\n", ErrBadValue, "lower snake case"},
		{"purpose missing", head + "  caseIdPattern: '^x$'\n", ErrMissing, "purpose is required"},
		{"unknown key", head + "  purpose: p\n  pattern: '^x$'\n", ErrUnknownKey, `unknown key "pattern"`},
		{"purpose declared twice", head + "  purpose: p\n---\nkind: Purpose\nmetadata: {name: q}\nspec: {purpose: p}\n", ErrDuplicate, "purpose p is already declared"},
		{"consent value", access + "  conditions: {consent: yes-please}\n", ErrBadValue, "must be required or none"},
		{"consent missing", access + "  conditions: {}\n", ErrMissing, "consent is required"},
		{"unknown condition", access + "  conditions: {consent: required, age: 18}\n", ErrUnknownKey, `unknown key "age"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := Parse("p.yaml", []byte(tt.yaml), testCatalog)
			if set != nil || !errors.Is(err, ErrInvalid) || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Parse = %v, %v; want no set and %v", set, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDecideReportsConsent(t *testing.T) {
	set := mustParseFile(t, "testdata/governance/purposes.yaml")
	d := set.Decide(Request{Consumer: "welfare", Dataset: "household", Purpose: "social_assistance", Time: inWindow})
	want := Decision{Allowed: true, Fields: []string{"address", "name"}, Policy: "welfare-household,welfare-household-name",
		RequiresConsent: true, ConsentFields: []string{"address"}, Reasons: []string{
			"permit: policy welfare-household allows 2 fields of household for purpose social_assistance if the citizen consents",
			"permit: policy welfare-household-name allows 1 field of household for purpose social_assistance",
		}}
	if !d.Allowed || !slices.Equal(d.Fields, want.Fields) || d.Policy != want.Policy || !d.RequiresConsent ||
		!slices.Equal(d.ConsentFields, want.ConsentFields) || !slices.Equal(d.Reasons, want.Reasons) {
		t.Errorf("Decide = %+v\nwant %+v", d, want)
	}
	b, err := d.MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"requiresConsent":true,"consentFields":["address"]`) {
		t.Errorf("JSON %s, %v: want requiresConsent true", b, err)
	}
	// Only the consent policy applies: every field needs the consent.
	d = set.Decide(Request{Consumer: "welfare-only", Dataset: "household", Purpose: "social_assistance", Time: inWindow})
	if !d.Allowed || !slices.Equal(d.ConsentFields, []string{"address", "birth_date"}) || !d.RequiresConsent {
		t.Errorf("consent-only policy: %+v", d)
	}
	// The condition on the second of two policies, the first without it.
	d = set.Decide(Request{Consumer: "welfare-two", Dataset: "household", Purpose: "social_assistance", Time: inWindow})
	if !d.Allowed || !slices.Equal(d.Fields, []string{"address", "birth_date", "name"}) || !slices.Equal(d.ConsentFields, []string{"birth_date"}) {
		t.Errorf("consent on the later policy: %+v", d)
	}
	// Forbids withhold consent fields too.
	d = set.Decide(Request{Consumer: "welfare-forbidden", Dataset: "household", Purpose: "social_assistance", Time: inWindow})
	if !d.Allowed || !slices.Equal(d.Fields, []string{"name"}) || d.RequiresConsent || d.ConsentFields != nil {
		t.Errorf("forbidden consent field: %+v", d)
	}
	d = set.Decide(Request{Consumer: "school-enrolment", Dataset: "household", Purpose: "school_enrolment", CaseID: "SE-2026-0001", Time: inWindow})
	if !d.Allowed || d.RequiresConsent {
		t.Errorf("policy without the condition: %+v", d)
	}
	if b, _ := d.MarshalJSON(); strings.Contains(string(b), "requiresConsent") {
		t.Errorf("JSON %s names consent for a policy without the condition", b)
	}
}
