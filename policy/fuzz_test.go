package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/onevisit/onevisit/deploy/testkit"
)

// FuzzParse feeds arbitrary bytes to the loader. It must never panic;
// a failure must be only *LoadErrors naming the file and a line; a
// success must be a set whose decisions stay inside what its access
// policies list for the catalogue, and whose canonical form (Set.YAML)
// parses back to the same version. The seed corpus in
// testdata/fuzz/FuzzParse is the examples and the bad files (rewrite it
// with -update).
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data, testCatalog)
		if err != nil {
			if s != nil {
				t.Fatal("error with a Set")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			for _, e := range loadErrors(err) {
				if e.File != "fuzz.yaml" || e.Line < 1 || e.Kind == nil {
					t.Fatalf("bad load error %#v", e)
				}
			}
			return
		}
		again, err := Parse("other.yaml", data, testCatalog)
		if err != nil || again.Version() != s.Version() {
			t.Fatalf("reparse differs: %v", err)
		}
		if canon, err := Parse("canonical.yaml", s.YAML(), testCatalog); err != nil || canon.Version() != s.Version() {
			t.Fatalf("canonical form does not round-trip: %v\n%s", err, s.YAML())
		}
		at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		for _, p := range s.Policies() {
			known, ok := testCatalog[p.Dataset]
			if p.Kind != KindAccessPolicy {
				continue
			}
			if !ok {
				t.Fatalf("policy %s loaded with unknown dataset %q", p.Name, p.Dataset)
			}
			for _, pu := range p.Purposes {
				d := s.Decide(Request{p.Consumer, p.Dataset, pu, "case", at})
				for _, fld := range d.Fields {
					if !slices.Contains(known, fld) {
						t.Fatalf("decision grants %q, not in the catalogue", fld)
					}
				}
				if len(d.Reasons) == 0 {
					t.Fatal("decision without reasons")
				}
			}
		}
	})
}

// TestWriteFuzzSeeds keeps the seed corpus in step with the example and
// bad policy files; with -update it rewrites testdata/fuzz/FuzzParse.
func TestWriteFuzzSeeds(t *testing.T) {
	var sources []string
	for _, g := range []string{"examples/*.yaml", "testdata/bad/*.yaml", "testdata/decisions/*.yaml", "testdata/governance/*.yaml", "testdata/classify/*.yaml"} {
		m, _ := filepath.Glob(g)
		sources = append(sources, m...)
	}
	for _, src := range sources {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(src)) + "-" + filepath.Base(src)
		testkit.Golden(t, filepath.Join("testdata", "fuzz", "FuzzParse", name), testkit.SeedFile(data))
	}
}
