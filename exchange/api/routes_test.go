package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/exchange/auth"
	"github.com/onevisit/onevisit/schemas/jsonstrict"
)

// newBare builds a server with no dependencies: enough to read its route
// table and serve the routes that touch none (the OpenAPI document).
func newBare(t *testing.T) *Server {
	t.Helper()
	s, err := New(Deps{})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	return s
}

// TestHandleRefusesRouteWithoutRoles pins deny by default at the place it
// is enforced: a route with no role list is an error, and nothing is
// registered for it.
func TestHandleRefusesRouteWithoutRoles(t *testing.T) {
	called := false
	h := func(w http.ResponseWriter, _ *http.Request, _ auth.Principal) error {
		called = true
		w.WriteHeader(http.StatusOK)
		return nil
	}
	tests := []struct {
		name  string
		roles []string
	}{
		{"nil roles", nil},
		{"empty roles", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBare(t)
			before := len(s.Routes())
			err := s.handle(route{method: "GET", pattern: "/v1/unguarded", roles: tt.roles, summary: "x", h: h})
			if err == nil || !strings.Contains(err.Error(), "no roles") {
				t.Fatalf("handle = %v, want a refusal naming the missing roles", err)
			}
			if got := len(s.Routes()); got != before {
				t.Fatalf("routes went from %d to %d: the refused route was listed", before, got)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/unguarded", nil))
			if rec.Code != http.StatusNotFound || called {
				t.Fatalf("GET /v1/unguarded: status %d, handler called %v; want 404 and never called", rec.Code, called)
			}
		})
	}
}

// knownRoles are the role names a route may list.
var knownRoles = map[string]bool{rolePublic: true, RolePublisher: true, RoleConsumer: true, RoleOfficer: true, RoleConsent: true, RoleCitizen: true}

// TestRouteTableRoles checks the table every request goes through: each
// route lists at least one known role, and "public" stands alone, since
// authorize lets anyone through a route that lists it at all.
func TestRouteTableRoles(t *testing.T) {
	s := newBare(t)
	seen := map[string]bool{}
	for _, r := range s.Routes() {
		key := r[0] + " " + r[1]
		if seen[key] {
			t.Errorf("%s is registered twice", key)
		}
		seen[key] = true
		roles := strings.Split(r[2], ",")
		if r[2] == "" {
			t.Errorf("%s has no roles", key)
			continue
		}
		for _, role := range roles {
			if !knownRoles[role] {
				t.Errorf("%s lists unknown role %q", key, role)
			}
		}
		if slices.Contains(roles, RoleCitizen) && len(roles) > 1 {
			t.Errorf("%s lists citizen together with %v: a citizen route takes ID tokens only", key, roles)
		}
		if slices.Contains(roles, rolePublic) && len(roles) > 1 {
			t.Errorf("%s lists public together with %v: public opens it to everyone", key, roles)
		}
	}
	if len(seen) != len(s.table()) {
		t.Errorf("Routes lists %d routes, the table has %d", len(seen), len(s.table()))
	}
}

// openAPIDoc is the part of the OpenAPI document these tests read.
type openAPIDoc struct {
	OpenAPI string                                 `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation `json:"paths"`
}

type openAPIOperation struct {
	Security   []map[string][]string `json:"security"`
	Parameters []struct {
		Name     string `json:"name"`
		In       string `json:"in"`
		Required bool   `json:"required"`
	} `json:"parameters"`
	Responses map[string]any `json:"responses"`
}

// decodeOpenAPI checks the document is strict JSON (no duplicate or
// case-variant keys, valid UTF-8), then reads the members these tests
// check; the rest of the document is free to grow.
func decodeOpenAPI(t *testing.T, body []byte) openAPIDoc {
	t.Helper()
	var generic map[string]any
	if err := jsonstrict.Decode(body, &generic); err != nil {
		t.Fatalf("openapi.json is not strict JSON: %v", err)
	}
	var doc openAPIDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

var pathParam = regexp.MustCompile(`\{([^{}]+)\}`)

// TestOpenAPIMatchesRoutes keeps /openapi.json and the route table in
// step: the same set of method+path (plus GET /metrics, which Handler
// adds), the same path parameters, bearer security exactly on the routes
// that need a token, 401/403 documented wherever a token is checked and
// 413 wherever a body limit is.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := newBare(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: status %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	doc := decodeOpenAPI(t, rec.Body.Bytes())
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}

	type op struct{ method, path string }
	inDoc := map[op]openAPIOperation{}
	for path, methods := range doc.Paths {
		for m, o := range methods {
			inDoc[op{strings.ToUpper(m), path}] = o
		}
	}
	want := map[op]string{{"GET", "/metrics"}: rolePublic}
	for _, r := range s.routes {
		want[op{r.method, r.pattern}] = strings.Join(r.roles, ",")
	}
	for k := range want {
		if _, ok := inDoc[k]; !ok {
			t.Errorf("route %s %s is not in openapi.json", k.method, k.path)
		}
	}
	for k := range inDoc {
		if _, ok := want[k]; !ok {
			t.Errorf("openapi.json documents %s %s, which no route serves", k.method, k.path)
		}
	}

	for k, roles := range want {
		o, ok := inDoc[k]
		if !ok {
			continue
		}
		name := k.method + " " + k.path
		// Path parameters: the names in braces, each documented once as
		// a required path parameter, and no other path parameter.
		var inPath []string
		for _, m := range pathParam.FindAllStringSubmatch(k.path, -1) {
			inPath = append(inPath, m[1])
		}
		var documented []string
		for _, p := range o.Parameters {
			if p.In != "path" {
				continue
			}
			if !p.Required {
				t.Errorf("%s: path parameter %q is not required", name, p.Name)
			}
			documented = append(documented, p.Name)
		}
		slices.Sort(inPath)
		slices.Sort(documented)
		if !slices.Equal(inPath, documented) {
			t.Errorf("%s: path parameters %v, documented %v", name, inPath, documented)
		}
		// Security: bearer exactly where a token is required.
		public := roles == rolePublic
		bearer := false
		for _, req := range o.Security {
			if _, ok := req["bearer"]; ok {
				bearer = true
			}
			if _, ok := req["citizen"]; ok && roles == RoleCitizen { // a resident's ID token
				bearer = true
			}
		}
		if bearer == public {
			t.Errorf("%s: roles %q but documented bearer security = %v", name, roles, bearer)
		}
		// Every JSON body is read through a size limit; the token
		// endpoint answers an oversized form as RFC 6749 invalid_request.
		if k.method == "POST" && k.path != "/v1/token" {
			if _, ok := o.Responses["413"]; !ok {
				t.Errorf("%s reads a limited body but documents no 413 response", name)
			}
		}
		if !public {
			for _, code := range []string{"401", "403"} {
				if _, ok := o.Responses[code]; !ok {
					t.Errorf("%s needs a token but documents no %s response", name, code)
				}
			}
		}
	}
}

// TestOpenAPIServedBytes checks the route serves exactly the embedded
// document, so what the test above reads is what a client gets.
func TestOpenAPIServedBytes(t *testing.T) {
	s := newBare(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/openapi.json", nil))
	if got := rec.Body.String(); got != string(openapiDoc) {
		t.Fatalf("served %d bytes, embedded document has %d", len(got), len(openapiDoc))
	}
}
