// Package samples holds OneVisit's sample data: made-up records of twelve
// residents of Hangzhou, Zhejiang, and four of its companies, as seven
// departments and the consent service would publish them.
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
//   - birth.csv: hospitals' medical birth certificates (schema birth/v1)
//     of the two children, naming their parents;
//   - marriage.csv: the civil affairs bureau's marriage registrations
//     (schema marriage/v1) of the two married couples, one record each;
//   - social_insurance.csv: the human resources and social security
//     bureau's enrolments (schema social_insurance/v1): three contributors
//     and one pensioner (陈德明);
//   - business_licence.csv: the market regulation bureau's business
//     licences (schema business_licence/v1), keyed by unified social credit
//     code: the employers of tax.csv, NewCompanyCreditCode (established
//     2026-11-20, legal representative 林晓燕) and 张伟's restaurant;
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
// The newborn-registration walkthrough takes the same child with its
// parents (MotherResidentID): their households, marriage records and the
// child's birth certificate; the company-establishment walkthrough takes
// NewCompanyCreditCode and its legal representative, the mother.
package samples

import (
	"embed"
	"encoding/csv"
	"fmt"
)

// FS holds the CSV files, one per dataset, named <dataset>.csv.
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
	// MotherResidentID is 林晓燕, the child's mother, married to
	// GuardianResidentID, and legal representative of NewCompanyCreditCode.
	MotherResidentID = "330106198707210623"
	// NewCompanyCreditCode is 杭州晓燕文化创意有限公司, established
	// 2026-11-20.
	NewCompanyCreditCode = "91330106MA2KXY7T3M"
	// DeceasedResidentID is 陈德明, the guardian's father, registered in
	// ChildHouseholdID; death.csv records his death on 2026-10-17.
	DeceasedResidentID = "330106195611040339"

	HouseholdFile = "household.csv"
	TaxFile       = "tax.csv"
	PropertyFile  = "property.csv"
	ConsentFile   = "consent.csv"

	BirthFile           = "birth.csv"
	MarriageFile        = "marriage.csv"
	SocialInsuranceFile = "social_insurance.csv"
	BusinessLicenceFile = "business_licence.csv"
	DeathFile           = "death.csv"
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
