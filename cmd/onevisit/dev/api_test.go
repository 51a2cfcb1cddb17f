package dev_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/exchange/api"
	"github.com/onevisit/onevisit/exchange/audit"
	"github.com/onevisit/onevisit/exchange/control"
	"github.com/onevisit/onevisit/exchange/keys"
	"github.com/onevisit/onevisit/exchange/record"
)

// call sends one request and returns the response (body already read)
// and its body. A nil body sends none; token "" sends no Authorization.
func call(t *testing.T, method, url, authz string, body []byte, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp, b
}

// codeOf returns error.code of an API error body, or "".
func codeOf(b []byte) string {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return errCode(m)
}

// routeRoles pins who may call each route. A new route, a route made
// public and a route opened to another role all fail the sweep until they
// are added here, on purpose and in review.
var routeRoles = map[string]string{
	"POST /v1/token":                      "public",
	"GET /v1/datasets":                    "public",
	"GET /v1/keys":                        "public",
	"GET /v1/audit/checkpoint":            "public",
	"GET /v1/audit/verifiers":             "public",
	"GET /v1/audit/proof/inclusion":       "public",
	"GET /v1/audit/proof/consistency":     "public",
	"GET /healthz":                        "public",
	"GET /livez":                          "public",
	"GET /readyz":                         "public",
	"GET /openapi.json":                   "public",
	"POST /v1/query":                      "consumer",
	"POST /v1/datasets/{dataset}/records": "publisher,consent",
	"POST /v1/policy/explain":             "consumer,officer",
	"POST /v1/audit/subject":              "officer",
	"GET /v1/audit/entries":               "officer",
	"GET /v1/audit/rejections":            "officer",
	"POST /v1/keys":                       "officer",
	"POST /v1/keys/revoke":                "officer",
	"POST /v1/policy/events":              "officer",
	"GET /v1/policy/proposals":            "officer",
	"GET /v1/policy/proposals/{id}":       "officer",
	"GET /v1/policy/versions":             "public",
	"POST /v1/cases":                      "consumer",
	"GET /v1/procedures":                  "public",
	"GET /v1/policy/current":              "officer",
	"GET /v1/clients":                     "officer",
	"GET /v1/me/config":                   "public",
	"GET /v1/me/accesses":                 "citizen",
	"POST /v1/me/corrections":             "citizen",
	"GET /v1/me/corrections":              "citizen",
	"POST /v1/clients/events":             "officer",
	"POST /v1/schemas/events":             "officer",
	"GET /v1/schemas":                     "public",
	// Corrections: a consumer files against what it received; the
	// department lists and decides what is routed to it; each sees its own.
	"POST /v1/corrections":      "consumer",
	"GET /v1/corrections":       "publisher,consent",
	"GET /v1/corrections/{id}":  "consumer,publisher,consent",
	"POST /v1/corrections/{id}": "publisher,consent",
}

// roleClients are the dev mode sample clients that hold each role.
var roleClients = map[string]string{
	api.RolePublisher: "public-security",
	api.RoleConsumer:  "school-enrolment",
	api.RoleOfficer:   "security-officer",
	api.RoleConsent:   "consent-service",
}

// TestAuthorizationSweep calls every registered route without a token,
// with a garbage token, with a token of the wrong scheme and with a valid
// token of each role, and checks deny by default: a route not listed as
// public answers 401 without a usable token and 403 to a role it does not
// list, and a public route answers the same whatever token is sent.
//
// The node does not expose its api.Server, so the route table is read
// from a bare api.New: the table is static code, the same for every
// server.
// sweepQuery is the query string the sweep sends to routes that need
// one (the tokens the sweep gets are audited, so the log has entry 0).
var sweepQuery = map[string]string{
	"GET /v1/audit/proof/inclusion":   "?index=0&size=1",
	"GET /v1/audit/proof/consistency": "?from=0&to=1",
	"GET /v1/audit/entries":           "?start=0&end=1",
}

