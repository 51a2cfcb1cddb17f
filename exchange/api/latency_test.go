package api

import (
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRequestLatencyLabels: every answered request is observed in
// onevisit_api_request_seconds under its method and route pattern, never
// the raw path (an id in a path stays out of the labels), "unmatched" for
// a path no route serves, and a method outside RFC 9110's as "other".
func TestRequestLatencyLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Deps{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for _, r := range [][2]string{
		{"GET", "/openapi.json"},
		{"GET", "/v1/policy/proposals/grant-330106202003080153"}, // 401: no token
		{"POST", "/v1/audit/subject"},                            // 401: no token
		{"DELETE", "/v1/query"},                                  // 405
		{"GET", "/no/such/330106202003080153"},                   // 404
		{"BREW", "/v1/keys"},                                     // 405, unknown method
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r[0], r[1], nil))
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fams {
		if f.GetName() != "onevisit_api_request_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if m.GetHistogram().GetSampleCount() != 1 {
				t.Errorf("%v: %d observations, want 1", l, m.GetHistogram().GetSampleCount())
			}
			got = append(got, l["method"]+" "+l["route"])
		}
	}
	slices.Sort(got)
	want := []string{
		"DELETE /v1/query",
		"GET /openapi.json",
		"GET /v1/policy/proposals/{id}",
		"GET unmatched",
		"POST /v1/audit/subject",
		"other /v1/keys",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("series %q, want %q", got, want)
	}
}
