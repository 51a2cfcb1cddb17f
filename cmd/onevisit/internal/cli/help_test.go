package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/onevisit/onevisit/cmd/onevisit/internal/cli"
	"github.com/onevisit/onevisit/deploy/testkit"
)

// TestMain lets the completion test run this test binary as `onevisit`:
// with ONEVISIT_CLI_TEST_MAIN=1 it is the command line, not the tests.
func TestMain(m *testing.M) {
	if os.Getenv("ONEVISIT_CLI_TEST_MAIN") == "1" {
		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// listed returns the first words of the indented lines after "Commands:"
// in a usage text: the commands (or a group's subcommands) it lists.
func listed(usage string) []string {
	var out []string
	in := false
	for _, line := range strings.Split(usage, "\n") {
		switch {
		case strings.HasPrefix(line, "Commands:"):
			in = true
		case in && strings.HasPrefix(line, "  "):
			out = append(out, strings.Fields(line)[0])
		case in:
			in = false
		}
	}
	return out
}

// commandPaths is every command and subcommand the help texts list, so
// a command added later is covered without editing this test.
func commandPaths(t *testing.T) [][]string {
	t.Helper()
	_, top, _ := run(t, context.Background(), "help")
	var paths [][]string
	for _, c := range listed(top) {
		paths = append(paths, []string{c})
		code, out, errOut := run(t, context.Background(), c, "-h")
		if code != 0 {
			t.Fatalf("%s -h: exit %d: %s", c, code, errOut)
		}
		for _, s := range listed(out) {
			paths = append(paths, []string{c, s})
		}
	}
	if len(paths) < 30 {
		t.Fatalf("found %d commands and subcommands, want every one (at least 30): %v", len(paths), paths)
	}
	return paths
}

// TestEveryCommandHelp: every command and subcommand answers -h, --help
// and `help CMD [SUB]` with the same usage on stdout, naming itself, and
// exit 0; an unknown flag is a usage error (exit 2) naming the flag.
func TestEveryCommandHelp(t *testing.T) {
	ctx := context.Background()
	for _, path := range commandPaths(t) {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := run(t, ctx, append(slices.Clone(path), "-h")...)
			if code != 0 || errOut != "" {
				t.Fatalf("-h: exit %d, stderr %q; want 0 and nothing", code, errOut)
			}
			if !strings.Contains(out, "onevisit "+name) {
				t.Errorf("-h does not name %q:\n%s", "onevisit "+name, out)
			}
			if !strings.Contains(out, "Usage: onevisit "+name) {
				t.Errorf("-h prints no usage line for %q:\n%s", name, out)
			}
			for _, alt := range [][]string{
				append(slices.Clone(path), "--help"),
				append([]string{"help"}, path...),
			} {
				c, o, e := run(t, ctx, alt...)
				if c != 0 || e != "" || o != out {
					t.Errorf("%q: exit %d, stderr %q, stdout differs from -h: %v\n%s", alt, c, e, o != out, o)
				}
			}
			code, out, errOut = run(t, ctx, append(slices.Clone(path), "--no-such-flag")...)
			if code != 2 || !strings.Contains(errOut, "no-such-flag") || out != "" {
				t.Errorf("--no-such-flag: exit %d, stdout %q, stderr %q; want 2 naming the flag", code, out, errOut)
			}
		})
	}
}

func TestHelpOfHelp(t *testing.T) {
	_, want, _ := run(t, context.Background(), "help")
	for _, args := range [][]string{{"help", "-h"}, {"help", "--help"}, {"help", "help"}} {
		code, out, errOut := run(t, context.Background(), args...)
		if code != 0 || errOut != "" || out != want {
			t.Errorf("%q: exit %d, stderr %q; want the usage of `help`", args, code, errOut)
		}
	}
}

