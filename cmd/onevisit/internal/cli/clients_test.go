package cli_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onevisit/onevisit/connectors"
	"github.com/onevisit/onevisit/exchange/keys"
)

// TestClientsCLI enrols a procedure service with the CLI against an
// in-process dev exchange: the service generates its own key pair (the
// private half in a 0600 file, the public JWK on stdout), an officer
// proposes it, a second officer approves it with `policy approve`, the
// service gets a token; one officer disables it and it gets none.
func TestClientsCLI(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	dir := t.TempDir()
	credFile := filepath.Join(dir, "school-meals.json")
	jwkFile := filepath.Join(dir, "school-meals.jwk")

	code, out, errOut := run(t, ctx, "keys", "generate", "--id", "school-meals", "--out", credFile, "--exchange", env.BaseURL)
	if code != 0 {
		t.Fatalf("keys generate: exit %d: %s", code, errOut)
	}
	kid, _, err := keys.ParsePublicJWK([]byte(strings.TrimSpace(out)))
	if err != nil || kid != "school-meals-auth#1" {
		t.Fatalf("keys generate printed %q: kid %q, %v", out, kid, err)
	}
	if fi, err := os.Stat(credFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, %v; want mode 0600", fi, err)
	}
	if err := os.WriteFile(jwkFile, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}

	steps := []cliStep{
		{"generate over an existing file", []string{"keys", "generate", "--id", "school-meals", "--out", credFile}, 1, "file exists"},
		{"generate, bad id", []string{"keys", "generate", "--id", "School", "--out", filepath.Join(dir, "x.json")}, 2, "--id \"School\""},
		{"add with an oversized JWK file", []string{"clients", "add", "--id", "school-meals", "--role", "consumer", "--jwk", hugeFile(t, dir, "huge.jwk"), "--reason", "r", "--credentials", creds("security-officer")},
			1, "larger than 4096 bytes"},
		{"add with the private file", []string{"clients", "add", "--id", "school-meals", "--role", "consumer", "--jwk", credFile, "--reason", "r", "--credentials", creds("security-officer")},
			1, "--jwk"},
		{"add, no reason", []string{"clients", "add", "--id", "school-meals", "--role", "consumer", "--jwk", jwkFile, "--credentials", creds("security-officer")},
			2, "--reason is required"},
		{"add", []string{"clients", "add", "--id", "school-meals", "--role", "consumer", "--jwk", jwkFile, "--name", "School meals", "--purposes", "school_enrolment",
			"--proposal-id", "enrol-meals", "--reason", "meals joins enrolment", "--credentials", creds("security-officer")},
			0, "proposal enrol-meals: pending, widens access, base version 1"},
		{"token before approval", []string{"token", "--credentials", credFile}, 1, "invalid_client"},
		{"review", []string{"policy", "review", "enrol-meals", "--credentials", creds("security-reviewer")},
			0, "widen: client school-meals enrolled as consumer with auth key school-meals-auth#1"},
		{"approve", []string{"policy", "approve", "enrol-meals", "--reason", "checked", "--credentials", creds("security-reviewer")},
			0, "proposal enrol-meals: applied, widens access, base version 1, applied as version 2: clients.add school-meals (consumer)"},
		{"token", []string{"token", "--credentials", credFile}, 0, "."},
		{"list", []string{"clients", "list", "--credentials", creds("security-officer")}, 0, "school-meals"},
		{"versions", []string{"policy", "versions", "--exchange", env.BaseURL}, 0, "widens (clients.add school-meals (consumer))"},
		{"disable", []string{"clients", "disable", "school-meals", "--reason", "incident", "--credentials", creds("security-officer")},
			0, "which now decides by policy version 3"},
		{"token after disable", []string{"token", "--credentials", credFile}, 1, "invalid_client"},
		{"disable again", []string{"clients", "disable", "school-meals", "--reason", "again", "--credentials", creds("security-officer")},
			1, "404 unknown_client"},
		{"generate a publisher without --record-jwk", []string{"keys", "generate", "--id", "water-bureau", "--role", "publisher", "--out", filepath.Join(dir, "civil.json")},
			2, "--record-jwk FILE is required for a publisher"},
		{"generate a publisher", []string{"keys", "generate", "--id", "water-bureau", "--role", "publisher", "--out", filepath.Join(dir, "civil.json"),
			"--record-jwk", filepath.Join(dir, "civil-record.jwk")}, 0, "water-bureau-auth#1"},
		{"record key for a consumer, refused before signing", []string{"clients", "add", "--id", "school-meals", "--role", "consumer", "--jwk", jwkFile,
			"--record-jwk", filepath.Join(dir, "civil-record.jwk"), "--reason", "r", "--credentials", creds("security-officer")}, 1, "a consumer holds no record key"},
	}
	runSteps(t, ctx, steps)
	code, out, errOut = run(t, ctx, "clients", "list", "-o", "json", "--credentials", creds("security-officer"))
	if code != 0 {
		t.Fatalf("clients list -o json: exit %d: %s", code, errOut)
	}
	var doc struct {
		Version uint64 `json:"version"`
		Clients []struct {
			ID       string `json:"client_id"`
			Role     string `json:"role"`
			Name     string `json:"name"`
			Source   string `json:"source"`
			Disabled bool   `json:"disabled"`
		} `json:"clients"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("clients list -o json: %v\n%s", err, out)
	}
	found := false
	for _, c := range doc.Clients {
		if c.ID == "school-meals" {
			found = c.Role == "consumer" && c.Name == "School meals" && c.Source == "control" && c.Disabled
		}
	}
	if doc.Version != 3 || !found {
		t.Fatalf("clients list -o json: %s", out)
	}
}

// TestClientsCLIPublisher: a publisher's key pairs from `keys generate`
// enrol it with both keys.
func TestClientsCLIPublisher(t *testing.T) {
	ctx, _, creds := startDevExchange(t)
	dir := t.TempDir()
	cred, rec := filepath.Join(dir, "civil.json"), filepath.Join(dir, "civil-record.jwk")
	code, out, errOut := run(t, ctx, "keys", "generate", "--id", "water-bureau", "--role", "publisher", "--out", cred, "--record-jwk", rec)
	if code != 0 {
		t.Fatalf("keys generate: exit %d: %s", code, errOut)
	}
	auth := filepath.Join(dir, "civil.jwk")
	if err := os.WriteFile(auth, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := connectors.LoadCredentials(cred)
	if err != nil || len(c.SigningKey) == 0 {
		t.Fatalf("credentials of a publisher: %v, signing key %d bytes", err, len(c.SigningKey))
	}
	code, jout, errOut := run(t, ctx, "keys", "generate", "--id", "civil-works", "--role", "publisher", "--out", filepath.Join(dir, "works.json"),
		"--record-jwk", filepath.Join(dir, "works-record.jwk"), "-o", "json")
	var doc map[string]json.RawMessage
	if code != 0 || json.Unmarshal([]byte(jout), &doc) != nil || len(doc) != 2 {
		t.Fatalf("keys generate -o json: exit %d, %q, %s", code, jout, errOut)
	}
	if kid, _, err := keys.ParsePublicJWK(doc["record_jwk"]); err != nil || kid != "civil-works-record#1" {
		t.Fatalf("keys generate -o json: record_jwk kid %q, %v", kid, err)
	}
	code, out, errOut = run(t, ctx, "clients", "add", "--id", "water-bureau", "--role", "publisher", "--datasets", "household", "--jwk", auth, "--record-jwk", rec,
		"--reason", "water bureau", "--credentials", creds("security-officer"))
	if code != 0 || !strings.Contains(out, "pending, widens access") {
		t.Fatalf("clients add: exit %d\n%s\n%s", code, out, errOut)
	}
}

// hugeFile writes a file of 4 MiB that starts as a JSON object does: the
// CLI must refuse it by its size, without reading it whole.
func hugeFile(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, append([]byte("{"), bytes.Repeat([]byte(" "), 4<<20)...), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