func TestAuthorizationSweep(t *testing.T) {
	env := startDev(t)
	bare, err := api.New(api.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for role, client := range roleClients {
		tokens[role] = token(t, env, client)
	}
	routes := bare.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes registered")
	}
	for _, r := range routes {
		method, pattern, rolesStr := r[0], r[1], r[2]
		key := method + " " + pattern
		roles := strings.Split(rolesStr, ",")
		if rolesStr == "" {
			t.Errorf("%s has no roles", key)
			continue
		}
		want, known := routeRoles[key]
		if !known {
			t.Errorf("%s (roles %q) is not in routeRoles: review who may call it and add it", key, rolesStr)
			continue
		}
		if rolesStr != want {
			t.Errorf("%s: roles %q, pinned %q; a route's exposure changed", key, rolesStr, want)
			continue
		}
		isPublic := slices.Equal(roles, []string{"public"})
		url := env.BaseURL + strings.ReplaceAll(pattern, "{dataset}", "household") + sweepQuery[key]
		var body []byte
		if method == "POST" {
			body = []byte(`{}`)
		}
		t.Run(key, func(t *testing.T) {
			noTok, noTokBody := call(t, method, url, "", body, nil)
			if isPublic {
				if noTok.StatusCode == 401 || noTok.StatusCode == 403 || noTok.StatusCode >= 500 {
					t.Fatalf("public route without a token: %d %s", noTok.StatusCode, noTokBody)
				}
				if method == "GET" && noTok.StatusCode != 200 {
					t.Errorf("public GET without a token: %d, want 200", noTok.StatusCode)
				}
				// Any Authorization header is ignored on public routes.
				for name, authz := range map[string]string{"garbage": "Bearer not.a.token", "basic": "Basic dXNlcjpwYXNz",
					"publisher": "Bearer " + tokens[api.RolePublisher], "consumer": "Bearer " + tokens[api.RoleConsumer], "officer": "Bearer " + tokens[api.RoleOfficer]} {
					resp, b := call(t, method, url, authz, body, nil)
					if resp.StatusCode != noTok.StatusCode {
						t.Errorf("%s Authorization: %d %s, without a token %d", name, resp.StatusCode, b, noTok.StatusCode)
					}
				}
				return
			}
			if noTok.StatusCode != 401 || codeOf(noTokBody) != "unauthenticated" {
				t.Errorf("no token: %d %s, want 401 unauthenticated", noTok.StatusCode, noTokBody)
			}
			if got := noTok.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("no token: WWW-Authenticate %q, want a Bearer challenge", got)
			}
			for _, c := range []struct{ name, authz, code string }{
				{"garbage bearer token", "Bearer not.a.token", "invalid_token"},
				{"empty bearer token", "Bearer ", "unauthenticated"},
				{"basic credentials", "Basic dXNlcjpwYXNz", "unauthenticated"},
				{"token without scheme", tokens[api.RoleOfficer], "unauthenticated"},
				{"lower-case scheme", "bearer " + tokens[api.RoleOfficer], "unauthenticated"},
			} {
				resp, b := call(t, method, url, c.authz, body, nil)
				if resp.StatusCode != 401 || codeOf(b) != c.code {
					t.Errorf("%s: %d %s, want 401 %s", c.name, resp.StatusCode, b, c.code)
				}
			}
			for _, role := range []string{api.RolePublisher, api.RoleConsumer, api.RoleOfficer} {
				resp, b := call(t, method, url, "Bearer "+tokens[role], body, nil)
				code := codeOf(b)
				if slices.Contains(roles, role) {
					if resp.StatusCode == 401 || code == "forbidden" {
						t.Errorf("%s (allowed): %d %s, want the handler's answer", role, resp.StatusCode, b)
					}
					continue
				}
				if resp.StatusCode != 403 || code != "forbidden" {
					t.Errorf("%s (not allowed): %d %s, want 403 forbidden", role, resp.StatusCode, b)
				}
			}
		})
	}

	registered := map[string]bool{}
	for _, r := range routes {
		registered[r[0]+" "+r[1]] = true
	}
	for key := range routeRoles {
		if !registered[key] {
			t.Errorf("%s is pinned in routeRoles but not registered", key)
		}
	}

	// Paths and methods outside the table are not served.
	for _, c := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1/admin", 404},
		{"GET", "/v1/query", 405},
		{"DELETE", "/v1/keys", 405},
		{"PUT", "/v1/datasets/household/records", 405},
		{"GET", "/v1/audit/subject", 405},
	} {
		resp, b := call(t, c.method, env.BaseURL+c.path, "Bearer "+tokens[api.RoleOfficer], nil, nil)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, b, c.status)
		}
	}
}