// TestPolicyHelp: `policy help`, which policy took before the groups
// table existed, prints the overview `policy -h` prints.
func TestPolicyHelp(t *testing.T) {
	_, want, _ := run(t, context.Background(), "policy", "-h")
	code, out, errOut := run(t, context.Background(), "policy", "help")
	if code != 0 || errOut != "" || out != want {
		t.Errorf("policy help: exit %d, stderr %q, stdout\n%s\nwant exit 0 and the output of `policy -h`:\n%s", code, errOut, out, want)
	}
}

func TestHelpOfUnknown(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown command", []string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{"unknown subcommand", []string{"help", "keys", "frobnicate"}, `unknown keys command "frobnicate"`},
		{"unknown subcommand -h", []string{"audit", "frobnicate", "-h"}, `unknown audit command "frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, context.Background(), tt.args...)
			if code != 2 || out != "" || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, tt.wantErr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^onevisit \S+\nrevision: \S+( \(modified\))?\n(built from a commit of: \S+\n)?go: ` + regexp.QuoteMeta(runtime.Version()) + "\n$")
	for _, arg := range []string{"--version", "-version"} {
		code, out, errOut := run(t, context.Background(), arg)
		if code != 0 || errOut != "" || !want.MatchString(out) {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want 0 and %s", arg, code, errOut, out, want)
		}
	}
}

func TestCompletionScripts(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct{ shell, want string }{
		{"bash", "complete -o default -F _onevisit onevisit\n"},
		{"zsh", "compdef _onevisit onevisit\n"},
		{"fish", "complete -c onevisit -a '(onevisit __complete (commandline -opc)[2..-1] (commandline -ct))'\n"},
	} {
		code, out, errOut := run(t, ctx, "completion", tt.shell)
		if code != 0 || errOut != "" || !strings.Contains(out, tt.want) || !strings.Contains(out, "__complete") {
			t.Errorf("completion %s: exit %d, stderr %q; want a script with %q:\n%s", tt.shell, code, errOut, tt.want, out)
		}
	}
	if code, _, errOut := run(t, ctx, "completion", "tcsh"); code != 2 || !strings.Contains(errOut, `unknown shell "tcsh"`) {
		t.Errorf("completion tcsh: exit %d, stderr %q; want 2 naming the shell", code, errOut)
	}
	if code, _, _ := run(t, ctx, "completion"); code != 2 {
		t.Errorf("completion without a shell: exit %d, want 2", code)
	}
}

// TestCompletionCandidates checks what the scripts get back from
// `onevisit __complete WORDS... CURRENT`.
func TestCompletionCandidates(t *testing.T) {
	tests := []struct {
		name  string
		words []string
		want  []string
	}{
		{"commands by prefix", []string{"po"}, []string{"policy"}},
		{"top-level flags", []string{"--"}, []string{"--help", "--version"}},
		{"subcommands", []string{"keys", ""}, []string{"break-glass", "generate", "list", "revoke", "rotate"}},
		{"subcommand by prefix", []string{"policy", "r"}, []string{"reject", "review", "rollback"}},
		{"help takes command names", []string{"help", "aud"}, []string{"audit"}},
		{"help takes subcommand names", []string{"help", "audit", "v"}, []string{"verify", "verify-export"}},
		{"flags of a command", []string{"dev", "--log-"}, []string{"--log-format", "--log-level"}},
		{"flags of a subcommand", []string{"keys", "list", "--"}, []string{"--credentials", "--exchange", "--help", "--output"}},
		{"short flags too", []string{"keys", "list", "-"}, []string{"--credentials", "--exchange", "--help", "--output", "-o"}},
		{"flags after other flags", []string{"token", "--credentials", "c.json", "--o"}, []string{"--output"}},
		{"shells", []string{"completion", ""}, []string{"bash", "fish", "zsh"}},
		{"file argument: nothing, the shell completes files", []string{"policy", "diff", "old", ""}, nil},
		{"unknown command: nothing", []string{"frobnicate", "--"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, context.Background(), append([]string{"__complete"}, tt.words...)...)
			got := strings.Fields(out)
			if code != 0 || errOut != "" || !slices.Equal(got, tt.want) {
				t.Errorf("exit %d, stderr %q, candidates %q; want %q", code, errOut, got, tt.want)
			}
		})
	}
}

