package dev_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/dev"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/exchange/audit"
)

type auditPage struct {
	Start      uint64   `json:"start"`
	End        uint64   `json:"end"`
	Entries    []string `json:"entries"`
	LeafHashes []string `json:"leaf_hashes"`
	Indexes    []uint64 `json:"indexes"`
	More       bool     `json:"more"`
}

// auditGet calls GET path with the officer's token over plain HTTP.
func auditGet(t *testing.T, env *dev.Env, tok, path string) (int, []byte) {
	t.Helper()
	resp, b := call(t, "GET", env.BaseURL+path, "Bearer "+tok, nil, nil)
	return resp.StatusCode, b
}

// allAuditEntries reads the whole log [0, size) page by page.
func allAuditEntries(t *testing.T, env *dev.Env, tok string) []audit.Entry {
	t.Helper()
	size := env.Node.AuditLog().Size()
	var out []audit.Entry
	for start := uint64(0); start < size; start += 1000 {
		end := min(size, start+1000)
		status, b := auditGet(t, env, tok, fmt.Sprintf("/v1/audit/entries?start=%d&end=%d", start, end))
		var p auditPage
		if status != http.StatusOK || json.Unmarshal(b, &p) != nil {
			t.Fatalf("entries [%d, %d): %d %s", start, end, status, b)
		}
		for _, s := range p.Entries {
			out = append(out, parseB64Entry(t, s))
		}
	}
	return out
}