// answer is a status and a JSON body with the request id removed, for
// golden files.
type answer struct {
	Status int            `json:"status"`
	Body   map[string]any `json:"body"`
}

func stripRequestID(m map[string]any) map[string]any {
	delete(m, "request_id")
	if e, ok := m["error"].(map[string]any); ok {
		if _, ok := e["request_id"].(string); !ok {
			e["request_id"] = "MISSING"
		} else {
			e["request_id"] = "(request id)"
		}
	}
	return m
}

func TestPolicyExplain(t *testing.T) {
	env := startDev(t)
	consumerTok := token(t, env, "school-enrolment")
	officerTok := token(t, env, "security-officer")
	explain := func(tok, consumer, dataset, purpose string) answer {
		body, _ := json.Marshal(map[string]string{"consumer": consumer, "dataset": dataset, "purpose": purpose})
		status, out := post(t, env.BaseURL+"/v1/policy/explain", tok, body)
		return answer{status, stripRequestID(out)}
	}
	tests := []struct {
		name                       string
		tok                        string
		consumer, dataset, purpose string
		wantStatus                 int
		wantDecision               string   // "" for an error answer
		wantFields                 []string // checked on permit
	}{
		{"self-household-permit", consumerTok, "school-enrolment", "household", "school_enrolment", 200, "permit",
			[]string{"address", "birth_date", "household_id", "name", "relation_to_head"}},
		{"self-tax-deny", consumerTok, "school-enrolment", "tax", "school_enrolment", 200, "deny", nil},
		{"self-household-tax-audit-deny", consumerTok, "school-enrolment", "household", "tax_audit", 400, "", nil}, // no policy declares tax_audit
		{"other-consumer-forbidden", consumerTok, "property-transfer", "property", "property_transfer", 403, "", nil},
		{"officer-school-enrolment-household", officerTok, "school-enrolment", "household", "school_enrolment", 200, "permit",
			[]string{"address", "birth_date", "household_id", "name", "relation_to_head"}},
		{"officer-property-transfer-property", officerTok, "property-transfer", "property", "property_transfer", 200, "", nil},
		{"officer-newborn-registration-household", officerTok, "newborn-registration", "household", "newborn_registration", 200, "", nil},
		{"officer-unknown-consumer", officerTok, "no-such-service", "household", "school_enrolment", 200, "deny", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := explain(tt.tok, tt.consumer, tt.dataset, tt.purpose)
			if got.Status != tt.wantStatus {
				t.Fatalf("status %d %v, want %d", got.Status, got.Body, tt.wantStatus)
			}
			if tt.wantStatus == 403 && errCode(got.Body) != "forbidden" {
				t.Fatalf("code %q, want forbidden", errCode(got.Body))
			}
			if tt.wantDecision != "" && got.Body["decision"] != tt.wantDecision {
				t.Fatalf("decision %v, want %s", got.Body["decision"], tt.wantDecision)
			}
			if tt.wantDecision == "permit" {
				var fields []string
				for _, f := range got.Body["fields"].([]any) {
					fields = append(fields, f.(string))
				}
				if !slices.Equal(fields, tt.wantFields) {
					t.Fatalf("fields %v, want exactly %v", fields, tt.wantFields)
				}
			}
			testkit.GoldenJSON(t, filepath.Join("testdata", "explain", tt.name+".json"), got)
		})
	}
}

