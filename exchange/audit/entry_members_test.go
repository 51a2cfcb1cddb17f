package audit

import "testing"

// completenessEntries are the entries the exchange writes for the events
// that were added to the trail later (token decisions, refusals of
// authenticated callers, explain calls, officers' reasons), kept as
// golden files under testdata/entries/ like goldenEntries.
var completenessEntries = []struct {
	name  string
	entry Entry
}{
	{"token_issued", Entry{
		Time: t0, Kind: KindToken, Actor: "school-enrolment", Role: "consumer", Route: "POST /v1/token",
		Decision: DecisionPermit, RequestID: "req-t1", Node: "node-a",
	}},
	{"token_refused_unauthenticated", Entry{
		Time: t0, Kind: KindToken, Route: "POST /v1/token", Decision: DecisionDeny, Code: "invalid_client",
		RequestID: "req-t2", Node: "node-a",
	}},
	{"deny_forbidden_route", Entry{
		Time: t0, Kind: KindDeny, Actor: "school-enrolment", Role: "consumer", Route: "POST /v1/keys/revoke",
		Decision: DecisionDeny, Code: "forbidden", RequestID: "req-d1", Node: "node-a",
	}},
	{"explain_by_officer", Entry{
		Time: t0, Kind: KindExplain, Actor: "security-officer", Role: "officer", Consumer: "school-enrolment",
		Dataset: "household", Purpose: "school_enrolment", Fields: []string{"address", "name"},
		Decision: DecisionPermit, Policy: "school-enrolment-household", PolicyVersion: "sha256:ab", RequestID: "req-e1", Node: "node-a",
	}},
	{"audit_read_reason", Entry{
		Time: t0, Kind: KindQuery, Actor: "security-officer", Role: "officer", Purpose: "audit_investigation",
		Reason: "citizen request 2026-118 \"陈\"", Subject: pseudonym("citizen-1"), Decision: DecisionPermit,
		Code: "audit_read", RequestID: "req-a1", Node: "node-a",
	}},
}

func TestCompletenessEntriesGolden(t *testing.T) {
	s := compileEntrySchema(t)
	for _, tc := range completenessEntries {
		t.Run(tc.name, func(t *testing.T) {
			checkEntryGolden(t, s, tc.name, tc.entry)
		})
	}
}

// TestNewMembersOrder: route and consumer follow role, reason follows
// case_id; any other order is not canonical.
func TestNewMembersOrder(t *testing.T) {
	for _, in := range []string{
		`{"time":"2025-03-14T09:26:53Z","kind":"deny","route":"GET /x","role":"consumer"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"explain","dataset":"household","consumer":"a"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"query","reason":"r","case_id":"c"}`,
		`{"time":"2025-03-14T09:26:53Z","kind":"query","reason":""}`,
	} {
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("ParseEntry accepted non-canonical %s", in)
		}
	}
}
