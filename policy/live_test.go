package policy

import (
	"errors"
	"testing"
)

const liveGrant = "kind: PublisherGrant\nmetadata: {name: tax-live}\nspec: {publisher: tax-bureau, datasets: [tax], mode: live}\n"
const replicatedGrant = "kind: PublisherGrant\nmetadata: {name: tax-replicated}\nspec: {publisher: tax-bureau, datasets: [tax]}\n"

func TestLiveGrant(t *testing.T) {
	tests := []struct {
		name        string
		doc         string
		wantErr     error
		wantLive    bool
		wantAnswer  bool
		wantPublish bool
	}{
		{"live grant answers, does not publish", liveGrant, nil, true, true, false},
		{"replicated grant publishes, does not answer", replicatedGrant, nil, false, false, true},
		{"explicit replicated mode is the default", "kind: PublisherGrant\nmetadata: {name: g}\nspec: {publisher: tax-bureau, datasets: [tax], mode: replicated}\n", nil, false, false, true},
		{"unknown mode refused", "kind: PublisherGrant\nmetadata: {name: g}\nspec: {publisher: tax-bureau, datasets: [tax], mode: push}\n", ErrBadValue, false, false, false},
		{"mode must be a string", "kind: PublisherGrant\nmetadata: {name: g}\nspec: {publisher: tax-bureau, datasets: [tax], mode: [live]}\n", ErrBadValue, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("p.yaml", []byte(tc.doc), testCatalog)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse: got %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := s.Live("tax"); got != tc.wantLive {
				t.Errorf("Live(tax) = %v, want %v", got, tc.wantLive)
			}
			if got := s.MayAnswer("tax-bureau", "tax").Allowed; got != tc.wantAnswer {
				t.Errorf("MayAnswer = %v, want %v", got, tc.wantAnswer)
			}
			if got := s.MayAnswer("public-security", "tax").Allowed; got {
				t.Errorf("MayAnswer of an ungranted publisher = true")
			}
			if got := s.MayPublish("tax-bureau", "tax").Allowed; got != tc.wantPublish {
				t.Errorf("MayPublish = %v, want %v", got, tc.wantPublish)
			}
			// The canonical form keeps the mode: a policy set that went
			// through the control plane decides the same.
			again, err := Parse("canonical.yaml", s.YAML(), testCatalog)
			if err != nil {
				t.Fatalf("Parse canonical: %v", err)
			}
			if again.Version() != s.Version() || again.Live("tax") != s.Live("tax") {
				t.Errorf("canonical form lost the mode:\n%s", s.YAML())
			}
		})
	}
}

func TestModeChangeWidens(t *testing.T) {
	live, err := Parse("l.yaml", []byte(liveGrant), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	repl, err := Parse("r.yaml", []byte(replicatedGrant), testCatalog)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		old, new *Set
		want     string
	}{
		{"replicated to live", repl, live, "widen: tax-bureau may publish tax live"},
		{"live to replicated", live, repl, "widen: tax-bureau may publish tax"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Classify(tc.old, tc.new)
			if c.Effect != Widens || len(c.Widenings) != 1 || c.Widenings[0] != tc.want {
				t.Errorf("Classify: %v %q, want widens [%q]", c.Effect, c.Widenings, tc.want)
			}
		})
	}
}

func modeSuffix(m Mode) string {
	if m == ModeLive {
		return " (live)"
	}
	return ""
}

// The live example dataset (policy/examples/live.yaml) has the tax
// dataset's fields.
func init() { testCatalog["tax_certificate"] = testCatalog["tax"] }
