package cli_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
	"github.com/onevisit/onevisit/connectors/samples"
	"github.com/onevisit/onevisit/deploy/testkit"
	"github.com/onevisit/onevisit/schemas"
)

// syncBuffer is a bytes.Buffer safe to write from the command's
// goroutines while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs the command line in-process.
func run(t *testing.T, ctx context.Context, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e syncBuffer
	code = cli.Main(ctx, args, &o, &e)
	return code, o.String(), e.String()
}

var allCommands = []string{"audit", "bench", "case", "citizen-token", "clients", "completion", "connector", "console", "dev", "kafka", "keys", "policy", "query", "report", "schema", "serve", "token"}

func TestHelp(t *testing.T) {
	ctx := context.Background()
	var first string
	for _, args := range [][]string{{"help"}, {}, {"-h"}, {"--help"}} {
		code, out, errOut := run(t, ctx, args...)
		if code != 0 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("%v prints another usage than help", args)
		}
	}
	var listed []string
	for _, line := range strings.Split(first, "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(line, "  ") {
			listed = append(listed, f[0])
		}
	}
	if !slices.Equal(listed, allCommands) {
		t.Errorf("help lists %v, want %v", listed, allCommands)
	}
	testkit.Golden(t, filepath.Join("testdata", "help.golden"), []byte(first))
}

func TestUnknownCommand(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "frobnicate", "--x")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing", out)
	}
	if !strings.HasPrefix(errOut, "onevisit: unknown command \"frobnicate\"\n") || !strings.Contains(errOut, "Commands:") {
		t.Errorf("stderr %q: want the command named and the usage", errOut)
	}
}

func TestSchemaCheck(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "schema", "check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if reg, err := schemas.Default(); err != nil || len(lines) != len(reg.Datasets()) {
		t.Errorf("%d lines, want one per dataset:\n%s", len(lines), out)
	}
	testkit.Golden(t, filepath.Join("testdata", "schema-check.golden"), []byte(out))

	// The same check over the repository's schemas folder.
	code, dirOut, errOut := run(t, context.Background(), "schema", "check", "../../../../schemas")
	if code != 0 || dirOut != out {
		t.Errorf("schema check DIR: exit %d, out %q (want %q), stderr %q", code, dirOut, out, errOut)
	}
}

