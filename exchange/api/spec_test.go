package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onevisit/onevisit/exchange/codes"
	"github.com/onevisit/onevisit/exchange/wire"
	"github.com/onevisit/onevisit/schemas"
)

const (
	specSubject = "330106202003080153"
	formOK      = "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"
)

// TestSpecChecksRequests runs requests through the two checks every route
// applies (checkParams in handle, checkBody after the strict decode) and
// compares the refusal's code and pointer: each names the field and the
// code of the route check it stands for, and a request the document
// allows passes.
func TestSpecChecksRequests(t *testing.T) {
	long := strings.Repeat("a", 65)
	tests := []struct {
		name, method, target, body, mediaType string
		wantErr                               error
		wantPointer                           string
	}{
		{"query allowed", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`, "", nil, ""},
		{"query without case id", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment"}`, "", nil, ""},
		{"query empty case id (no case id)", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment","case_id":""}`, "", nil, ""},
		{"query without subject", "POST", "/v1/query", `{"dataset":"household","purpose":"school_enrolment"}`, "", codes.ErrMissingField, "/subject"},
		{"query empty subject", "POST", "/v1/query", `{"dataset":"household","subject":"","purpose":"school_enrolment"}`, "", codes.ErrMissingField, "/subject"},
		{"query empty dataset (enum first)", "POST", "/v1/query", `{"dataset":"","subject":"` + specSubject + `","purpose":"school_enrolment"}`, "", codes.ErrUnknownDataset, "/dataset"},
		{"query empty purpose", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":""}`, "", codes.ErrMissingField, "/purpose"},
		{"query subject of letters", "POST", "/v1/query", `{"dataset":"household","subject":"abcdefghijklmnopqr","purpose":"school_enrolment"}`, "", codes.ErrBadSubject, "/subject"},
		{"query subject of 17 digits", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject[:17] + `","purpose":"school_enrolment"}`, "", codes.ErrBadSubject, "/subject"},
		{"query dataset not in the registry", "POST", "/v1/query", `{"dataset":"weather","subject":"` + specSubject + `","purpose":"school_enrolment"}`, "", codes.ErrUnknownDataset, "/dataset"},
		{"query case id too long (the query flow refuses and audits it)", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment","case_id":"` + long + `"}`, "", nil, ""},
		{"audit lookup reason too long", "POST", "/v1/audit/subject", `{"subject":"` + specSubject + `","reason":"` + strings.Repeat(long, 4) + `"}`, "", codes.ErrBadRequest, "/reason"},
		{"query subject a number", "POST", "/v1/query", `{"dataset":"household","subject":330106202003080153,"purpose":"school_enrolment"}`, "", codes.ErrRequestSchema, "/subject"},
		{"query unknown field with / and ~ (escaped in the pointer)", "POST", "/v1/query", `{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment","a/b~c":1}`, "", codes.ErrRequestSchema, "/a~1b~0c"},
		{"explain empty consumer", "POST", "/v1/policy/explain", `{"consumer":"","dataset":"household","purpose":"school_enrolment"}`, "", codes.ErrMissingField, "/consumer"},
		{"publish allowed", "POST", "/v1/datasets/household/records", `{"records":["a.b.c~"]}`, "", nil, ""},
		{"case with null subjects", "POST", "/v1/cases", `{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":null}`, "", codes.ErrMissingField, "/subjects"},
		{"case subject a number", "POST", "/v1/cases", `{"procedure":"school_enrolment","case_id":"SE-2026-0001","subjects":{"child":330106202003080153}}`, "", codes.ErrRequestSchema, "/subjects/child"},
		{"publish null record", "POST", "/v1/datasets/household/records", `{"records":[null]}`, "", codes.ErrRequestSchema, "/records/0"},
		{"publish empty record", "POST", "/v1/datasets/household/records", `{"records":["a.b.c~",""]}`, "", codes.ErrMissingField, "/records/1"},
		{"publish no records", "POST", "/v1/datasets/household/records", `{"records":[]}`, "", codes.ErrBadRequest, "/records"},
		{"publish to a dataset not in the registry", "POST", "/v1/datasets/weather/records", `{"records":["a.b.c~"]}`, "", codes.ErrUnknownDataset, "/dataset"},
		{"audit lookup empty reason", "POST", "/v1/audit/subject", `{"subject":"` + specSubject + `","reason":""}`, "", codes.ErrMissingField, "/reason"},
		{"key revocation bad time", "POST", "/v1/keys/revoke", `{"kid":"a-b#1","reason":"lost laptop","revoked_at":"yesterday"}`, "", codes.ErrRequestSchema, "/revoked_at"},
		{"key registration unknown use", "POST", "/v1/keys", `{"client_id":"a","use":"token","jwk":{},"reason":"r"}`, "", codes.ErrRequestSchema, "/use"},
		{"policy event empty", "POST", "/v1/policy/events", `{"event":""}`, "", codes.ErrMissingField, "/event"},
		{"inclusion proof allowed", "GET", "/v1/audit/proof/inclusion?index=0&size=1", "", "", nil, ""},
		{"inclusion proof negative index", "GET", "/v1/audit/proof/inclusion?index=-1&size=1", "", "", codes.ErrBadRange, "/index"},
		{"inclusion proof by HEAD negative index (checked as the GET route)", "HEAD", "/v1/audit/proof/inclusion?index=-1&size=1", "", "", codes.ErrBadRange, "/index"},
		{"inclusion proof without size", "GET", "/v1/audit/proof/inclusion?index=0", "", "", codes.ErrBadRange, "/size"},
		{"entries not a number", "GET", "/v1/audit/entries?start=x&end=1", "", "", codes.ErrBadRange, "/start"},
		{"token form allowed", "POST", "/v1/token", formOK, "application/x-www-form-urlencoded", nil, ""},
		{"token form without assertion", "POST", "/v1/token", "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer", "application/x-www-form-urlencoded", codes.ErrMissingField, "/client_assertion"},
		{"token form other grant", "POST", "/v1/token", strings.Replace(formOK, "client_credentials", "password", 1), "application/x-www-form-urlencoded", codes.ErrRequestSchema, "/grant_type"},
	}
	mux := newBare(t).mux
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			_, r.Pattern = mux.Handler(r) // as the server's mux sets it
			r, err := checkParams(r)
			if err == nil && tt.body != "" {
				mt := tt.mediaType
				if mt == "" {
					mt = "application/json"
				}
				err = checkBody(r, []byte(tt.body), mt)
			}
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("err = %v (code %s), want %v", err, wire.Of(err).Name, tt.wantErr)
			}
			if got := wire.Pointer(err); got != tt.wantPointer {
				t.Errorf("pointer %q, want %q (err %v)", got, tt.wantPointer, err)
			}
			if err != nil && strings.Contains(err.Error(), specSubject) {
				t.Errorf("error detail quotes the subject: %v", err)
			}
		})
	}
}

