// Package samples holds OneVisit's sample data: made-up records of twelve
// residents of Hangzhou, Zhejiang, as four departments and the consent
// service would publish them.
//
//   - household.csv: the public security bureau's household register
//     (schema household/v1), two families and five one-person households;
//   - tax.csv: the tax bureau's 2025 individual income tax records
//     (schema tax/v1), one per adult;
//   - property.csv: the natural resources bureau's real-estate
//     registrations (schema property/v1), for five owners;
//   - consent.csv: the consent service's consent records (schema
//     consent/v1): GuardianResidentID consents to property-transfer for
//     property_transfer until the end of 2027; 陈德明 (330106195611040339)
//     has a record with no consent in force;
//   - death.csv: the civil affairs bureau's death registrations (schema
//     death/v1): DeceasedResidentID, 陈德明, the child's grandfather, died
//     in October 2026 (the Tell-Us-Once example, policy/examples).
//
// Each file's header row names the schema's fields, and every row passes
// schemas.Coerce and schemas.Validate (a test in this package checks it).
// The same people appear in every file, joined by resident_id. All names,
// numbers and addresses are invented; the identity numbers and credit codes
// carry correct check characters so that they pass the real format checks,
// and they belong to no one.
//
// The walkthrough case is school enrolment: ChildResidentID is a child of
// school age in 2026 (born 2020-03-08) registered in household
// ChildHouseholdID, whose head is the child's father GuardianResidentID;
// the father has a tax record and owns the flat the household lives in.
package samples

import (
	"embed"
	"encoding/csv"
	"fmt"
)

// FS holds household.csv, tax.csv, property.csv, consent.csv and death.csv.
//
//go:embed *.csv
var FS embed.FS

// The walkthrough's people, and the files' names.
const (
	// ChildResidentID is 陈子涵, born 2020-03-08 in Xihu district, six years
	// old for the 2026 school year, relation "child" in ChildHouseholdID.
	ChildResidentID = "330106202003080153"
	// GuardianResidentID is 陈建国, the child's father and head of
	// ChildHouseholdID; he has a 2025 tax record and owns the flat.
	GuardianResidentID = "330106198503120415"
	// ChildHouseholdID is the household (户号) of the child and guardian.
	ChildHouseholdID = "330106-00451"
	// DeceasedResidentID is 陈德明, the guardian's father, registered in
	// ChildHouseholdID; death.csv records his death on 2026-10-17.
	DeceasedResidentID = "330106195611040339"

	HouseholdFile = "household.csv"
	TaxFile       = "tax.csv"
	PropertyFile  = "property.csv"
	ConsentFile   = "consent.csv"
	DeathFile     = "death.csv"
)

// Rows reads one of the files as rows keyed by its header, as text: the
// input of schemas.Registry.Coerce. For tests and tools that need the
// sample data without a connector.
func Rows(name string) ([]map[string]string, error) {
	f, err := FS.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("samples: %s: %w", name, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("samples: %s: no header row", name)
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make(map[string]string, len(rec))
		for i, h := range recs[0] {
			row[h] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows, nil
}
