package dev_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestAttackFailedTokenRequestsCountedOnce sends token requests an
// outsider can send (junk, a malformed form, an assertion from nobody)
// and one good one, with plain net/http, and checks that
// onevisit_api_requests_total on /v1/token counts each request once,
// under its own code: refusals are never counted as "ok" too.
func TestAttackFailedTokenRequestsCountedOnce(t *testing.T) {
	env := startDev(t)
	refusals := []string{
		"grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=junk",
		"%zz",
		"",
	}
	for i, body := range refusals {
		resp, err := http.Post(env.BaseURL+"/v1/token", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatalf("refusal %d: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Fatalf("refusal %d answered %d; want 4xx", i, resp.StatusCode)
		}
	}
	resp, out := abuseTokenRequest(t, env, abuseAssertion(t, env, "school-enrolment", fmt.Sprint(time.Now().UnixNano()), time.Minute))
	if resp == nil || resp.StatusCode != 200 {
		t.Fatalf("good token request: %v %v", resp, out)
	}
	series := map[string]float64{}
	_, raw := call(t, "GET", env.BaseURL+"/metrics", "", nil, nil)
	for _, line := range strings.Split(string(raw), "\n") {
		m := metricLine.FindStringSubmatch(line)
		if m == nil || m[1] != "onevisit_api_requests_total" {
			continue
		}
		labels := map[string]string{}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[lp[1]] = lp[2]
		}
		if labels["route"] != "/v1/token" {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		series[labels["code"]] += v
	}
	var total float64
	for _, v := range series {
		total += v
	}
	if series["ok"] != 1 || total != float64(len(refusals)+1) {
		t.Errorf("onevisit_api_requests_total{route=/v1/token} = %v; want ok=1 and %d in all (each request once)", series, len(refusals)+1)
	}
}
