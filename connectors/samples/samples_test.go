package samples

import (
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/schemas"
)

// readRows parses one sample file into header-keyed rows.
func readRows(t *testing.T, name string) []map[string]string {
	t.Helper()
	rows, err := Rows(name)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestSamplesValidate: every row of every file passes Coerce and Validate
// against its dataset's latest schema, and each header names exactly the
// schema's fields.
func TestSamplesValidate(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file, dataset string
		wantRows      int
	}{
		{HouseholdFile, "household", 12},
		{TaxFile, "tax", 10},
		{PropertyFile, "property", 5},
		{ConsentFile, "consent", 2},
		{BirthFile, "birth", 2},
		{MarriageFile, "marriage", 4},
		{SocialInsuranceFile, "social_insurance", 4},
		{BusinessLicenceFile, "business_licence", 4},
		{DeathFile, "death", 1},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			d, ok := reg.Dataset(tt.dataset)
			if !ok {
				t.Fatalf("no dataset %s", tt.dataset)
			}
			rows := readRows(t, tt.file)
			if len(rows) != tt.wantRows {
				t.Fatalf("%d rows, want %d", len(rows), tt.wantRows)
			}
			var header []string
			for h := range rows[0] {
				header = append(header, h)
			}
			slices.Sort(header)
			if !slices.Equal(header, d.Fields) {
				t.Errorf("header %v, want the schema's fields %v", header, d.Fields)
			}
			for i, row := range rows {
				rec, err := reg.Coerce(d.Latest, row)
				if err != nil {
					t.Fatalf("row %d: %v", i+1, err)
				}
				if err := reg.Validate(d.Latest, rec); err != nil {
					t.Errorf("row %d: %v", i+1, err)
				}
			}
		})
	}
}

// TestSamplesAreConsistent checks what the walkthrough relies on: the
// datasets join on resident_id, identity numbers agree with birth date and
// gender, and the child and guardian are who the constants say.
func TestSamplesAreConsistent(t *testing.T) {
	people := map[string]map[string]string{}
	for _, row := range readRows(t, HouseholdFile) {
		id := row["resident_id"]
		if people[id] != nil {
			t.Errorf("%s registered twice", id)
		}
		people[id] = row
		if got := id[6:10] + "-" + id[10:12] + "-" + id[12:14]; got != row["birth_date"] {
			t.Errorf("%s: birth_date %s, identity number says %s", row["name"], row["birth_date"], got)
		}
		male := (id[16]-'0')%2 == 1
		if male != (row["gender"] == "male") {
			t.Errorf("%s: gender %s disagrees with the identity number", row["name"], row["gender"])
		}
	}
	for _, file := range []string{TaxFile, PropertyFile, DeathFile} {
		for _, row := range readRows(t, file) {
			p := people[row["resident_id"]]
			if p == nil {
				t.Errorf("%s: %s is not in the household register", file, row["resident_id"])
				continue
			}
			name := row["name"]
			if file == PropertyFile {
				name = row["owner_name"]
			}
			if name != p["name"] {
				t.Errorf("%s: name %s, register says %s", file, name, p["name"])
			}
		}
	}

	child, guardian := people[ChildResidentID], people[GuardianResidentID]
	if child == nil || guardian == nil {
		t.Fatal("child or guardian missing from the register")
	}
	if child["household_id"] != ChildHouseholdID || guardian["household_id"] != ChildHouseholdID ||
		child["relation_to_head"] != "child" || guardian["relation_to_head"] != "head" {
		t.Errorf("child %v and guardian %v are not child and head of %s", child, guardian, ChildHouseholdID)
	}
	// Zhejiang enrols children who are six by 31 August of the school year.
	birth, err := time.Parse("2006-01-02", child["birth_date"])
	if err != nil {
		t.Fatal(err)
	}
	cutoff := time.Date(2026, 8, 31, 0, 0, 0, 0, time.UTC)
	if sixth := birth.AddDate(6, 0, 0); sixth.After(cutoff) || sixth.Before(cutoff.AddDate(-1, 0, 0)) {
		t.Errorf("child born %s is not of school age in 2026", child["birth_date"])
	}
	has := func(file string) bool {
		for _, row := range readRows(t, file) {
			if row["resident_id"] == GuardianResidentID {
				return true
			}
		}
		return false
	}
	if !has(TaxFile) || !has(PropertyFile) {
		t.Error("guardian lacks a tax or property record")
	}
	// The deceased is who the constant says, with the register's birth
	// date and gender, and died after his household registration.
	for _, row := range readRows(t, DeathFile) {
		p := people[row["resident_id"]]
		if row["resident_id"] != DeceasedResidentID || p == nil {
			t.Errorf("death.csv: %s is not DeceasedResidentID", row["resident_id"])
			continue
		}
		if row["birth_date"] != p["birth_date"] || row["gender"] != p["gender"] || row["death_date"] <= p["registration_date"] {
			t.Errorf("death.csv: %v disagrees with the register %v", row, p)
		}
	}
	for _, row := range readRows(t, TaxFile) {
		if row["resident_id"] == ChildResidentID {
			t.Error("the child has a tax record; tax records are for adults")
		}
	}
}
