package audit

import (
	"errors"
	"testing"
)

// TestConsentMembers: a query whose policy required consent carries
// consent (in_force or absent) and consent_record_id, as the last members
// of the canonical encoding; they round-trip, validate against the
// schema, and any other consent value or member order is refused.
func TestConsentMembers(t *testing.T) {
	s := compileEntrySchema(t)
	for _, tc := range []struct {
		name  string
		entry Entry
	}{
		{"query_consent_in_force", Entry{
			Time: t0, Kind: KindQuery, Actor: "property-transfer", Role: "consumer", Dataset: "household",
			Purpose: "property_transfer", CaseID: "PT-2026-0001", Subject: pseudonym("citizen-1"), RecordID: "hh-1",
			Fields: []string{"address", "name", "resident_id"}, Decision: DecisionPermit, Policy: "property-transfer-household",
			PolicyVersion: "sha256:ab", RequestID: "req-c1", Node: "node-a", Consent: ConsentInForce, ConsentRecordID: "CS-2026-0001",
		}},
		{"query_consent_required", Entry{
			Time: t0, Kind: KindQuery, Actor: "property-transfer", Role: "consumer", Dataset: "household",
			Purpose: "property_transfer", CaseID: "PT-2026-0001", Subject: pseudonym("citizen-1"), Decision: DecisionDeny,
			Code: "consent_required", Policy: "property-transfer-household", PolicyVersion: "sha256:ab", RequestID: "req-c2",
			Node: "node-a", Consent: ConsentAbsent,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkEntryGolden(t, s, tc.name, tc.entry)
		})
	}
	for _, in := range []string{
		`{"time":"2025-03-14T09:26:53Z","kind":"query","consent":"maybe"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"query","consent":""}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"query","consent":"absent","node":"n"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"query","consent_record_id":"c","consent":"in_force"}`,
	} {
		if _, err := ParseEntry([]byte(in)); !errors.Is(err, ErrBadEntry) {
			t.Errorf("ParseEntry(%s) = %v, want ErrBadEntry", in, err)
		}
	}
}
