package dev_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/console"
)

// TestConsoleProxyGuards: the officer's console proxy adds the officer's
// token only to requests that carry X-OneVisit-Console (which a page from
// another origin cannot send without a preflight the proxy never grants)
// and name the proxy's own address as Host (no DNS rebinding); whatever
// Authorization the browser sends is replaced, never passed on.
func TestConsoleProxyGuards(t *testing.T) {
	env := startDev(t)
	base := startConsole(t, env, officer)
	withHeader := map[string]string{console.Header: "1"}
	for _, c := range []struct {
		name       string
		method     string
		path       string
		authz      string
		header     map[string]string
		host       string
		wantStatus int
	}{
		{"page without the header", "GET", "/console/", "", nil, "", http.StatusOK},
		{"API without the header", "GET", "/v1/policy/proposals", "", nil, "", http.StatusForbidden},
		{"API with the header", "GET", "/v1/policy/proposals", "", withHeader, "", http.StatusOK},
		{"a consumer's token from the browser is replaced", "GET", "/v1/policy/proposals", "Bearer " + token(t, env, schoolService), withHeader, "", http.StatusOK},
		{"metrics without the header", "GET", "/metrics", "", nil, "", http.StatusForbidden},
		{"session without the header", "GET", "/console/session", "", nil, "", http.StatusForbidden},
		{"session", "GET", "/console/session", "", withHeader, "", http.StatusOK},
		{"sign without the header", "POST", "/console/sign", "", nil, "", http.StatusForbidden},
		{"sign an unknown action", "POST", "/console/sign", "", withHeader, "", http.StatusBadRequest},
		{"another Host (DNS rebinding)", "GET", "/v1/policy/proposals", "", withHeader, "evil.example:80", http.StatusMisdirectedRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if c.method == "POST" {
				body = []byte(`{"action":"policy.delete","reason":"x"}`)
			}
			req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			if c.authz != "" {
				req.Header.Set("Authorization", c.authz)
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.wantStatus {
				t.Errorf("%d, want %d", resp.StatusCode, c.wantStatus)
			}
		})
	}
}

// TestConsoleCLIRefusesNonLoopback: `onevisit console --listen` on an
// address off loopback is refused before the command prints a URL to open
// (exit 1, nothing on stdout).
func TestConsoleCLIRefusesNonLoopback(t *testing.T) {
	env := startDev(t)
	rc, out, errOut := runCLI("console", "--credentials", officerCredentials(env), "--exchange", env.BaseURL, "--listen", "0.0.0.0:0")
	if rc != 1 || out != "" || !strings.Contains(errOut, "loopback") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout, a refusal naming loopback", rc, out, errOut)
	}
}