// TestSpecCheckNeedsHandle: checkBody checks only requests handle armed,
// so a body read outside a route (none today) is not judged against an
// operation it does not belong to.
func TestSpecCheckNeedsHandle(t *testing.T) {
	r := httptest.NewRequest("POST", "/v1/query", nil)
	if err := checkBody(r, []byte(`{"records":[null]}`), "application/json"); err != nil {
		t.Fatalf("checkBody on a request no route armed: %v, want nil", err)
	}
}

// TestOpenAPIDatasetEnum: every dataset field and parameter of the
// document lists exactly the datasets of the schema registry, so a new
// dataset (schemas/<name>/v1.json) fails here until the document names it.
func TestOpenAPIDatasetEnum(t *testing.T) {
	reg, err := schemas.Default()
	if err != nil {
		t.Fatal(err)
	}
	want := reg.Datasets()
	slices.Sort(want)
	var doc struct {
		Paths map[string]map[string]struct {
			Parameters []struct {
				Name   string `json:"name"`
				Schema struct {
					Enum []string `json:"enum"`
				} `json:"schema"`
			} `json:"parameters"`
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]struct {
							Enum []string `json:"enum"`
						} `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &doc); err != nil {
		t.Fatal(err)
	}
	seen := 0
	check := func(where string, got []string) {
		seen++
		got = slices.Clone(got)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("%s: dataset enum %v, the registry has %v", where, got, want)
		}
	}
	for path, ops := range doc.Paths {
		for m, op := range ops {
			for _, p := range op.Parameters {
				if p.Name == "dataset" {
					check(m+" "+path+" parameter", p.Schema.Enum)
				}
			}
			for _, c := range op.RequestBody.Content {
				if p, ok := c.Schema.Properties["dataset"]; ok {
					check(m+" "+path+" body", p.Enum)
				}
			}
		}
	}
	if seen < 3 {
		t.Fatalf("found %d dataset fields; want query, explain and publish at least", seen)
	}
}

// TestOpenAPIDocumentsStatuses: every operation documents its success
// and the statuses any route can answer: 500 always; 400 where it takes parameters or a
// body; 404 where a path parameter or a dataset field names something; 401, 403 and 503
// where a token is checked (a refusal is audited, and an audit that
// cannot be written is 503); 429 where a policy's rate limits apply.
func TestOpenAPIDocumentsStatuses(t *testing.T) {
	s := newBare(t)
	doc := decodeOpenAPI(t, openapiDoc)
	var raw struct {
		Paths map[string]map[string]struct {
			RequestBody json.RawMessage `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapiDoc, &raw); err != nil {
		t.Fatal(err)
	}
	limited := map[string]bool{"POST /v1/query": true, "POST /v1/policy/explain": true, "POST /v1/token": true}
	routes := append(s.Routes(), [3]string{"GET", "/metrics", rolePublic})
	for _, rt := range routes {
		o, ok := doc.Paths[rt[1]][strings.ToLower(rt[0])]
		if !ok {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		name := rt[0] + " " + rt[1]
		want := []string{"500"}
		ok2xx := false
		for code := range o.Responses {
			ok2xx = ok2xx || strings.HasPrefix(code, "2")
		}
		if !ok2xx {
			t.Errorf("%s documents no 2xx response", rt[0]+" "+rt[1])
		}
		if len(o.Parameters) > 0 || raw.Paths[rt[1]][strings.ToLower(rt[0])].RequestBody != nil {
			want = append(want, "400")
		}
		if strings.Contains(rt[1], "{") || strings.Contains(string(raw.Paths[rt[1]][strings.ToLower(rt[0])].RequestBody), `"dataset"`) {
			want = append(want, "404")
		}
		if rt[2] != rolePublic {
			want = append(want, "401", "403", "503")
		}
		if limited[name] {
			want = append(want, "429")
		}
		for _, code := range want {
			if _, ok := o.Responses[code]; !ok {
				t.Errorf("%s documents no %s response", name, code)
			}
		}
	}
}

// TestMetricsOtherMethods: /metrics answers GET (and HEAD); any other
// method gets 405 method_not_allowed with Allow, in the error shape, as
// every other path does.
func TestMetricsOtherMethods(t *testing.T) {
	s, err := New(Deps{Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(m, "/metrics", nil))
		var body wire.ErrorBody
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		if rec.Code != http.StatusMethodNotAllowed || body.Error.Code != "method_not_allowed" || rec.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s /metrics: %d %q Allow %q, want 405 method_not_allowed Allow \"GET, HEAD\"", m, rec.Code, body.Error.Code, rec.Header().Get("Allow"))
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("GET /metrics: %d, want 200", rec.Code)
	}
}

// BenchmarkSpecCheckQuery: the cost the document check adds to a query
// (parameters and body).
func BenchmarkSpecCheckQuery(b *testing.B) {
	body := []byte(`{"dataset":"household","subject":"` + specSubject + `","purpose":"school_enrolment","case_id":"SE-2026-0001"}`)
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/query", nil)
		req.Pattern = "POST /v1/query"
		r, err := checkParams(req)
		if err == nil {
			err = checkBody(r, body, "application/json")
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
