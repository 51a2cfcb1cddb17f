package samples

import "testing"

// TestDepartmentSamplesAreConsistent checks the datasets of the reform's
// procedures against the household register: every person they name is
// registered under that name, the birth certificates name the child's
// registered parents, marriages are recorded on both sides, and licences
// name registered legal representatives.
func TestDepartmentSamplesAreConsistent(t *testing.T) {
	people := map[string]string{}
	for _, row := range readRows(t, HouseholdFile) {
		people[row["resident_id"]] = row["name"]
	}
	same := func(file, idField, nameField string, row map[string]string) {
		t.Helper()
		id := row[idField]
		if id == "" {
			return
		}
		if got, ok := people[id]; !ok || got != row[nameField] {
			t.Errorf("%s: %s %s is %q in the register, %q here", file, idField, id, got, row[nameField])
		}
	}
	for _, row := range readRows(t, BirthFile) {
		same(BirthFile, "resident_id", "name", row)
		same(BirthFile, "mother_resident_id", "mother_name", row)
		same(BirthFile, "father_resident_id", "father_name", row)
		if id := row["resident_id"]; id[6:10]+"-"+id[10:12]+"-"+id[12:14] != row["birth_date"] {
			t.Errorf("%s: %s born %s disagrees with the identity number", BirthFile, row["name"], row["birth_date"])
		}
	}
	spouses := map[string]string{}
	for _, row := range readRows(t, MarriageFile) {
		same(MarriageFile, "resident_id", "name", row)
		same(MarriageFile, "spouse_resident_id", "spouse_name", row)
		spouses[row["resident_id"]] = row["spouse_resident_id"]
	}
	for a, b := range spouses {
		if spouses[b] != a {
			t.Errorf("%s: %s is married to %s, but not the other way round", MarriageFile, a, b)
		}
	}
	for _, row := range readRows(t, SocialInsuranceFile) {
		same(SocialInsuranceFile, "resident_id", "name", row)
	}
	companies := map[string]map[string]string{}
	for _, row := range readRows(t, BusinessLicenceFile) {
		same(BusinessLicenceFile, "legal_representative_id", "legal_representative", row)
		companies[row["credit_code"]] = row
	}
	// The walkthroughs: the child's birth certificate names its parents,
	// who are married to each other; the new company is the mother's.
	var found bool
	for _, row := range readRows(t, BirthFile) {
		if row["resident_id"] == ChildResidentID {
			found = row["mother_resident_id"] == MotherResidentID && row["father_resident_id"] == GuardianResidentID
		}
	}
	if !found || spouses[MotherResidentID] != GuardianResidentID {
		t.Errorf("the child's birth certificate or the parents' marriage does not match the walkthrough")
	}
	if c := companies[NewCompanyCreditCode]; c == nil || c["legal_representative_id"] != MotherResidentID || c["status"] != "active" {
		t.Errorf("company %s is not the mother's active company: %v", NewCompanyCreditCode, c)
	}
}