func parseB64Entry(t *testing.T, s string) audit.Entry {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	e, err := audit.ParseEntry(raw)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wantIndexes lists, newest first, the indexes of the entries of all in
// [start, end) that match.
func wantIndexes(all []audit.Entry, start, end uint64, match func(audit.Entry) bool) []uint64 {
	out := []uint64{}
	for i := end; i > start; i-- {
		if match(all[i-1]) {
			out = append(out, i-1)
		}
	}
	return out
}

// TestAuditSearchServerSide, over plain HTTP as the security officer:
// GET /v1/audit/entries with filters answers exactly the matching entries
// of the log, newest first, with their indexes, leaf hashes and exact
// bytes (by case id, by consumer and kind, by a time range, by dataset
// and code), pages with limit and end, and refuses bad parameters naming
// them; GET /v1/audit/rejections counts the records refused at ingest by
// dataset and code, exactly as published. Consumers get 403.
func TestAuditSearchServerSide(t *testing.T) {
	env := startDev(t)
	childQueried(t, env)
	officer := token(t, env, roleClients["officer"])
	before := env.Node.AuditLog().Size()

	// A second consumer's queries: one permitted, one refused (a purpose
	// it has no policy for), each with its own case id.
	nb := token(t, env, "newborn-registration")
	q := func(purpose, caseID string) int {
		body := []byte(`{"dataset":"household","subject":"` + samples.ChildResidentID + `","purpose":"` + purpose + `","case_id":"` + caseID + `"}`)
		resp, _ := call(t, "POST", env.BaseURL+"/v1/query", "Bearer "+nb, body, nil)
		return resp.StatusCode
	}
	if s := q("newborn_registration", "NB-2026-0107"); s != http.StatusOK {
		t.Fatalf("newborn registration's query: %d", s)
	}
	mid := time.Now().UTC()
	waitFor(t, "a clock tick past the first query", func() bool { return time.Now().After(mid.Add(time.Millisecond)) })
	if s := q("property_transfer", "NB-2026-0108"); s == http.StatusOK {
		t.Fatalf("newborn registration's query for property transfer: %d, want a refusal", s)
	}

	// Records refused at ingest: two junk records to household, one to tax.
	if status, ans := publishHTTP(t, env, "public-security", "household", "junk-1", "junk-2"); status >= 500 || len(resultCodes(ans)) != 2 {
		t.Fatalf("publish junk to household: %d %v", status, ans)
	}
	if status, ans := publishHTTP(t, env, "tax-bureau", "tax", "junk-3"); status >= 500 || len(resultCodes(ans)) != 1 {
		t.Fatalf("publish junk to tax: %d %v", status, ans)
	}
	var all []audit.Entry
	defer func() {
		if t.Failed() {
			for i, e := range all[before:] {
				t.Logf("%d: %s", before+uint64(i), e.MarshalCanonical())
			}
		}
	}()
	waitFor(t, "the three rejections and both queries in the log", func() bool {
		all = allAuditEntries(t, env, officer)
		n := 0
		for _, e := range all[before:] {
			if e.Kind == audit.KindReject || e.Kind == audit.KindQuery && e.Actor == "newborn-registration" {
				n++
			}
		}
		return n >= 5
	})
	size := uint64(len(all))

	search := func(params url.Values) auditPage {
		t.Helper()
		params.Set("end", fmt.Sprint(size)) // the log may grow (token entries); search what all holds
		status, b := auditGet(t, env, officer, "/v1/audit/entries?"+params.Encode())
		var p auditPage
		if status != http.StatusOK || json.Unmarshal(b, &p) != nil {
			t.Fatalf("search %s: %d %s", params.Encode(), status, b)
		}
		return p
	}
	rejected := func(e audit.Entry) bool { return e.Kind == audit.KindReject }
	cases := []struct {
		name   string
		params url.Values
		match  func(audit.Entry) bool
		want   int // at least this many matches (a floor the test's own actions guarantee)
	}{
		{"by case id", url.Values{"case_id": {"SE-2026-0001"}}, func(e audit.Entry) bool { return e.CaseID == "SE-2026-0001" }, 1},
		{"by consumer and kind", url.Values{"consumer": {"newborn-registration"}, "kind": {"query"}},
			func(e audit.Entry) bool {
				return (e.Actor == "newborn-registration" || e.Consumer == "newborn-registration") && e.Kind == audit.KindQuery
			}, 2},
		{"by consumer, any kind", url.Values{"consumer": {"newborn-registration"}},
			func(e audit.Entry) bool {
				return e.Actor == "newborn-registration" || e.Consumer == "newborn-registration"
			}, 2},
		{"by time range", url.Values{"from": {mid.Format(time.RFC3339Nano)}, "consumer": {"newborn-registration"}},
			func(e audit.Entry) bool {
				return !e.Time.Before(mid) && (e.Actor == "newborn-registration" || e.Consumer == "newborn-registration")
			}, 1},
		{"before a time", url.Values{"to": {mid.Format(time.RFC3339Nano)}, "case_id": {"NB-2026-0107"}},
			func(e audit.Entry) bool { return e.Time.Before(mid) && e.CaseID == "NB-2026-0107" }, 1},
		{"rejections of household", url.Values{"kind": {"reject"}, "dataset": {"household"}},
			func(e audit.Entry) bool { return rejected(e) && e.Dataset == "household" }, 2},
		{"by dataset and code", url.Values{"dataset": {"tax"}, "code": {"malformed_record"}},
			func(e audit.Entry) bool { return e.Dataset == "tax" && e.Code == "malformed_record" }, 1},
		{"nothing matches", url.Values{"case_id": {"XX-0000"}}, func(audit.Entry) bool { return false }, 0},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := search(tt.params)
			want := wantIndexes(all, 0, size, tt.match)
			if !slices.Equal(p.Indexes, want) || len(want) < tt.want || p.More || p.Start != 0 || p.End != size {
				t.Fatalf("indexes %v (more %v, window [%d, %d)), want %v (at least %d) over [0, %d)", p.Indexes, p.More, p.Start, p.End, want, tt.want, size)
			}
			if len(p.Entries) != len(want) || len(p.LeafHashes) != len(want) {
				t.Fatalf("%d entries and %d leaf hashes for %d indexes", len(p.Entries), len(p.LeafHashes), len(want))
			}
			for j, i := range p.Indexes {
				if got := parseB64Entry(t, p.Entries[j]); string(got.MarshalCanonical()) != string(all[i].MarshalCanonical()) {
					t.Errorf("entry %d: %s, want %s", i, got.MarshalCanonical(), all[i].MarshalCanonical())
				}
			}
		})
	}
	// Newborn registration's two queries: the refused one (its case id
	// does not fit the purpose, so it is not recorded) newest.
	p := search(url.Values{"consumer": {"newborn-registration"}, "kind": {"query"}})
	if len(p.Indexes) != 2 || parseB64Entry(t, p.Entries[0]).Decision != audit.DecisionDeny || parseB64Entry(t, p.Entries[1]).CaseID != "NB-2026-0107" {
		t.Errorf("newborn registration's queries: %v", p.Indexes)
	}

	// Paging: limit 1 answers the newest match and says there is more; the
	// next page (end = that index) the one before.
	allNB := wantIndexes(all, 0, size, func(e audit.Entry) bool {
		return e.Actor == "newborn-registration" || e.Consumer == "newborn-registration"
	})
	p1 := search(url.Values{"consumer": {"newborn-registration"}, "limit": {"1"}})
	if !slices.Equal(p1.Indexes, allNB[:1]) || !p1.More {
		t.Fatalf("limit 1: %v more %v, want %v more true", p1.Indexes, p1.More, allNB[:1])
	}
	status, b := auditGet(t, env, officer, fmt.Sprintf("/v1/audit/entries?consumer=newborn-registration&limit=1&end=%d", p1.Indexes[0]))
	var p2 auditPage
	if status != http.StatusOK || json.Unmarshal(b, &p2) != nil || !slices.Equal(p2.Indexes, allNB[1:2]) {
		t.Fatalf("the next page: %d %s, want indexes %v", status, b, allNB[1:2])
	}

	// Rejections by dataset and code, over the test's own window.
	var codesHousehold, codesTax []string
	for _, e := range all[before:size] {
		if rejected(e) && e.Dataset == "household" {
			codesHousehold = append(codesHousehold, e.Code)
		}
		if rejected(e) && e.Dataset == "tax" {
			codesTax = append(codesTax, e.Code)
		}
	}
	if len(codesHousehold) != 2 || len(codesTax) != 1 || codesHousehold[0] != codesHousehold[1] {
		t.Fatalf("rejections in the log: household %v, tax %v", codesHousehold, codesTax)
	}
	type count struct {
		Dataset, Code string
		Count         int
	}
	status, b = auditGet(t, env, officer, fmt.Sprintf("/v1/audit/rejections?start=%d&end=%d", before, size))
	var rj struct{ Rejections []count }
	wantRJ := []count{{"household", codesHousehold[0], 2}, {"tax", codesTax[0], 1}}
	if status != http.StatusOK || json.Unmarshal(b, &rj) != nil || !slices.Equal(rj.Rejections, wantRJ) {
		t.Errorf("rejections: %d %s, want %v", status, b, wantRJ)
	}
	status, b = auditGet(t, env, officer, fmt.Sprintf("/v1/audit/rejections?start=%d&end=%d&dataset=tax", before, size))
	if status != http.StatusOK || json.Unmarshal(b, &rj) != nil || !slices.Equal(rj.Rejections, wantRJ[1:]) {
		t.Errorf("rejections of tax: %d %s, want %v", status, b, wantRJ[1:])
	}

	// Refusals, each naming the parameter. A value the operation's
	// parameter schema in /openapi.json refuses is answered by the spec
	// check (exchange/api/spec.go) before the handler: request_schema, or
	// bad_range for the range parameters (from, to, start, end).
	for _, tt := range []struct {
		name, query, code, pointer string
		status                     int
	}{
		{"unknown parameter", "case_id=X&subject=" + samples.ChildResidentID, "bad_request", "/subject", 400},
		{"repeated case id", "case_id=A&case_id=B", "bad_request", "/case_id", 400},
		{"empty consumer", "consumer=", "bad_request", "/consumer", 400},
		{"bad kind", "kind=Query", "request_schema", "/kind", 400},
		{"bad time", "from=yesterday", "bad_range", "/from", 400},
		{"from after to", "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "bad_range", "/from", 400},
		{"limit zero", "kind=query&limit=0", "request_schema", "/limit", 400},
		{"window too wide", "kind=query&start=0&end=100001", "bad_range", "/start", 400},
		{"end beyond the log", fmt.Sprintf("kind=query&end=%d", size+1_000_000), "beyond_log", "/end", 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, b := auditGet(t, env, officer, "/v1/audit/entries?"+tt.query)
			var eb struct {
				Error struct{ Code, Pointer string }
			}
			_ = json.Unmarshal(b, &eb)
			if status != tt.status || eb.Error.Code != tt.code || eb.Error.Pointer != tt.pointer {
				t.Errorf("%d %s, want %d %s at %s", status, b, tt.status, tt.code, tt.pointer)
			}
		})
	}
	for _, path := range []string{"/v1/audit/entries?case_id=SE-2026-0001", "/v1/audit/rejections"} {
		if status, b := auditGet(t, env, token(t, env, schoolService), path); status != http.StatusForbidden {
			t.Errorf("a consumer's %s: %d %s, want 403", path, status, b)
		}
	}
}
