package policy

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// TestWhatIf replays testdata/whatif/records.json, decisions taken under
// the classification base set, under a proposal that gives school
// enrolment household_id instead of birth_date, takes tax_check from
// property transfer and lets newborn registration read names. The want
// below was counted by hand, record by record:
//
//	SE-1, SE-2     school: birth_date lost, household_id gained (fields changed)
//	no case id     school: refused before and after (unchanged)
//	SE-x           school: the case-id format ^SE-\d+$ refuses it (newly refused; loses address, birth_date, name)
//	2026-04-01     outside the 30-day window
//	tax_check      transfer: purpose gone (newly refused; loses address, owner_name)
//	property_transfer, valuation   transfer: unchanged
//	NB-1           newborn: denied before, name now (newly permitted)
//	welfare        unchanged, needs consent
//	2026-07-01     after the end of the window
func TestWhatIf(t *testing.T) {
	raw, err := os.ReadFile("testdata/classify/base.yaml")
	if err != nil {
		t.Fatal(err)
	}
	proposed := parseEdited(t, string(raw), []edit{
		{"fields: [name, birth_date, address]", "fields: [name, address, household_id]"},
		{"purposes: [property_transfer, tax_check]", "purposes: [property_transfer]"},
		{"kind: Purpose", "kind: AccessPolicy\nmetadata: {name: newborn}\nspec: {consumer: newborn-registration, dataset: household, purposes: [newborn_registration], fields: [name]}\n---\nkind: Purpose"},
	})
	data, err := os.ReadFile("testdata/whatif/records.json")
	if err != nil {
		t.Fatal(err)
	}
	var records []Recorded
	if err := json.Unmarshal(data, &records); err != nil {
		t.Fatal(err)
	}
	to := time.Date(2026, 6, 30, 12, 0, 0, 0, time.UTC)
	got := WhatIf(records, proposed, to, 0)
	want := Report{From: to.Add(-30 * 24 * time.Hour), To: to, Replayed: 9, Outside: 2, Changed: 5, Consumers: []Impact{
		{Consumer: "newborn-registration", Answers: 1, Changed: 1, NewlyPermitted: 1,
			Gained: []FieldCount{{"household", "name", 1}}, Lost: []FieldCount{}},
		{Consumer: "property-transfer", Answers: 3, Changed: 1, NewlyRefused: 1,
			Gained: []FieldCount{}, Lost: []FieldCount{{"property", "address", 1}, {"property", "owner_name", 1}}},
		{Consumer: "school-enrolment", Answers: 4, Changed: 3, NewlyRefused: 1, FieldsChanged: 2,
			Gained: []FieldCount{{"household", "household_id", 2}},
			Lost:   []FieldCount{{"household", "address", 1}, {"household", "birth_date", 3}, {"household", "name", 1}}},
		{Consumer: "welfare", Answers: 1, NeedConsent: 1, Gained: []FieldCount{}, Lost: []FieldCount{}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WhatIf\n got %+v\nwant %+v", got, want)
	}
	testkit.Golden(t, "testdata/whatif/report.golden", []byte(got.String()))

	// The same set as the one that decided changes nothing.
	base := parseEdited(t, string(raw), nil)
	same := WhatIf(records, base, to, 0)
	if same.Changed != 1 || same.Replayed != 9 { // only SE-x, which the format refuses
		t.Errorf("replay under the base set: %s", same)
	}
	// Ten days (from 2026-06-20T12:00Z) keep June 21 to 24: only NB-1 changes.
	short := WhatIf(records, proposed, to, 10*24*time.Hour)
	if short.Replayed != 4 || short.Outside != 7 || short.Changed != 1 || len(short.Consumers) != 3 ||
		short.Consumers[0].Consumer != "newborn-registration" || short.Consumers[0].NewlyPermitted != 1 {
		t.Errorf("ten days: %s", short)
	}
}