func TestKeyDirectory(t *testing.T) {
	env := startDev(t)
	resp, body := call(t, "GET", env.BaseURL+"/v1/keys", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /v1/keys: %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Errorf("Content-Type %q, want application/jwk-set+json", ct)
	}
	// No private or secret member anywhere, at any depth.
	var generic any
	if err := json.Unmarshal(body, &generic); err != nil {
		t.Fatal(err)
	}
	if path := findMember(generic, "", "d", "k", "p", "q", "dp", "dq", "qi"); path != "" {
		t.Fatalf("JWKS carries private key material at %s", path)
	}
	ks, err := keys.ParseJWKS(body)
	if err != nil {
		t.Fatalf("the JWKS does not parse strictly: %v", err)
	}
	type entry struct {
		Owner  string
		Use    keys.Use
		Status keys.Status
	}
	got := map[string]entry{}
	for _, k := range ks {
		got[k.KID] = entry{k.Owner, k.Use, k.Status}
	}
	want := map[string]entry{}
	for _, sc := range dev.SampleClients {
		cred, err := env.Credentials(sc.ID)
		if err != nil {
			t.Fatal(err)
		}
		kid, _, err := connectors.PublicKey(cred.AuthKey)
		if err != nil {
			t.Fatal(err)
		}
		want[kid] = entry{sc.ID, keys.UseAuth, keys.Active}
		if sc.Role == "publisher" || sc.Role == "consent" {
			kid, _, err := connectors.PublicKey(cred.SigningKey)
			if err != nil {
				t.Fatal(err)
			}
			want[kid] = entry{sc.ID, keys.UseRecord, keys.Active}
		}
	}
	// The exchange's own keys: one active token, receipt and audit key,
	// and nothing else (the pseudonym key is a secret and never listed).
	exchangeUses := map[keys.Use]int{}
	for kid, e := range got {
		if e.Owner != keys.OwnerExchange {
			continue
		}
		exchangeUses[e.Use]++
		want[kid] = entry{keys.OwnerExchange, e.Use, keys.Active}
	}
	wantUses := map[keys.Use]int{keys.UseToken: 1, keys.UseReceipt: 1, keys.UseAudit: 1}
	if fmt.Sprint(exchangeUses) != fmt.Sprint(wantUses) {
		t.Errorf("exchange keys by use %v, want %v", exchangeUses, wantUses)
	}
	for kid, w := range want {
		if g, ok := got[kid]; !ok {
			t.Errorf("key %s (%s %s) is not listed", kid, w.Owner, w.Use)
		} else if g != w {
			t.Errorf("key %s = %+v, want %+v", kid, g, w)
		}
	}
	for kid, g := range got {
		if _, ok := want[kid]; !ok {
			t.Errorf("unexpected key %s %+v", kid, g)
		}
	}
}

// findMember returns the JSON path of the first object member named one
// of names, or "".
func findMember(v any, at string, names ...string) string {
	switch x := v.(type) {
	case map[string]any:
		for k, vv := range x {
			if slices.Contains(names, k) {
				return at + "/" + k
			}
			if p := findMember(vv, at+"/"+k, names...); p != "" {
				return p
			}
		}
	case []any:
		for i, vv := range x {
			if p := findMember(vv, fmt.Sprintf("%s/%d", at, i), names...); p != "" {
				return p
			}
		}
	}
	return ""
}

func TestHealthz(t *testing.T) {
	env := startDev(t)
	resp, body := call(t, "GET", env.BaseURL+"/healthz", "", nil, nil)
	var got map[string]string
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("healthz body %q: %v", body, err)
	}
	want := map[string]string{"status": "ok", "node": "dev-1", "policy_version": "1"}
	if resp.StatusCode != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("healthz: %d %v, want 200 %v", resp.StatusCode, got, want)
	}
}

