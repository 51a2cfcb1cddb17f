package policy

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/onevisit/onevisit/deploy/testkit"
)

func TestYAMLRoundTrip(t *testing.T) {
	sets := map[string]*Set{"examples": mustDefault(t)}
	for _, f := range []string{"testdata/governance/purposes.yaml", "testdata/classify/base.yaml", "testdata/decisions/policies.yaml"} {
		sets[f] = mustParseFile(t, f)
	}
	tricky, err := Parse("tricky.yaml", []byte("kind: AccessPolicy\nmetadata: {name: t, description: \"quote \\\" colon: hash # newline\\n tab\\t \\u2028 \\x7f \\u0085 \\U0001F600 😀 \\0 end\"}\n"+
		"spec: {consumer: c, dataset: tax, purposes: [p], fields: [name], validFrom: 2026-01-01T08:00:00+08:00, validUntil: 2026-01-02T00:00:00.5Z, limits: {rate: 3/m}}\n"), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	sets["tricky"] = tricky
	for name, s := range sets {
		t.Run(name, func(t *testing.T) {
			out := s.YAML()
			again, err := Parse("canonical.yaml", out, testCatalog)
			if err != nil {
				t.Fatalf("canonical form does not load: %v\n%s", err, out)
			}
			if again.Version() != s.Version() {
				t.Errorf("version %s after the round trip, want %s\n%s", again.Version(), s.Version(), out)
			}
			if !bytes.Equal(again.YAML(), out) {
				t.Errorf("canonical form is not stable:\n%s\n---- then\n%s", out, again.YAML())
			}
		})
	}
	testkit.Golden(t, "testdata/governance/canonical-purposes.golden", sets["testdata/governance/purposes.yaml"].YAML())
}

func TestYAMLRoundTripGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 9))
	for range 300 {
		var docs []govDoc
		for range r.IntN(6) {
			docs = append(docs, genGovDoc(r))
		}
		s := buildGov(t, docs)
		again, err := Parse("canonical.yaml", s.YAML(), testCatalog)
		if err != nil || again.Version() != s.Version() {
			t.Fatalf("round trip: %v\n%s", err, s.YAML())
		}
	}
	var nilSet *Set
	if nilSet.YAML() != nil {
		t.Error("nil set has a canonical form")
	}
	if _, err := os.Stat("testdata/governance/canonical-purposes.golden"); err != nil && !testkit.Update() {
		t.Error(err)
	}
}