// TestBashCompletion loads the bash script into a real bash, with this
// test binary as `onevisit` on PATH, and completes as a user's TAB does.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine")
	}
	code, script, _ := run(t, context.Background(), "completion", "bash")
	if code != 0 {
		t.Fatal("completion bash failed")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "onevisit.bash"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bash, "-n", filepath.Join(dir, "onevisit.bash")).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "onevisit")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line string // COMP_WORDS, the last being completed
		want []string
	}{
		{"onevisit pol", []string{"policy"}},
		{"onevisit audit ", []string{"export", "prove", "verify", "verify-export"}},
		{"onevisit policy diff -", []string{"--help", "--output", "-o"}},
	}
	for _, tt := range tests {
		words := strings.Split(tt.line, " ")
		quoted := make([]string, len(words))
		for i, w := range words {
			quoted[i] = fmt.Sprintf("%q", w)
		}
		prog := fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _onevisit; printf '%%s\n' "${COMPREPLY[@]}"`,
			filepath.Join(dir, "onevisit.bash"), strings.Join(quoted, " "), len(words)-1)
		cmd := exec.Command(bash, "--noprofile", "--norc", "-c", prog)
		cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "ONEVISIT_CLI_TEST_MAIN=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", tt.line, err, out)
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, tt.want) {
			t.Errorf("%q completes to %q, want %q", tt.line, got, tt.want)
		}
	}
}

// TestOutputJSON: -o json (and --output json) prints the data the text
// prints, as JSON.
func TestOutputJSON(t *testing.T) {
	ctx := context.Background()
	old, narrower, wider := copyExamples(t), copyExamples(t), copyExamples(t)
	editFile(t, filepath.Join(narrower, "school-enrolment.yaml"),
		"fields: [name, birth_date, household_id, relation_to_head, address]", "fields: [name, birth_date, household_id, relation_to_head]")
	editFile(t, filepath.Join(wider, "school-enrolment.yaml"),
		"purposes: [school_enrolment]", "purposes: [school_enrolment, newborn_registration]")

	t.Run("policy check", func(t *testing.T) {
		text := mustRun(t, 0, "policy", "check")
		var j struct {
			Documents int    `json:"documents"`
			Version   string `json:"version"`
		}
		decode(t, mustRun(t, 0, "policy", "check", "-o", "json"), &j)
		if want := fmt.Sprintf("ok: %d policy documents, version %s\n", j.Documents, j.Version); j.Documents == 0 || text != want {
			t.Errorf("text %q, JSON %+v", text, j)
		}
	})
	t.Run("schema check", func(t *testing.T) {
		text := mustRun(t, 0, "schema", "check")
		var j []struct {
			Dataset  string   `json:"dataset"`
			OK       bool     `json:"ok"`
			Versions []string `json:"versions"`
			Mode     string   `json:"mode"`
			Problems []string `json:"problems"`
		}
		decode(t, mustRun(t, 0, "schema", "check", "--output", "json"), &j)
		var b strings.Builder
		for _, r := range j {
			if !r.OK || len(r.Problems) != 0 {
				t.Errorf("%s: not ok in JSON", r.Dataset)
			}
			fmt.Fprintf(&b, "%s: ok (%s; %s)\n", r.Dataset, strings.Join(r.Versions, ", "), r.Mode)
		}
		if len(j) == 0 || b.String() != text {
			t.Errorf("JSON renders as\n%s\ntext is\n%s", b.String(), text)
		}
	})
	type diffJSON struct {
		Effect    string   `json:"effect"`
		Changes   []string `json:"changes"`
		Widenings []string `json:"widenings"`
	}
	t.Run("policy diff narrowing", func(t *testing.T) {
		text := mustRun(t, 0, "policy", "diff", old, narrower)
		var j diffJSON
		decode(t, mustRun(t, 0, "policy", "diff", "-o", "json", old, narrower), &j)
		want := "loss: school-enrolment may no longer read address of household for school_enrolment (case id required)"
		if j.Effect != "narrows" || !slices.Equal(j.Changes, []string{want}) || len(j.Widenings) != 0 || text != want+"\n" {
			t.Errorf("text %q, JSON %+v", text, j)
		}
	})
	t.Run("policy diff widening", func(t *testing.T) {
		text := mustRun(t, 1, "policy", "diff", old, wider)
		var j diffJSON
		decode(t, mustRun(t, 1, "policy", "diff", old, wider, "-o", "json"), &j)
		if j.Effect != "widens" || len(j.Changes) == 0 || len(j.Widenings) == 0 {
			t.Fatalf("JSON %+v: want widens with changes and widenings", j)
		}
		if want := strings.Join(append(slices.Clone(j.Changes), j.Widenings...), "\n") + "\n"; text != want {
			t.Errorf("text\n%s\nJSON lines\n%s", text, want)
		}
		if !strings.HasPrefix(j.Changes[0], "gain: school-enrolment may read") || !strings.HasPrefix(j.Widenings[0], "widen:") {
			t.Errorf("JSON %+v: want a gain for school-enrolment and a widen: line", j)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		code, out, errOut := run(t, ctx, "policy", "check", "-o", "yaml")
		if code != 2 || out != "" || !strings.Contains(errOut, `"yaml": want text or json`) {
			t.Errorf("exit %d, stdout %q, stderr %q; want 2 naming the format", code, out, errOut)
		}
	})
}

// TestPolicyDiffExit is the contract CI pipelines use: 1 when access
// widens, 0 when it narrows or nothing changes, 2 on a usage error.
func TestPolicyDiffExit(t *testing.T) {
	old := copyExamples(t)
	tests := []struct {
		name     string
		from, to string
		wantCode int
	}{
		{"add a purpose widens", "purposes: [school_enrolment]", "purposes: [school_enrolment, newborn_registration]", 1},
		{"add a field widens", "fields: [name, birth_date, household_id, relation_to_head, address]", "fields: [name, birth_date, household_id, relation_to_head, address, gender]", 1},
		{"remove a field narrows", "fields: [name, birth_date, household_id, relation_to_head, address]", "fields: [name, birth_date]", 0},
		{"no change", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := copyExamples(t)
			if tt.from != "" {
				editFile(t, filepath.Join(nw, "school-enrolment.yaml"), tt.from, tt.to)
			}
			code, out, errOut := run(t, context.Background(), "policy", "diff", old, nw)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout %s\nstderr %s", code, tt.wantCode, out, errOut)
			}
			if tt.wantCode == 1 && (!strings.Contains(out, "\nwiden: ") || !strings.Contains(errOut, "widens access")) {
				t.Errorf("a widening names no widen: line or no refusal:\nstdout %s\nstderr %s", out, errOut)
			}
		})
	}
	if code, _, _ := run(t, context.Background(), "policy", "diff", old, "/no/such/dir"); code != 1 {
		t.Errorf("diff with a missing folder: exit %d, want 1", code)
	}
}

// TestPolicyExplainDenyExits1: a deny prints the decision and exits 1.
func TestPolicyExplainDenyExits1(t *testing.T) {
	code, out, errOut := run(t, context.Background(), "policy", "explain",
		"--consumer", "school-enrolment", "--dataset", "tax", "--purpose", "school_enrolment")
	var d struct {
		Decision string `json:"decision"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || d.Decision != "deny" || !strings.Contains(errOut, "denied") {
		t.Errorf("exit %d, decision %q (%v), stderr %q; want 1 and deny", code, d.Decision, err, errOut)
	}
	code, out, _ = run(t, context.Background(), "policy", "explain", "-o", "text",
		"--consumer", "school-enrolment", "--dataset", "household", "--purpose", "school_enrolment")
	if code != 0 || !strings.HasPrefix(out, "decision: permit\nfields: address, birth_date, household_id, name, relation_to_head\n") {
		t.Errorf("-o text of a permit: exit %d:\n%s", code, out)
	}
}