// sampleResidentIDs lists every resident identity number in the sample
// CSVs.
func sampleResidentIDs(t *testing.T, env *dev.Env) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, ds := range []string{"household", "tax", "property"} {
		for _, it := range sampleRows(t, env, ds) {
			seen[it.Fields["resident_id"].(string)] = true
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if len(ids) < 2 || !seen[samples.ChildResidentID] || !seen[samples.GuardianResidentID] {
		t.Fatalf("sample identity numbers %v lack the walkthrough's", ids)
	}
	return ids
}

// residentIDLike finds an 18-character identity number standing alone
// (not inside a longer run of letters and digits, such as a hex digest).
var residentIDLike = regexp.MustCompile(`(?:^|[^0-9A-Za-z])([0-9]{17}[0-9X])(?:[^0-9A-Za-z]|$)`)

// metricLine is name{labels} value.
var (
	metricLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

type series struct {
	name   string
	labels map[string]string
}

func parseMetrics(t *testing.T, text string) []series {
	t.Helper()
	var out []series
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m := metricLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("unparseable metrics line %q", line)
		}
		s := series{name: m[1], labels: map[string]string{}}
		for _, p := range labelPair.FindAllStringSubmatch(m[2], -1) {
			s.labels[p[1]] = p[2]
		}
		out = append(out, s)
	}
	return out
}

func TestMetrics(t *testing.T) {
	env := startDev(t)
	child := findRow(t, env, "household", samples.ChildResidentID)
	pubTok := token(t, env, "public-security")
	consumerTok := token(t, env, "school-enrolment")
	rec := signWith(t, env, "public-security", "public-security", "household", child, "metrics-rec-1")
	body, _ := json.Marshal(map[string]any{"records": []string{rec}})
	if status, out := post(t, env.BaseURL+"/v1/datasets/household/records", pubTok, body); status != 200 || out["accepted"] != float64(1) {
		t.Fatalf("publish: %d %v", status, out)
	}
	q := `{"dataset":"household","subject":"` + samples.ChildResidentID + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`
	if status, out := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(q)); status != 200 {
		t.Fatalf("query: %d %v", status, out)
	}
	denied := `{"dataset":"tax","subject":"` + samples.GuardianResidentID + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`
	if status, out := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(denied)); status != 403 {
		t.Fatalf("denied query: %d %v", status, out)
	}

	resp, raw := call(t, "GET", env.BaseURL+"/metrics", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	text := string(raw)
	all := parseMetrics(t, text)
	has := func(name string, labels map[string]string) bool {
		for _, s := range all {
			if s.name != name {
				continue
			}
			ok := true
			for k, v := range labels {
				if s.labels[k] != v {
					ok = false
				}
			}
			if ok {
				return true
			}
		}
		return false
	}
	wants := []struct {
		name   string
		labels map[string]string
	}{
		{"onevisit_ingest_records_total", map[string]string{"dataset": "household", "result": "accepted"}},
		{"onevisit_ingest_verify_seconds_count", nil},
		{"onevisit_query_seconds_count", map[string]string{"decision": "permit"}},
		{"onevisit_query_seconds_count", map[string]string{"decision": "deny"}},
		{"onevisit_policy_decisions_total", map[string]string{"dataset": "household", "decision": "permit"}},
		{"onevisit_policy_decisions_total", map[string]string{"dataset": "tax", "decision": "deny"}},
		{"onevisit_ingest_consumer_lag", nil},
		{"onevisit_api_requests_total", map[string]string{"route": "/v1/query", "code": "ok"}},
		{"onevisit_api_requests_total", map[string]string{"route": "/v1/query", "code": "denied"}},
		{"onevisit_api_requests_total", map[string]string{"route": "/v1/datasets/{dataset}/records", "code": "ok"}},
	}
	for _, w := range wants {
		if !has(w.name, w.labels) {
			t.Errorf("/metrics has no %s%v", w.name, w.labels)
		}
	}

	// Nothing in the metrics names a person, a token or a record.
	secrets := map[string]string{"publisher token": pubTok, "consumer token": consumerTok, "record id": "metrics-rec-1"}
	for _, id := range sampleResidentIDs(t, env) {
		secrets["resident id "+id[:6]+"…"] = id
		secrets["pseudonym of "+id[:6]+"…"] = pseudonymOf(t, env, id)
	}
	for what, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("/metrics contains a %s", what)
		}
	}
	for _, s := range all {
		for k, v := range s.labels {
			if residentIDLike.MatchString(v) {
				t.Errorf("%s label %s looks like an identity number", s.name, k)
			}
		}
	}
}

