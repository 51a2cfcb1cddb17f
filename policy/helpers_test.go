package policy

import (
	"os"
	"testing"
)

// testCatalog mirrors the sample datasets' schemas (the schemas package
// owns the real ones; this package must not import it).
var testCatalog = StaticCatalog{
	"household": {"resident_id", "name", "gender", "birth_date", "ethnicity", "household_id", "relation_to_head", "address", "registration_date"},
	"tax":       {"resident_id", "name", "tax_year", "taxable_income", "tax_paid", "tax_office", "certificate_no", "employer_credit_code"},
	"property":  {"resident_id", "owner_name", "unit_number", "certificate_no", "address", "area_sqm", "usage", "acquired_date"},
	"consent":   {"resident_id", "recorded_at", "consents"},
	"birth": {"resident_id", "name", "gender", "birth_date", "birth_weight_g", "hospital", "mother_resident_id", "mother_name",
		"father_resident_id", "father_name", "certificate_no", "issued_date"},
	"marriage": {"resident_id", "name", "marital_status", "spouse_resident_id", "spouse_name", "certificate_no", "registered_date", "registry_office"},
	"social_insurance": {"resident_id", "name", "insurance_status", "employer_name", "employer_credit_code", "pension_months",
		"medical_scheme", "enrolled_date"},
	"business_licence": {"credit_code", "company_name", "company_type", "legal_representative", "legal_representative_id",
		"registered_capital", "established_date", "address", "business_scope", "status", "registration_authority"},
	"death": {"resident_id", "name", "gender", "birth_date", "death_date", "death_place", "cause_of_death", "certificate_no", "registration_office", "registration_date"},
}

func mustDefault(t testing.TB) *Set {
	t.Helper()
	s, err := Default(testCatalog)
	if err != nil {
		t.Fatalf("Default: %v", err)
	}
	return s
}

func mustParseFile(t testing.TB, path string) *Set {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(path, data, testCatalog)
	if err != nil {
		t.Fatalf("Parse %s: %v", path, err)
	}
	return s
}
