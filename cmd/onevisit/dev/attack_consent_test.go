package dev_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/record"
)

// consentQuery is property transfer asking for the seller's household
// record, which the example policy property-transfer-household releases
// only with the seller's consent.
func consentQuery(seller string) []byte {
	b, _ := json.Marshal(map[string]string{"dataset": "household", "subject": seller, "purpose": "property_transfer", "case_id": "PT-2026-0001"})
	return b
}

// TestAttackConsentForgedByPublisher: a department that is not the
// consent service (public security, with a valid record key of its own)
// signs a consent record for the seller and produces it with its own
// kafka-go writer straight to the consent ingest topic, and posts another
// over plain HTTP. Both are refused at ingest as no_grant (audited), and
// property transfer's query stays 403 consent_required: only the consent
// service's records are consents. At 393bfce there was no consent at all:
// the seller's household record was not released under any consent
// condition, and no consent dataset or topic existed.
func TestAttackConsentForgedByPublisher(t *testing.T) {
	env := startDev(t)
	publishSampleHousehold(t, env)
	seller := samples.GuardianResidentID
	pt := token(t, env, "property-transfer")
	fields := map[string]any{"resident_id": seller, "recorded_at": time.Now().UTC().Format(time.RFC3339),
		"consents": "property-transfer:property_transfer"}
	forge := func(id string) string {
		return signed(t, env, "public-security", record.Claims{Dataset: "consent", Schema: "consent/v1", ID: id, IssuedAt: time.Now()}, fields)
	}

	before := len(abuseAuditEntries(t, env))
	produce(t, rawWriter(t, env, env.Kafka.Names.Ingest("consent")), []byte(forge("FORGED-1")))
	status, body := publishHTTP(t, env, "public-security", "consent", forge("FORGED-2"))
	if status != 200 || fmt.Sprint(resultCodes(body)) != "[rejected/no_grant]" {
		t.Errorf("forged consent over HTTP: %d %v, want [rejected/no_grant]", status, resultCodes(body))
	}
	rejected := func(id string) audit.Entry {
		return audit.Entry{Kind: audit.KindReject, Actor: "public-security", Role: "publisher", Dataset: "consent",
			RecordID: id, Decision: audit.DecisionRejected, Code: "no_grant", Node: "dev-1"}
	}
	got := auditedAfter(t, env, before, "both forged consents rejected", func(es []audit.Entry) bool {
		return hasEntry(rejected("FORGED-1"))(es) && hasEntry(rejected("FORGED-2"))(es)
	})
	wantEntries(t, got, rejected("FORGED-1"), rejected("FORGED-2"))

	// Once the household record is served to someone, the forged consent
	// would have been in effect had it been accepted; it is not.
	waitFor(t, "the seller's household record in the view", func() bool {
		s, _ := servedQuery(t, env, token(t, env, "school-enrolment"), "household", seller, "school_enrolment", "SE-2026-0001")
		return s == 200
	})
	if status, out := post(t, env.BaseURL+"/v1/query", pt, consentQuery(seller)); status != 403 || errCode(out) != "consent_required" {
		t.Fatalf("query after forged consents: %d %v, want 403 consent_required", status, out)
	}
}