// auditItem is one answer item of POST /v1/audit/subject.
type auditItem struct {
	Index uint64          `json:"index"`
	Entry json.RawMessage `json:"entry"`
}

func auditSubject(t *testing.T, env *dev.Env, tok, subject, reason string) (int, []audit.Entry, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"subject": subject, "reason": reason})
	resp, raw := call(t, "POST", env.BaseURL+"/v1/audit/subject", "Bearer "+tok, body, nil)
	if resp.StatusCode != 200 {
		return resp.StatusCode, nil, raw
	}
	var out struct {
		Entries []auditItem `json:"entries"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	var es []audit.Entry
	for _, it := range out.Entries {
		e, err := audit.ParseEntry(it.Entry)
		if err != nil {
			t.Fatalf("entry %d does not parse: %v", it.Index, err)
		}
		es = append(es, e)
	}
	return resp.StatusCode, es, raw
}

// publishSampleHousehold publishes the sample household records over HTTP
// as public security, and waits for the answers.
func publishSampleHousehold(t *testing.T, env *dev.Env) {
	t.Helper()
	ctx := context.Background()
	p, done, err := env.Publisher("public-security", "household", "http")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Publish(ctx, sampleRows(t, env, "household")); err != nil {
		t.Fatal(err)
	}
	done()
}

func TestAuditTrail(t *testing.T) {
	env := startDev(t)
	publishSampleHousehold(t, env)
	consumerTok := token(t, env, "school-enrolment")
	officerTok := token(t, env, "security-officer")
	subject := samples.ChildResidentID
	pseud := pseudonymOf(t, env, subject)

	permitQ := `{"dataset":"household","subject":"` + subject + `","purpose":"school_enrolment","case_id":"SE-2026-0007"}`
	status, permitOut := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(permitQ))
	if status != 200 {
		t.Fatalf("permitted query: %d %v", status, permitOut)
	}
	denyQ := `{"dataset":"household","subject":"` + subject + `","purpose":"property_transfer","case_id":"PT-2026-0007"}`
	status, denyOut := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(denyQ))
	if status != 403 {
		t.Fatalf("denied query: %d %v", status, denyOut)
	}
	// No waiting here: both entries were durably written before their
	// answers, so the officer's lookup below must list them (read your
	// writes) however far behind this node's tail of the audit topic is.

	if status, _, raw := auditSubject(t, env, consumerTok, subject, "curious"); status != 403 || codeOf(raw) != "forbidden" {
		t.Fatalf("consumer audit lookup: %d %s, want 403 forbidden", status, raw)
	}
	if status, _, raw := auditSubject(t, env, officerTok, subject, ""); status != 400 || codeOf(raw) != "missing_field" {
		t.Fatalf("lookup without a reason: %d %s, want 400 missing_field", status, raw)
	}

	status, entries, raw := auditSubject(t, env, officerTok, subject, "citizen asked who read the household record")
	if status != 200 {
		t.Fatalf("officer audit lookup: %d %s", status, raw)
	}
	type summary struct {
		Actor, Dataset, Purpose, CaseID, Decision, Code, RequestID string
		Fields                                                     string
	}
	sum := func(e audit.Entry) summary {
		return summary{e.Actor, e.Dataset, e.Purpose, e.CaseID, string(e.Decision), e.Code, e.RequestID, strings.Join(e.Fields, ",")}
	}
	var got []summary
	for _, e := range entries {
		if e.Subject != pseud {
			t.Errorf("entry about %q listed for the child", e.Subject)
		}
		if e.Kind == audit.KindQuery && e.Code != "audit_read" {
			got = append(got, sum(e))
		}
	}
	want := []summary{
		{"school-enrolment", "household", "school_enrolment", "SE-2026-0007", "permit", "", permitOut["request_id"].(string), "address,birth_date,household_id,name,relation_to_head,resident_id"},
		{"school-enrolment", "household", "property_transfer", "PT-2026-0007", "deny", "purpose_not_allowed", errRequestID(denyOut), ""},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("query entries for the child:\ngot  %+v\nwant %+v", got, want)
	}

	// The lookup itself is audited, under the officer's name, and its own
	// entry is in its answer.
	own := 0
	for _, e := range entries {
		if e.Actor == "security-officer" && e.Code == "audit_read" && e.Purpose == "audit_investigation" {
			own++
		}
	}
	if own != 1 {
		t.Errorf("officer lookup lists %d entries of its own, want 1", own)
	}

	// The checkpoint verifies against the node's key directory and
	// commits to the node's log.
	before := env.Node.AuditLog().Size()
	resp, cpBody := call(t, "GET", env.BaseURL+"/v1/audit/checkpoint", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("checkpoint: %d %s", resp.StatusCode, cpBody)
	}
	cp, err := audit.VerifyCheckpoint(string(cpBody), env.Node.Directory())
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	after := env.Node.AuditLog().Size()
	if cp.Size < before || cp.Size > after {
		t.Fatalf("checkpoint size %d, log had %d before and %d after", cp.Size, before, after)
	}
	root, err := env.Node.AuditLog().Root(cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(root, cp.Root) {
		t.Fatalf("checkpoint root %x, log root at size %d is %x", cp.Root, cp.Size, root)
	}

	// No audit entry, of any kind, carries an identity number.
	rawEntries, err := env.Node.AuditLog().Entries(0, env.Node.AuditLog().Size())
	if err != nil {
		t.Fatal(err)
	}
	ids := sampleResidentIDs(t, env)
	for i, e := range rawEntries {
		for _, id := range ids {
			if bytes.Contains(e, []byte(id)) {
				t.Errorf("audit entry %d contains a sample identity number", i)
			}
		}
		if residentIDLike.Match(e) {
			t.Errorf("audit entry %d contains something shaped like an identity number", i)
		}
	}
}

func errRequestID(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	id, _ := e["request_id"].(string)
	return id
}

// TestRequestLimits pins the publish batch and body limits and the
// Content-Type decision.
//
// Content-Type: the API parses every JSON body as JSON whatever its
// Content-Type says (missing, text/plain, form). That is deliberate and
// safe: every JSON route needs a bearer token in the Authorization
// header, which a browser never adds to a cross-site form post, so a
// lenient Content-Type opens no CSRF path; the strict decoder still
// refuses anything that is not exactly the expected JSON.
func TestRequestLimits(t *testing.T) {
	env := startDev(t)
	pubTok := token(t, env, "public-security")
	consumerTok := token(t, env, "school-enrolment")
	publishURL := env.BaseURL + "/v1/datasets/household/records"
	batch := func(n int) []byte {
		recs := make([]string, n)
		for i := range recs {
			recs[i] = "garbage~"
		}
		b, _ := json.Marshal(map[string]any{"records": recs})
		return b
	}

	t.Run("batch sizes", func(t *testing.T) {
		tests := []struct {
			name       string
			n          int
			wantStatus int
			wantCode   string
		}{
			{"empty batch", 0, 400, "bad_request"},
			{"one over the limit", api.MaxBatch + 1, 400, "bad_request"},
			{"at the limit", api.MaxBatch, 200, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				status, out := post(t, publishURL, pubTok, batch(tt.n))
				if status != tt.wantStatus || errCode(out) != tt.wantCode {
					t.Fatalf("%d records: %d %s, want %d %q", tt.n, status, errCode(out), tt.wantStatus, tt.wantCode)
				}
				if status == 200 && (out["rejected"] != float64(tt.n) || len(out["results"].([]any)) != tt.n) {
					t.Fatalf("%d garbage records: rejected %v, results %d", tt.n, out["rejected"], len(out["results"].([]any)))
				}
			})
		}
	})

	t.Run("bodies over the limit", func(t *testing.T) {
		child := samples.ChildResidentID
		tests := []struct {
			name, url, tok string
			size           int64
		}{
			// publishBodyLimit is 64 MiB; the reader streams the body.
			{"publish", publishURL, pubTok, 64<<20 + 1},
		}
		// Every other POST route but the token endpoint takes at most
		// 16 KiB (queryBodyLimit); each is called with a role it allows.
		bare, err := api.New(api.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range bare.Routes() {
			if r[0] != "POST" || r[1] == "/v1/token" || strings.Contains(r[1], "{dataset}") {
				continue
			}
			role, _, _ := strings.Cut(r[2], ",")
			size := int64(16<<10 + 1)
			if strings.HasSuffix(r[1], "/events") { // control events: a whole policy set
				size = control.MaxEventSize + 1024 + 1
			}
			if r[1] == "/v1/corrections" { // a received record and its receipt
				size = record.MaxSize + 64<<10 + 1
			}
			tok := ""
			if role == api.RoleCitizen { // a resident's ID token, from dev mode's sign-in provider
				if tok, err = env.CitizenToken(child); err != nil {
					t.Fatal(err)
				}
			} else {
				tok = token(t, env, roleClients[role])
			}
			tests = append(tests, struct {
				name, url, tok string
				size           int64
			}{r[1], env.BaseURL + r[1], tok, size})
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				prefix := `{"dataset":"household","subject":"` + child + `","purpose":"`
				rd := io.MultiReader(strings.NewReader(prefix), io.LimitReader(aReader{}, tt.size-int64(len(prefix))))
				req, _ := http.NewRequest("POST", tt.url, rd)
				req.ContentLength = tt.size
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tt.tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("the server closed the connection instead of answering: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 413 || codeOf(b) != "body_too_large" {
					t.Fatalf("%d-byte body: %d %s, want 413 body_too_large", tt.size, resp.StatusCode, b)
				}
			})
		}
	})

	t.Run("content type is not checked", func(t *testing.T) {
		p, done, err := env.Publisher("public-security", "household", "http")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := p.Publish(context.Background(), []connectors.Item{{Fields: findRow(t, env, "household", samples.ChildResidentID)}}); err != nil {
			t.Fatal(err)
		}
		done()
		q := []byte(`{"dataset":"household","subject":"` + samples.ChildResidentID + `","purpose":"school_enrolment","case_id":"SE-2026-0009"}`)
		for _, ct := range []string{"application/json", "text/plain", "application/x-www-form-urlencoded", ""} {
			resp, b := call(t, "POST", env.BaseURL+"/v1/query", "Bearer "+consumerTok, q, map[string]string{"Content-Type": ct})
			if resp.StatusCode != 200 {
				t.Errorf("Content-Type %q: %d %s, want 200", ct, resp.StatusCode, b)
			}
		}
	})
}

