package dev_test

// Attack tests for audit completeness (issue 7, class 10): each event an
// outsider or an authenticated caller can cause produces exactly the
// expected audit entry, read back raw from the audit topic and compared
// whole (but for time and request id). Each failed at 393bfce, which
// wrote none of these entries (or, for junk in an ingest topic, wrote it
// under the issuer the junk claimed).

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/policy"
)

// auditedAfter returns the entries appended to the audit topic after the
// first `before`, with time and request id cleared, once cond holds for
// them (polling: a write another node made may not be visible at once).
func auditedAfter(t *testing.T, env *dev.Env, before int, what string, cond func([]audit.Entry) bool) []audit.Entry {
	t.Helper()
	var got []audit.Entry
	waitFor(t, what, func() bool {
		all := abuseAuditEntries(t, env)
		got = nil
		for _, e := range all[min(before, len(all)):] {
			e.Time, e.RequestID = time.Time{}, ""
			got = append(got, e)
		}
		return cond(got)
	})
	return got
}

// wantEntries checks that got holds each of want, compared whole.
func wantEntries(t *testing.T, got []audit.Entry, want ...audit.Entry) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || entryEqual(g, w)
		}
		if !found {
			var lines []string
			for _, g := range got {
				lines = append(lines, string(g.MarshalCanonical()))
			}
			t.Errorf("no audit entry\n  %s\namong\n  %s", w.MarshalCanonical(), strings.Join(lines, "\n  "))
		}
	}
}

func hasEntry(want audit.Entry) func([]audit.Entry) bool {
	return func(got []audit.Entry) bool {
		for _, g := range got {
			if entryEqual(g, want) {
				return true
			}
		}
		return false
	}
}

