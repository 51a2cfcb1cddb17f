// Package testkit holds the helpers every test package of this module
// shares, so each exists once:
//
//   - Golden and GoldenJSON compare output with a file under testdata/,
//     and rewrite it when the test binary runs with -update (the flag is
//     defined here, once, for every package that imports testkit).
//   - SeedCorpus and SeedFile write and check Go fuzz seed corpora under
//     testdata/fuzz/<target>/, also under -update.
//   - WaitFor polls a condition until it holds or a deadline passes: tests
//     wait on what they need, never for a fixed time.
//   - NeedEnv and Unavailable skip a test that needs something outside
//     the process (Kafka, Vault, a tool) when it is missing, unless the CI
//     environment variable is set: then they fail it, so a CI run whose
//     setup went missing cannot pass silently.
//
// It lives under deploy/, beside vaulttest, because schemas and policy
// tests import it too and nothing there may import exchange/.
package testkit

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files and fuzz seed corpora under testdata/")

// Update reports whether the test binary runs with -update.
func Update() bool { return *update }

// Golden compares got with the file at path, or (with -update) writes it,
// creating its folder.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run with -update after review):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// GoldenJSON is Golden for v marshalled as indented JSON with a final
// newline.
func GoldenJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	Golden(t, path, append(b, '\n'))
}

// SeedFile is the content of a Go fuzz corpus file holding one value, a
// string or a []byte.
func SeedFile[V string | []byte](v V) []byte {
	switch x := any(v).(type) {
	case string:
		return []byte("go test fuzz v1\nstring(" + strconv.Quote(x) + ")\n")
	case []byte:
		return []byte("go test fuzz v1\n[]byte(" + strconv.Quote(string(x)) + ")\n")
	}
	panic("unreachable")
}

// SeedCorpus keeps testdata/fuzz/<target> in step with seeds (file name
// to value, encoded as SeedFile does). With -update it writes every seed;
// otherwise it fails unless the folder holds at least as many files as
// there are seeds (seeds with random parts cannot be compared byte for
// byte).
func SeedCorpus[V string | []byte](t testing.TB, target string, seeds map[string]V) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, v := range seeds {
			if err := os.WriteFile(filepath.Join(dir, name), SeedFile(v), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < len(seeds) {
		t.Fatalf("%s: %d seeds, want %d, %v (run go test -run %s -update)", dir, len(entries), len(seeds), err, t.Name())
	}
}

// WaitFor polls cond every 10 ms until it holds, and fails the test with
// what when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// CI reports whether the CI environment variable is set (to anything but
// "" or "false").
func CI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "false"
}

// Unavailable skips the test with msg, or fails it when CI is set.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if CI() {
		t.Fatalf("%s (CI is set: this test must run there)", msg)
	}
	t.Skip(msg)
}

// NeedEnv returns the values of vars, or calls Unavailable naming the
// unset ones and how (how) to provide them.
func NeedEnv(t testing.TB, how string, vars ...string) map[string]string {
	t.Helper()
	got := map[string]string{}
	var missing []string
	for _, v := range vars {
		if x := os.Getenv(v); x != "" {
			got[v] = x
		} else {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		Unavailable(t, strings.Join(missing, ", ")+" not set: "+how)
	}
	return got
}