// aReader yields the letter a forever.
type aReader struct{}

var aBlock = bytes.Repeat([]byte{'a'}, 64<<10)

func (aReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		n += copy(p[n:], aBlock)
	}
	return n, nil
}

// TestAuditLookupReadsItsWrites: an officer's lookup lists every access
// answered before it, at once, however far behind the node's tail of the
// audit topic is (issue: the lookup listed the node's in-memory copy and
// missed entries durably written just before it).
func TestAuditLookupReadsItsWrites(t *testing.T) {
	env := startDev(t)
	publishSampleHousehold(t, env)
	consumerTok := token(t, env, "school-enrolment")
	officerTok := token(t, env, "security-officer")
	subject := samples.ChildResidentID
	for i := range 10 {
		q := fmt.Sprintf(`{"dataset":"household","subject":"%s","purpose":"property_transfer","case_id":"PT-2026-%04d"}`, subject, i)
		status, out := post(t, env.BaseURL+"/v1/query", consumerTok, []byte(q))
		if status != 403 {
			t.Fatalf("round %d: denied query: %d %v", i, status, out)
		}
		rid := errRequestID(out)
		status, entries, raw := auditSubject(t, env, officerTok, subject, "read-your-writes check")
		if status != 200 {
			t.Fatalf("round %d: officer lookup: %d %s", i, status, raw)
		}
		found := false
		for _, e := range entries {
			found = found || (e.RequestID == rid && e.Decision == audit.DecisionDeny)
		}
		if !found {
			t.Fatalf("round %d: the denial answered just before the lookup (request %s) is not in its answer", i, rid)
		}
	}
}
