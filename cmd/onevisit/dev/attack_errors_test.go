package dev_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
)

// apiError is the JSON error shape every error answer has.
type apiError struct {
	Error struct {
		Code      string `json:"code"`
		Message   string `json:"message"`
		Pointer   string `json:"pointer"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

func decodeAPIError(t *testing.T, b []byte) apiError {
	t.Helper()
	var e apiError
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body is not the JSON error shape: %v: %q", err, b)
	}
	if e.Error.Code == "" || e.Error.Message == "" || e.Error.RequestID == "" {
		t.Fatalf("error body lacks code, message or request id: %s", b)
	}
	return e
}

// TestAttackErrorsNameFieldAndCause: a new user's mistakes, sent as plain
// HTTP, each get a code naming the cause and a pointer naming the field,
// never a bare "the request is malformed" or a policy denial.
func TestAttackErrorsNameFieldAndCause(t *testing.T) {
	env := startDev(t)
	consumer := "Bearer " + token(t, env, "school-enrolment")
	officer := "Bearer " + token(t, env, "security-officer")
	publisher := "Bearer " + token(t, env, "public-security")
	child := samples.ChildResidentID
	wrongCheck := child[:17] + "0" // the child's check character is 3
	q := func(fields map[string]string) []byte { b, _ := json.Marshal(fields); return b }
	jwk := func(kid string) json.RawMessage {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		b, _ := json.Marshal(map[string]string{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pub), "kid": kid})
		return b
	}
	register := func(kid, reason string) []byte {
		b, _ := json.Marshal(map[string]any{"client_id": "public-security", "use": "record", "jwk": jwk(kid), "reason": reason})
		return b
	}
	tests := []struct {
		name, path, authz string
		body              []byte
		wantStatus        int
		wantCode          string
		wantPointer       string
	}{
		{"query without subject", "/v1/query", consumer, q(map[string]string{"dataset": "household", "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 400, "missing_field", "/subject"},
		{"query without dataset", "/v1/query", consumer, q(map[string]string{"subject": child, "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 400, "missing_field", "/dataset"},
		{"query without purpose", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "case_id": "SE-2026-0001"}), 400, "missing_field", "/purpose"},
		{"query, wrong check character", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": wrongCheck, "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 400, "bad_check_character", "/subject"},
		{"query, lowercase x", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": "11010519491231002x", "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 400, "lowercase_check_character", "/subject"},
		{"query, seventeen digits", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child[:17], "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 400, "invalid_subject", "/subject"},
		{"query, purpose typo", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrollment", "case_id": "SE-2026-0001"}), 400, "unknown_purpose", "/purpose"},
		{"query, purpose is free text", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": strings.Repeat("because ", 1000), "case_id": "SE-2026-0001"}), 400, "unknown_purpose", "/purpose"},
		{"query, unknown dataset", "/v1/query", consumer, q(map[string]string{"dataset": "fishing_licence", "subject": child, "purpose": "school_enrolment", "case_id": "SE-2026-0001"}), 404, "unknown_dataset", "/dataset"},
		{"query, case id is an identity number", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrolment", "case_id": samples.GuardianResidentID}), 400, "bad_case_id", "/case_id"},
		{"query, case id with id: prefix", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrolment", "case_id": "id:" + samples.GuardianResidentID}), 400, "bad_case_id", "/case_id"},
		{"query, case id carries a credit code", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrolment", "case_id": "SE-91330100MA2H1K3L0B"}), 400, "bad_case_id", "/case_id"},
		{"query, case id too long", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrolment", "case_id": strings.Repeat("C", 65)}), 400, "bad_case_id", "/case_id"},
		{"query, case id with a newline", "/v1/query", consumer, q(map[string]string{"dataset": "household", "subject": child, "purpose": "school_enrolment", "case_id": "SE-2026-0001\nforged log line"}), 400, "bad_case_id", "/case_id"},
		{"audit lookup without reason", "/v1/audit/subject", officer, q(map[string]string{"subject": child}), 400, "missing_field", "/reason"},
		{"audit lookup without subject", "/v1/audit/subject", officer, q(map[string]string{"reason": "citizen request 2026-118"}), 400, "missing_field", "/subject"},
		{"audit lookup, wrong check character", "/v1/audit/subject", officer, q(map[string]string{"subject": wrongCheck, "reason": "citizen request 2026-118"}), 400, "bad_check_character", "/subject"},
		{"key registration without reason", "/v1/keys", officer, register("public-security-record#7", ""), 400, "missing_field", "/reason"},
		{"key registration, kid carries an identity number", "/v1/keys", officer, register("public-security-"+child+"#7", "annual rotation"), 400, "bad_request", "/jwk/kid"},
		{"revocation without reason", "/v1/keys/revoke", officer, q(map[string]string{"kid": "public-security-record#1"}), 400, "missing_field", "/reason"},
		{"query, a field the query does not take", "/v1/query", consumer, []byte(`{"dataset":"household","subject":"` + child + `","purpose":"school_enrolment","case_id":"SE-2026-0001","fields":["ethnicity"]}`), 400, "unknown_field", "/fields"},
		{"publish, no records", "/v1/datasets/household/records", publisher, []byte(`{"records":[]}`), 400, "bad_request", "/records"},
		{"explain without purpose", "/v1/policy/explain", consumer, q(map[string]string{"consumer": "school-enrolment", "dataset": "household"}), 400, "missing_field", "/purpose"},
		{"explain, purpose typo", "/v1/policy/explain", consumer, q(map[string]string{"consumer": "school-enrolment", "dataset": "household", "purpose": "school_enrollment"}), 400, "unknown_purpose", "/purpose"},
		{"explain, unknown dataset", "/v1/policy/explain", consumer, q(map[string]string{"consumer": "school-enrolment", "dataset": "fishing_licence", "purpose": "school_enrolment"}), 404, "unknown_dataset", "/dataset"},
		{"explain, bad case id", "/v1/policy/explain", consumer, q(map[string]string{"consumer": "school-enrolment", "dataset": "household", "purpose": "school_enrolment", "case_id": child}), 400, "bad_case_id", "/case_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := call(t, "POST", env.BaseURL+tt.path, tt.authz, tt.body, nil)
			e := decodeAPIError(t, b)
			got := [3]any{resp.StatusCode, e.Error.Code, e.Error.Pointer}
			if want := [3]any{tt.wantStatus, tt.wantCode, tt.wantPointer}; got != want {
				t.Fatalf("got %v, want %v (body %s)", got, want, b)
			}
		})
	}

	// The refusals about the child are audited, but what failed its check
	// (free-text purpose, a case id carrying an identity number) is not
	// written to the permanent log.
	pseud := pseudonymOf(t, env, child)
	waitFor(t, "the refused queries' audit entries", func() bool {
		n := 0
		for _, e := range env.Node.AuditLog().BySubject(pseud) {
			if e.Entry.Code == "unknown_purpose" || e.Entry.Code == "bad_case_id" {
				n++
			}
		}
		return n >= 7
	})
	for _, ie := range env.Node.AuditLog().BySubject(pseud) {
		e := ie.Entry
		switch e.Code {
		case "unknown_purpose":
			if e.Purpose != "" || e.Decision != audit.DecisionDeny {
				t.Errorf("entry %d: unknown purpose recorded as %q (%s)", ie.Index, e.Purpose, e.Decision)
			}
		case "bad_case_id":
			if e.CaseID != "" || e.Purpose != "school_enrolment" {
				t.Errorf("entry %d: bad case id recorded as %q, purpose %q", ie.Index, e.CaseID, e.Purpose)
			}
		}
	}
}

// TestAttackUnmatchedRoutesAnswerJSON: a wrong path or method gets the
// JSON error shape (not net/http's plain text), an Allow header on 405,
// and is counted in the request metric under a bounded route label.
func TestAttackUnmatchedRoutesAnswerJSON(t *testing.T) {
	env := startDev(t)
	tests := []struct {
		name, method, path  string
		wantStatus          int
		wantCode, wantAllow string
	}{
		{"unknown path", "GET", "/v1/nothing-here", 404, "no_route", ""},
		{"unknown path with an identity number", "GET", "/v1/people/" + samples.ChildResidentID, 404, "no_route", ""},
		{"GET on a POST route", "GET", "/v1/query", 405, "method_not_allowed", "POST"},
		{"DELETE on the key directory", "DELETE", "/v1/keys", 405, "method_not_allowed", "GET, POST, HEAD"},
		{"PUT on a wildcard route", "PUT", "/v1/datasets/household/records", 405, "method_not_allowed", "POST"},
		{"POST on metrics", "POST", "/metrics", 405, "method_not_allowed", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := call(t, tt.method, env.BaseURL+tt.path, "", []byte(`{}`), nil)
			e := decodeAPIError(t, b)
			if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode || resp.Header.Get("Allow") != tt.wantAllow {
				t.Fatalf("got %d %s Allow %q, want %d %s Allow %q", resp.StatusCode, e.Error.Code, resp.Header.Get("Allow"), tt.wantStatus, tt.wantCode, tt.wantAllow)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if resp.Header.Get("X-Request-Id") != e.Error.RequestID {
				t.Fatalf("X-Request-Id %q, body request id %q", resp.Header.Get("X-Request-Id"), e.Error.RequestID)
			}
		})
	}
	resp, b := call(t, "GET", env.BaseURL+"/metrics", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	counted := map[[2]string]bool{}
	for _, s := range parseMetrics(t, string(b)) {
		if s.name == "onevisit_api_requests_total" {
			counted[[2]string{s.labels["route"], s.labels["code"]}] = true
			if strings.Contains(s.labels["route"], samples.ChildResidentID) {
				t.Errorf("a raw path became a route label: %v", s.labels)
			}
		}
	}
	for _, want := range [][2]string{
		{"unmatched", "no_route"},
		{"/v1/query", "method_not_allowed"},
		{"/v1/keys", "method_not_allowed"},
		{"/v1/datasets/{dataset}/records", "method_not_allowed"},
		{"/metrics", "method_not_allowed"},
	} {
		if !counted[want] {
			t.Errorf("onevisit_api_requests_total has no series route=%q code=%q", want[0], want[1])
		}
	}
}

// TestAttackExplainMatchesQuery: explain reports every condition the query
// enforces. Where a policy requires a case id, explain without one says so,
// and the same query without one is refused with that code.
func TestAttackExplainMatchesQuery(t *testing.T) {
	env := startDev(t)
	consumer := "Bearer " + token(t, env, "school-enrolment")
	tests := []struct {
		name, dataset, purpose string
		wantDecision           string
		wantConditions         []string
		wantQueryCode          string // of the query without a case id
	}{
		{"case id required", "household", "school_enrolment", "permit", []string{"case_id_required", "bad_case_id"}, "case_id_required"},
		{"purpose not allowed", "household", "property_transfer", "deny", []string{}, "purpose_not_allowed"},
		{"dataset not allowed", "tax", "school_enrolment", "deny", []string{}, "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]string{"consumer": "school-enrolment", "dataset": tt.dataset, "purpose": tt.purpose})
			resp, b := call(t, "POST", env.BaseURL+"/v1/policy/explain", consumer, body, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("explain: %d %s", resp.StatusCode, b)
			}
			var ex struct {
				Decision   string   `json:"decision"`
				Conditions []string `json:"conditions"`
				Reasons    []string `json:"reasons"`
			}
			if err := json.Unmarshal(b, &ex); err != nil {
				t.Fatal(err)
			}
			if ex.Decision != tt.wantDecision || strings.Join(ex.Conditions, ",") != strings.Join(tt.wantConditions, ",") || ex.Conditions == nil {
				t.Fatalf("explain: decision %s conditions %v, want %s %v (%s)", ex.Decision, ex.Conditions, tt.wantDecision, tt.wantConditions, b)
			}
			body, _ = json.Marshal(map[string]string{"dataset": tt.dataset, "subject": samples.ChildResidentID, "purpose": tt.purpose})
			resp, b = call(t, "POST", env.BaseURL+"/v1/query", consumer, body, nil)
			if got := codeOf(b); resp.StatusCode != 403 || got != tt.wantQueryCode {
				t.Fatalf("query without a case id: %d %s, want 403 %s", resp.StatusCode, got, tt.wantQueryCode)
			}
		})
	}
}
