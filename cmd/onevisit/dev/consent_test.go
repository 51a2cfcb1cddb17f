package dev_test

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/record"
	"github.com/onevisit/onevisit/policy"
)

// publishConsent publishes one consent record of subject through Kafka
// as the consent service does (the ordinary signed-record ingest), with
// consents "" meaning none in force, and returns when it is durably in
// the ingest topic.
func publishConsent(t *testing.T, env *dev.Env, id, subject, consents string) {
	t.Helper()
	p, done, err := env.Publisher("consent-service", "consent", "kafka")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	fields := map[string]any{"resident_id": subject, "recorded_at": time.Now().UTC().Format(time.RFC3339)}
	if consents != "" {
		fields["consents"] = consents
	}
	if _, _, err := p.Publish(context.Background(), []connectors.Item{{ID: id, Fields: fields}}); err != nil {
		t.Fatal(err)
	}
}

// TestConsentGrantAndWithdrawal: property transfer's query for the
// seller's household record answers 403 consent_required while no
// consent is in force (audited, consent absent); once the consent service
// publishes a consent, the same query answers with exactly the
// consent-conditioned fields (audited, consent in force, naming the
// consent record); after a withdrawal (a new consent record without the
// entry) it is refused again within 5 s. No consumer reads the consent
// dataset itself.
func TestConsentGrantAndWithdrawal(t *testing.T) {
	env := startDev(t)
	publishSampleHousehold(t, env)
	seller := samples.GuardianResidentID
	sellerP := pseudonymOf(t, env, seller)
	pt := token(t, env, "property-transfer")
	pol, err := policy.Default(env.Schemas)
	if err != nil {
		t.Fatal(err)
	}
	const node = "dev-1"
	entry := audit.Entry{Kind: audit.KindQuery, Actor: "property-transfer", Role: "consumer", Dataset: "household",
		Purpose: "property_transfer", CaseID: "PT-2026-0001", Subject: sellerP, Decision: audit.DecisionDeny,
		Code: "consent_required", Policy: "property-transfer-household", PolicyVersion: pol.Version(), Node: node,
		Consent: audit.ConsentAbsent}

	// 1. No consent record: refused, audited with consent absent.
	before := len(abuseAuditEntries(t, env))
	if status, out := post(t, env.BaseURL+"/v1/query", pt, consentQuery(seller)); status != 403 || errCode(out) != "consent_required" {
		t.Fatalf("query without consent: %d %v, want 403 consent_required", status, out)
	}
	wantEntries(t, auditedAfter(t, env, before, "consent_required entry", hasEntry(entry)), entry)

	// 2. The consent service publishes a consent: the same query answers
	// with the conditioned fields and the subject field, nothing else.
	publishConsent(t, env, "CS-2026-0001", seller, "property-transfer:property_transfer:2099-12-31")
	var out map[string]any
	waitFor(t, "the query to answer once the consent is accepted", func() bool {
		var status int
		status, out = post(t, env.BaseURL+"/v1/query", pt, consentQuery(seller))
		return status == 200
	})
	var row map[string]any
	for _, r := range sampleRows(t, env, "household") {
		if r.Fields["resident_id"] == seller {
			row = r.Fields
		}
	}
	wantData := map[string]any{"resident_id": seller, "name": row["name"], "household_id": row["household_id"], "address": row["address"]}
	if !reflect.DeepEqual(out["data"], wantData) {
		t.Errorf("data %v, want %v", out["data"], wantData)
	}
	raw, _ := out["record"].(string)
	rec, err := record.Parse(raw)
	if err != nil {
		t.Fatalf("answer record: %v", err)
	}
	permit := entry
	permit.Decision, permit.Code, permit.RecordID = audit.DecisionPermit, "", rec.ID
	permit.Fields = []string{"address", "household_id", "name", "resident_id"}
	permit.Consent, permit.ConsentRecordID = audit.ConsentInForce, "CS-2026-0001"
	wantEntries(t, auditedAfter(t, env, before, "permit entry with consent", hasEntry(permit)), permit)

	// 3. Withdrawal: a new consent record without the entry. Measured from
	// the moment it is durably in the ingest topic.
	publishConsent(t, env, "CS-2026-0002", seller, "")
	published := time.Now()
	deadline := published.Add(5 * time.Second)
	for {
		status, out := post(t, env.BaseURL+"/v1/query", pt, consentQuery(seller))
		if status == 403 && errCode(out) == "consent_required" {
			break
		}
		if status != 200 && status != 503 {
			t.Fatalf("query during withdrawal: %d %v", status, out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("withdrawal not in effect 5 s after it was published")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("withdrawal in effect %v after it was published", time.Since(published).Round(time.Millisecond))
	withdrawn := entry
	withdrawn.ConsentRecordID = "CS-2026-0002"
	wantEntries(t, auditedAfter(t, env, before, "consent_required entry after withdrawal", hasEntry(withdrawn)), withdrawn)

	// 4. The consent dataset itself: default deny for every consumer.
	for _, c := range []string{"property-transfer", "school-enrolment", "newborn-registration"} {
		purpose := map[string]string{"property-transfer": "property_transfer", "school-enrolment": "school_enrolment", "newborn-registration": "newborn_registration"}[c]
		caseID := map[string]string{"property-transfer": "PT-2026-0001", "school-enrolment": "SE-2026-0001", "newborn-registration": "NB-2026-0001"}[c]
		b, _ := json.Marshal(map[string]string{"dataset": "consent", "subject": seller, "purpose": purpose, "case_id": caseID})
		if status, out := post(t, env.BaseURL+"/v1/query", token(t, env, c), b); status != 403 || errCode(out) != "denied" {
			t.Errorf("%s reading the consent dataset: %d %v, want 403 denied", c, status, out)
		}
	}
}

// TestExplainShowsConditions: explain lists, besides its decision, the
// refusals a query would add: the purpose's case-id format (with the
// pattern in a reason) and the consent the conditioned fields need.
func TestExplainShowsConditions(t *testing.T) {
	env := startDev(t)
	officer := token(t, env, "security-officer")
	status, out := post(t, env.BaseURL+"/v1/policy/explain", officer,
		[]byte(`{"consumer":"property-transfer","dataset":"household","purpose":"property_transfer"}`))
	if status != 200 {
		t.Fatalf("explain: %d %v", status, out)
	}
	want := map[string]any{
		"decision": "permit", "fields": []any{"address", "household_id", "name"}, "policy": "property-transfer-household",
		"requiresConsent": true, "consentFields": []any{"address", "household_id", "name"},
		"conditions": []any{"case_id_required", "bad_case_id", "consent_required"},
		"reasons": []any{
			"permit: policy property-transfer-household allows 3 fields of household for purpose property_transfer if the citizen consents",
			"condition: case_id_required: a query without a case_id is refused",
			`condition: bad_case_id: a case_id that does not match ^PT-\d{4}-\d{4,}$ is refused`,
			"condition: consent_required: address, household_id, name are released only while the citizen's consent for property_transfer is in force",
		},
	}
	if !reflect.DeepEqual(out, want) {
		got, _ := json.MarshalIndent(out, "", " ")
		t.Errorf("explain:\n%s", got)
	}
}

// TestCaseIDFormat: a plain case id that does not match the purpose's
// declared format (school_enrolment: ^SE-\d{4}-\d{4,}$) is refused 400
// bad_case_id naming /case_id, by query and explain alike, and stays out
// of the audit entry.
func TestCaseIDFormat(t *testing.T) {
	env := startDev(t)
	child := samples.ChildResidentID
	consumer := token(t, env, "school-enrolment")
	tests := []struct {
		name, path, body string
	}{
		{"query, free-form case id", "/v1/query", `{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-7"}`},
		{"query, another procedure's case id", "/v1/query", `{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"PT-2026-0001"}`},
		{"query, a match with a tail", "/v1/query", `{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001-2"}`},
		{"explain, free-form case id", "/v1/policy/explain", `{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment","case_id":"c1"}`},
	}
	before := len(abuseAuditEntries(t, env))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := call(t, "POST", env.BaseURL+tt.path, "Bearer "+consumer, []byte(tt.body), nil)
			e := decodeAPIError(t, b)
			if resp.StatusCode != 400 || e.Error.Code != "bad_case_id" || e.Error.Pointer != "/case_id" {
				t.Errorf("%d %s, want 400 bad_case_id at /case_id", resp.StatusCode, b)
			}
		})
	}
	refused := audit.Entry{Kind: audit.KindQuery, Actor: "school-enrolment", Role: "consumer", Dataset: "household",
		Purpose: "school_enrolment", Subject: pseudonymOf(t, env, child), Decision: audit.DecisionDeny, Code: "bad_case_id", Node: "dev-1"}
	got := auditedAfter(t, env, before, "bad_case_id entries", func(es []audit.Entry) bool {
		n := 0
		for _, e := range es {
			if entryEqual(e, refused) {
				n++
			}
		}
		return n == 3
	})
	for _, e := range got {
		if e.Kind == audit.KindQuery && e.CaseID != "" && !slices.Contains([]string{"SE-2026-0001"}, e.CaseID) {
			t.Errorf("a refused case id reached the audit log: %s", e.MarshalCanonical())
		}
	}
}
