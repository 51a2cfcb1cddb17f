package dev_test

import "testing"

// TestAttackRequestsOutsideTheSpec: bodies and parameters /openapi.json
// does not allow, sent as plain HTTP by a caller with a valid token, are
// refused 400 (404 for a dataset the registry does not have) with the code
// and pointer of the field, before any record or policy is touched: the
// server obeys its document (exchange/api/spec.go).
func TestAttackRequestsOutsideTheSpec(t *testing.T) {
	env := startDev(t)
	publisher := token(t, env, "public-security")
	consumer := token(t, env, "school-enrolment")
	officer := token(t, env, "security-officer")
	tests := []struct {
		name, method, path, token, body string
		wantStatus                      int
		wantCode, wantPointer           string
	}{
		{"publish a null record", "POST", "/v1/datasets/household/records", publisher, `{"records":[null]}`, 400, "request_schema", "/records/0"},
		{"publish an empty record", "POST", "/v1/datasets/household/records", publisher, `{"records":[""]}`, 400, "missing_field", "/records/0"},
		{"publish a number", "POST", "/v1/datasets/household/records", publisher, `{"records":[7]}`, 400, "request_schema", "/records/0"},
		{"query an empty subject", "POST", "/v1/query", consumer, `{"dataset":"household","subject":"","purpose":"school_enrolment"}`, 400, "missing_field", "/subject"},
		{"query an empty purpose", "POST", "/v1/query", consumer, `{"dataset":"household","subject":"330106202003080153","purpose":""}`, 400, "missing_field", "/purpose"},
		{"query a subject of letters", "POST", "/v1/query", consumer, `{"dataset":"household","subject":"ABCDEFGHIJKLMNOPQR","purpose":"school_enrolment"}`, 400, "invalid_subject", "/subject"},
		{"explain an empty consumer", "POST", "/v1/policy/explain", consumer, `{"consumer":"","dataset":"household","purpose":"school_enrolment"}`, 400, "missing_field", "/consumer"},
		{"revoke at a time that is no time", "POST", "/v1/keys/revoke", officer, `{"kid":"public-security-record#1","reason":"lost laptop","revoked_at":"soon"}`, 400, "request_schema", "/revoked_at"},
		{"register a key for an unknown use", "POST", "/v1/keys", officer, `{"client_id":"public-security","use":"token","jwk":{},"reason":"new laptop"}`, 400, "request_schema", "/use"},
		{"audit page of letters", "GET", "/v1/audit/entries?start=a&end=b", officer, "", 400, "bad_range", "/start"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			// No Content-Type: the server checks a body as the media type
			// the operation declares, whatever the caller sent.
			resp, b := call(t, tt.method, env.BaseURL+tt.path, "Bearer "+tt.token, body, map[string]string{"Content-Type": ""})
			e := decodeAPIError(t, b)
			got := [3]any{resp.StatusCode, e.Error.Code, e.Error.Pointer}
			if want := [3]any{tt.wantStatus, tt.wantCode, tt.wantPointer}; got != want {
				t.Fatalf("got %v, want %v (body %s)", got, want, b)
			}
		})
	}
}