func TestPolicyExplain(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "policy", "explain",
		"--consumer", "school-enrolment", "--dataset", "household", "--purpose", "school_enrolment")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var d struct {
		Decision string   `json:"decision"`
		Fields   []string `json:"fields"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if want := []string{"address", "birth_date", "household_id", "name", "relation_to_head"}; d.Decision != "permit" || !slices.Equal(d.Fields, want) {
		t.Errorf("decision %s %v, want permit %v", d.Decision, d.Fields, want)
	}
	testkit.Golden(t, filepath.Join("testdata", "policy-explain.golden"), []byte(out))
}

func TestPolicyCheck(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "policy", "check")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !regexp.MustCompile(`^ok: \d+ policy documents, version \S+\n$`).MatchString(out) {
		t.Errorf("policy check printed %q", out)
	}
	code, dirOut, errOut := run(t, context.Background(), "policy", "check", "../../../../policy/examples")
	if code != 0 || dirOut != out {
		t.Errorf("policy check DIR: exit %d, out %q (want %q), stderr %q", code, dirOut, out, errOut)
	}
	testkit.Golden(t, filepath.Join("testdata", "policy-check.golden"), []byte(out))

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "p.yaml"), []byte("kind: AccessPolicy\nmetadata: {name: x}\nspec: {consumer: c, dataset: nosuch, purposes: [p], fields: [a]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = run(t, context.Background(), "policy", "check", bad)
	if code != 1 || !strings.Contains(errOut, "nosuch") {
		t.Errorf("policy check of a bad folder: exit %d, stderr %q; want 1 naming the unknown dataset", code, errOut)
	}
}

// copyExamples copies policy/examples into a temp dir.
func copyExamples(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := os.DirFS("../../../../policy/examples")
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, p), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPolicyDiff(t *testing.T) {
	old, nw := copyExamples(t), copyExamples(t)
	path := filepath.Join(nw, "school-enrolment.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "fields: [name, birth_date, household_id, relation_to_head, address]", "fields: [name, birth_date, household_id, relation_to_head]", 1)
	if changed == string(b) {
		t.Fatal("school-enrolment.yaml no longer has the expected fields line; update the test")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, context.Background(), "policy", "diff", old, nw)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "loss: school-enrolment may no longer read address of household for school_enrolment (case id required)\n"; out != want {
		t.Errorf("policy diff printed\n%s\nwant\n%s", out, want)
	}
	code, out, _ = run(t, context.Background(), "policy", "diff", old, old)
	if code != 0 || out != "no change in who may read or publish what\n" {
		t.Errorf("diff of a folder with itself: exit %d, %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"policy without subcommand", []string{"policy"}, "want `policy explain|diff|check`"},
		{"unknown policy subcommand", []string{"policy", "enact"}, `unknown policy command "enact"`},
		{"explain without dataset and purpose", []string{"policy", "explain", "--consumer", "school-enrolment"}, "--dataset"},
		{"explain without consumer", []string{"policy", "explain", "--dataset", "household", "--purpose", "p"}, "--consumer"},
		{"explain with an unknown flag", []string{"policy", "explain", "--bogus"}, "flag provided but not defined: -bogus"},
		{"diff with one folder", []string{"policy", "diff", "a"}, "policy diff OLD_DIR NEW_DIR"},
		{"schema without check", []string{"schema"}, "schema check [DIR]"},
		{"token without credentials", []string{"token"}, "--credentials is required"},
		{"query without credentials", []string{"query", "--dataset", "household"}, "--credentials"},
		{"query without subject", []string{"query", "--credentials", "c.json", "--dataset", "household", "--purpose", "p"}, "--subject"},
		{"connector without csv", []string{"connector"}, "connector csv"},
		{"connector csv without file", []string{"connector", "csv", "--dataset", "household", "--credentials", "c.json"}, "--file"},
		{"keys without subcommand", []string{"keys"}, "keys list|rotate|revoke"},
		{"keys list without exchange", []string{"keys", "list"}, "--exchange or --credentials"},
		{"keys rotate without officer", []string{"keys", "rotate", "--reason", "r"}, "--officer"},
		{"keys revoke without kid", []string{"keys", "revoke", "--officer", "o.json", "--reason", "r"}, "--kid"},
		{"dev with a positional typo", []string{"dev", "--http"}, "flag needs an argument: -http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, context.Background(), tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stdout %q, stderr %q)", code, out, errOut)
			}
			if !strings.Contains(errOut, tt.wantMsg) {
				t.Errorf("stderr %q does not name %q", errOut, tt.wantMsg)
			}
		})
	}
}

func TestFlagHelpExitsZero(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "dev", "-h")
	if code != 0 || errOut != "" {
		t.Errorf("dev -h: exit %d, stderr %q", code, errOut)
	}
	for _, f := range []string{"-data", "-http", "-kafka"} {
		if !strings.Contains(out, f) {
			t.Errorf("dev -h does not list %s on stdout:\n%s", f, out)
		}
	}
}

// TestDevSession runs `onevisit dev` in-process and uses it through the
// other commands as a user following the banner would.
func TestDevSession(t *testing.T) {
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Main(ctx, []string{"dev", "--http", "127.0.0.1:0", "--kafka", "127.0.0.1:0", "--data", data}, &out, &errOut)
	}()
	deadline := time.Now().Add(90 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case code := <-done:
			t.Fatalf("dev exited %d before its banner:\n%s\n%s", code, out.String(), errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 90 s:\n%s\n%s", out.String(), errOut.String())
		}
	}
	banner := out.String()
	for _, want := range []string{"OneVisit dev mode is running.", "kfake", data, samples.ChildResidentID, "http://127.0.0.1:"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	cred := filepath.Join(data, "clients", "school-enrolment.json")
	if fi, err := os.Stat(cred); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}

	qctx, qcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer qcancel()

	// token prints one compact JWS.
	code, tok, errTok := run(t, qctx, "token", "--credentials", cred)
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, errTok)
	}
	parts := strings.Split(strings.TrimSuffix(tok, "\n"), ".")
	if len(parts) != 3 || strings.Count(tok, "\n") != 1 {
		t.Fatalf("token printed %q, want one JWT line", tok)
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || !strings.Contains(string(hdr), `"alg":"EdDSA"`) {
		t.Errorf("token header %s (%v)", hdr, err)
	}

	// query returns the verified record with exactly the allowed fields.
	// The samples are published before the banner; the node may still be
	// ingesting them, so a not-found answer is retried for a while.
	var answer, errQ string
	for attempt := 0; ; attempt++ {
		code, answer, errQ = run(t, qctx, "query", "--credentials", cred, "--dataset", "household",
			"--subject", samples.ChildResidentID, "--purpose", "school_enrolment", "--case-id", "SE-2026-0001")
		if code == 0 {
			if attempt > 0 {
				t.Logf("query answered after %d not_found answers", attempt)
			}
			break
		}
		if !strings.Contains(errQ, "not_found") || qctx.Err() != nil {
			t.Fatalf("query: exit %d: %s", code, errQ)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var a struct {
		Verified bool           `json:"verified"`
		Issuer   string         `json:"issuer"`
		Schema   string         `json:"schema"`
		Data     map[string]any `json:"data"`
		Receipt  struct {
			Fields []string `json:"fields"`
			Policy string   `json:"policy"`
		} `json:"receipt"`
	}
	if err := json.Unmarshal([]byte(answer), &a); err != nil {
		t.Fatalf("query output is not JSON: %v\n%s", err, answer)
	}
	var got []string
	for k := range a.Data {
		got = append(got, k)
	}
	sort.Strings(got)
	// The policy's fields, and the subject field: the id the query named,
	// which binds the answer to it (exchange/record, "Subject binding").
	allowed := []string{"address", "birth_date", "household_id", "name", "relation_to_head", "resident_id"}
	if !a.Verified || a.Issuer != "public-security" || a.Schema != "household/v1" || !slices.Equal(got, allowed) {
		t.Errorf("query answer: verified %v, issuer %s, schema %s, fields %v; want true, public-security, household/v1, %v\n%s",
			a.Verified, a.Issuer, a.Schema, got, allowed, answer)
	}
	if a.Data["birth_date"] != "2020-03-08" || a.Data["relation_to_head"] != "child" {
		t.Errorf("query data = %v", a.Data)
	}
	if !slices.Equal(a.Receipt.Fields, allowed) || a.Receipt.Policy != "school-enrolment-household" {
		t.Errorf("receipt = %+v", a.Receipt)
	}
	if strings.Contains(answer, "ethnicity") || strings.Contains(answer, "gender") {
		t.Errorf("query answer carries a field the policy does not allow:\n%s", answer)
	}

	// keys list shows every sample client's key and the exchange's own.
	code, list, errK := run(t, qctx, "keys", "list", "--credentials", cred)
	if code != 0 {
		t.Fatalf("keys list: exit %d: %s", code, errK)
	}
	if !strings.HasPrefix(list, "OWNER") {
		t.Errorf("keys list has no header:\n%s", list)
	}
	for _, kid := range []string{
		"public-security-auth#1", "public-security-record#1", "tax-bureau-record#1", "natural-resources-record#1",
		"school-enrolment-auth#1", "newborn-registration-auth#1", "property-transfer-auth#1", "security-officer-auth#1",
	} {
		if !regexp.MustCompile(`(?m)^\S+\s+\S+\s+` + regexp.QuoteMeta(kid) + `\s+active\b`).MatchString(list) {
			t.Errorf("keys list lacks active %s:\n%s", kid, list)
		}
	}
	for _, use := range []string{"token", "receipt", "audit"} {
		if !regexp.MustCompile(`(?m)^exchange\s+` + use + `\s+\S+#\d+\s+active\b`).MatchString(list) {
			t.Errorf("keys list lacks the exchange's active %s key:\n%s", use, list)
		}
	}
	if strings.Contains(list, `"d"`) || strings.Contains(list, "PRIVATE") {
		t.Errorf("keys list shows private material:\n%s", list)
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev exited %d after cancel:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop within 30 s of cancel")
	}
	if !strings.HasSuffix(out.String(), "stopping\n") {
		t.Errorf("dev did not say it was stopping:\n%s", out.String())
	}
	for _, id := range []string{samples.ChildResidentID, samples.GuardianResidentID} {
		if strings.Contains(errOut.String(), id) {
			t.Errorf("dev logged an identity number")
		}
	}
}