func TestAttackAuditCompleteness(t *testing.T) {
	env := startDev(t)
	const node = "dev-1"

	t.Run("token issued and refused", func(t *testing.T) {
		before := len(abuseAuditEntries(t, env))
		if resp, out := abuseTokenRequest(t, env, abuseAssertion(t, env, "school-enrolment", "audit-1", time.Minute)); resp == nil || resp.StatusCode != 200 {
			t.Fatalf("token: %v %v", resp, out)
		}
		// A hand-built assertion naming school-enrolment's key but signed
		// with another key: nobody authenticated.
		good := abuseAssertion(t, env, "school-enrolment", "audit-2", time.Minute)
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		forged := good[:strings.LastIndexByte(good, '.')+1] + base64.RawURLEncoding.EncodeToString(ed25519.Sign(other, []byte(good[:strings.LastIndexByte(good, '.')])))
		if resp, out := abuseTokenRequest(t, env, forged); resp == nil || resp.StatusCode != 401 {
			t.Fatalf("forged assertion: %v %v", resp, out)
		}
		issued := audit.Entry{Kind: audit.KindToken, Actor: "school-enrolment", Role: "consumer", Route: "POST /v1/token", Decision: audit.DecisionPermit, Node: node}
		refused := audit.Entry{Kind: audit.KindToken, Route: "POST /v1/token", Decision: audit.DecisionDeny, Code: "invalid_client", Node: node}
		got := auditedAfter(t, env, before, "token entries", hasEntry(refused))
		wantEntries(t, got, issued, refused)
	})

	consumer := token(t, env, "school-enrolment")
	officer := token(t, env, "security-officer")

	t.Run("403 and malformed requests of authenticated callers", func(t *testing.T) {
		before := len(abuseAuditEntries(t, env))
		resp, b := call(t, "POST", env.BaseURL+"/v1/keys/revoke", "Bearer "+consumer, []byte(`{"kid":"exchange-token#1","reason":"x"}`), nil)
		if resp.StatusCode != 403 {
			t.Fatalf("consumer revoking a key: %d %s", resp.StatusCode, b)
		}
		resp, b = call(t, "POST", env.BaseURL+"/v1/policy/explain", "Bearer "+consumer, []byte(`{"consumer":`), nil)
		if resp.StatusCode != 400 {
			t.Fatalf("malformed explain: %d %s", resp.StatusCode, b)
		}
		forbidden := audit.Entry{Kind: audit.KindDeny, Actor: "school-enrolment", Role: "consumer", Route: "POST /v1/keys/revoke", Decision: audit.DecisionDeny, Code: "forbidden", Node: node}
		malformed := audit.Entry{Kind: audit.KindDeny, Actor: "school-enrolment", Role: "consumer", Route: "POST /v1/policy/explain", Decision: audit.DecisionDeny, Code: codeOf(b), Node: node}
		got := auditedAfter(t, env, before, "deny entries", hasEntry(malformed))
		wantEntries(t, got, forbidden, malformed)
	})

	t.Run("explain", func(t *testing.T) {
		before := len(abuseAuditEntries(t, env))
		pol, err := policy.Default(env.Schemas)
		if err != nil {
			t.Fatal(err)
		}
		body := []byte(`{"consumer":"school-enrolment","dataset":"household","purpose":"school_enrolment"}`)
		if resp, b := call(t, "POST", env.BaseURL+"/v1/policy/explain", "Bearer "+officer, body, nil); resp.StatusCode != 200 {
			t.Fatalf("explain: %d %s", resp.StatusCode, b)
		}
		body = []byte(`{"consumer":"school-enrolment","dataset":"tax","purpose":"school_enrolment","case_id":"SE-2026-0007"}`)
		if resp, b := call(t, "POST", env.BaseURL+"/v1/policy/explain", "Bearer "+consumer, body, nil); resp.StatusCode != 200 {
			t.Fatalf("explain: %d %s", resp.StatusCode, b)
		}
		byOfficer := audit.Entry{Kind: audit.KindExplain, Actor: "security-officer", Role: "officer", Consumer: "school-enrolment",
			Dataset: "household", Purpose: "school_enrolment", Fields: []string{"address", "birth_date", "household_id", "name", "relation_to_head"},
			Decision: audit.DecisionPermit, Policy: "school-enrolment-household", PolicyVersion: pol.Version(), Node: node}
		denied := pol.Decide(policy.Request{Consumer: "school-enrolment", Dataset: "tax", Purpose: "school_enrolment", CaseID: "SE-2026-0007"})
		bySelf := audit.Entry{Kind: audit.KindExplain, Actor: "school-enrolment", Role: "consumer", Dataset: "tax", Purpose: "school_enrolment",
			CaseID: "SE-2026-0007", Decision: audit.DecisionDeny, Code: "denied", Policy: denied.Policy, PolicyVersion: pol.Version(), Node: node}
		got := auditedAfter(t, env, before, "explain entries", hasEntry(bySelf))
		wantEntries(t, got, byOfficer, bySelf)
	})

	t.Run("officer's reasons", func(t *testing.T) {
		before := len(abuseAuditEntries(t, env))
		if status, _, raw := auditSubject(t, env, officer, samples.ChildResidentID, "citizen request 2026-118"); status != 200 {
			t.Fatalf("subject lookup: %d %s", status, raw)
		}
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		jwk, err := keys.MarshalPublicJWK("school-enrolment-auth#9", pub)
		if err != nil {
			t.Fatal(err)
		}
		reg, _ := json.Marshal(map[string]any{"client_id": "school-enrolment", "use": "auth", "jwk": json.RawMessage(jwk), "reason": "annual rotation"})
		if resp, b := call(t, "POST", env.BaseURL+"/v1/keys", "Bearer "+officer, reg, nil); resp.StatusCode != 200 {
			t.Fatalf("register key: %d %s", resp.StatusCode, b)
		}
		rev, _ := json.Marshal(map[string]any{"kid": "school-enrolment-auth#9", "reason": "laptop stolen"})
		if resp, b := call(t, "POST", env.BaseURL+"/v1/keys/revoke", "Bearer "+officer, rev, nil); resp.StatusCode != 200 {
			t.Fatalf("revoke key: %d %s", resp.StatusCode, b)
		}
		lookup := audit.Entry{Kind: audit.KindQuery, Actor: "security-officer", Role: "officer", Purpose: "audit_investigation",
			Reason: "citizen request 2026-118", Subject: pseudonymOf(t, env, samples.ChildResidentID), Decision: audit.DecisionPermit, Code: "audit_read", Node: node}
		registered := audit.Entry{Kind: audit.KindKeyChange, Actor: "security-officer", Role: "officer", Reason: "annual rotation",
			RecordID: "school-enrolment-auth#9", Decision: audit.DecisionPermit, Code: "key_registered:active", Node: node}
		revoked := audit.Entry{Kind: audit.KindKeyChange, Actor: "security-officer", Role: "officer", Reason: "laptop stolen",
			RecordID: "school-enrolment-auth#9", Decision: audit.DecisionPermit, Code: "key_revoked:revoked", Node: node}
		got := auditedAfter(t, env, before, "officer entries", hasEntry(revoked))
		wantEntries(t, got, lookup, registered, revoked)

		// A reason that names the person instead of the case is refused:
		// it would put an identity number in the permanent log.
		if status, _, raw := auditSubject(t, env, officer, samples.ChildResidentID, "asked by "+samples.GuardianResidentID); status != 400 {
			t.Fatalf("reason holding an identity number: %d %s, want 400", status, raw)
		}
	})

	t.Run("unsigned junk in an ingest topic is unauthenticated", func(t *testing.T) {
		before := len(abuseAuditEntries(t, env))
		// A genuine-looking record claiming public-security, with 64
		// random bytes as its signature, produced with our own writer.
		genuine := signWith(t, env, "public-security", "public-security", "household", findRow(t, env, "household", samples.ChildResidentID), "junk-claims-1")
		jws, rest, _ := strings.Cut(genuine, "~")
		sig := make([]byte, 64)
		_, _ = rand.Read(sig)
		junk := jws[:strings.LastIndexByte(jws, '.')+1] + base64.RawURLEncoding.EncodeToString(sig) + "~" + rest
		tr, err := env.Kafka.Transport()
		if err != nil {
			t.Fatal(err)
		}
		w := &kafka.Writer{Addr: kafka.TCP(env.Kafka.Brokers...), Transport: tr, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := w.WriteMessages(ctx, kafka.Message{Topic: env.Kafka.Names.Ingest("household"), Key: []byte("junk"), Value: []byte(junk)}); err != nil {
			t.Fatal(err)
		}
		want := audit.Entry{Kind: audit.KindReject, Dataset: "household", Decision: audit.DecisionRejected, Code: "bad_signature", Node: node}
		got := auditedAfter(t, env, before, "the junk's reject entry", func(got []audit.Entry) bool {
			for _, g := range got {
				if g.Kind == audit.KindReject {
					return true
				}
			}
			return false
		})
		wantEntries(t, got, want)
		for _, g := range got {
			if g.Kind == audit.KindReject && (g.Actor != "" || g.RecordID != "") {
				t.Errorf("junk audited under %q with record id %q: %s", g.Actor, g.RecordID, g.MarshalCanonical())
			}
		}
	})
}
