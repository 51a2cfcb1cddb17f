package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyGovernanceCLI runs the README's governance walkthrough with
// the CLI against an in-process dev exchange: a proposal, its review, a
// refused self-approval and a refused widening "narrow now" (exit 1,
// naming the code), the second officer's approval, a narrowing by one
// officer, and the versions listed with their officers.
func TestPolicyGovernanceCLI(t *testing.T) {
	ctx, env, creds := startDevExchange(t)
	examples := filepath.Join("..", "..", "..", "..", "policy", "examples")
	wide := t.TempDir()
	ents, err := os.ReadDir(examples)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(examples, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "relation_to_head, address]", "relation_to_head, address, gender]", 1)
		if err := os.WriteFile(filepath.Join(wide, e.Name()), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	steps := []cliStep{
		{"propose", []string{"policy", "propose", wide, "--id", "grant-gender", "--reason", "class balance", "--credentials", creds("security-officer")},
			0, "proposal grant-gender: pending, widens access, base version 1"},
		{"review", []string{"policy", "review", "grant-gender", "--credentials", creds("security-reviewer")},
			0, "gain: school-enrolment may read gender of household for school_enrolment (case id required)"},
		{"self-approval", []string{"policy", "approve", "grant-gender", "--reason", "mine", "--credentials", creds("security-officer")},
			1, "403 self_approval"},
		{"widening narrow now", []string{"policy", "narrow", wide, "--reason", "sneak", "--credentials", creds("security-officer")},
			1, "403 needs_approval"},
		{"no reason", []string{"policy", "approve", "grant-gender", "--credentials", creds("security-reviewer")},
			2, "--reason is required"},
		{"approve", []string{"policy", "approve", "grant-gender", "--reason", "reviewed", "--credentials", creds("security-reviewer")},
			0, "proposal grant-gender: applied, widens access, base version 1, applied as version 2"},
		{"narrow back", []string{"policy", "narrow", examples, "--reason", "not needed", "--credentials", creds("security-officer")},
			0, "which now decides by policy version 3"},
		{"unknown proposal", []string{"policy", "reject", "no-such", "--reason", "typo", "--credentials", creds("security-reviewer")},
			1, "404 unknown_proposal"},
		{"versions", []string{"policy", "versions", "--exchange", env.BaseURL},
			0, "security-officer,security-reviewer"},
	}
	runSteps(t, ctx, steps)
}

// cliStep is one command of a CLI walkthrough and what it must print.
type cliStep struct {
	name     string
	args     []string
	wantCode int
	want     string // in stdout, or in stderr when wantCode != 0
}

// runSteps runs steps in order and stops at the first that exits or
// prints otherwise.
func runSteps(t *testing.T, ctx context.Context, steps []cliStep) {
	t.Helper()
	for _, st := range steps {
		code, out, errOut := run(t, ctx, st.args...)
		where := out
		if st.wantCode != 0 {
			where = errOut
		}
		if code != st.wantCode || !strings.Contains(where, st.want) {
			t.Fatalf("%s: exit %d, want %d with %q\nstdout:\n%s\nstderr:\n%s", st.name, code, st.wantCode, st.want, out, errOut)
		}
	}
}
