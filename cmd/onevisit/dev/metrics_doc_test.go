package dev_test

import (
	"go/parser"
	gotoken "go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestEveryMetricIsDocumented checks that every OneVisit metric appears,
// as a whole word, in the package doc of some package in this module: an
// operator finds what a metric means where the package that owns it is
// specified. The metrics are those a running node registers (dev mode,
// gathered after a query and a refused token request) and, since a
// vector without children is not gathered, every metric name declared in
// the module's source (the connector spool's among them).
func TestEveryMetricIsDocumented(t *testing.T) {
	env := startDev(t)
	abuseTokenRequest(t, env, "junk")
	post(t, env.BaseURL+"/v1/query", token(t, env, "school-enrolment"), []byte(`{"dataset":"tax"}`))
	families, err := env.Node.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	docs, declared := packageDocs(t, filepath.Join("..", "..", ".."))
	gathered := map[string]bool{}
	for _, f := range families {
		if n := f.GetName(); strings.HasPrefix(n, "onevisit_") { // the Go and process collectors document themselves
			gathered[n] = true
		}
	}
	for _, n := range []string{"onevisit_api_requests_total", "onevisit_ingest_consumer_lag", "onevisit_keys_refresh_age_seconds"} {
		if !gathered[n] {
			t.Fatalf("%s not gathered from the node's registry (got %v): is it the node's?", n, gathered)
		}
	}
	var missing []string
	for _, set := range []map[string]bool{gathered, declared} {
		for n := range set {
			if !regexp.MustCompile(`(^|[^a-z_])`+regexp.QuoteMeta(n)+`([^a-z_]|$)`).MatchString(docs) && !slices.Contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	for n := range gathered {
		if !declared[n] {
			t.Errorf("gathered %s, but no source declares it with Name: \"...\": the source scan misses a form", n)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("metrics in no package doc: %v", missing)
	}
}

// metricName is a metric declared in source: Name: "onevisit_...".
var metricName = regexp.MustCompile(`Name:\s*"(onevisit_[a-z0-9_]+)"`)

// packageDocs concatenates the package doc comments of every non-test Go
// file under root, and returns the metric names those files declare.
func packageDocs(t *testing.T, root string) (string, map[string]bool) {
	t.Helper()
	var b strings.Builder
	declared := map[string]bool{}
	fset := gotoken.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		for _, m := range metricName.FindAllSubmatch(src, -1) {
			declared[string(m[1])] = true
		}
		if f.Doc != nil {
			b.WriteString(f.Doc.Text())
			b.WriteByte('\n')
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), declared
}