// TestOutputJSONAgainstExchange compares the text and -o json of the
// commands that read a running exchange (in-process, embedded broker).
func TestOutputJSONAgainstExchange(t *testing.T) {
	_, env, creds := startDevExchange(t)
	// The audit subtests need a signed checkpoint with an entry in it
	// (the seeded policy's); the node signs one shortly after it starts.
	testkit.WaitFor(t, 60*time.Second, "a checkpoint covering an audit entry", func() bool {
		var j struct {
			Checkpoint struct {
				Size uint64 `json:"size"`
			} `json:"checkpoint"`
		}
		code, out, _ := run(t, context.Background(), "audit", "verify", "--exchange", env.BaseURL, "-o", "json")
		return code == 0 && json.Unmarshal([]byte(out), &j) == nil && j.Checkpoint.Size > 0
	})
	t.Run("keys list", func(t *testing.T) {
		text, js := snapshot(t, []string{"keys", "list", "--exchange", env.BaseURL})
		var rows []map[string]string
		decode(t, js, &rows)
		lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
		if len(rows) == 0 || len(lines) != len(rows)+1 {
			t.Fatalf("%d JSON rows, %d text lines", len(rows), len(lines))
		}
		for i, r := range rows {
			want := []string{r["owner"], r["use"], r["kid"], r["status"], r["created"]}
			if r["revoked_at"] != "" {
				want = append(want, r["revoked_at"])
			}
			if got := strings.Fields(lines[i+1]); !slices.Equal(got, slices.DeleteFunc(want, func(s string) bool { return s == "" })) {
				t.Errorf("row %d: text %q, JSON %q", i, got, want)
			}
		}
	})
	t.Run("policy versions", func(t *testing.T) {
		text, js := snapshot(t, []string{"policy", "versions", "--exchange", env.BaseURL})
		var j struct {
			Node     string `json:"node"`
			Current  uint64 `json:"current"`
			Versions []struct {
				Number uint64 `json:"number"`
				Hash   string `json:"policy_version"`
			} `json:"versions"`
		}
		decode(t, js, &j)
		if j.Current == 0 || len(j.Versions) == 0 || !strings.HasPrefix(text, fmt.Sprintf("node %s decides by version %d\n", j.Node, j.Current)) {
			t.Fatalf("text %q, JSON %+v", text, j)
		}
		for _, v := range j.Versions {
			if !regexp.MustCompile(`(?m)^` + fmt.Sprint(v.Number) + ` .*` + regexp.QuoteMeta(v.Hash)).MatchString(text) {
				t.Errorf("version %d %s not in the text:\n%s", v.Number, v.Hash, text)
			}
		}
	})
	t.Run("audit verify", func(t *testing.T) {
		officer := creds("security-officer")
		text := mustRun(t, 0, "audit", "verify", "--credentials", officer)
		var j struct {
			Checkpoint struct {
				Origin, Root, Time, Signature string
				Size                          uint64
			} `json:"checkpoint"`
			EntriesChecked bool `json:"entries_checked"`
			Entries        int  `json:"entries"`
		}
		decode(t, mustRun(t, 0, "audit", "verify", "--credentials", officer, "-o", "json"), &j)
		// The log may grow between the two runs: compare the JSON with
		// its own rendering, and the text's shape with the same origin.
		c := j.Checkpoint
		if c.Signature != "ok" || !j.EntriesChecked || uint64(j.Entries) != c.Size {
			t.Errorf("JSON %+v", j)
		}
		want := regexp.MustCompile(`^checkpoint: ` + regexp.QuoteMeta(c.Origin) + ` size \d+ root \S+ time \S+: signature ok\nentries: \d+ reproduce the signed root: ok\n$`)
		if !want.MatchString(text) {
			t.Errorf("text %q does not match %s", text, want)
		}
	})
	t.Run("audit prove", func(t *testing.T) {
		officer := creds("security-officer")
		text := mustRun(t, 0, "audit", "prove", "--credentials", officer, "--index", "0")
		var j struct {
			Index    uint64 `json:"index"`
			Size     uint64 `json:"size"`
			Included bool   `json:"included"`
			Entry    string `json:"entry"`
		}
		decode(t, mustRun(t, 0, "audit", "prove", "--credentials", officer, "--index", "0", "-o", "json"), &j)
		head, entry, _ := strings.Cut(text, "\n")
		if j.Index != 0 || !j.Included || !regexp.MustCompile(`^entry 0 is in the signed log of size \d+: ok$`).MatchString(head) || entry != j.Entry+"\n" {
			t.Errorf("text %q, JSON %+v", text, j)
		}
	})
	t.Run("audit export and verify-export", func(t *testing.T) {
		officer := creds("security-officer")
		file := filepath.Join(t.TempDir(), "audit.json")
		var exp struct {
			File       string `json:"file"`
			Entries    int    `json:"entries"`
			Uncovered  int    `json:"uncovered"`
			Checkpoint struct {
				Size uint64 `json:"size"`
				Root string `json:"root"`
			} `json:"checkpoint"`
		}
		decode(t, mustRun(t, 0, "audit", "export", "--credentials", officer, "--out", file, "-o", "json"), &exp)
		if exp.File != file || exp.Entries == 0 || uint64(exp.Entries) != exp.Checkpoint.Size || exp.Uncovered != 0 {
			t.Fatalf("export -o json: %+v", exp)
		}
		if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("export file: %v, %v; want mode 0600", fi, err)
		}
		// Offline, with the verifier keys an auditor keeps.
		resp, err := http.Get(env.BaseURL + "/v1/audit/verifiers")
		if err != nil {
			t.Fatal(err)
		}
		vk, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		pinned := strings.Join(strings.Fields(string(vk)), ",")
		text := mustRun(t, 0, "audit", "verify-export", file, "--verifier-key", pinned)
		want := fmt.Sprintf("export %s: %d entries reproduce the signed root of checkpoint size %d root %s time ", file, exp.Entries, exp.Checkpoint.Size, exp.Checkpoint.Root)
		if !strings.HasPrefix(text, want) {
			t.Errorf("verify-export printed %q, want %q...", text, want)
		}
		mustRun(t, 0, "audit", "verify-export", "--exchange", env.BaseURL, file)

		// One changed byte in the last entry: exit 1 naming it.
		var x struct {
			Entries     [][]byte `json:"entries"`
			Checkpoints []string `json:"checkpoints"`
			LeafHashes  [][]byte `json:"leaf_hashes"`
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		decode(t, string(b), &x)
		last := len(x.Entries) - 1
		x.Entries[last] = bytes.Replace(x.Entries[last], []byte(`"node"`), []byte(`"nodE"`), 1)
		bad, _ := json.Marshal(x)
		badFile := filepath.Join(t.TempDir(), "tampered.json")
		if err := os.WriteFile(badFile, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := run(t, context.Background(), "audit", "verify-export", badFile, "--verifier-key", pinned)
		if code != 1 || out != "" || !strings.Contains(errOut, fmt.Sprintf("first bad entry: %d:", last)) {
			t.Errorf("tampered export: exit %d, stdout %q, stderr %q; want 1 naming entry %d", code, out, errOut, last)
		}
		if code, _, errOut := run(t, context.Background(), "audit", "verify-export", file); code != 2 || !strings.Contains(errOut, "--verifier-key") {
			t.Errorf("verify-export without keys: exit %d, %q; want 2", code, errOut)
		}
	})
	t.Run("connector csv", func(t *testing.T) {
		// A file with invalid rows: nothing is sent, so the run can be repeated.
		file := filepath.Join("..", "..", "..", "..", "connectors", "testdata", "csv", "household-bad-rows.csv")
		report := filepath.Join(t.TempDir(), "report.json")
		args := []string{"connector", "csv", "--via", "http", "--exchange", env.BaseURL, "--credentials", creds("public-security"),
			"--dataset", "household", "--file", file, "--report", report}
		jsonOut := mustRun(t, 1, append(args, "-o", "json")...)
		b, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if jsonOut != string(b) {
			t.Errorf("-o json printed\n%s\nthe report file holds\n%s", jsonOut, b)
		}
		var rep struct {
			Rows    int `json:"rows"`
			Invalid int `json:"invalid"`
			Unsent  int `json:"unsent"`
		}
		decode(t, jsonOut, &rep)
		text := mustRun(t, 1, args...)
		if want := fmt.Sprintf("%d rows: %d invalid, %d not sent\n", rep.Rows, rep.Invalid, rep.Unsent); rep.Invalid == 0 || !strings.HasSuffix(text, want) {
			t.Errorf("text %q does not end with %q", text, want)
		}
	})
	t.Run("token", func(t *testing.T) {
		var j struct {
			Token string `json:"token"`
		}
		decode(t, mustRun(t, 0, "token", "--credentials", creds("school-enrolment"), "-o", "json"), &j)
		if strings.Count(j.Token, ".") != 2 {
			t.Errorf("token %q is not a JWS", j.Token)
		}
	})
}

// snapshot runs a command with -o json, as text, and with -o json again
// until both JSON answers agree, so the text shows the same state as the
// JSON even while the exchange is still reading its topics.
func snapshot(t *testing.T, args []string) (text, js string) {
	t.Helper()
	jsonArgs := append(slices.Clone(args), "-o", "json")
	testkit.WaitFor(t, 30*time.Second, fmt.Sprintf("%q to answer the same twice", args), func() bool {
		before := mustRun(t, 0, jsonArgs...)
		text = mustRun(t, 0, args...)
		js = mustRun(t, 0, jsonArgs...)
		return before == js
	})
	return text, js
}

func mustRun(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	code, out, errOut := run(t, context.Background(), args...)
	if code != wantCode {
		t.Fatalf("%q: exit %d, want %d: %s", args, code, wantCode, errOut)
	}
	return out
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}

func editFile(t *testing.T, path, from, to string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), from, to, 1)
	if s == string(b) {
		t.Fatalf("%s has no %q; update the test", path, from)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGovernanceOutputJSON: an officer's change and a review with -o
// json print the exchange's answer, which names what the text names.
func TestGovernanceOutputJSON(t *testing.T) {
	_, env, creds := startDevExchange(t)
	narrower := copyExamples(t)
	editFile(t, filepath.Join(narrower, "school-enrolment.yaml"),
		"fields: [name, birth_date, household_id, relation_to_head, address]", "fields: [name, birth_date, household_id, relation_to_head]")
	var done struct {
		Action   string `json:"action"`
		Version  uint64 `json:"version"`
		Node     string `json:"node"`
		Proposal struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Effect string `json:"effect"`
		} `json:"proposal"`
	}
	decode(t, mustRun(t, 0, "policy", "narrow", narrower, "--id", "drop-address", "--reason", "not needed", "--credentials", creds("security-officer"), "-o", "json"), &done)
	if done.Action != "policy.narrow" || done.Version != 2 || done.Node == "" || done.Proposal.ID != "drop-address" || done.Proposal.State != "applied" || done.Proposal.Effect != "narrows" {
		t.Errorf("narrow -o json: %+v", done)
	}
	var p struct {
		ID      string   `json:"id"`
		Changes []string `json:"changes"`
	}
	decode(t, mustRun(t, 0, "policy", "review", "drop-address", "--credentials", creds("security-reviewer"), "-o", "json"), &p)
	text := mustRun(t, 0, "policy", "review", "drop-address", "--credentials", creds("security-reviewer"))
	if p.ID != "drop-address" || len(p.Changes) != 1 || !strings.Contains(text, "\n  "+p.Changes[0]+"\n") {
		t.Errorf("review -o json %+v; text:\n%s", p, text)
	}
	var v struct {
		Current uint64 `json:"current"`
	}
	decode(t, mustRun(t, 0, "policy", "versions", "--exchange", env.BaseURL, "-o", "json"), &v)
	if v.Current != 2 {
		t.Errorf("versions -o json: current %d, want 2", v.Current)
	}
}
