package audit

import (
	"errors"
	"testing"
)

// TestCaseEntriesGolden: the entries of a case bundle (POST /v1/cases),
// an item's query entry naming its procedure and the case summary with
// its assembly time, are valid, canonical, schema-valid and round-trip.
func TestCaseEntriesGolden(t *testing.T) {
	s := compileEntrySchema(t)
	for _, tc := range []struct {
		name  string
		entry Entry
	}{
		{"case_item", Entry{
			Time: t0, Kind: KindQuery, Actor: "newborn-registration", Role: "consumer", Dataset: "birth",
			Purpose: "newborn_registration", CaseID: "NB-2026-0001", Subject: pseudonym("child"), RecordID: "birth-1",
			Fields: []string{"name", "resident_id"}, Decision: DecisionPermit, Policy: "newborn-registration-birth",
			PolicyVersion: "sha256:ab", RequestID: "req-c1", Node: "node-a", Procedure: "newborn_registration", CaseRole: "child",
		}},
		{"case_summary", Entry{
			Time: t0, Kind: KindCase, Actor: "newborn-registration", Role: "consumer", Route: "POST /v1/cases",
			Purpose: "newborn_registration", CaseID: "NB-2026-0001", Decision: DecisionPermit, Code: "case_complete",
			PolicyVersion: "sha256:ab", RequestID: "req-c1", Node: "node-a", Procedure: "newborn_registration", ElapsedMicros: 4210,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkEntryGolden(t, s, tc.name, tc.entry)
		})
	}
	// elapsed_us has one encoding: no zero, no sign, no fraction.
	for _, bad := range []string{
		`{"time":"2025-03-14T09:26:53Z","kind":"case","elapsed_us":0}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"case","elapsed_us":-5}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"case","elapsed_us":1.5}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"case","elapsed_us":"12"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"case","elapsed_us":12,"procedure":"p"}`,
	} {
		if _, err := ParseEntry([]byte(bad)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("ParseEntry(%s) = %v, want ErrBadEntry", bad, err)
		}
	}
}
