package dev_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors/samples"
)

// TestCitizenTokenCLI: `onevisit citizen-token --resident ID --exchange
// URL` against dev mode prints an ID token for that sample resident (the
// citizen routes accept it and answer that resident's entries); with -o
// json, the token and its lifetime. A resident the provider does not list,
// and an exchange node without the development provider (a node as
// `onevisit serve` runs it), are refusals (exit 1) that print no token;
// a missing or malformed --resident is a usage error (exit 2). The ID
// number is never in what the command writes to stderr.
func TestCitizenTokenCLI(t *testing.T) {
	env := startDev(t)
	childQueried(t, env)

	rc, out, errOut := runCLI("citizen-token", "--resident", samples.ChildResidentID, "--exchange", env.BaseURL)
	if rc != 0 || errOut != "" || strings.Count(out, "\n") != 1 || strings.Count(out, ".") != 2 {
		t.Fatalf("citizen-token: exit %d, stdout %q, stderr %q; want one compact JWS", rc, out, errOut)
	}
	status, a, b := accessesOf(t, env, strings.TrimSpace(out), "")
	if status != http.StatusOK {
		t.Fatalf("GET /v1/me/accesses with the printed token: %d %s", status, b)
	}
	child := pseudonymOf(t, env, samples.ChildResidentID)
	if len(a.Entries) == 0 {
		t.Fatal("the child's token answers no entries")
	}
	for _, e := range a.Entries {
		if e.Entry.Subject != child {
			t.Errorf("entry %d is about %s, not the child", e.Index, e.Entry.Subject)
		}
	}

	rc, out, errOut = runCLI("citizen-token", "--resident", samples.ChildResidentID, "--exchange", env.BaseURL, "-o", "json")
	var j struct {
		IDToken   string `json:"id_token"`
		ExpiresIn int    `json:"expires_in"`
	}
	if err := json.Unmarshal([]byte(out), &j); rc != 0 || err != nil || strings.Count(j.IDToken, ".") != 2 || j.ExpiresIn != 1800 {
		t.Errorf("-o json: exit %d, %q (%v), stderr %q; want {id_token, expires_in: 1800}", rc, out, err, errOut)
	}

	ln, _, _ := startSecondNode(t, env)
	tests := []struct {
		name     string
		args     []string
		wantRC   int
		wantErr  string
		resident string
	}{
		{"not a sample resident", []string{"--resident", "110101199003074514", "--exchange", env.BaseURL}, 1, "not a sample resident", "110101199003074514"},
		{"an exchange without the dev provider", []string{"--resident", samples.ChildResidentID, "--exchange", "http://" + ln.Addr().String()}, 1, "has no development sign-in provider", samples.ChildResidentID},
		{"no resident", []string{"--exchange", env.BaseURL}, 2, "--resident is required", ""},
		{"a malformed resident", []string{"--resident", "33010620200308015X", "--exchange", env.BaseURL}, 2, "not a resident ID number", "33010620200308015X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, out, errOut := runCLI(append([]string{"citizen-token"}, tt.args...)...)
			if rc != tt.wantRC || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, nothing on stdout, %q", rc, out, errOut, tt.wantRC, tt.wantErr)
			}
			if tt.resident != "" && strings.Contains(errOut, tt.resident) {
				t.Errorf("stderr names the resident ID: %q", errOut)
			}
		})
	}
}
