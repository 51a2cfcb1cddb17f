package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/onevisit/onevisit/schemas"
)

// TestSchemaProposeCLI proposes household/v2 with the CLI against an
// in-process dev exchange: an incompatible file is refused (exit 1,
// naming the code), a compatible one is a proposal a second officer
// approves with `policy approve`, and `schema list` shows both versions.
func TestSchemaProposeCLI(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	dir := t.TempDir()
	write := func(name string, required bool) string {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "schemas", "household", "v1.json"))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		doc["$id"] = schemas.IDBase + "household/v2"
		doc["properties"].(map[string]any)["phone"] = map[string]any{"type": "string"}
		if required {
			doc["required"] = append(doc["required"].([]any), "phone")
		}
		out, _ := json.MarshalIndent(doc, "", "  ")
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, out, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compatible, incompatible := write("v2.json", false), write("v2-required.json", true)
	steps := []cliStep{
		{"oversized file", []string{"schema", "propose", hugeFile(t, dir, "huge.json"), "--reason", "phones", "--credentials", creds("security-officer")}, 1, "larger than 524288 bytes"},
		{"incompatible", []string{"schema", "propose", incompatible, "--reason", "phones", "--credentials", creds("security-officer")}, 1, "409 incompatible_schema"},
		{"no reason", []string{"schema", "propose", compatible, "--credentials", creds("security-officer")}, 2, "--reason is required"},
		{"propose", []string{"schema", "propose", compatible, "--proposal-id", "hh-v2", "--reason", "phones", "--credentials", creds("security-officer")},
			0, "proposal hh-v2: pending, widens access, base version 1"},
		{"approve", []string{"policy", "approve", "hh-v2", "--reason", "compatible", "--credentials", creds("security-reviewer")},
			0, "applied as version 2"},
		{"list", []string{"schema", "list", "--exchange", env.BaseURL}, 0, "household/v1,household/v2"},
	}
	runSteps(t, ctx, steps)
}
